/* Tensors and shapes: the f32 NCHW containers every component passes around. */
#include "core/internal.h"
#include "salient/tensor.h"

#include <stdio.h>
#include <string.h>

bool sal_shape_make(sal_shape *s, int ndim, const int64_t *dims) {
  if (ndim < 0 || ndim > SAL_MAX_DIMS) return false;
  s->ndim = ndim;
  for (int i = 0; i < SAL_MAX_DIMS; i++) s->d[i] = i < ndim ? dims[i] : 0;
  for (int i = 0; i < ndim; i++)
    if (dims[i] < 0) return false;
  return true;
}

int64_t sal_shape_numel(const sal_shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->ndim; i++) {
    if (s->d[i] < 0) return -1;
    if (s->d[i] != 0 && n > INT64_MAX / s->d[i]) return -1;
    n *= s->d[i];
  }
  return n;
}

bool sal_shape_equal(const sal_shape *a, const sal_shape *b) {
  if (a->ndim != b->ndim) return false;
  for (int i = 0; i < a->ndim; i++)
    if (a->d[i] != b->d[i]) return false;
  return true;
}

char *sal_shape_str(const sal_shape *s, char *buf, size_t n) {
  size_t used = 0;
  used += (size_t)snprintf(buf, n, "(");
  for (int i = 0; i < s->ndim && used < n; i++)
    used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? ", " : "", (long long)s->d[i]);
  if (used < n) snprintf(buf + used, n - used, ")");
  return buf;
}

static sal_status tensor_make(sal_ctx *ctx, int ndim, const int64_t *dims, float *data, bool own,
                              sal_tensor **out) {
  *out = NULL;
  sal_shape s;
  if (!sal_shape_make(&s, ndim, dims))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "tensor: bad shape (ndim %d, up to %d dims, no negative dims)",
                         ndim, SAL_MAX_DIMS);
  int64_t numel = sal_shape_numel(&s);
  size_t bytes;
  if (numel < 0 || !sal_mul_size((size_t)numel, sizeof(float), &bytes))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "tensor: shape too large");
  sal_tensor *t = sal_calloc(ctx, 1, sizeof *t);
  if (!t) return SAL_STATUS_OUT_OF_MEMORY;
  t->shape = s;
  t->layout = SAL_LAYOUT_PLAIN;
  if (own) {
    t->data = sal_alloc(ctx, bytes);
    if (!t->data) {
      sal_free(t);
      return SAL_STATUS_OUT_OF_MEMORY;
    }
    memset(t->data, 0, bytes);
    t->owns_data = true;
  } else {
    t->data = data;
  }
  *out = t;
  return SAL_STATUS_OK;
}

sal_status sal_tensor_new(sal_ctx *ctx, int ndim, const int64_t *dims, sal_tensor **out) {
  return tensor_make(ctx, ndim, dims, NULL, true, out);
}

sal_status sal_tensor_wrap(sal_ctx *ctx, int ndim, const int64_t *dims, float *data, sal_tensor **out) {
  return tensor_make(ctx, ndim, dims, data, false, out);
}

sal_status sal_tensor_clone(sal_ctx *ctx, const sal_tensor *src, sal_tensor **out) {
  sal_status st = sal_tensor_new(ctx, src->shape.ndim, src->shape.d, out);
  if (st != SAL_STATUS_OK) return st;
  memcpy((*out)->data, src->data, (size_t)sal_tensor_numel(src) * sizeof(float));
  return SAL_STATUS_OK;
}

void sal_tensor_free(sal_tensor *t) {
  if (!t) return;
  if (t->owns_data) sal_free(t->data);
  sal_free(t);
}
