/* Internal interface of the ONNX importer (src/io/onnx_load.c reads the file and builds the graph;
 * src/io/onnx_fold.c folds the shape arithmetic exporters emit into constants). */
#ifndef SAL_IO_ONNX_LOAD_H
#define SAL_IO_ONNX_LOAD_H

#include "graph/internal.h"
#include "onnx.pb-c.h"

/* Folded constants may have a higher rank than graph values (ONNX allows any rank); this bounds
 * them so that index arithmetic stays on the stack. */
#define SAL__OC_MAX_RANK 8
/* Largest element count of any tensor the importer accepts (initialiser, folded constant). */
#define SAL__OC_MAX_NUMEL ((int64_t)1 << 31)

typedef enum sal__oc_type { SAL__OC_FLOAT, SAL__OC_INT } sal__oc_type;

/* A constant known at import time: an initialiser, a Constant node, or a folded result.
 * INT constants carry shape arithmetic; an element may depend on the batch size N linearly:
 * value = i[e] + k[e] * N (k == NULL when no element does). Shape(x) of a value whose dim 0 is
 * the batch gives such an element (i = 0, k = 1 for the graph input). */
typedef struct sal__oconst {
  sal__oc_type type;
  int ndim;
  int64_t dims[SAL__OC_MAX_RANK];
  int64_t numel;
  float *f;   /* FLOAT: numel values */
  int64_t *i; /* INT: numel values (the constant part) */
  int64_t *k; /* INT: batch coefficients, or NULL */
} sal__oconst;

/* The importer's state, shared by the loader and the folder. */
typedef struct sal__onnx_loader {
  sal_ctx *ctx;
  const char *path; /* the model file, for messages */
  char *ext_dir;    /* directory external data paths are relative to (owned) */
  int64_t max_bytes; /* bound on the model file and on each external data file */
  int64_t opset;    /* default-domain opset */
  int64_t file_batch; /* the input's batch in the file (> 0 when fixed), -1 when symbolic */
  sal_graph *g;
  /* Shapes of every graph value at a probe batch SAL__ONNX_PROBE (graph shapes are at batch 1):
   * a dim that differs between the two is batch-dependent. */
  sal_shape *probe;
  int cap_probe;
} sal__onnx_loader;

#define SAL__ONNX_PROBE 7

/* New zeroed constant of the given type and shape (NULL after recording OUT_OF_MEMORY / a bound
 * error in ctx). */
sal__oconst *sal__oc_new(sal_ctx *ctx, sal__oc_type type, int ndim, const int64_t *dims);
void sal__oc_free(sal__oconst *c);

/* Records "<file>: node '<name>' (<op>, opset <n>): <message>" and returns st. */
sal_status sal__onnx_node_error(const sal__onnx_loader *L, const Onnx__NodeProto *nd, sal_status st,
                                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Node attribute lookup (NULL when absent) and typed readers: a present attribute of another type
 * is BAD_INPUT naming the node, e.g. "attribute 'axes' has type FLOAT, expected INTS". */
const Onnx__AttributeProto *sal__onnx_attr(const Onnx__NodeProto *nd, const char *name);
sal_status sal__onnx_attr_int(const sal__onnx_loader *L, const Onnx__NodeProto *nd, const char *name,
                              int64_t def, int64_t *out);
/* ints: *out borrowed from the node; absent → *out NULL and *n = -1. */
sal_status sal__onnx_attr_ints(const sal__onnx_loader *L, const Onnx__NodeProto *nd, const char *name,
                               const int64_t **out, int64_t *n);
/* Type of an attribute, inferring it from the fields set when the file leaves it UNDEFINED. */
Onnx__AttributeProto__AttributeType sal__onnx_attr_type(const Onnx__AttributeProto *a);
const char *sal__onnx_attr_type_name(Onnx__AttributeProto__AttributeType t);

/* Decodes a TensorProto (initialiser, Constant value) into a constant. `what` names it in errors
 * ("initialiser 'w'"). External data is read relative to the loader's directory. */
sal_status sal__onnx_tensor(const sal__onnx_loader *L, const Onnx__TensorProto *t, const char *what,
                            sal__oconst **out);

/* True if op_type (default domain) is one the folder evaluates when all its inputs are constant.
 * Shape is folded whenever its input's shape is known (always). */
bool sal__onnx_foldable(const char *op_type);
/* Evaluates node nd on constant inputs (ins[i] NULL for an omitted input; Shape's input is given
 * as in_shape/in_probe, the value's shapes at batch 1 and at the probe batch). Writes one new
 * constant per output into outs[]. Errors name the node. */
sal_status sal__onnx_fold(const sal__onnx_loader *L, const Onnx__NodeProto *nd, sal__oconst *const *ins,
                          int n_in, const sal_shape *in_shape, const sal_shape *in_probe, sal__oconst **outs,
                          int n_out);

#endif
