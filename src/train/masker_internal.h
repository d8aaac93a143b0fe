/* Internal pieces of masker training (src/train/masker.c) exposed to tests/test_masker.c: the
 * loss of METHODS.md §D on given logits and masks, and one masker loss evaluation (forward, and
 * optionally the backward into the masker's parameter gradients) on a batch. */
#ifndef SAL_TRAIN_MASKER_INTERNAL_H
#define SAL_TRAIN_MASKER_INTERNAL_H

#include "salient/masker.h"
#include "salient/plan.h"

/* The loss terms of one batch (means over the batch, weights applied). */
typedef struct sal__masker_terms {
  double total;     /* in_ce + in_area + out_ent + out_area + tv */
  double in_ce;     /* mean_b CE(f(x⊙m), y) */
  double in_area;   /* λ_in mean_b [correct_b(x⊙m) m̄_b] */
  double out_ent;   /* −mean_b [H(softmax f(x⊙(1−m))) correct_b(x)] */
  double out_area;  /* λ_out mean_b [nontriv_b m̄_b] */
  double tv;        /* λ_tv [Σ(Δ_h m)² + Σ(Δ_w m)² + 0.3 Σ_border m²] / B */
  double mean_mask; /* mean_b m̄_b */
} sal__masker_terms;

/* The §D loss of B images from the logits (B, K) of the clean (z), masked-in (zi) and masked-out
 * (zo) images, labels y and masks m (B, H, W). Border pixels of the TV term are rows 0 and H−1 and
 * columns 0 and W−1 (corners counted in both). Gradients (optional, overwritten): dzi, dzo (B, K)
 * of the logits and dm (B, H, W) of the terms that depend on m directly (areas, TV); the
 * indicators are constants. */
void sal__masker_loss(int64_t B, int64_t K, int64_t H, int64_t W, const int64_t *y, const float *z, const float *zi,
                      const float *zo, const float *m, float lambda_in, float lambda_out, float lambda_tv,
                      sal__masker_terms *t, float *dzi, float *dzo, float *dm);

/* One masker loss evaluation on batches of B images for classifier C and masker graph M (taps its
 * inputs). The classifier runs in inference mode (running statistics), the masker in training mode. */
typedef struct sal__mstep sal__mstep;
sal_status sal__mstep_new(sal_ctx *ctx, sal_graph *C, sal_graph *M, const char *const taps[2], int64_t B,
                          float lambda_in, float lambda_out, float lambda_tv, sal_kernels kernels, sal__mstep **out);
void sal__mstep_free(sal__mstep *s);
/* x (B, C, H, W) with labels y: fills t; with backward, the masker's parameter gradients are left
 * in sal__mstep_masker_plan(s) (read with sal_plan_grad, or step an optimiser of M on it). The
 * masked images [x⊙m; x⊙(1−m)] (2B, C, H, W) stay readable through sal__mstep_masked. */
sal_status sal__mstep_run(sal__mstep *s, const float *x, const int64_t *y, bool backward, sal__masker_terms *t);
sal_plan *sal__mstep_masker_plan(sal__mstep *s);
const float *sal__mstep_masked(const sal__mstep *s);
/* Tells the step's classifier plans that the classifier's parameters changed (CA updates). */
void sal__mstep_classifier_changed(sal__mstep *s);

/* The few-shot selection: indices of the first k items of each class in the order of a
 * permutation drawn from seed, returned in dataset order; *n their count. Caller frees *idx. */
sal_status sal__masker_per_class(sal_ctx *ctx, const sal_dataset *ds, int64_t k, uint64_t seed, int64_t **idx, int64_t *n);

#endif
