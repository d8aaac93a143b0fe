/* Internal view of the context, shared by src/ only. */
#ifndef SAL_CORE_INTERNAL_H
#define SAL_CORE_INTERNAL_H

#include "salient/core.h"

struct sal_ctx {
  int threads;
  uint64_t seed;
  sal_log_level log_level;
  bool no_winograd; /* sal_ctx_set_winograd(ctx, false) */
  int64_t fail_alloc_after; /* fault injection: 0 = off, else countdown */
  char err[2048];
};

/* Copy of a NUL-terminated string from sal_alloc (NULL, with an OUT_OF_MEMORY message, on failure). */
char *sal__strdup(sal_ctx *ctx, const char *s);

/* Zeroed memory straight from the kernel (anonymous mmap), for large blocks made per plan (its
 * activation and gradient arenas): its pages are zero already, so no memset writes them first,
 * and blocks of 32 MB and more are advised as transparent huge pages (one fault per 2 MB instead
 * of per 4 KB). Page aligned. NULL with an OUT_OF_MEMORY message on failure (fault injection as
 * sal_alloc). Free with sal__pages_free and the same byte count. */
void *sal__pages_alloc(sal_ctx *ctx, size_t bytes);
void sal__pages_free(void *p, size_t bytes);

/* Grows the array *arr of elem-byte items (capacity *cap) to hold at least need items, doubling
 * from 16; the new tail is zeroed. false (with an OUT_OF_MEMORY message) when it cannot. */
bool sal__grow(sal_ctx *ctx, void **arr, int64_t *cap, int64_t need, size_t elem);

/* Ceil-divide helper for sizes. */
static inline int64_t sal__ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

#endif
