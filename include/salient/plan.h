/* salient plans: a graph bound to a batch size, with shapes inferred, activation and gradient
 * memory laid out once from liveness and kernel state (oneDNN primitives) created once, so that
 * sal_plan_forward / sal_plan_backward can run thousands of times with no allocation. */
#ifndef SALIENT_PLAN_H
#define SALIENT_PLAN_H

#include "salient/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sal_plan sal_plan;

typedef enum sal_kernels {
  SAL_KERNELS_AUTO = 0, /* oneDNN where it supports the node, reference elsewhere */
  SAL_KERNELS_REF = 1,  /* plain-C reference kernels only (the oracle) */
  SAL_KERNELS_DNNL = 2  /* like AUTO, but an error if a node has no oneDNN kernel */
} sal_kernels;

typedef enum sal_precision { SAL_PRECISION_F32 = 0, SAL_PRECISION_BF16 = 1 } sal_precision;

typedef struct sal_plan_opts {
  int64_t batch;      /* replaces the graph inputs' -1 batch dimension; 1..65536 */
  bool training;      /* batch-norm uses batch statistics and updates running ones; dropout on */
  bool grad_inputs;   /* backward computes gradients of the graph inputs */
  bool grad_params;   /* backward computes gradients of trainable parameters */
  const char *const *grad_values; /* extra values whose gradients must be readable (Grad-CAM) */
  int n_grad_values;
  const char *const *keep_values; /* intermediate values the caller will read after forward; others
                                   * may be fused away or have their memory reused (outputs,
                                   * inputs and grad_values are always readable) */
  int n_keep_values;
  sal_kernels kernels;
  sal_precision precision; /* only F32 is implemented; BF16 is UNSUPPORTED for now */
  bool profile;       /* time every node's forward and backward (sal_plan_node_time) */
} sal_plan_opts;

/* Defaults: batch 1, inference, no gradients, AUTO kernels, f32. */
sal_plan_opts sal_plan_opts_default(void);

/* Binds g to opts. g is borrowed (must outlive the plan and not be modified while it exists);
 * parameters are used in place, so weight updates through sal_graph_param are seen by the plan.
 * Errors: BAD_INPUT (batch out of range), SHAPE (inference failed, message names the node),
 * UNSUPPORTED, OUT_OF_MEMORY (nothing leaks). */
sal_status sal_plan_new(sal_ctx *ctx, sal_graph *g, const sal_plan_opts *opts, sal_plan **out);
void sal_plan_free(sal_plan *p);

/* Copies t into graph input `name` (shape must match the bound shape). */
sal_status sal_plan_set_input(sal_plan *p, const char *name, const sal_tensor *t);
/* Tells the plan that parameter data changed (an optimiser step, loaded weights): kernels that
 * cache transformed weights (oneDNN layouts, folded batch-norm) refresh them on the next forward.
 * Writing parameters through sal_graph_param without calling this leaves stale caches. */
void sal_plan_params_changed(sal_plan *p);
/* Runs the graph forward. */
sal_status sal_plan_forward(sal_plan *p);
/* Runs backward from a gradient `seed` placed on value `name` (same shape as the value; NULL =
 * all ones). Gradients of the graph inputs and trainable parameters (as requested in opts) and of
 * opts.grad_values are computed and overwrite the previous backward's. BAD_STATE before a forward
 * or in a plan created without any gradient option. */
sal_status sal_plan_backward(sal_plan *p, const char *name, const sal_tensor *seed);

/* Reads a value after forward: a borrowed, plain-layout view valid until the next forward.
 * NOT_FOUND for an unknown name; BAD_STATE for a value the plan did not keep. */
sal_status sal_plan_value(sal_plan *p, const char *name, const sal_tensor **out);
/* Reads the gradient of a value after backward (zeros if the seed does not reach it). */
sal_status sal_plan_grad(sal_plan *p, const char *name, const sal_tensor **out);
/* The bound shape of a value. */
sal_status sal_plan_shape(const sal_plan *p, const char *name, sal_shape *out);
/* Which kernel runs node i ("ref", "dnnl:jit:avx512_core+bn+relu", ...; "fused" when the node runs
 * inside the kernel of the node before it), for logs and benchmarks. */
const char *sal_plan_node_kernel(const sal_plan *p, int node);
/* Multiply–add count of one forward pass (x2 = FLOPs), for benchmarks and `salient info`. */
int64_t sal_plan_forward_macs(const sal_plan *p);
/* With opts.profile: total milliseconds node i spent in forward and in backward since the plan was
 * created (0 for fused nodes: their time counts in the node they were fused into). */
sal_status sal_plan_node_time(const sal_plan *p, int node, double *fwd_ms, double *bwd_ms);
/* Name and op type of node i (for profiles and logs). */
const char *sal_plan_node_name(const sal_plan *p, int node);
const char *sal_plan_node_op(const sal_plan *p, int node);

#ifdef __cplusplus
}
#endif
#endif
