/* Internal interface of the saliency methods: the job every method receives, the runner that pushes
 * batches of inputs through plans sized to the memory budget, and shared image helpers. */
#ifndef SAL_SALIENCY_INTERNAL_H
#define SAL_SALIENCY_INTERNAL_H

#include "core/internal.h"
#include "salient/explain.h"
#include "salient/plan.h"

/* What a method is asked to do. images is (N, C, H, W); targets[N] are resolved class indices;
 * raw (N, H, W) is written by the method; scores[N] (z_c of the image) is written by methods that
 * set `scores_done`, otherwise by the dispatcher's forward pre-pass. */
typedef struct sal__xjob {
  sal_ctx *ctx;
  sal_graph *g;
  const char *in, *out; /* graph input and logits names */
  int64_t N, C, H, W, K;
  const float *images;
  int64_t *targets;     /* SAL_TARGET_TOP1 entries only for methods with resolves_targets */
  const sal_method_params *p;
  float *raw;
  float *scores;
  sal_tensor **levels;      /* methods with levels: per-level outputs (sal_explanation's), or NULL */
  const char **level_names;
  int *n_levels;
} sal__xjob;

typedef sal_status (*sal__method_fn)(sal__xjob *job);

/* Runner: a graph bound to plans of batch size 1..B (built on demand, kept while the runner lives),
 * with or without gradients. */
#define SAL__RUNNER_PLANS 3
typedef struct sal__runner {
  sal_ctx *ctx;
  sal_graph *g;
  const char *in, *out, *grad_value; /* grad_value: an activation whose gradient is read (Grad-CAM) */
  bool grad_input;
  int64_t C, H, W, K, per; /* per = C·H·W */
  int64_t B;                /* largest batch a pass uses */
  sal_plan *plans[SAL__RUNNER_PLANS];
  int64_t plan_b[SAL__RUNNER_PLANS];
  sal_plan *cur;            /* the plan of the last pass (read values / gradients from it) */
  float *seed;              /* (B, K) backward seed */
} sal__runner;

/* The largest batch a runner uses for g under `budget` bytes (max_items and 65536 permitting):
 * budget / (activation bytes per item, doubled with gradients, + extra_bytes), at least 1. For
 * benchmarks that run the same algorithm elsewhere with the same batches. */
int64_t sal__runner_batch(const sal_graph *g, int64_t budget, bool grads, int64_t extra_bytes, int64_t max_items);
/* Sets r up for job: batches of at most max_items, and at most what max_memory allows. extra_bytes
 * is the method's own memory per batch item (its input copies, gradient buffers). */
sal_status sal__runner_init(sal__runner *r, const sal__xjob *job, bool grad_input, const char *grad_value,
                            int64_t max_items, int64_t extra_bytes);
void sal__runner_free(sal__runner *r);
/* One pass of b <= B items. x is (b, C, H, W). cls[b]: the class whose logit is differentiated
 * (SAL_TARGET_TOP1 entries are replaced by the item's top-1). logits (b, K) and gx (b, C, H, W,
 * the input gradient, needs grad_input) are optional outputs. With a gradient runner the backward
 * runs from the one-hot seed on cls; afterwards r->cur holds the plan for reading grad_value. */
sal_status sal__runner_pass(sal__runner *r, const float *x, int64_t b, int64_t *cls, float *logits, float *gx);
/* The two halves of a pass, for methods whose backward seed depends on the logits: a forward of b
 * items (logits (b, K) out), then a backward from seed (b, K) with the input gradient into gx. */
sal_status sal__runner_forward(sal__runner *r, const float *x, int64_t b, float *logits);
/* One input-gradient pass per budgeted batch of all job images, recording scores; reduce turns
 * each image's gradient g and input x (both (C, H, W)) into its raw map (H, W). */
typedef void (*sal__grad_reduce_fn)(const sal__xjob *job, const float *g, const float *x, float *map);
sal_status sal__explain_input_gradient(sal__xjob *job, sal__grad_reduce_fn reduce);
sal_status sal__runner_backward(sal__runner *r, int64_t b, const float *seed, float *gx);

/* Softmax probability of class c from a row of K logits (max-subtracted, in double). */
float sal__softmax_at(const float *z, int64_t K, int64_t c);

/* Gaussian blur of (C, H, W) planes with std sigma pixels (kernel radius ceil(4 sigma), clipped to
 * the image; borders mirror without repeating the edge, as scipy's 'mirror'). out must not alias x. */
