/* The context: thread count, seed, log level and the last error. One per caller; no global
 * mutable state anywhere in the library. */
#include "core/internal.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

sal_status sal_ctx_new(int threads, uint64_t seed, sal_ctx **out) {
  *out = NULL;
  sal_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return SAL_STATUS_OUT_OF_MEMORY;
  if (threads <= 0) threads = omp_get_num_procs();
  ctx->threads = threads;
  omp_set_num_threads(threads);
  ctx->seed = seed;
  ctx->log_level = SAL_LOG_WARN;
  *out = ctx;
  return SAL_STATUS_OK;
}

void sal_ctx_free(sal_ctx *ctx) { free(ctx); }

int sal_ctx_threads(const sal_ctx *ctx) { return ctx->threads; }
uint64_t sal_ctx_seed(const sal_ctx *ctx) { return ctx->seed; }
void sal_ctx_set_seed(sal_ctx *ctx, uint64_t seed) { ctx->seed = seed; }
void sal_ctx_set_log_level(sal_ctx *ctx, sal_log_level level) { ctx->log_level = level; }
sal_log_level sal_ctx_log_level(const sal_ctx *ctx) { return ctx->log_level; }
void sal_ctx_set_winograd(sal_ctx *ctx, bool on) { ctx->no_winograd = !on; }
bool sal_ctx_winograd(const sal_ctx *ctx) { return !ctx->no_winograd; }
void sal_ctx_fail_alloc_after(sal_ctx *ctx, int64_t n) { ctx->fail_alloc_after = n > 0 ? n : 0; }
