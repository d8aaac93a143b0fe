/* salient adversarial-input detection (Wang, Su, Zhang & Hu, "Learning Reliable Visual Saliency";
 * METHODS.md §F): clean and attacked (FGSM / PGD) copies of a labelled image set, per-image
 * features — the per-layer masks of saliency method `reliable` resampled to one grid, or the raw
 * gradient map — a small CNN trained to tell them apart, the softmax-confidence baseline, and an
 * exact ROC-AUC. Protocol and definitions: docs/evaluation.md, "Adversarial-input detection". */
#ifndef SALIENT_DETECT_H
#define SALIENT_DETECT_H

#include "salient/attack.h"
#include "salient/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sal_detect_features {
  SAL_DETECT_HAF = 0,      /* reliable's per-layer masks m_l, one channel each, on the grid */
  SAL_DETECT_GRADIENT = 1  /* |∂z_c/∂x| (max over colour channels), c = the tested image's top-1 */
} sal_detect_features;

typedef enum sal_detect_attack { SAL_DETECT_FGSM = 0, SAL_DETECT_PGD = 1 } sal_detect_attack;

typedef struct sal_detect_opts {
  sal_detect_features features; /* (HAF) */
  sal_detect_attack attack;     /* (FGSM); PGD is 10 steps of ε/4, no random start */
  float eps;                    /* L∞ radius in pixel units, in (0, 1] (4/255) */
  const float *mean, *std;      /* the classifier's normalisation, C values each (NULL: 0 / 1) */
  int64_t grid;                 /* feature side G; 0 = H / 4 (16 at 64 px) */
  int64_t iterations;           /* reliable's Adam steps (300, the method's default) */
  int64_t max_memory;           /* bytes per pass (SAL_EXPLAIN_DEFAULT_MEMORY) */
  /* The detector and its training. */
  int64_t width;                /* channels of both conv layers (16) */
  int64_t epochs;               /* (30) */
  int64_t batch;                /* (32; fewer training items: all of them) */
  float lr;                     /* Adam learning rate (1e-3) */
  uint64_t seed;                /* detector weights, shuffling and the split (0) */
  double train_fraction;        /* source images on the training side of the split (0.5) */
  bool quiet;                   /* no progress lines on stderr (false) */
  /* Checkpoints of sal_detect_train (docs/evaluation.md, "Checkpoints and resuming"). */
  const char *checkpoint;       /* written atomically after every epoch: the weights, Adam's state and
                                   the metadata below (NULL: none) */
  const char *checkpoint_meta;  /* the caller's JSON object stored as the checkpoint's metadata (NULL:
                                   {}); its "config" object, if any, joins what a resume must repeat */
  bool resume;                  /* continue from checkpoint, which must have been written with the
                                   same config (false) */
  int64_t stop_after;           /* stop once this many epochs are done (0: run all) */
} sal_detect_opts;

sal_detect_opts sal_detect_opts_default(void);

/* A detection set built from N source images: 2N items, item 2i the clean image i (label 0) and
 * item 2i + 1 its attacked copy (label 1). */
typedef struct sal_detect_set {
  int64_t n;               /* items (2N) */
  int64_t n_sources;       /* N */
  sal_tensor *features;    /* (2N, F, G, G); F = the level count (HAF) or 1 (gradient) */
  int64_t *labels;         /* 2N: 0 clean, 1 attacked */
  int64_t *source;         /* 2N: the source image (i for items 2i, 2i + 1) */
  float *confidence;       /* 2N: the classifier's max softmax probability */
  int64_t *top1;           /* 2N: the classifier's top-1 */
  int n_levels;            /* HAF: the masked layers, in depth order (names owned) */
  char *level_names[SAL_EXPLAIN_MAX_LEVELS];
} sal_detect_set;

/* Builds the set for classifier g (first input; output "logits" or its first output, (N, K)) from
 * images (N, C, H, W), preprocessed, and labels[N] (the attack's CE class; NULL = each image's
 * top-1). BAD_INPUT for eps outside (0, 1] or not finite, grid outside 1..H, a bad option
 * (named). Clear with sal_detect_set_clear. */
sal_status sal_detect_build_set(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const int64_t *labels,
                                const sal_detect_opts *o, sal_detect_set *set);
void sal_detect_set_clear(sal_detect_set *set);

/* The set's cache key: a hex SHA-256 over everything sal_detect_build_set reads — classifier_id
 * (the caller's fingerprint of the classifier, e.g. its file's SHA-256), the images' and labels'
 * bytes (labels NULL: top-1), the features, attack, ε, resolved grid, iterations, max_memory, mean
 * and std, and the library version. */
