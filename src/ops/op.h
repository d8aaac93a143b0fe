/* The op interface: every op is a shape rule (src/ops/<family>.c) plus kernels — a plain-C
 * reference (src/kernels/ref/<family>.c, the oracle) and optionally a oneDNN one
 * (src/kernels/dnnl/<family>.c). The op list is an X-macro over per-family fragments
 * (src/ops/list_<family>.h) so that each family is added without touching the others.
 * docs/adding-an-op.md is the checklist. */
#ifndef SAL_OPS_OP_H
#define SAL_OPS_OP_H

#include "salient/graph.h"

typedef struct sal_node sal_node;

/* X(ENUM, "OnnxName", symbol): enum SAL_OP_ENUM, def sal__op_<symbol>, ref kernel
 * sal__ref_<symbol>. */
#define SAL_OP_LIST(X)     \
  SAL_OPS_CORE(X)          \
  SAL_OPS_ELTWISE(X)       \
  SAL_OPS_CONV(X)          \
  SAL_OPS_SHAPE(X)         \
  SAL_OPS_LOSS(X)

#include "ops/list_core.h"
#include "ops/list_eltwise.h"
#include "ops/list_conv.h"
#include "ops/list_shape.h"
#include "ops/list_loss.h"

typedef enum sal_op_type {
#define SAL__OP_ENUM(e, n, s) SAL_OP_##e,
  SAL_OP_LIST(SAL__OP_ENUM)
#undef SAL__OP_ENUM
  SAL_OP_COUNT
} sal_op_type;

/* Kernel flags. SAL_KERNEL_BLOCKED: the kernel handles SAL_LAYOUT_BLOCKED16 on its 4-D
 * activation inputs and outputs (it reads each tensor's `layout` in prepare). The plan keeps a
 * value blocked only when its producer and all its consumers carry this flag. */
#define SAL_KERNEL_BLOCKED 1u
/* SAL_KERNEL_FUSE_BN: a Conv kernel that can fold the inference BatchNormalization following it
 * into its weights and bias (k->fuse.bn). SAL_KERNEL_FUSE_RELU: one that can apply a following
 * ReLU as a post-op (k->fuse.relu), masking dout by y > 0 in backward. The plan fuses only in
 * inference plans without parameter gradients, and never fuses away a value the caller reads. */
#define SAL_KERNEL_FUSE_BN 2u
#define SAL_KERNEL_FUSE_RELU 4u
/* SAL_KERNEL_FUSE_ADD: a Conv kernel that can add a following residual Add's other operand to its
 * result (after the batch-norm, before the ReLU: k->fuse.add), writing that operand's gradient in
 * backward (k->fuse.add_din). */
#define SAL_KERNEL_FUSE_ADD 8u

/* What a plan fused into a node (see SAL_KERNEL_FUSE_*). When set, out[0]/dout[0] are the value
 * and gradient at the end of the fused chain (the BN, Add or ReLU output). */
typedef struct sal_fusion {
  bool bn;
  const sal_tensor *bn_scale, *bn_bias, *bn_mean, *bn_var; /* each (C), plain */
  float bn_eps;
  bool relu;
  bool add;                 /* y = relu?(bn?(conv) + add_in) */
  sal_tensor *add_in;       /* the Add's other operand: the output's shape and layout */
  bool add_din_wanted;      /* set before prepare: backward may ask for add_din */
  sal_tensor *add_din;      /* set per backward: add_in's gradient, NULL when not wanted */
  bool add_din_accum;       /* add into add_din instead of overwriting it */
} sal_fusion;

/* Per-node execution context: what a kernel sees. It lives in the plan; tensors point into the
 * plan's arenas (forward values) and gradient buffers. */
typedef struct sal_kctx {
  sal_ctx *ctx;
  const sal_graph *graph;
  const sal_node *node;
  int node_index;
  int n_in, n_out;
  sal_tensor **in;    /* forward inputs; NULL for an omitted optional input */
  sal_tensor **out;   /* forward outputs */
  sal_tensor **din;   /* gradient wrt input i, NULL when not wanted */
  sal_tensor **dout;  /* gradient wrt output j, NULL when none reaches it (treat as zero) */
  bool *din_accum;    /* false: the kernel overwrites din[i]; true: it adds into din[i] */
  bool dout_writable; /* backward may overwrite dout[0] (no one reads that gradient afterwards) */
  uint32_t din_wanted; /* set before supports/prepare: bit i = backward may ask for din[i] (inputs
                        * past 31 count as wanted whenever any is); 0 in plans without gradients */
  bool training;
  uint64_t seed;      /* ctx seed: dropout masks depend on (seed, node, pass) */
  uint64_t pass;      /* forward pass counter, for random ops */
  uint64_t param_version; /* bumped by sal_plan_params_changed: refresh cached weight transforms */
  void *state;        /* kernel state created by prepare, freed by release */
  struct sal_dnnl_env *dnnl; /* the plan's oneDNN engine/stream (NULL with reference kernels) */
  sal_fusion fuse;    /* following nodes folded into this one by the plan */
} sal_kctx;

