/* Reference kernels for activations: y = f(x) elementwise; backward dx (+)= dy * f'(x).
 * At the kink of ReLU (x == 0) the derivative is taken as 0, as PyTorch does. */
#include "graph/internal.h"

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
  for (int64_t i = 0; i < n; i++) {
    float g = (dy && x[i] > 0.0f) ? dy[i] : 0.0f;
    dx[i] = acc ? dx[i] + g : g;
  }
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_relu = {.name = "ref", .forward = relu_forward, .backward = relu_backward};
