/* Progress reporting for long loops (training epochs, explaining a folder): a redrawn bar with
 * rate and ETA on a terminal, periodic plain lines in logs, silence at SAL_LOG_QUIET. */
#include "core/internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct sal_progress {
  sal_ctx *ctx;
  char label[64];
  int64_t total, done;
  double t0, last_print;
  bool tty, quiet;
  char extra[96];
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_dur(double s, char *buf, size_t n) {
  if (s < 0 || s > 1e7) { snprintf(buf, n, "--:--"); return; }
  int t = (int)(s + 0.5);
  if (t >= 3600) snprintf(buf, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
  else snprintf(buf, n, "%02d:%02d", t / 60, t % 60);
}

static void draw(sal_progress *p, bool final) {
  double el = now_s() - p->t0;
  double rate = el > 0 ? (double)p->done / el : 0;
  double eta = rate > 0 && p->total > 0 ? (double)(p->total - p->done) / rate : -1;
  char es[16], ts[16];
  fmt_dur(el, es, sizeof es);
  fmt_dur(eta, ts, sizeof ts);
  if (p->tty) {
    int width = 24, fill = p->total > 0 ? (int)(width * p->done / p->total) : 0;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r%s [%s] %lld/%lld %.1f/s %s ETA %s %s\033[K%s", p->label, bar,
            (long long)p->done, (long long)p->total, rate, es, ts, p->extra, final ? "\n" : "");
  } else {
    fprintf(stderr, "%s: %lld/%lld, %.1f/s, elapsed %s, ETA %s %s\n", p->label, (long long)p->done,
            (long long)p->total, rate, es, ts, p->extra);
  }
  fflush(stderr);
  p->last_print = now_s();
}

sal_status sal_progress_start(sal_ctx *ctx, const char *label, int64_t total, sal_progress **out) {
  *out = NULL;
  sal_progress *p = sal_calloc(ctx, 1, sizeof *p);
  if (!p) return SAL_STATUS_OUT_OF_MEMORY;
  p->ctx = ctx;
  snprintf(p->label, sizeof p->label, "%s", label ? label : "");
  p->total = total;
  p->t0 = p->last_print = now_s();
  p->tty = isatty(STDERR_FILENO) != 0;
  p->quiet = ctx->log_level == SAL_LOG_QUIET;
  *out = p;
  return SAL_STATUS_OK;
}

void sal_progress_update(sal_progress *p, int64_t done, const char *extra) {
  if (!p) return;
  p->done = done;
  if (extra) snprintf(p->extra, sizeof p->extra, "%s", extra);
  if (p->quiet) return;
  double interval = p->tty ? 0.1 : 5.0;
  if (now_s() - p->last_print >= interval) draw(p, false);
}

void sal_progress_finish(sal_progress *p) {
  if (!p) return;
  if (!p->quiet) draw(p, true);
  sal_free(p);
}
