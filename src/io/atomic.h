/* File helpers shared by every reader and writer in src/io and src/data. Crash-safe output: write to
 * "<path>.tmp.<pid>", flush to disk, rename over the target — a failed or abandoned write leaves
 * the old file (or none). Bounded whole-file input. */
#ifndef SAL_IO_ATOMIC_H
#define SAL_IO_ATOMIC_H

#include "salient/core.h"

#include <stdio.h>

typedef struct sal__atomic_file {
  FILE *f;          /* open for binary writing between open and commit/abort */
  char *tmp;        /* the temporary path (owned) */
  const char *path; /* the target path (borrowed; must outlive the write) */
} sal__atomic_file;

/* Creates the temporary file. On error nothing is left behind and af->f is NULL. */
sal_status sal__atomic_open(sal_ctx *ctx, const char *path, sal__atomic_file *af);
/* Ends the write: when ok (the caller's writes all succeeded) flushes, fsyncs, closes and renames
 * the temporary over the target; otherwise, or when any of those fails, removes the temporary.
 * Returns OK or an IO error naming the path (a caller-side failure, ok == false, is reported as
 * "write failed" with errno). Always releases af. */
sal_status sal__atomic_commit(sal_ctx *ctx, sal__atomic_file *af, bool ok);
/* sal__atomic_commit with the fsync optional (sync false: readers still never see a partial file,
 * but it is durable only after the caller's own sync). */
sal_status sal__atomic_commit_ex(sal_ctx *ctx, sal__atomic_file *af, bool ok, bool sync);

/* Reads a whole regular file into a new buffer (sal_alloc; one extra NUL byte after the data so
 * text parsers may treat it as a string). Files larger than max_bytes are refused before reading.
 * Errors name the path: NOT_FOUND, IO (incl. a directory), BAD_INPUT (too large). */
sal_status sal__read_file(sal_ctx *ctx, const char *path, size_t max_bytes, char **data_out, size_t *n_out);

#endif
