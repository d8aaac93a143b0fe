/* Status names and the error-message machinery of the context.
 * Every layer reports failures through sal_ctx_error; only cli/ prints them. */
#include "core/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
#define SAL__STATUS_NAME(e, s) s,
    SAL_STATUS_LIST(SAL__STATUS_NAME)
#undef SAL__STATUS_NAME
};
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) == SAL_STATUS_COUNT,
               "status name table out of step with SAL_STATUS_LIST");

const char *sal_status_name(sal_status s) {
  if ((int)s < 0 || s >= SAL_STATUS_COUNT) return "unknown status";
  return status_names[s];
}

const char *sal_ctx_last_error(const sal_ctx *ctx) { return ctx ? ctx->err : ""; }

void sal_ctx_clear_error(sal_ctx *ctx) {
  if (ctx) ctx->err[0] = '\0';
}

sal_status sal_ctx_error(sal_ctx *ctx, sal_status st, const char *fmt, ...) {
  if (!ctx) return st;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
  va_end(ap);
  return st;
}

sal_status sal_ctx_error_prefix(sal_ctx *ctx, sal_status st, const char *fmt, ...) {
  if (!ctx) return st;
  char prefix[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  size_t pl = strlen(prefix), ol = strlen(ctx->err);
  if (pl >= sizeof ctx->err) pl = sizeof ctx->err - 1;
  if (pl + ol >= sizeof ctx->err) ol = sizeof ctx->err - 1 - pl;
  memmove(ctx->err + pl, ctx->err, ol);
  memcpy(ctx->err, prefix, pl);
  ctx->err[pl + ol] = '\0';
  return st;
}

void sal_log(const sal_ctx *ctx, sal_log_level level, const char *fmt, ...) {
  if (!ctx || level > ctx->log_level || level == SAL_LOG_QUIET) return;
  static const char *const tags[] = {"", "error", "warning", "info", "debug"};
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "salient: %s: ", tags[level]);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

const char *sal_version(void) {
#ifdef SAL_VERSION
  return SAL_VERSION;
#else
  return "unknown";
#endif
}
