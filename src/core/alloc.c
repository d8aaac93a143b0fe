/* The allocator: 64-byte aligned blocks (cache line and AVX-512 width), overflow-checked sizes,
 * and fault injection so tests can make the n-th allocation fail and check the cleanup path. */
#define _GNU_SOURCE /* MAP_ANONYMOUS, MADV_HUGEPAGE */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

bool sal_mul_size(size_t a, size_t b, size_t *out) {
  if (a != 0 && b > SIZE_MAX / a) return false;
  *out = a * b;
  return true;
}

void *sal_alloc(sal_ctx *ctx, size_t bytes) {
  if (ctx && ctx->fail_alloc_after > 0 && --ctx->fail_alloc_after == 0) {
    sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "out of memory (injected fault, %zu bytes)", bytes);
    return NULL;
  }
  if (bytes == 0) bytes = 1;
  size_t rounded = (bytes + 63) & ~(size_t)63;
  if (rounded < bytes) {
    if (ctx) sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "allocation of %zu bytes overflows", bytes);
    return NULL;
  }
  void *p = aligned_alloc(64, rounded);
  if (!p && ctx) sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "out of memory allocating %zu bytes", bytes);
  return p;
}

void *sal_calloc(sal_ctx *ctx, size_t count, size_t size) {
  size_t bytes;
  if (!sal_mul_size(count, size, &bytes)) {
    if (ctx) sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "allocation of %zu x %zu bytes overflows", count, size);
    return NULL;
  }
  void *p = sal_alloc(ctx, bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

void sal_free(void *p) { free(p); }

void *sal__pages_alloc(sal_ctx *ctx, size_t bytes) {
  if (ctx && ctx->fail_alloc_after > 0 && --ctx->fail_alloc_after == 0) {
    sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "out of memory (injected fault, %zu bytes)", bytes);
    return NULL;
  }
  if (bytes == 0) bytes = 1;
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    if (ctx) sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "out of memory allocating %zu bytes", bytes);
    return NULL;
  }
  if (bytes >= ((size_t)32 << 20)) (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice; may be refused */
  return p;
}

void sal__pages_free(void *p, size_t bytes) {
  if (p) munmap(p, bytes ? bytes : 1);
}

char *sal__strdup(sal_ctx *ctx, const char *s) {
  size_t n = strlen(s) + 1;
  char *d = sal_alloc(ctx, n);
  if (d) memcpy(d, s, n);
  return d;
}

bool sal__grow(sal_ctx *ctx, void **arr, int64_t *cap, int64_t need, size_t elem) {
  if (need <= *cap) return true;
  int64_t nc = *cap ? *cap * 2 : 16;
  while (nc < need) nc *= 2;
  void *na = sal_calloc(ctx, (size_t)nc, elem);
  if (!na) return false;
  if (*arr) memcpy(na, *arr, (size_t)*cap * elem);
  sal_free(*arr);
  *arr = na;
  *cap = nc;
  return true;
}
