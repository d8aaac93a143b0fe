/* Reference kernels for Concat and Split. Both view every tensor as (outer, axis, inner) and move
 * contiguous blocks of (axis extent * inner) floats; Concat's backward is Split's forward and the
 * other way round. */
#include "ops/shape.h"

#include <string.h>

typedef enum { BLK_COPY, BLK_ADD, BLK_ZERO } blk_op;

/* For o in [0, outer): dst[o*dst_row + dst_off + e] (op)= src[o*src_row + src_off + e], e < len.
 * BLK_ZERO ignores src. */
static void blocks(blk_op op, const float *src, int64_t src_row, int64_t src_off, float *dst, int64_t dst_row,
                   int64_t dst_off, int64_t len, int64_t outer) {
  #pragma omp parallel for if (outer * len > 32768) schedule(static)
  for (int64_t o = 0; o < outer; o++) {
    float *d = dst + o * dst_row + dst_off;
    const float *s = src ? src + o * src_row + src_off : NULL;
    if (op == BLK_COPY) memcpy(d, s, (size_t)len * sizeof(float));
    else if (op == BLK_ZERO) memset(d, 0, (size_t)len * sizeof(float));
    else
      for (int64_t e = 0; e < len; e++) d[e] += s[e];
  }
}

typedef struct axis_state {
  int axis;
  int64_t outer, inner; /* products of the dims before and after the axis */
} axis_state;

/* The joined tensor (Concat's output, Split's input) is `whole`. */
static sal_status prepare_axis(sal_kctx *k, const sal_shape *whole, bool concat) {
  axis_state *s = sal_alloc(k->ctx, sizeof *s);
  if (!s) return SAL_STATUS_OUT_OF_MEMORY;
  sal_status st = concat ? sal__concat_axis(k->ctx, k->node, whole->ndim, &s->axis)
                         : sal__split_axis(k->ctx, k->node, whole->ndim, &s->axis);
  if (st) {
    sal_free(s);
    return st;
  }
  s->outer = 1;
  s->inner = 1;
  for (int d = 0; d < whole->ndim; d++) {
    if (d < s->axis) s->outer *= whole->d[d];
    if (d > s->axis) s->inner *= whole->d[d];
  }
  k->state = s;
  return SAL_STATUS_OK;
}

static void release_axis(sal_kctx *k) {
  sal_free(k->state);
  k->state = NULL;
}

static sal_status concat_prepare(sal_kctx *k) { return prepare_axis(k, &k->out[0]->shape, true); }
static sal_status split_prepare(sal_kctx *k) { return prepare_axis(k, &k->in[0]->shape, false); }

static sal_status concat_forward(sal_kctx *k) {
  // x_i is (outer, a_i, inner); y is (outer, sum_i a_i, inner)
  const axis_state *s = k->state;
  int64_t row = k->out[0]->shape.d[s->axis] * s->inner, off = 0;
  for (int i = 0; i < k->n_in; i++) {
    int64_t len = k->in[i]->shape.d[s->axis] * s->inner;
    blocks(BLK_COPY, k->in[i]->data, len, 0, k->out[0]->data, row, off, len, s->outer);
    off += len;
  }
  return SAL_STATUS_OK;
}

static sal_status concat_backward(sal_kctx *k) {
  // dy is (outer, sum_i a_i, inner); dx_i is (outer, a_i, inner), the matching block of dy
  const axis_state *s = k->state;
  int64_t row = k->out[0]->shape.d[s->axis] * s->inner, off = 0;
  const float *dy = k->dout[0] ? k->dout[0]->data : NULL;
  for (int i = 0; i < k->n_in; i++) {
    int64_t len = k->in[i]->shape.d[s->axis] * s->inner;
    if (k->din[i]) {
      blk_op op = !dy ? BLK_ZERO : k->din_accum[i] ? BLK_ADD : BLK_COPY;
      if (!(op == BLK_ZERO && k->din_accum[i])) blocks(op, dy, row, off, k->din[i]->data, len, 0, len, s->outer);
    }
    off += len;
  }
  return SAL_STATUS_OK;
}

static sal_status split_forward(sal_kctx *k) {
  // x is (outer, sum_j a_j, inner); y_j is (outer, a_j, inner)
  const axis_state *s = k->state;
  int64_t row = k->in[0]->shape.d[s->axis] * s->inner, off = 0;
  for (int j = 0; j < k->n_out; j++) {
    int64_t len = k->out[j]->shape.d[s->axis] * s->inner;
    blocks(BLK_COPY, k->in[0]->data, row, off, k->out[j]->data, len, 0, len, s->outer);
    off += len;
  }
  return SAL_STATUS_OK;
}

static sal_status split_backward(sal_kctx *k) {
  // dy_j is (outer, a_j, inner) (NULL: zero); dx is (outer, sum_j a_j, inner)
  if (!k->din[0]) return SAL_STATUS_OK;
  const axis_state *s = k->state;
  int64_t row = k->in[0]->shape.d[s->axis] * s->inner, off = 0;
  bool acc = k->din_accum[0];
  for (int j = 0; j < k->n_out; j++) {
    int64_t len = k->out[j]->shape.d[s->axis] * s->inner;
    const float *dy = k->dout[j] ? k->dout[j]->data : NULL;
    blk_op op = !dy ? BLK_ZERO : acc ? BLK_ADD : BLK_COPY;
    if (!(op == BLK_ZERO && acc)) blocks(op, dy, len, 0, k->din[0]->data, row, off, len, s->outer);
    off += len;
  }
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_concat = {.name = "ref",
                                    .prepare = concat_prepare,
                                    .release = release_axis,
                                    .forward = concat_forward,
                                    .backward = concat_backward};
const sal_kernel sal__ref_split = {.name = "ref",
                                   .prepare = split_prepare,
                                   .release = release_axis,
                                   .forward = split_forward,
                                   .backward = split_backward};
