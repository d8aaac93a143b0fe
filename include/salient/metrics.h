/* salient metrics: scores of saliency maps against ground truth (boxes and masks), as the papers of
 * ../shared/METHODS.md §G define them — localisation error and OM, MaxBoxAcc and MaxBoxAccV2,
 * PxAP, the pointing game, overlap at percentiles (Dice, IoU, PPV, sensitivity), F1 of continuous
 * masks, D-WSOL hits and the false-saliency ratio, and the sparsity measures (Gini, area, entropy).
 * Maps are (h, w) planes of floats, row-major; masks are (h, w) bytes, non-zero = object; boxes
 * are sal_box in pixel edges (x1, y1 exclusive). Sources and conventions: docs/metrics.md. */
#ifndef SALIENT_METRICS_H
#define SALIENT_METRICS_H

#include "salient/dataset.h"
#include "salient/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Intersection over union of two boxes (0 when both are empty). */
double sal_box_iou(const sal_box *a, const sal_box *b);

/* A connected component of a binarised map. */
typedef struct sal_component {
  sal_box box;   /* tightest box around its pixels */
  int64_t area;  /* pixels */
} sal_component;

/* The 8-connected components of {map >= t}, largest first (equal areas: the one whose first pixel
 * comes first in row-major order). Writes at most cap of them to out and their total number to *n.
 * A non-finite value is an error (BAD_INPUT naming its position). */
sal_status sal_map_components(sal_ctx *ctx, const float *map, int64_t h, int64_t w, float t, sal_component *out,
                              int64_t cap, int64_t *n);

/* Localisation (Phang et al.; the CAM protocol): the map binarised at its mean, the box of the
 * largest component; *correct when some ground-truth box overlaps it with IoU > 0.5. *best_iou
 * (optional) is the best IoU. A constant map selects every pixel (its box is the image). OM also
 * requires a correct top-1 class: om_correct = correct && top1 == label. */
sal_status sal_metric_localization(sal_ctx *ctx, const float *map, int64_t h, int64_t w, const sal_box *gt,
                                   int64_t n_gt, bool *correct, double *best_iou);

/* MaxBoxAcc and MaxBoxAccV2 (Choe et al., CVPR 2020), accumulated over a dataset: the map of each
 * image is min-max normalised, binarised at every τ in {0, 0.01, ..., 0.99}; BoxAcc(τ, δ) is the
 * fraction of images whose box matches a ground-truth box with IoU >= δ. MaxBoxAcc = max over τ of
 * BoxAcc(τ, 0.5) with the largest component's box; MaxBoxAccV2 = mean over δ in {0.3, 0.5, 0.7} of
 * max over τ, where the best of all components' boxes counts. */
#define SAL_BOXACC_TAUS 100
typedef struct sal_boxacc {
  int64_t images;
  int64_t hits[SAL_BOXACC_TAUS];        /* largest component, δ = 0.5 */
  int64_t hits_v2[3][SAL_BOXACC_TAUS];  /* any component, δ = 0.3, 0.5, 0.7 */
} sal_boxacc;
void sal_boxacc_init(sal_boxacc *a);
sal_status sal_boxacc_add(sal_ctx *ctx, sal_boxacc *a, const float *map, int64_t h, int64_t w, const sal_box *gt,
                          int64_t n_gt);
/* MaxBoxAcc in [0, 1] (0 with no images); *best_tau (optional) the first τ reaching it. */
double sal_boxacc_max(const sal_boxacc *a, double *best_tau);
double sal_boxacc_max_v2(const sal_boxacc *a);

/* PxAP (Choe et al., CVPR 2020): pixel-level average precision over a dataset. Maps are min-max
 * normalised per image; at each τ in {0, 0.01, ..., 0.99} precision and recall count the pixels
 * >= τ over all images; PxAP = Σ_k P(τ_k) (R(τ_k) − R(τ_k+1)), R above the last threshold = 0. */
#define SAL_PXAP_BINS 100
typedef struct sal_pxap {
  int64_t pos[SAL_PXAP_BINS], neg[SAL_PXAP_BINS]; /* object / background pixels per score bin */
} sal_pxap;
void sal_pxap_init(sal_pxap *a);
sal_status sal_pxap_add(sal_ctx *ctx, sal_pxap *a, const float *map, int64_t h, int64_t w, const uint8_t *mask);
double sal_pxap_value(const sal_pxap *a);

/* Pointing game (Zhang et al., ECCV 2016, with TorchRay's conventions): the map's maximum (the
 * first in row-major order on ties) is a hit when some object pixel lies within `tolerance` pixels
 * (Euclidean distance between pixel centres; 15 in the protocol). A constant map points nowhere: a
 * miss. */
sal_status sal_pointing_hit(sal_ctx *ctx, const float *map, int64_t h, int64_t w, const uint8_t *mask, double tolerance,
                            bool *hit);
/* Per-class accumulation; the score is the mean over classes with at least one trial of their hit
 * rates. */
typedef struct sal_pointing sal_pointing;
sal_status sal_pointing_new(sal_ctx *ctx, int64_t n_classes, sal_pointing **out);
void sal_pointing_free(sal_pointing *p);
sal_status sal_pointing_add(sal_ctx *ctx, sal_pointing *p, int64_t cls, bool hit);
double sal_pointing_value(const sal_pointing *p);

