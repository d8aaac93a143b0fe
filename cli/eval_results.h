/* `salient eval`'s results file read back, and the summary computed from it (cli/eval_results.c).
 * The line format and the formulas are in docs/metrics.md, "Evaluation runs". */
#ifndef SAL_CLI_EVAL_RESULTS_H
#define SAL_CLI_EVAL_RESULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "salient/metrics.h"

#define EVAL_MAX_PCT 16                      /* overlap percentiles */
#define EVAL_MAX_KEYS (12 + 4 * EVAL_MAX_PCT) /* per-image scalar metrics */
#define EVAL_MAX_NAMES 64                    /* methods in one results file */

/* The per-image scalar metrics of a run: their keys in a line's "metrics", in summary order. */
typedef struct eval_keys {
  char names[EVAL_MAX_KEYS][24];
  int n;
} eval_keys;

/* One line: the fields the summary needs. */
typedef struct eval_record {
  int64_t item;
  int method;  /* index into eval_results.names */
  int64_t row; /* its metric values are vals[row * keys->n + k], NAN = null or absent */
  int64_t curve; /* its insertion and deletion curves are curves[curve * 2 * curve_len ...], or -1 */
} eval_record;

typedef struct eval_results {
  eval_record *r;
  double *vals;
  int64_t n, cap;
  /* Insertion then deletion curve of each line that has them (its "curves"), all of curve_len
   * points (0 until the first such line); as float, the precision they were computed in. */
  float *curves;
  int64_t curve_len, n_curves, curves_cap;
  char *names[EVAL_MAX_NAMES]; /* methods, in the order eval_results_slot first saw them */
  int n_names;
  /* Dataset-level accumulators per method: integer counts, so independent of the line order. */
  sal_boxacc box[EVAL_MAX_NAMES];
  int64_t box_n[EVAL_MAX_NAMES];
  sal_pxap px[EVAL_MAX_NAMES];
  int64_t px_n[EVAL_MAX_NAMES];
  int64_t *pt_hits[EVAL_MAX_NAMES], *pt_trials[EVAL_MAX_NAMES], pt_classes[EVAL_MAX_NAMES]; /* per label */
  /* (item, method) pairs seen: one bitmap per method over item indices. */
  uint8_t *seen[EVAL_MAX_NAMES];
  int64_t seen_cap[EVAL_MAX_NAMES];
  int64_t lines, torn; /* complete lines read; 1 when a torn last line was found */
} eval_results;

void eval_results_free(eval_results *R);
/* The index of method `name` in R (added when new); -1 when R is full or out of memory. */
int eval_results_slot(eval_results *R, const char *name);
/* Whether R holds a line for (method slot m, item). */
bool eval_results_seen(const eval_results *R, int m, int64_t item);

/* Reads the file at path into R (a missing file is empty). A last line without its newline is the
 * write a kill interrupted: with truncate_torn it is cut off the file, else ignored; R->torn says
 * so. ds (optional): every line's path must be ds's item of that index. Returns 0, or 1 after
 * printing the error (naming the line). */
int eval_results_read(const char *path, const eval_keys *keys, const sal_dataset *ds, bool truncate_torn,
                      eval_results *R);

/* What the summary names. */
typedef struct eval_summary_info {
  const char *model, *data, *out;
  const char *const *methods; /* output order: these first, then R's other methods by name */
  int n_methods;
} eval_summary_info;

/* Writes out/summary.json and out/summary.csv (atomically) from R; sorts R's records. Methods with
 * curves also get their mean insertion and deletion curves in summary.json. Returns 0 or 1 after
 * printing the error. */
int eval_summary_write(sal_ctx *ctx, const eval_summary_info *s, const eval_keys *keys, eval_results *R);

#endif
