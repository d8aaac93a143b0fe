/* salient core: status codes, the context (threads, RNG seed, log level, last error), the
 * 64-byte-aligned allocator, the counter-based RNG and the progress reporter.
 *
 * Errors are values: every fallible function returns a sal_status; the detailed message is kept
 * in the context and read with sal_ctx_last_error(). Nothing in the library exits or aborts. */
#ifndef SALIENT_CORE_H
#define SALIENT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X-macro list of statuses: X(enum suffix, short name). The name table is generated from it. */
#define SAL_STATUS_LIST(X)                                                                       \
  X(OK, "ok")                                                                                     \
  X(BAD_INPUT, "bad input")             /* malformed argument, file or value */                  \
  X(SHAPE, "shape mismatch")            /* tensor shapes do not fit an op or each other */       \
  X(NOT_FOUND, "not found")             /* a named value, node, op or file does not exist */     \
  X(UNSUPPORTED, "unsupported")         /* valid request salient does not implement */           \
  X(OUT_OF_MEMORY, "out of memory")                                                               \
  X(IO, "i/o error")                                                                              \
  X(BAD_STATE, "bad state")             /* call out of order, e.g. backward before forward */    \
  X(NUMERIC, "numeric error")           /* NaN or infinity where none is allowed */              \
  X(INTERNAL, "internal error")         /* a bug in salient: please report */

typedef enum sal_status {
#define SAL__STATUS_ENUM(e, s) SAL_STATUS_##e,
  SAL_STATUS_LIST(SAL__STATUS_ENUM)
#undef SAL__STATUS_ENUM
  SAL_STATUS_COUNT
} sal_status;

/* Short English name of a status ("shape mismatch"); "unknown status" when out of range. */
const char *sal_status_name(sal_status s);

typedef enum sal_log_level {
  SAL_LOG_QUIET = 0, /* nothing, not even progress */
  SAL_LOG_ERROR = 1,
  SAL_LOG_WARN = 2,
  SAL_LOG_INFO = 3,
  SAL_LOG_DEBUG = 4
} sal_log_level;

typedef struct sal_ctx sal_ctx;

/* Creates a context: threads = 0 means "all cores", seed for every random choice.
 * Returns SAL_STATUS_OUT_OF_MEMORY (and *out = NULL) when it cannot allocate. Free with
 * sal_ctx_free. */
sal_status sal_ctx_new(int threads, uint64_t seed, sal_ctx **out);
void sal_ctx_free(sal_ctx *ctx);

int sal_ctx_threads(const sal_ctx *ctx);
uint64_t sal_ctx_seed(const sal_ctx *ctx);
void sal_ctx_set_seed(sal_ctx *ctx, uint64_t seed);
void sal_ctx_set_log_level(sal_ctx *ctx, sal_log_level level);
sal_log_level sal_ctx_log_level(const sal_ctx *ctx);
/* Whether plans made from now on may run 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3)
 * (oneDNN's jit_wino_4x3) where it is measured faster than the direct kernel (on by default; see
 * docs/performance.md). Off gives the direct algorithm everywhere, as PyTorch's CPU path runs. */
void sal_ctx_set_winograd(sal_ctx *ctx, bool on);
bool sal_ctx_winograd(const sal_ctx *ctx);

/* The message of the last error recorded in ctx ("" when none). Valid until the next error. */
const char *sal_ctx_last_error(const sal_ctx *ctx);
/* Records an error message (printf format) and returns st, so callers can write
 * `return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "file %s: ...", path);`. */
sal_status sal_ctx_error(sal_ctx *ctx, sal_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends context to the last message ("loading x.onnx: " + old) and returns st. */
sal_status sal_ctx_error_prefix(sal_ctx *ctx, sal_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sal_ctx_clear_error(sal_ctx *ctx);

/* Logging to stderr, filtered by the context's level. */
void sal_log(const sal_ctx *ctx, sal_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Allocator: 64-byte aligned. sal_alloc returns NULL (and records an OUT_OF_MEMORY message in
 * ctx) on failure; sal_free(NULL) is a no-op. sal_calloc zeroes. Sizes are checked for overflow. */
void *sal_alloc(sal_ctx *ctx, size_t bytes);
void *sal_calloc(sal_ctx *ctx, size_t count, size_t size);
void sal_free(void *p);
/* Fault injection for tests: the n-th allocation from now fails (n >= 1); 0 disables. */
void sal_ctx_fail_alloc_after(sal_ctx *ctx, int64_t n);

/* Overflow-checked size arithmetic: returns false when a*b overflows or exceeds limit. */
bool sal_mul_size(size_t a, size_t b, size_t *out);

/* Counter-based RNG (Philox4x32-10). A stream of random numbers is identified by
 * (seed, stream) and element i of it is a pure function of (seed, stream, i): results do not
 * depend on batch size, thread count or call order. */
void sal_philox(uint64_t seed, uint64_t stream, uint64_t counter, uint32_t out[4]);
/* Fills out[0..n) with uniform [0,1) floats for elements offset..offset+n of (seed, stream). */
void sal_rng_uniform(uint64_t seed, uint64_t stream, uint64_t offset, float *out, size_t n);
/* Standard normal floats (Box–Muller over the same counter space). */
void sal_rng_normal(uint64_t seed, uint64_t stream, uint64_t offset, float *out, size_t n);

/* Progress reporter. On a terminal: one line with a bar, rate and ETA, redrawn at most 10×/s;
 * otherwise a plain line every ~5 s; nothing at SAL_LOG_QUIET. */
typedef struct sal_progress sal_progress;
sal_status sal_progress_start(sal_ctx *ctx, const char *label, int64_t total, sal_progress **out);
/* Sets the number of finished items and an optional status text ("loss 0.31"). */
void sal_progress_update(sal_progress *p, int64_t done, const char *extra);
/* Prints the final line and frees p. NULL is a no-op. */
void sal_progress_finish(sal_progress *p);

/* The library version ("0.1.0"). */
const char *sal_version(void);

#ifdef __cplusplus
}
#endif
#endif
