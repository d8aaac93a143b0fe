/* Reference kernels for the activations: y = f(x) elementwise; backward dx (+)= dy * f'(x).
 * At kinks the derivative follows PyTorch, so golden tests against it agree exactly:
 *   Relu      x == 0: 0.                 LeakyRelu  x == 0: alpha (slope of the x <= 0 side).
 *   Clip      strict, like hardtanh/relu6: the gradient passes only where min < x < max and is 0
 *             at x == min and x == max (torch.clamp would pass it at the bounds; ReLU6 networks
 *             export Clip(0, 6) from hardtanh, so hardtanh's convention is the one that matters).
 *   HardSigmoid strict too: alpha where 0 < alpha*x + beta < 1, else 0 (torch.hardsigmoid).
 *   HardSwish inclusive: (2x + 3)/6 for -3 <= x <= 3, 0 below, 1 above (torch.hardswish). */
#include "graph/internal.h"
#include "ops/activation.h"

#include <math.h>

/* An op's attributes as its element functions see them (alpha/min in a, beta/max in b). */
typedef struct act_prm {
  float a, b;
} act_prm;

static sal_status no_params(sal_kctx *k, act_prm *p) {
  (void)k;
  *p = (act_prm){0.0f, 0.0f};
  return SAL_STATUS_OK;
}

/* Each op defines its element functions
 *   static inline float <sym>_f(float x, act_prm p)                       -> y
 *   static inline float <sym>_df(float x, float y, float dy, act_prm p)   -> dx contribution
 * and SAL__ACT_LOOPS(sym, params) generates its kernel functions around them: the forward
 *   // x, y: any shape, same numel
 * and the backward, dx = g (overwrite) or dx += g (accumulate), with g = 0 where dy is absent.
 * A macro rather than a function pointer so that the element functions inline into the OpenMP
 * loops. */
#define SAL__ACT_LOOPS(sym, params)                                                              \
  static sal_status sym##_forward(sal_kctx *k) {                                                \
    act_prm p;                                                                                   \
    sal_status st = params(k, &p);                                                               \
    if (st) return st;                                                                           \
    const float *x = k->in[0]->data;                                                             \
    float *y = k->out[0]->data;                                                                  \
    int64_t n = sal_tensor_numel(k->in[0]);                                                      \
    _Pragma("omp parallel for if (n > 32768) schedule(static)")                                  \
    for (int64_t i = 0; i < n; i++) y[i] = sym##_f(x[i], p);                                     \
    return SAL_STATUS_OK;                                                                        \
  }                                                                                              \
  static sal_status sym##_backward(sal_kctx *k) {                                               \
    if (!k->din[0]) return SAL_STATUS_OK;                                                        \
    act_prm p;                                                                                   \
    sal_status st = params(k, &p);                                                               \
    if (st) return st;                                                                           \
    const float *x = k->in[0]->data, *y = k->out[0]->data;                                       \
    const float *dy = k->dout[0] ? k->dout[0]->data : NULL;                                      \
    float *dx = k->din[0]->data;                                                                 \
    int64_t n = sal_tensor_numel(k->in[0]);                                                      \
    bool acc = k->din_accum[0];                                                                  \
    _Pragma("omp parallel for if (n > 32768) schedule(static)")                                  \
    for (int64_t i = 0; i < n; i++) {                                                            \
      float g = dy ? sym##_df(x[i], y[i], dy[i], p) : 0.0f;                                      \
      dx[i] = acc ? dx[i] + g : g;                                                               \
    }                                                                                            \
    return SAL_STATUS_OK;                                                                        \
  }                                                                                              \
  const sal_kernel sal__ref_##sym = {.name = "ref", .forward = sym##_forward, .backward = sym##_backward};

static inline float relu_f(float x, act_prm p) {
  (void)p;
  return x > 0.0f ? x : 0.0f;
}
static inline float relu_df(float x, float y, float dy, act_prm p) {
  (void)y, (void)p;
  return x > 0.0f ? dy : 0.0f;
}
SAL__ACT_LOOPS(relu, no_params)

