/* `salient eval --sanity N`: the cascading randomisation sanity check (sal_sanity_cascade) of every
 * evaluated method on the first N items, written to DIR/sanity.json and DIR/sanity/<method>/<k>.png
 * (cli/eval_sanity.c; the file format is in docs/metrics.md, "Sanity checks"). */
#ifndef SAL_CLI_EVAL_SANITY_H
#define SAL_CLI_EVAL_SANITY_H

#include <stdbool.h>
#include <stdint.h>

#include "salient/data.h"
#include "salient/dataset.h"
#include "salient/explain.h"

#define EVAL_SANITY_LABEL ((int64_t)-2) /* eval_sanity_args.target: each item's label */

typedef struct eval_sanity_args {
  sal_ctx *ctx;
  sal_graph *g;
  const sal_dataset *ds;
  const sal_preprocess *pp; /* the evaluation's transform (its mean / std also denormalise the overlays) */
  int64_t C, H, W;
  const char *const *methods;
  const sal_method_params *params;
  int n_methods;
  int64_t target;     /* EVAL_SANITY_LABEL, SAL_TARGET_TOP1 or a class */
  int64_t n;          /* the first n items that can be read */
  int64_t max_stages; /* sal_sanity_opts.max_stages */
  uint64_t seed;      /* sal_sanity_opts.seed */
  const char *out;    /* the evaluation's output directory */
  bool quiet;         /* no summary lines */
} eval_sanity_args;

/* Runs the check for every method and writes the files. Returns 0, or 1 after printing the error. */
int eval_sanity_run(const eval_sanity_args *a);

#endif
