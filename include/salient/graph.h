/* salient graphs: an ONNX-like IR of nodes (op type, attributes, named input and output values)
 * over named values (graph inputs, parameters, activations), built with the builder API or by the
 * ONNX importer, validated by shape inference, and rewritten by saliency methods (a mask inserted
 * after a named activation). A graph is bound to a batch size by a plan (salient/plan.h). */
#ifndef SALIENT_GRAPH_H
#define SALIENT_GRAPH_H

#include "salient/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sal_graph sal_graph;

typedef enum sal_attr_type {
  SAL_ATTR_INT,
  SAL_ATTR_FLOAT,
  SAL_ATTR_INTS,
  SAL_ATTR_FLOATS,
  SAL_ATTR_STRING
} sal_attr_type;

/* An attribute as passed to the builder; the graph deep-copies it. */
typedef struct sal_attr {
  const char *name;
  sal_attr_type type;
  int64_t i;
  float f;
  const int64_t *ints;
  const float *floats;
  int64_t n; /* length of ints / floats */
  const char *s;
} sal_attr;

static inline sal_attr sal_attr_int(const char *name, int64_t v) {
  sal_attr a = {name, SAL_ATTR_INT, v, 0, 0, 0, 0, 0};
  return a;
}
static inline sal_attr sal_attr_float(const char *name, float v) {
  sal_attr a = {name, SAL_ATTR_FLOAT, 0, v, 0, 0, 0, 0};
  return a;
}
static inline sal_attr sal_attr_ints(const char *name, int64_t n, const int64_t *v) {
  sal_attr a = {name, SAL_ATTR_INTS, 0, 0, v, 0, n, 0};
  return a;
}
static inline sal_attr sal_attr_floats(const char *name, int64_t n, const float *v) {
  sal_attr a = {name, SAL_ATTR_FLOATS, 0, 0, 0, v, n, 0};
  return a;
}
static inline sal_attr sal_attr_string(const char *name, const char *s) {
  sal_attr a = {name, SAL_ATTR_STRING, 0, 0, 0, 0, 0, s};
  return a;
}

/* New empty graph. The graph keeps ctx for errors and allocation: ctx must outlive it. */
sal_status sal_graph_new(sal_ctx *ctx, sal_graph **out);
void sal_graph_free(sal_graph *g);

/* A graph input. dims[0] may be -1: the batch dimension, bound by the plan. */
sal_status sal_graph_add_input(sal_graph *g, const char *name, int ndim, const int64_t *dims);
/* A parameter (initialiser). data is copied (NULL = zeros). trainable = receives gradients when a
 * plan asks for parameter gradients; constants (shape tensors, frozen weights) are not trainable. */
sal_status sal_graph_add_param(sal_graph *g, const char *name, int ndim, const int64_t *dims,
                               const float *data, bool trainable);
/* Appends a node. Inputs must already exist ("" = an omitted optional input); outputs must be new
 * names. The op's shape rule runs at once (with batch 1): a mismatch is SAL_STATUS_SHAPE with a
 * message naming the node, its op and the shapes. An unknown op_type is SAL_STATUS_UNSUPPORTED. */
sal_status sal_graph_add_node(sal_graph *g, const char *op_type, const char *node_name,
                              const char *const *inputs, int n_inputs, const char *const *outputs,
                              int n_outputs, const sal_attr *attrs, int n_attrs);
/* Marks a value as a graph output (logits). */
sal_status sal_graph_add_output(sal_graph *g, const char *name);

/* Rewriting: inserts a node `op_type` that takes `value` (as its first input) plus `extra_inputs`,
 * and produces `new_value`; every node that consumed `value` now consumes `new_value` (and so does
 * the graph output list). Saliency methods put masks inside networks this way. */
sal_status sal_graph_insert_after(sal_graph *g, const char *value, const char *op_type,
                                  const char *node_name, const char *const *extra_inputs,
                                  int n_extra, const char *new_value, const sal_attr *attrs,
                                  int n_attrs);

/* Deep copy of g (values, parameter data, nodes, attributes), sharing g's context: rewrite the
 * copy and g stays as it was. The caller frees *out with sal_graph_free. */
sal_status sal_graph_clone(const sal_graph *g, sal_graph **out);

/* Queries. Shapes are those inferred at batch 1. Names returned are owned by the graph. */
int sal_graph_num_nodes(const sal_graph *g);
int sal_graph_num_values(const sal_graph *g);
bool sal_graph_has_value(const sal_graph *g, const char *name);
sal_status sal_graph_value_shape(const sal_graph *g, const char *name, sal_shape *out);
int sal_graph_num_inputs(const sal_graph *g);
const char *sal_graph_input_name(const sal_graph *g, int i);
int sal_graph_num_outputs(const sal_graph *g);
const char *sal_graph_output_name(const sal_graph *g, int i);
/* Parameter data (for loading / saving weights): a borrowed view, writable. */
sal_status sal_graph_param(sal_graph *g, const char *name, sal_tensor *view_out);
/* Total number of parameter elements (trainable only if trainable_only). */
int64_t sal_graph_param_count(const sal_graph *g, bool trainable_only);

#ifdef __cplusplus
}
#endif
#endif
