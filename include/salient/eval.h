/* salient evaluation: similarity of saliency maps (Spearman rank correlation, SSIM), a PGD attack
 * that keeps the predicted class, `attack_sensitivity` (METHODS.md §G): how much a method's map
 * changes under a small adversarial perturbation, and the cascading model-parameter randomisation
 * sanity check (Adebayo et al. 2018). Definitions and sources: docs/evaluation.md and
 * docs/metrics.md ("Sanity checks"). */
#ifndef SALIENT_EVAL_H
#define SALIENT_EVAL_H

#include "salient/attack.h"
#include "salient/explain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Spearman's rank correlation of a and b (n values each, n >= 2): the Pearson correlation of their
 * ranks, tied values sharing the average of the ranks they span (as scipy.stats.spearmanr). *out is
 * NaN when either input is constant. BAD_INPUT for n < 2 or a non-finite value. */
sal_status sal_spearman(sal_ctx *ctx, const float *a, const float *b, int64_t n, double *out);

/* Structural similarity of two (h, w) images (Wang, Bovik, Sheikh & Simoncelli 2004): at every
 * position where an 11 × 11 Gaussian window (σ = 1.5, normalised to sum 1) fits inside the image,
 *   SSIM = (2 μ_a μ_b + C1)(2 σ_ab + C2) / ((μ_a² + μ_b² + C1)(σ_a² + σ_b² + C2)),
 * μ, σ² and σ_ab the window-weighted means, variances and covariance, C1 = (0.01 L)², C2 = (0.03 L)²,
 * L = data_range (1 for maps normalised to [0, 1]); *out is the mean over those positions (equal to
 * skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)).
 * BAD_INPUT when h or w < 11, data_range <= 0 or a value is not finite. */
sal_status sal_ssim(sal_ctx *ctx, const float *a, const float *b, int64_t h, int64_t w, double data_range,
                    double *out);

/* sal_attack (include/salient/attack.h) with keep_class forced on, CE of each image's top-1 c:
 * a step after which the top-1 is no longer c is undone and ends that image's attack, so every
 * adversarial image keeps its class. *adv (N, C, H, W; caller frees); cls[N] (optional) receives c,
 * steps[N] (optional) the number of steps kept. g is not modified. */
sal_status sal_pgd_keep_class(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const sal_attack_opts *o,
                              sal_tensor **adv, int64_t *cls, int64_t *steps);

/* The result of sal_attack_sensitivity: per image, then means over the images (NaN entries, from
 * constant maps, left out). Clear with sal_attack_result_clear. */
typedef struct sal_attack_result {
  int64_t n;
  double *spearman;   /* Spearman of the two maps */
  double *ssim;       /* SSIM of the two maps (normalised to [0, 1], data range 1) */
  int64_t *cls;       /* the predicted class, explained in both */
  int64_t *steps;     /* PGD steps kept */
  float *linf;        /* max |δ| in pixel units */
  float *drop;        /* z_c(x) − z_c(x + δ) */
  double mean_spearman, mean_ssim;
} sal_attack_result;

/* attack_sensitivity (METHODS.md §G): explains images x and x + δ (δ from sal_pgd_keep_class) with
 * method params p for the predicted class of x, and compares the min–max normalised maps per image
 * with sal_spearman and sal_ssim. g is not modified. Errors: those of sal_explain_run and the attack. */
sal_status sal_attack_sensitivity(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const sal_method_params *p,
                                  const sal_attack_opts *o, sal_attack_result *out);
void sal_attack_result_clear(sal_attack_result *r);

/* ---- sanity checks: cascading model-parameter randomisation (Adebayo et al., NeurIPS 2018) ---- */

typedef struct sal_sanity_opts {
  int64_t max_stages; /* randomised stages, evenly spaced over the layers; 0 = one per layer (0) */
  uint64_t seed;      /* keys the re-initialised weights: a parameter's draws depend on (seed, its name) (0) */
  bool keep_maps;     /* also return the first image's raw map at every stage (false) */
} sal_sanity_opts;

sal_sanity_opts sal_sanity_opts_default(void);

/* The result of sal_sanity_cascade. Stage 0 is the trained model; stage s > 0 has the top
 * n_randomized[s] layers (counted from the output) re-initialised. Per-stage arrays have n_stages
 * entries, per-image ones n_stages × n_images (stage-major: [s * n_images + i]). Means leave NaN
 * entries out and are NaN when every entry is. Clear with sal_sanity_result_clear. */
typedef struct sal_sanity_result {
  int64_t n_images, n_stages, n_layers;
  char **stage_names;       /* "none", then the lowest layer randomised at that stage (owned) */
  int64_t *n_randomized;    /* layers re-initialised at each stage (0 at stage 0, n_layers at the last) */
  int64_t *targets;         /* n_images: the class explained at every stage (resolved at stage 0) */
  double *spearman;         /* Spearman of the raw maps (trained vs stage s) */
  double *spearman_abs;     /* Spearman of their absolute values */
  double *ssim;             /* SSIM of the min–max normalised maps, data range 1 */
  double *mean_spearman, *mean_spearman_abs, *mean_ssim; /* per stage */
  sal_tensor *maps;         /* keep_maps: (n_stages, 1, H, W) image 0's raw map per stage, else NULL */
} sal_sanity_result;

/* The cascading randomisation test: explains images (N, C, H, W) (preprocessed) with method params
 * p on model g (first input, first output: logits) for targets (a class or SAL_TARGET_TOP1 each;
 * NULL = top-1 of the trained model), then, on a copy of g, re-initialises the parameterised layers
 * from the output down (cumulatively) and explains the same images for the same classes at every
 * stage, comparing each map with the trained model's map. Layers, their grouping and the
 * initialisation: docs/metrics.md, "Sanity checks". g is not modified. Errors: BAD_INPUT (no
 * options, max_stages < 0, images not fitting the model, maps smaller than SSIM's 11 × 11 window,
 * a model without parameterised layers), NOT_FOUND (unknown method), those of sal_explain_run. */
sal_status sal_sanity_cascade(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const int64_t *targets,
                              const sal_method_params *p, const sal_sanity_opts *o, sal_sanity_result *out);
void sal_sanity_result_clear(sal_sanity_result *r);

#ifdef __cplusplus
}
#endif
#endif