void sal_detect_set_key(const char *classifier_id, const sal_tensor *images, const int64_t *labels,
                        const sal_detect_opts *o, char key[65]);
/* Writes a built set as safetensors (atomically: an interrupted write leaves the old file or none)
 * with its key and a SHA-256 of its contents. BAD_INPUT for a set too large to store its indices
 * exactly as f32 (2^24 items or classes). */
sal_status sal_detect_set_save(sal_ctx *ctx, const char *path, const char *key, const sal_detect_set *set);
/* Reads a set written by sal_detect_set_save for the same key into set (clear it with
 * sal_detect_set_clear). NOT_FOUND when path does not exist; BAD_INPUT (naming path) when it is
 * malformed or truncated, was written for another key ("built from other inputs"), or its contents
 * do not match their recorded SHA-256. */
sal_status sal_detect_set_load(sal_ctx *ctx, const char *path, const char *key, sal_detect_set *set);

/* The split by source image: a Philox permutation of the n_sources sources (keyed by seed), the
 * first round(train_fraction · n_sources) (at least 1 and at most n_sources − 1 when n_sources >= 2)
 * go to training: train_source[s] is true for them. Both copies of a source are then on its side.
 * BAD_INPUT for n_sources < 2 or a fraction outside (0, 1). */
sal_status sal_detect_split(sal_ctx *ctx, int64_t n_sources, double train_fraction, uint64_t seed, bool *train_source);

/* The detector (METHODS.md §F) for (F, G, G) features: input "features" → per-channel
 * standardisation (x − "norm.mean") · "norm.scale" (non-trainable, (1, F, 1, 1), 1 / std, set by
 * training) → conv
 * 3×3 (width, pad 1, bias) → ReLU → max-pool 2×2 → conv 3×3 (width) → ReLU → global average pool →
 * linear "fc" → "logits" (N, 2). Weights from seed. */
sal_status sal_detect_model(sal_ctx *ctx, int64_t F, int64_t G, int64_t width, uint64_t seed, sal_graph **out);

/* Trains det on the items i with use[i] (NULL = all) of features / labels (n items): sets the
 * standardisation from those items, then Adam (o->lr, o->epochs, o->batch, shuffled by o->seed
 * and the epoch) on the softmax cross-entropy. BAD_INPUT when the used items lack a class or do
 * not fit det.
 * With o->checkpoint, after every epoch the training graph's parameters, Adam's state and the
 * metadata — o->checkpoint_meta with "config" (the caller's config plus channels, grid, width,
 * batch, lr, seed, items, attacked and data_sha256, a SHA-256 of the features, labels and use),
 * "epoch", "epochs", "steps" and "train_loss" — are written there atomically. With o->resume the
 * run continues from that file: every config key must be equal both ways (BAD_INPUT naming the
 * first that differs), its epoch at most o->epochs and its step count epoch × steps per epoch;
 * the shuffles depend on (seed, epoch) only, so a resumed run ends with the uninterrupted run's
 * bytes. o->stop_after > 0 stops once that many epochs are done. */
sal_status sal_detect_train(sal_ctx *ctx, sal_graph *det, const sal_tensor *features, const int64_t *labels,
                            const bool *use, const sal_detect_opts *o);

/* Checks, before anything expensive, that the checkpoint at path could be resumed by a run whose
 * caller metadata is checkpoint_meta: the file is a readable checkpoint with training metadata
 * and every key of checkpoint_meta's "config" is equal in it. NOT_FOUND, BAD_INPUT (naming path
 * and the first key that differs, or the corruption). sal_detect_train checks again, in full. */
sal_status sal_detect_resume_check(sal_ctx *ctx, const char *path, const char *checkpoint_meta);

/* score[i] = P(attacked | features i) = softmax(logits)[1] for every item of features (n items). */
sal_status sal_detect_score(sal_ctx *ctx, sal_graph *det, const sal_tensor *features, float *score);

/* Exact ROC-AUC of scores for positives (labels 1) against negatives (labels 0), items with
 * use[i] only (NULL = all): the Mann–Whitney statistic P(s⁺ > s⁻) + ½ P(s⁺ = s⁻) over all
 * positive–negative pairs. BAD_INPUT for a label other than 0 / 1, a NaN score, or no positive or
 * no negative. */
sal_status sal_roc_auc(sal_ctx *ctx, const float *score, const int64_t *labels, const bool *use, int64_t n, double *auc);

#ifdef __cplusplus
}
#endif
#endif