typedef struct sal_kernel {
  const char *name;
  unsigned flags;
  /* true if this kernel handles the node with the bound shapes/attrs (NULL = always). */
  bool (*supports)(const sal_kctx *k);
  /* Once per plan: create primitives, allocate workspace into k->state. May be NULL. */
  sal_status (*prepare)(sal_kctx *k);
  void (*release)(sal_kctx *k);
  sal_status (*forward)(sal_kctx *k);
  /* Vector–Jacobian product: from dout[] into each non-NULL din[], honouring din_accum. */
  sal_status (*backward)(sal_kctx *k);
  /* Implementation name for logs (e.g. oneDNN's impl_info_str); NULL = kernel name. */
  const char *(*impl_name)(const sal_kctx *k);
} sal_kernel;

typedef struct sal_op_def {
  const char *name;
  int min_in, max_in;   /* max_in = -1: variadic */
  int min_out, max_out;
  /* Shape rule and attribute validation. in[i].ndim == -1 for an omitted optional input.
   * Constant inputs (shape tensors) are read from the graph's parameter data. Errors must name
   * the node (use sal__op_error). */
  sal_status (*infer)(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                      sal_shape *out);
  uint32_t nograd_inputs; /* bit i set: input i never receives a gradient (indices, shapes) */
  /* Multiply–adds of one forward pass (for FLOP counts); NULL = 0. */
  int64_t (*macs)(const sal_node *n, const sal_shape *in, const sal_shape *out);
} sal_op_def;

#define SAL__OP_DECL(e, n, s) extern const sal_op_def sal__op_##s; extern const sal_kernel sal__ref_##s;
SAL_OP_LIST(SAL__OP_DECL)
#undef SAL__OP_DECL

/* Registry lookups. */
const sal_op_def *sal__op_def(sal_op_type t);
const sal_kernel *sal__op_ref_kernel(sal_op_type t);
const sal_kernel *sal__op_dnnl_kernel(sal_op_type t); /* NULL when none */
/* By ONNX name; returns SAL_OP_COUNT if unknown. */
sal_op_type sal__op_find(const char *name);
const char *sal__op_name(sal_op_type t);

/* Attribute getters (defaults when absent; a present attribute of the wrong type is an error). */
sal_status sal__attr_int(sal_ctx *ctx, const sal_node *n, const char *name, int64_t def, int64_t *out);
sal_status sal__attr_float(sal_ctx *ctx, const sal_node *n, const char *name, float def, float *out);
/* ints: *out points into the node (borrowed) and *count is its length; absent → *out NULL, 0. */
sal_status sal__attr_ints(sal_ctx *ctx, const sal_node *n, const char *name, const int64_t **out,
                          int64_t *count);
sal_status sal__attr_string(sal_ctx *ctx, const sal_node *n, const char *name, const char *def,
                            const char **out);
/* True if node n carries an attribute called name (of any type). */
bool sal__attr_has(const sal_node *n, const char *name);
/* Records "node 'name' (OpType): <message>" as a SAL_STATUS_SHAPE/BAD_INPUT/... error. */
sal_status sal__op_error(sal_ctx *ctx, const sal_node *n, sal_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const char *sal__node_name(const sal_node *n);
sal_op_type sal__node_op(const sal_node *n);
/* Constant data of input i if it is a parameter (for shape tensors), else NULL. */
const float *sal__node_const_input(const sal_graph *g, const sal_node *n, int i, int64_t *numel);

/* Gradient helper for kernels: if !k->din_accum[i], zero din[i] so the kernel can always add. */
void sal__grad_prepare(sal_kctx *k, int i);


/* Shared shape rules and helpers (src/ops/common.c). */
/* out[0] = in[0] (unary elementwise ops). */
sal_status sal__infer_same(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                           sal_shape *out);
/* NumPy/ONNX multidirectional broadcasting of a and b into *out; false if incompatible. */
bool sal__broadcast_shape(const sal_shape *a, const sal_shape *b, sal_shape *out);
/* Element strides of `s` aligned right to `out`, with 0 where s broadcasts (size 1 or absent).
 * strides[] has out->ndim entries. */
void sal__broadcast_strides(const sal_shape *s, const sal_shape *out, int64_t *strides);

#endif
