/* Liveness-based memory layout: items with [start, end] step intervals get offsets in one arena
 * so that items alive at the same time never overlap. */
#ifndef SAL_GRAPH_ARENA_H
#define SAL_GRAPH_ARENA_H
#include "core/internal.h"

typedef struct sal_interval {
  size_t bytes;   /* 0 = not placed */
  int start, end; /* inclusive steps */
  size_t offset;  /* result */
} sal_interval;

/* Assigns offsets (64-byte aligned); *total = arena size. */
sal_status sal__arena_assign(sal_ctx *ctx, sal_interval *items, int n, size_t *total);
#endif
