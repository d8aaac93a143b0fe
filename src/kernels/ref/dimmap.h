/* Per-dimension index maps for gather-style reference kernels (Slice, Pad): element
 * (o_0, ..., o_{r-1}) of y reads element (map_0[o_0], ..., map_{r-1}[o_{r-1}]) of x, or a fill
 * value when any map entry is -1. Backward scatters dy back through the same maps. */
#ifndef SAL_REF_DIMMAP_H
#define SAL_REF_DIMMAP_H
#include "salient/tensor.h"

typedef struct sal__dimmap {
  int ndim;                               /* >= 1 */
  int64_t in[SAL_MAX_DIMS], out[SAL_MAX_DIMS];
  int64_t *map[SAL_MAX_DIMS];             /* map[d] has out[d] entries in [0, in[d]) or -1 */
  /* Number of leading dims whose maps are injective (no two outputs read one input): the
   * scatter runs those in parallel. */
  int par_dims;
  int64_t *storage;                       /* one block holding every map (owned) */
} sal__dimmap;

/* Allocates the maps for shapes in -> out (entries left for the caller to fill). */
sal_status sal__dimmap_alloc(sal_ctx *ctx, const sal_shape *in, const sal_shape *out, sal__dimmap *m);
void sal__dimmap_free(sal__dimmap *m);
/* Sets par_dims from the maps' contents. */
void sal__dimmap_finish(sal__dimmap *m);
/* y[o] = x[map(o)] or fill. x is m->in, y is m->out. */
void sal__dimmap_gather(const sal__dimmap *m, const float *x, float *y, float fill);
/* dx[map(o)] += dy[o] for every o inside x. dx is m->in, dy is m->out. */
void sal__dimmap_scatter_add(const sal__dimmap *m, const float *dy, float *dx);
#endif
