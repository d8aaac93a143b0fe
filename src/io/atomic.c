/* Crash-safe file output: temporary file + fsync + rename, used by the .npy, image, ONNX and
 * checkpoint writers so that a killed run never leaves a half-written output under its real name. */
#define _POSIX_C_SOURCE 200809L

#include "io/atomic.h"

#include "core/internal.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

sal_status sal__atomic_open(sal_ctx *ctx, const char *path, sal__atomic_file *af) {
  af->f = NULL;
  af->tmp = NULL;
  af->path = path;
  size_t n = strlen(path) + 32;
  af->tmp = sal_alloc(ctx, n);
  if (!af->tmp) return sal_ctx_error_prefix(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: ", path);
  snprintf(af->tmp, n, "%s.tmp.%ld", path, (long)getpid());
  af->f = fopen(af->tmp, "wb");
  if (!af->f) {
    sal_status st = sal_ctx_error(ctx, SAL_STATUS_IO, "%s: cannot create %s: %s", path, af->tmp, strerror(errno));
    sal_free(af->tmp);
    af->tmp = NULL;
    return st;
  }
  return SAL_STATUS_OK;
}

sal_status sal__atomic_commit(sal_ctx *ctx, sal__atomic_file *af, bool ok) { return sal__atomic_commit_ex(ctx, af, ok, true); }

sal_status sal__atomic_commit_ex(sal_ctx *ctx, sal__atomic_file *af, bool ok, bool sync) {
  if (!af->f) return sal_ctx_error(ctx, SAL_STATUS_INTERNAL, "%s: write was not opened", af->path);
  int e = ok ? 0 : errno;
  /* Flush to the disk before the rename so that a crash leaves either the old or the new file. */
  if (ok && (fflush(af->f) != 0 || (sync && fsync(fileno(af->f)) != 0))) {
    ok = false;
    e = errno;
  }
  if (fclose(af->f) != 0 && ok) {
    ok = false;
    e = errno;
  }
  af->f = NULL;
  sal_status st = SAL_STATUS_OK;
  if (!ok) {
    st = sal_ctx_error(ctx, SAL_STATUS_IO, "%s: write failed: %s", af->path, e ? strerror(e) : "unknown error");
  } else if (rename(af->tmp, af->path) != 0) {
    st = sal_ctx_error(ctx, SAL_STATUS_IO, "%s: cannot rename %s over it: %s", af->path, af->tmp, strerror(errno));
  }
  if (st != SAL_STATUS_OK) remove(af->tmp);
  sal_free(af->tmp);
  af->tmp = NULL;
  return st;
}

sal_status sal__read_file(sal_ctx *ctx, const char *path, size_t max_bytes, char **data_out, size_t *n_out) {
  *data_out = NULL;
  *n_out = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return sal_ctx_error(ctx, errno == ENOENT ? SAL_STATUS_NOT_FOUND : SAL_STATUS_IO, "%s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fclose(f);
    return sal_ctx_error(ctx, SAL_STATUS_IO, "%s: not a regular file", path);
  }
  if ((uint64_t)sb.st_size > (uint64_t)max_bytes) {
    fclose(f);
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: %lld bytes exceeds the limit of %zu", path,
                         (long long)sb.st_size, max_bytes);
  }
  size_t n = (size_t)sb.st_size;
  char *buf = sal_alloc(ctx, n + 1);
  if (!buf) {
    fclose(f);
    return sal_ctx_error_prefix(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: ", path);
  }
  size_t got = fread(buf, 1, n, f);
  bool err = ferror(f) != 0;
  fclose(f);
  if (err || got != n) {
    sal_free(buf);
    return sal_ctx_error(ctx, SAL_STATUS_IO, "%s: read %zu of %zu bytes", path, got, n);
  }
  buf[n] = '\0';
  *data_out = buf;
  *n_out = n;
  return SAL_STATUS_OK;
}