/* Overlap of the top of a map with a mask (Peng et al.): the map keeps its k = round(n (1 − p/100))
 * largest pixels (equal values: row-major order first, so every method selects the same area);
 * Dice, IoU, PPV (precision) and sensitivity (recall) of that selection against the mask. An empty
 * mask or selection gives 0 for the ratios that would divide by 0. */
typedef struct sal_overlap {
  double dice, iou, ppv, sensitivity;
  int64_t selected;  /* k */
} sal_overlap;
sal_status sal_metric_overlap(sal_ctx *ctx, const float *map, int64_t h, int64_t w, const uint8_t *mask,
                              double percentile, sal_overlap *out);

/* F1 of a continuous mask against ground truth (Phang et al.): with m the min-max normalised map
 * and g the mask in {0, 1}, precision Σ m g / Σ m, recall Σ m g / Σ g, F1 their harmonic mean
 * (0 when either is 0). */
sal_status sal_metric_f1(sal_ctx *ctx, const float *map, int64_t h, int64_t w, const uint8_t *mask, double *f1);

/* D-WSOL (Wang et al.; METHODS.md §G): for the map of one object's class, a hit needs the box of
 * the map (as sal_metric_localization) to overlap that object's box with IoU >= 0.5 and the map's
 * maximum not to lie on the other object (other_mask; NULL = no other object). */
sal_status sal_metric_dwsol_hit(sal_ctx *ctx, const float *map, int64_t h, int64_t w, const sal_box *box,
                                const uint8_t *other_mask, bool *hit);
/* False-saliency ratio: energy of the map of a class absent from the image over the energy of the
 * map of its true class; energy = Σ max(v, 0). Lower is better. The true map's energy 0 gives
 * +inf (0 when both are 0). */
double sal_metric_false_saliency(const float *absent_map, const float *true_map, int64_t n);

/* Sparsity and size of one map of n values:
 *   gini: Gini index of |v| (Chalasani et al. 2020): Σ_i (2i − n − 1) a_(i) / (n Σ a), a sorted
 *         ascending, i = 1..n; 0 for a uniform or all-zero map, → 1 when one value holds all;
 *   area: mean of the min-max normalised map (0 for a constant map);
 *   entropy: Shannon entropy of p = |v| / Σ|v| divided by log n (1 = uniform; 0 when one value
 *            holds all or the map is 0). */
typedef struct sal_sparsity {
  double gini, area, entropy;
} sal_sparsity;
sal_status sal_metric_sparsity(sal_ctx *ctx, const float *map, int64_t n, sal_sparsity *out);

/* The model the model-based metrics query: g's first input (N, C, H, W) and first output, the
 * logits (N, K), with its plans (batches sized to max_memory bytes, 0 = 2 GiB) and buffers made
 * once — scoring an image then allocates nothing and builds no plan after the first call. g must
 * outlive the scorer; one scorer serves one thread. */
typedef struct sal_scorer sal_scorer;
sal_status sal_scorer_new(sal_ctx *ctx, sal_graph *g, int64_t max_memory, sal_scorer **out);
void sal_scorer_free(sal_scorer *sc);

/* Insertion and deletion (Petsiuk et al., "RISE", BMVC 2018): pixels are moved in the order of
 * decreasing saliency (equal values: row-major order), `step` at a time, n = ceil(H W / step) steps.
 * Deletion starts from the image and replaces pixels by 0 (the model-input zero: the dataset mean
 * for normalised inputs); insertion starts from the image under a Gaussian blur and puts the
 * original pixels back. The softmax probability of `target` is recorded before the first step and
 * after each (n + 1 values); AUC = (Σ s − s_0 / 2 − s_n / 2) / n, the trapezoid rule over [0, 1].
 * Lower deletion and higher insertion are better. */
typedef struct sal_causal_opts {
  int64_t step;        /* pixels per step; 0 = W (Petsiuk et al.: 224 at 224 x 224) */
  float blur_sigma;    /* insertion's blur in pixels; 0 = 5 · H / 224 (RISE's kernel sigma) */
} sal_causal_opts;
sal_causal_opts sal_causal_opts_default(void);
/* image is (C, H, W) and map (H, W) in the scorer's model frame; target in 0..K-1. ins_curve /
 * del_curve (optional) receive the n + 1 probabilities. */
sal_status sal_metric_insertion_deletion(sal_scorer *sc, const float *image, const float *map, int64_t target,
                                         const sal_causal_opts *opts, double *insertion, double *deletion,
                                         float *ins_curve, float *del_curve);
/* n + 1 for an H × W map at step `step` (0 = W): the length of the curves. */
int64_t sal_causal_curve_length(int64_t h, int64_t w, int64_t step);

/* The saliency metric (Dabkowski & Gal, NeurIPS 2017): the tightest box around every pixel of the
 * min-max normalised map >= threshold (0.5 in docs/metrics.md's reading), its area a as a fraction
 * of the image, the box's crop of the image resized back to H × W (bilinear, align_corners false)
 * and classified: s = log(max(a, 0.05)) − log p_target(crop). Lower is better. A constant map
 * selects the whole image. *area_out and *prob_out (optional) report a and p. */
sal_status sal_metric_saliency_metric(sal_scorer *sc, const float *image, const float *map, int64_t target,
                                      float threshold, double *value, double *area_out, double *prob_out);

#ifdef __cplusplus
}
#endif
#endif
