/* Shape rules shared by several op families: same-shape elementwise and NumPy broadcasting. */
#include "graph/internal.h"

sal_status sal__infer_same(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                           sal_shape *out) {
  (void)ctx;
  (void)g;
  (void)n;
  out[0] = in[0];
  return SAL_STATUS_OK;
}

bool sal__broadcast_shape(const sal_shape *a, const sal_shape *b, sal_shape *out) {
  int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
  out->ndim = nd;
  for (int i = 0; i < SAL_MAX_DIMS; i++) out->d[i] = 0;
  for (int i = 0; i < nd; i++) {
    int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
    int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
    if (da != db && da != 1 && db != 1) return false;
    out->d[i] = da == 1 ? db : da;
  }
  return true;
}

void sal__broadcast_strides(const sal_shape *s, const sal_shape *out, int64_t *strides) {
  int64_t stride = 1;
  for (int i = out->ndim - 1; i >= 0; i--) {
    int is = s->ndim - out->ndim + i;
    int64_t ds = is >= 0 ? s->d[is] : 1;
    strides[i] = (ds == 1) ? 0 : stride;
    stride *= ds;
  }
}