sal_status sal__gauss_blur(sal_ctx *ctx, const float *x, int64_t C, int64_t H, int64_t W, float sigma, float *out);
/* Bilinear resampling of an (h, w) plane to (H, W), align_corners = false (PyTorch's
 * F.interpolate(mode='bilinear') convention, edges clamped). */
void sal__bilinear(const float *src, int64_t h, int64_t w, float *dst, int64_t H, int64_t W);
/* The adjoint of sal__bilinear: accumulates dst-gradients (H, W) into src-gradients (h, w) (which
 * the caller zeroes) with the same weights. */
void sal__bilinear_adjoint(const float *gdst, int64_t H, int64_t W, float *gsrc, int64_t h, int64_t w);
/* Default sizes scaled with the input: round(base · H / 224), at least 1. */
int64_t sal__scaled(int64_t base, int64_t H);
/* Philox stream of (method, purpose): keeps random draws of different methods independent. */
uint64_t sal__stream(const char *method, uint64_t purpose);

/* The methods (src/saliency/<name>.c). */
sal_status sal__explain_gradient(sal__xjob *job);
sal_status sal__explain_grad_input(sal__xjob *job);
sal_status sal__explain_smoothgrad(sal__xjob *job);
sal_status sal__explain_integrated_gradients(sal__xjob *job);
sal_status sal__explain_gradcam(sal__xjob *job);
sal_status sal__explain_occlusion(sal__xjob *job);
sal_status sal__explain_rise(sal__xjob *job);
sal_status sal__explain_meaningful_perturbation(sal__xjob *job);
sal_status sal__explain_extremal_perturbation(sal__xjob *job);
sal_status sal__explain_dm(sal__xjob *job);
sal_status sal__explain_hdm(sal__xjob *job);

/* Pieces of mask optimisation shared by meaningful_perturbation, dm and hdm (src/saliency/maskopt.c). */
/* One Adam step (Kingma & Ba 2015: β1 0.9, β2 0.999, ε 1e-8, bias-corrected; t counts from 1) on n
 * values p with gradient g and moments m1, m2; the result is clamped to [lo, hi] (±INFINITY: none). */
void sal__adam_step(float *p, const float *g, float *m1, float *m2, int64_t n, int64_t t, double lr, float lo, float hi);
/* weight · Σ (|m(i,j+1) − m(i,j)|^β + |m(i+1,j) − m(i,j)|^β) of an (h, w) plane (anisotropic total
 * variation); its gradient is added to g when g is not NULL. Returns the weighted value. */
double sal__tv(const float *m, int64_t h, int64_t w, double beta, double weight, float *g);
/* The composite Φ = b + M ⊙ d (d = x − b) of C planes of HW pixels: out (C, HW), M (HW). */
void sal__composite(const float *b, const float *d, const float *M, int64_t C, int64_t HW, float *out);
/* ∂/∂M of <g, Φ> for Φ = b + M ⊙ d: gM (HW) = Σ_c g_c ⊙ d_c (accumulated in double). */
void sal__composite_grad(const float *g, const float *d, int64_t C, int64_t HW, float *gM);
/* The baseline b(x) (C, H, W) of image x for p->baseline: zero, blur (σ = blur_sigma or 10·H/224),
 * noise (standard-normal Philox draws of (p->seed, stream), the same for every image). */
sal_status sal__baseline_image(sal_ctx *ctx, const sal_method_params *p, uint64_t stream, const float *x, int64_t C,
                               int64_t H, int64_t W, float *out);
sal_status sal__explain_reliable(sal__xjob *job);
sal_status sal__explain_masker(sal__xjob *job);

/* reliable (src/saliency/reliable.c). Its levels: the layers of p->layers, or the automatic ones
 * (docs/methods.md), after the graph input when p->input_mask; up to SAL__REL_MAX_LEVELS value
 * names (owned by g) in depth order. NOT_FOUND (listing the 4-D activations) for an unknown name. */
#define SAL__REL_MAX_LEVELS SAL_EXPLAIN_MAX_LEVELS
sal_status sal__reliable_levels(sal_ctx *ctx, const sal_graph *g, const sal_method_params *p, const char **names,
                                int *n);

/* Grad-CAM's default layer: the last 4-D activation with more than one spatial position (the input
 * of global pooling in ResNets and VGGs). NULL when the graph has none. */
const char *sal__gradcam_default_layer(const sal_graph *g);
/* Checks that `layer` is a 4-D activation of g; NOT_FOUND listing the valid ones otherwise. */
sal_status sal__check_layer(sal_ctx *ctx, const sal_graph *g, const char *layer);

#endif
