/* Progress reporter: plain lines when stderr is not a terminal, silence at SAL_LOG_QUIET. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Runs a 3-item progress with stderr redirected to a file; returns what was printed. */
static char *capture(sal_log_level level) {
  sal_ctx *ctx = th_ctx();
  sal_ctx_set_log_level(ctx, level);
  char path[] = "/tmp/sal_progress_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return NULL;
  fflush(stderr);
  int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  sal_progress *p = NULL;
  sal_status st = sal_progress_start(ctx, "explain", 3, &p);
  for (int i = 1; i <= 3 && !st; i++) sal_progress_update(p, i, "loss 0.25");
  sal_progress_finish(p);
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  char *buf = calloc(1, 4096);
  FILE *f = fopen(path, "r");
  if (f && buf) {
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = '\0';
  }
  if (f) fclose(f);
  close(fd);
  unlink(path);
  sal_ctx_set_log_level(ctx, SAL_LOG_WARN);
  return buf;
}

int main(void) {
  char *out = capture(SAL_LOG_INFO);
  TH_CHECK(out && strstr(out, "explain: 3/3") && strstr(out, "loss 0.25") && strstr(out, "ETA"),
           "final plain line with count, extra text and ETA: '%s'", out ? out : "(null)");
  TH_CHECK(out && !strchr(out, '\r'), "no carriage returns when not a terminal");
  free(out);
  out = capture(SAL_LOG_QUIET);
  TH_CHECK(out && out[0] == '\0', "quiet prints nothing: '%s'", out ? out : "(null)");
  free(out);
  sal_progress_finish(NULL);
  return th_finish("test_progress");
}
