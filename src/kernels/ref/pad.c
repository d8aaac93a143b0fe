/* Reference kernel for Pad: a gather through per-dim index maps (-1 = the constant, edge clamps,
 * reflect mirrors without repeating the edge), and the matching scatter-add for the backward, so
 * an input element copied into several padded places receives all their gradients. */
#include "kernels/ref/dimmap.h"
#include "ops/shape.h"

typedef struct pad_state {
  sal__dimmap map;
  float value;
} pad_state;

/* Source index in the cropped extent [0, e) of padded coordinate c, or -1 (constant). */
static int64_t source(sal__pad_mode mode, int64_t c, int64_t e) {
  if (c >= 0 && c < e) return c;
  if (mode == SAL__PAD_CONSTANT) return -1;
  if (mode == SAL__PAD_EDGE) return c < 0 ? 0 : e - 1;
  /* reflect: ..., 2, 1, [0, 1, ..., e-1], e-2, ...; the shape rule keeps pads below e. */
  return c < 0 ? -c : 2 * (e - 1) - c;
}

static sal_status pad_prepare(sal_kctx *k) {
  const sal_shape *xs = &k->in[0]->shape;
  sal__pad_params p;
  sal_status st = sal__pad_parse(k->ctx, k->graph, k->node, xs, &p);
  if (st) return st;
  pad_state *s = sal_alloc(k->ctx, sizeof *s);
  if (!s) return SAL_STATUS_OUT_OF_MEMORY;
  st = sal__dimmap_alloc(k->ctx, xs, &p.out, &s->map);
  if (st) {
    sal_free(s);
    return st;
  }
  for (int d = 0; d < xs->ndim; d++)
    for (int64_t o = 0; o < p.out.d[d]; o++) {
      int64_t c = source(p.mode, o - p.pad_lo[d], p.extent[d]);
      s->map.map[d][o] = c < 0 ? -1 : p.crop_lo[d] + c;
    }
  sal__dimmap_finish(&s->map);
  s->value = p.value;
  k->state = s;
  return SAL_STATUS_OK;
}

static void pad_release(sal_kctx *k) {
  pad_state *s = k->state;
  if (s) sal__dimmap_free(&s->map);
  sal_free(s);
  k->state = NULL;
}

static sal_status pad_forward(sal_kctx *k) {
  // x is (d_0, ..., d_{r-1}); y is (d_i - crops_i + pads_i)
  pad_state *s = k->state;
  sal__dimmap_gather(&s->map, k->in[0]->data, k->out[0]->data, s->value);
  return SAL_STATUS_OK;
}

static sal_status pad_backward(sal_kctx *k) {
  // dy is y's shape; dx is x's shape (cropped elements get zero)
  if (!k->din[0]) return SAL_STATUS_OK;
  pad_state *s = k->state;
  sal__grad_prepare(k, 0);
  if (k->dout[0]) sal__dimmap_scatter_add(&s->map, k->dout[0]->data, k->din[0]->data);
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_pad = {.name = "ref",
                                 .prepare = pad_prepare,
                                 .release = pad_release,
                                 .forward = pad_forward,
                                 .backward = pad_backward};
