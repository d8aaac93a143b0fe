/* Liveness-based arena layout for plans: greedy by size, largest first, each item placed at the
 * lowest offset that does not collide with an already placed item alive at an overlapping time. */
#include "graph/arena.h"



sal_status sal__arena_assign(sal_ctx *ctx, sal_interval *it, int n, size_t *total) {
  *total = 0;
  int *order = sal_calloc(ctx, (size_t)(n ? n : 1), sizeof(int));
  int *placed = sal_calloc(ctx, (size_t)(n ? n : 1), sizeof(int));
  if (!order || !placed) {
    sal_free(order);
    sal_free(placed);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  int m = 0;
  for (int i = 0; i < n; i++)
    if (it[i].bytes) order[m++] = i;
  /* Largest first (stable insertion sort: graphs have at most a few thousand values). */
  for (int a = 1; a < m; a++) {
    int key = order[a], b = a - 1;
    while (b >= 0 && it[order[b]].bytes < it[key].bytes) {
      order[b + 1] = order[b];
      b--;
    }
    order[b + 1] = key;
  }
  int np = 0;
  for (int a = 0; a < m; a++) {
    sal_interval *x = &it[order[a]];
    size_t need = (x->bytes + 63) & ~(size_t)63;
    size_t off = 0;
    /* Repeatedly bump past any live conflicting block until none collides. */
    bool moved = true;
    while (moved) {
      moved = false;
      for (int b = 0; b < np; b++) {
        const sal_interval *y = &it[placed[b]];
        if (y->end < x->start || x->end < y->start) continue;
        size_t yneed = (y->bytes + 63) & ~(size_t)63;
        if (off < y->offset + yneed && y->offset < off + need) {
          off = y->offset + yneed;
          moved = true;
        }
      }
    }
    x->offset = off;
    placed[np++] = order[a];
    if (off + need > *total) *total = off + need;
  }
  sal_free(order);
  sal_free(placed);
  return SAL_STATUS_OK;
}
