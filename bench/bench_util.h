/* Timing helpers shared by the benchmarks in bench/ (each bench/<name>.c is its own program). */
#ifndef SAL_BENCH_UTIL_H
#define SAL_BENCH_UTIL_H

#include <stdlib.h>
#include <time.h>

/* Wall-clock milliseconds (monotonic). */
static inline double bench_now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* CPU milliseconds used by this process (all threads): steadier than wall time on a busy machine. */
static inline double bench_cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* qsort comparator for doubles (medians). */
static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#endif
