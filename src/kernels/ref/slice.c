/* Reference kernel for Slice: a gather through per-dim index maps (start + o*step), and a
 * scatter of dy into a zeroed dx for the backward (elements not sliced get no gradient). */
#include "kernels/ref/dimmap.h"
#include "ops/shape.h"

static sal_status slice_prepare(sal_kctx *k) {
  const sal_shape *xs = &k->in[0]->shape;
  sal__slice_params p;
  sal_status st = sal__slice_parse(k->ctx, k->graph, k->node, xs, &p);
  if (st) return st;
  sal__dimmap *m = sal_alloc(k->ctx, sizeof *m);
  if (!m) return SAL_STATUS_OUT_OF_MEMORY;
  st = sal__dimmap_alloc(k->ctx, xs, &p.out, m);
  if (st) {
    sal_free(m);
    return st;
  }
  for (int d = 0; d < xs->ndim; d++)
    for (int64_t o = 0; o < p.out.d[d]; o++) m->map[d][o] = p.start[d] + o * p.step[d];
  sal__dimmap_finish(m);
  k->state = m;
  return SAL_STATUS_OK;
}

static void slice_release(sal_kctx *k) {
  if (k->state) sal__dimmap_free(k->state);
  sal_free(k->state);
  k->state = NULL;
}

static sal_status slice_forward(sal_kctx *k) {
  // x is (d_0, ..., d_{r-1}); y is (len_0, ..., len_{r-1}), y[o] = x[start + o*step]
  sal__dimmap_gather(k->state, k->in[0]->data, k->out[0]->data, 0.0f);
  return SAL_STATUS_OK;
}

static sal_status slice_backward(sal_kctx *k) {
  // dy is y's shape; dx is x's shape, zero outside the slice
  if (!k->din[0]) return SAL_STATUS_OK;
  sal__grad_prepare(k, 0);
  if (k->dout[0]) sal__dimmap_scatter_add(k->state, k->dout[0]->data, k->din[0]->data);
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_slice = {.name = "ref",
                                   .prepare = slice_prepare,
                                   .release = slice_release,
                                   .forward = slice_forward,
                                   .backward = slice_backward};
