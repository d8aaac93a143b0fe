/* Reference kernels for broadcasting Add, Sub, Mul, Div. Forward walks the output index and reads
 * each input through broadcast strides; backward reduces dy over the broadcast dimensions.
 *   Add: da = dy, db = dy          Sub: da = dy, db = -dy
 *   Mul: da = dy*b, db = dy*a      Div: da = dy/b, db = -dy*a/b^2 */
#include "graph/internal.h"

#include <string.h>

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV } bin_kind;

/* Offset of output element `i` in an input with broadcast strides st (out shape o). */
static inline int64_t bcast_offset(int64_t i, const sal_shape *o, const int64_t *st) {
  int64_t off = 0;
  for (int d = o->ndim - 1; d >= 0; d--) {
    int64_t q = i % o->d[d];
    i /= o->d[d];
    off += q * st[d];
  }
  return off;
}

static inline float apply(bin_kind kind, float a, float b) {
  switch (kind) {
    case BIN_ADD: return a + b;
    case BIN_SUB: return a - b;
    case BIN_MUL: return a * b;
    default: return a / b;
  }
}

static sal_status binary_forward(sal_kctx *k, bin_kind kind) {
  // a, b broadcast to y (the output shape)
  const sal_tensor *A = k->in[0], *B = k->in[1];
  sal_tensor *Y = k->out[0];
  const sal_shape *o = &Y->shape;
  int64_t n = sal_tensor_numel(Y);
  const float *a = A->data, *b = B->data;
  float *y = Y->data;
  if (sal_shape_equal(&A->shape, o) && sal_shape_equal(&B->shape, o)) {
    #pragma omp parallel for if (n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] = apply(kind, a[i], b[i]);
    return SAL_STATUS_OK;
  }
  int64_t sa[SAL_MAX_DIMS], sb[SAL_MAX_DIMS];
  sal__broadcast_strides(&A->shape, o, sa);
  sal__broadcast_strides(&B->shape, o, sb);
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = apply(kind, a[bcast_offset(i, o, sa)], b[bcast_offset(i, o, sb)]);
  return SAL_STATUS_OK;
}

/* d(input which) of y = a (op) b, given dy at output element i. */
static inline float partial(bin_kind kind, int which, float a, float b, float dy) {
  switch (kind) {
    case BIN_ADD: return dy;
    case BIN_SUB: return which == 0 ? dy : -dy;
    case BIN_MUL: return which == 0 ? dy * b : dy * a;
    default: return which == 0 ? dy / b : -dy * a / (b * b);
  }
}

static sal_status binary_backward(sal_kctx *k, bin_kind kind) {
  const sal_tensor *A = k->in[0], *B = k->in[1], *DY = k->dout[0];
  const sal_shape *o = &k->out[0]->shape;
  int64_t n = sal_shape_numel(o);
  int64_t sa[SAL_MAX_DIMS], sb[SAL_MAX_DIMS];
  sal__broadcast_strides(&A->shape, o, sa);
  sal__broadcast_strides(&B->shape, o, sb);
  for (int w = 0; w < 2; w++) {
    sal_tensor *D = k->din[w];
    if (!D) continue;
    sal__grad_prepare(k, w);
    if (!DY) continue;
    const float *a = A->data, *b = B->data, *dy = DY->data;
    float *d = D->data;
    const int64_t *sw = w == 0 ? sa : sb;
    if (sal_tensor_numel(D) == n) {
      /* No broadcasting on this side: each element written once, parallel-safe. */
      #pragma omp parallel for if (n > 32768) schedule(static)
      for (int64_t i = 0; i < n; i++)
        d[bcast_offset(i, o, sw)] += partial(kind, w, a[bcast_offset(i, o, sa)], b[bcast_offset(i, o, sb)], dy[i]);
    } else {
      /* Reduction over broadcast dims: serial accumulation in double per output element would
       * need a scatter; instead accumulate serially (the oracle favours clarity). */
      for (int64_t i = 0; i < n; i++)
        d[bcast_offset(i, o, sw)] += partial(kind, w, a[bcast_offset(i, o, sa)], b[bcast_offset(i, o, sb)], dy[i]);
    }
  }
  return SAL_STATUS_OK;
}

#define SAL__BINARY_KERNEL(sym, KIND)                                                        \
  static sal_status sym##_forward(sal_kctx *k) { return binary_forward(k, KIND); }           \
  static sal_status sym##_backward(sal_kctx *k) { return binary_backward(k, KIND); }         \
  const sal_kernel sal__ref_##sym = {.name = "ref", .forward = sym##_forward, .backward = sym##_backward};
SAL__BINARY_KERNEL(add, BIN_ADD)
SAL__BINARY_KERNEL(sub, BIN_SUB)
SAL__BINARY_KERNEL(mul, BIN_MUL)
SAL__BINARY_KERNEL(div, BIN_DIV)
