/* Reference kernels for Flatten and Reshape: row-major data is unchanged by a new shape, so
 * forward copies x to y and backward passes dy through to dx. */
#include "graph/internal.h"
#include "kernels/ref/util.h"

#include <string.h>

static sal_status reshape_forward(sal_kctx *k) {
  // x is any shape, y has the same numel
  memcpy(k->out[0]->data, k->in[0]->data, (size_t)sal_tensor_numel(k->in[0]) * sizeof(float));
  return SAL_STATUS_OK;
}

static sal_status reshape_backward(sal_kctx *k) {
  /* dout[0] has y's shape but the same numel and order as dx. */
  if (k->din[0]) sal__ref_accumulate(k->din[0], k->dout[0], k->din_accum[0]);
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_flatten = {.name = "ref", .forward = reshape_forward, .backward = reshape_backward};
const sal_kernel sal__ref_reshape = {.name = "ref", .forward = reshape_forward, .backward = reshape_backward};
