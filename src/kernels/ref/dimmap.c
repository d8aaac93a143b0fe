/* Gather and scatter through per-dimension index maps (src/kernels/ref/dimmap.h): the shared
 * engine of the Slice and Pad reference kernels. */
#include "kernels/ref/dimmap.h"

#include <string.h>

sal_status sal__dimmap_alloc(sal_ctx *ctx, const sal_shape *in, const sal_shape *out, sal__dimmap *m) {
  memset(m, 0, sizeof *m);
  m->ndim = in->ndim;
  size_t total = 0;
  for (int d = 0; d < in->ndim; d++) {
    m->in[d] = in->d[d];
    m->out[d] = out->d[d];
    total += (size_t)out->d[d];
  }
  m->storage = sal_calloc(ctx, total ? total : 1, sizeof(int64_t));
  if (!m->storage) return SAL_STATUS_OUT_OF_MEMORY;
  size_t off = 0;
  for (int d = 0; d < in->ndim; d++) {
    m->map[d] = m->storage + off;
    off += (size_t)out->d[d];
  }
  return SAL_STATUS_OK;
}

void sal__dimmap_free(sal__dimmap *m) {
  sal_free(m->storage);
  m->storage = NULL;
}

void sal__dimmap_finish(sal__dimmap *m) {
  m->par_dims = 0;
  for (int d = 0; d < m->ndim; d++) {
    /* Strictly monotone (ignoring -1 entries, which read nothing) implies injective; Slice and
     * constant Pad maps are, reflect/edge maps that pad are not. Conservative, and O(n). */
    bool up = true, down = true;
    int64_t prev = -1;
    for (int64_t o = 0; o < m->out[d]; o++) {
      int64_t i = m->map[d][o];
      if (i < 0) continue;
      if (prev >= 0) {
        if (i <= prev) up = false;
        if (i >= prev) down = false;
      }
      prev = i;
    }
    bool inj = up || down;
    if (!inj) break;
    m->par_dims++;
  }
}

/* Decodes y's row (all dims but the last) into x's row offset; false if the row is outside x. */
static inline bool row_base(const sal__dimmap *m, const int64_t *xstride, int64_t row, int64_t *base) {
  int64_t b = 0;
  bool inside = true;
  for (int d = m->ndim - 2; d >= 0; d--) {
    int64_t o = row % m->out[d];
    row /= m->out[d];
    int64_t i = m->map[d][o];
    if (i < 0) inside = false;
    b += i * xstride[d];
  }
  *base = b;
  return inside;
}

static void strides(const sal__dimmap *m, int64_t *xstride, int64_t *rows, int64_t *w) {
  int r = m->ndim;
  xstride[r - 1] = 1;
  for (int d = r - 2; d >= 0; d--) xstride[d] = xstride[d + 1] * m->in[d + 1];
  *rows = 1;
  for (int d = 0; d < r - 1; d++) *rows *= m->out[d];
  *w = m->out[r - 1];
}

void sal__dimmap_gather(const sal__dimmap *m, const float *x, float *y, float fill) {
  int64_t xstride[SAL_MAX_DIMS], rows, w;
  strides(m, xstride, &rows, &w);
  const int64_t *last = m->map[m->ndim - 1];
  #pragma omp parallel for if (rows * w > 32768) schedule(static)
  for (int64_t row = 0; row < rows; row++) {
    int64_t base;
    float *yr = y + row * w;
    if (!row_base(m, xstride, row, &base)) {
      for (int64_t j = 0; j < w; j++) yr[j] = fill;
      continue;
    }
    for (int64_t j = 0; j < w; j++) yr[j] = last[j] >= 0 ? x[base + last[j]] : fill;
  }
}

void sal__dimmap_scatter_add(const sal__dimmap *m, const float *dy, float *dx) {
  int64_t xstride[SAL_MAX_DIMS], rows, w;
  strides(m, xstride, &rows, &w);
  const int64_t *last = m->map[m->ndim - 1];
  /* Rows are grouped by their first p dims (the injective ones, never the last): different
   * groups write disjoint parts of dx, so groups run in parallel and rows within one serially. */
  int p = m->par_dims < m->ndim - 1 ? m->par_dims : m->ndim - 1;
  int64_t groups = 1;
  for (int d = 0; d < p; d++) groups *= m->out[d];
  int64_t per = groups ? rows / groups : 0;
  #pragma omp parallel for if (groups > 1 && rows * w > 32768) schedule(static)
  for (int64_t gi = 0; gi < groups; gi++) {
    for (int64_t row = gi * per; row < (gi + 1) * per; row++) {
      int64_t base;
      if (!row_base(m, xstride, row, &base)) continue;
      const float *dyr = dy + row * w;
      for (int64_t j = 0; j < w; j++)
        if (last[j] >= 0) dx[base + last[j]] += dyr[j];
    }
  }
}
