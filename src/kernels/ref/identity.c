/* Reference kernel for Identity: a copy forward, the gradient passed through backward. */
#include "graph/internal.h"
#include "kernels/ref/util.h"

#include <string.h>

static sal_status identity_forward(sal_kctx *k) {
  // x is any shape, y has the same shape
  memcpy(k->out[0]->data, k->in[0]->data, (size_t)sal_tensor_numel(k->in[0]) * sizeof(float));
  return SAL_STATUS_OK;
}

static sal_status identity_backward(sal_kctx *k) {
  if (k->din[0]) sal__ref_accumulate(k->din[0], k->dout[0], k->din_accum[0]);
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_identity = {.name = "ref", .forward = identity_forward, .backward = identity_backward};
