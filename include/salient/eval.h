/* salient evaluation: similarity of saliency maps (Spearman rank correlation, SSIM), a PGD attack
 * that keeps the predicted class, and `attack_sensitivity` (METHODS.md §G): how much a method's map
 * changes under a small adversarial perturbation. Definitions and sources: docs/evaluation.md. */
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

#ifdef __cplusplus
}
#endif
#endif