/* LeakyRelu (ONNX): y = x for x >= 0, alpha*x otherwise. */
static sal_status leaky_relu_params(sal_kctx *k, act_prm *p) {
  *p = (act_prm){0.0f, 0.0f};
  return sal__leaky_relu_alpha(k->ctx, k->node, &p->a);
}
static inline float leaky_relu_f(float x, act_prm p) { return x >= 0.0f ? x : p.a * x; }
static inline float leaky_relu_df(float x, float y, float dy, act_prm p) {
  (void)y;
  return x > 0.0f ? dy : p.a * dy;
}
SAL__ACT_LOOPS(leaky_relu, leaky_relu_params)

/* Sigmoid: y = 1 / (1 + e^-x), evaluated so that exp never overflows (e^-|x| <= 1). */
static inline float sigmoid_f(float x, act_prm p) {
  (void)p;
  double e = exp(-fabs((double)x));
  return (float)(x >= 0.0f ? 1.0 / (1.0 + e) : e / (1.0 + e));
}
/* dy/dx = y (1 - y), from the saved output. */
static inline float sigmoid_df(float x, float y, float dy, act_prm p) {
  (void)x, (void)p;
  return dy * y * (1.0f - y);
}
SAL__ACT_LOOPS(sigmoid, no_params)

static inline float tanh_f(float x, act_prm p) {
  (void)p;
  return tanhf(x);
}
/* dy/dx = 1 - y^2, from the saved output. */
static inline float tanh_df(float x, float y, float dy, act_prm p) {
  (void)x, (void)p;
  return dy * (1.0f - y * y);
}
SAL__ACT_LOOPS(tanh, no_params)

/* Clip (ONNX): y = Min(max, Max(x, min)); with min > max every element becomes max, as the spec
 * says. Comparisons (not fminf/fmaxf) so that NaN propagates instead of becoming a bound. */
static sal_status clip_params(sal_kctx *k, act_prm *p) {
  *p = (act_prm){0.0f, 0.0f};
  return sal__clip_bounds(k->ctx, k->graph, k->node, &p->a, &p->b);
}
static inline float clip_f(float x, act_prm p) {
  float v = x < p.a ? p.a : x;
  return v > p.b ? p.b : v;
}
static inline float clip_df(float x, float y, float dy, act_prm p) {
  (void)y;
  return (p.a < x && x < p.b) ? dy : 0.0f;
}
SAL__ACT_LOOPS(clip, clip_params)

/* HardSigmoid (ONNX): y = max(0, min(1, alpha*x + beta)). */
static sal_status hard_sigmoid_params(sal_kctx *k, act_prm *p) {
  *p = (act_prm){0.0f, 0.0f};
  return sal__hard_sigmoid_params(k->ctx, k->node, &p->a, &p->b);
}
static inline float hard_sigmoid_f(float x, act_prm p) {
  float t = p.a * x + p.b;
  return t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
}
static inline float hard_sigmoid_df(float x, float y, float dy, act_prm p) {
  (void)y;
  float t = p.a * x + p.b;
  return (t > 0.0f && t < 1.0f) ? p.a * dy : 0.0f;
}
SAL__ACT_LOOPS(hard_sigmoid, hard_sigmoid_params)

/* HardSwish (ONNX): y = x * HardSigmoid(x) with alpha = 1/6, beta = 0.5, written as
 * x * clamp(x + 3, 0, 6) / 6 so that the pieces meet exactly at x = -3 and x = 3. */
static inline float hard_swish_f(float x, act_prm p) {
  (void)p;
  float t = x + 3.0f;
  t = t < 0.0f ? 0.0f : (t > 6.0f ? 6.0f : t);
  return x * t / 6.0f;
}
static inline float hard_swish_df(float x, float y, float dy, act_prm p) {
  (void)y, (void)p;
  float d = x < -3.0f ? 0.0f : (x <= 3.0f ? (2.0f * x + 3.0f) / 6.0f : 1.0f);
  return dy * d;
}
SAL__ACT_LOOPS(hard_swish, no_params)
