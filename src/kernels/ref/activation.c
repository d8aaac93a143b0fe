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

/* dx[i] = g (overwrite) or dx[i] += g (accumulate). */
static inline void put(float *dx, int64_t i, float g, bool acc) { dx[i] = acc ? dx[i] + g : g; }

static sal_status relu_forward(sal_kctx *k) {
  // x, y: any shape, same numel
  const float *x = k->in[0]->data;
  float *y = k->out[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
  return SAL_STATUS_OK;
}

static sal_status relu_backward(sal_kctx *k) {
  if (!k->din[0]) return SAL_STATUS_OK;
  const float *x = k->in[0]->data;
  const float *dy = k->dout[0] ? k->dout[0]->data : NULL;
  float *dx = k->din[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  bool acc = k->din_accum[0];
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) put(dx, i, (dy && x[i] > 0.0f) ? dy[i] : 0.0f, acc);
  return SAL_STATUS_OK;
}

/* LeakyRelu (ONNX): y = x for x >= 0, alpha*x otherwise. */
static sal_status leaky_relu_forward(sal_kctx *k) {
  float alpha;
  sal_status st = sal__leaky_relu_alpha(k->ctx, k->node, &alpha);
  if (st) return st;
  const float *x = k->in[0]->data;
  float *y = k->out[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = x[i] >= 0.0f ? x[i] : alpha * x[i];
  return SAL_STATUS_OK;
}

static sal_status leaky_relu_backward(sal_kctx *k) {
  if (!k->din[0]) return SAL_STATUS_OK;
  float alpha;
  sal_status st = sal__leaky_relu_alpha(k->ctx, k->node, &alpha);
  if (st) return st;
  const float *x = k->in[0]->data;
  const float *dy = k->dout[0] ? k->dout[0]->data : NULL;
  float *dx = k->din[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  bool acc = k->din_accum[0];
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) put(dx, i, dy ? (x[i] > 0.0f ? dy[i] : alpha * dy[i]) : 0.0f, acc);
  return SAL_STATUS_OK;
}

/* Sigmoid: y = 1 / (1 + e^-x), evaluated so that exp never overflows (e^-|x| <= 1). */
static sal_status sigmoid_forward(sal_kctx *k) {
  const float *x = k->in[0]->data;
  float *y = k->out[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    double e = exp(-fabs((double)x[i]));
    y[i] = (float)(x[i] >= 0.0f ? 1.0 / (1.0 + e) : e / (1.0 + e));
  }
  return SAL_STATUS_OK;
}

/* dy/dx = y (1 - y), from the saved output. */
static sal_status sigmoid_backward(sal_kctx *k) {
  if (!k->din[0]) return SAL_STATUS_OK;
  const float *y = k->out[0]->data;
  const float *dy = k->dout[0] ? k->dout[0]->data : NULL;
  float *dx = k->din[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  bool acc = k->din_accum[0];
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) put(dx, i, dy ? dy[i] * y[i] * (1.0f - y[i]) : 0.0f, acc);
  return SAL_STATUS_OK;
}

static sal_status tanh_forward(sal_kctx *k) {
  const float *x = k->in[0]->data;
  float *y = k->out[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
  return SAL_STATUS_OK;
}

/* dy/dx = 1 - y^2, from the saved output. */
static sal_status tanh_backward(sal_kctx *k) {
  if (!k->din[0]) return SAL_STATUS_OK;
  const float *y = k->out[0]->data;
  const float *dy = k->dout[0] ? k->dout[0]->data : NULL;
  float *dx = k->din[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  bool acc = k->din_accum[0];
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) put(dx, i, dy ? dy[i] * (1.0f - y[i] * y[i]) : 0.0f, acc);
  return SAL_STATUS_OK;
}

/* Clip (ONNX): y = Min(max, Max(x, min)); with min > max every element becomes max, as the spec
 * says. Comparisons (not fminf/fmaxf) so that NaN propagates instead of becoming a bound. */
static sal_status clip_forward(sal_kctx *k) {
  float lo, hi;
  sal_status st = sal__clip_bounds(k->ctx, k->graph, k->node, &lo, &hi);
  if (st) return st;
  const float *x = k->in[0]->data;
  float *y = k->out[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float v = x[i] < lo ? lo : x[i];
    y[i] = v > hi ? hi : v;
  }
  return SAL_STATUS_OK;
}

static sal_status clip_backward(sal_kctx *k) {
  if (!k->din[0]) return SAL_STATUS_OK;
  float lo, hi;
  sal_status st = sal__clip_bounds(k->ctx, k->graph, k->node, &lo, &hi);
  if (st) return st;
  const float *x = k->in[0]->data;
  const float *dy = k->dout[0] ? k->dout[0]->data : NULL;
  float *dx = k->din[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  bool acc = k->din_accum[0];
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) put(dx, i, (dy && lo < x[i] && x[i] < hi) ? dy[i] : 0.0f, acc);
  return SAL_STATUS_OK;
}

/* HardSigmoid (ONNX): y = max(0, min(1, alpha*x + beta)). */
static sal_status hard_sigmoid_forward(sal_kctx *k) {
  float alpha, beta;
  sal_status st = sal__hard_sigmoid_params(k->ctx, k->node, &alpha, &beta);
  if (st) return st;
  const float *x = k->in[0]->data;
  float *y = k->out[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float t = alpha * x[i] + beta;
    y[i] = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
  }
  return SAL_STATUS_OK;
}

static sal_status hard_sigmoid_backward(sal_kctx *k) {
  if (!k->din[0]) return SAL_STATUS_OK;
  float alpha, beta;
  sal_status st = sal__hard_sigmoid_params(k->ctx, k->node, &alpha, &beta);
  if (st) return st;
  const float *x = k->in[0]->data;
  const float *dy = k->dout[0] ? k->dout[0]->data : NULL;
  float *dx = k->din[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  bool acc = k->din_accum[0];
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float t = alpha * x[i] + beta;
    put(dx, i, (dy && t > 0.0f && t < 1.0f) ? alpha * dy[i] : 0.0f, acc);
  }
  return SAL_STATUS_OK;
}

/* HardSwish (ONNX): y = x * HardSigmoid(x) with alpha = 1/6, beta = 0.5, written as
 * x * clamp(x + 3, 0, 6) / 6 so that the pieces meet exactly at x = -3 and x = 3. */
static sal_status hard_swish_forward(sal_kctx *k) {
  const float *x = k->in[0]->data;
  float *y = k->out[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float t = x[i] + 3.0f;
    t = t < 0.0f ? 0.0f : (t > 6.0f ? 6.0f : t);
    y[i] = x[i] * t / 6.0f;
  }
  return SAL_STATUS_OK;
}

static sal_status hard_swish_backward(sal_kctx *k) {
  if (!k->din[0]) return SAL_STATUS_OK;
  const float *x = k->in[0]->data;
  const float *dy = k->dout[0] ? k->dout[0]->data : NULL;
  float *dx = k->din[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  bool acc = k->din_accum[0];
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float d = x[i] < -3.0f ? 0.0f : (x[i] <= 3.0f ? (2.0f * x[i] + 3.0f) / 6.0f : 1.0f);
    put(dx, i, dy ? dy[i] * d : 0.0f, acc);
  }
  return SAL_STATUS_OK;
}

#define SAL__ACT_KERNEL(sym) \
  const sal_kernel sal__ref_##sym = {.name = "ref", .forward = sym##_forward, .backward = sym##_backward};
SAL__ACT_KERNEL(relu)
SAL__ACT_KERNEL(leaky_relu)
SAL__ACT_KERNEL(sigmoid)
SAL__ACT_KERNEL(tanh)
SAL__ACT_KERNEL(clip)
SAL__ACT_KERNEL(hard_sigmoid)
SAL__ACT_KERNEL(hard_swish)
