/* salient data loader: streams a dataset as batches of model-ready tensors. Background threads
 * decode and preprocess the next batches while the caller computes on the current one; the order
 * is the dataset's deterministic shuffled/sharded order (sal_dataset_order), so results do not
 * depend on the thread count. Ground truth (boxes, masks) comes mapped into the model's frame. */
#ifndef SALIENT_LOADER_H
#define SALIENT_LOADER_H

#include "salient/data.h"
#include "salient/dataset.h"
#include "salient/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Training-time augmentation (docs/training.md), applied between decoding and the batch tensor.
 * Every random choice is drawn with Philox from (seed, epoch, item), so batches do not depend on
 * the thread count. Boxes and masks go through the same crop, flip and rotation as the pixels. */
typedef struct sal_augment {
  bool crop;                  /* torchvision RandomResizedCrop to the model frame (replaces the
                               * preprocessing's resize and centre crop) */
  float scale_min, scale_max; /* crop area as a fraction of the image's: (0.08, 1) */
  float ratio_min, ratio_max; /* crop width / height, drawn log-uniformly: (3/4, 4/3) */
  bool flip;                  /* horizontal flip with probability 1/2 */
  bool dihedral;              /* then one of the 8 symmetries of the square (rotations by 0, 90, 180,
                               * 270 degrees, each possibly mirrored), uniformly: for classes that do
                               * not depend on orientation; needs a square model frame */
  float brightness, contrast, saturation; /* colour jitter: factor uniform in [max(0, 1 - s), 1 + s]
                                           * applied in this order (0 = off) */
} sal_augment;

/* torchvision's defaults: crop off (scale (0.08, 1), ratio (3/4, 4/3) when turned on), no flip,
 * no jitter. */
sal_augment sal_augment_default(void);

typedef struct sal_loader_opts {
  int64_t batch;      /* images per batch (>= 1) */
  int threads;        /* background decode threads; 0 = 2 */
  int prefetch;       /* batches prepared ahead of the one in use; 0 = 2 */
  bool shuffle;       /* shuffle each epoch with (seed, epoch) */
  uint64_t seed;
  int part, parts;    /* shard part of parts (parts 0 = 1) */
  bool drop_last;     /* skip a final short batch */
  sal_preprocess pp;  /* how images become tensors (sal_preprocess_default() for ImageNet eval) */
  bool masks;         /* also produce ground-truth masks in the model frame */
  sal_mask_mode mask_mode;
  sal_augment augment;  /* training augmentation (sal_augment_default(): none) */
} sal_loader_opts;

/* Defaults: batch 1, 2 threads, prefetch 2, no shuffle, seed 0, one part, keep the last batch,
 * sal_preprocess_default(), no masks, no augmentation. */
sal_loader_opts sal_loader_opts_default(void);

/* One batch. Everything is owned by the loader and valid until the next sal_loader_next,
 * sal_loader_epoch or sal_loader_free. */
typedef struct sal_batch {
  int64_t n;             /* images in this batch (the last one may be short) */
  int64_t index;         /* batch number within the epoch */
  sal_tensor *images;    /* (n, C, H, W) preprocessed */
  const int64_t *labels; /* n image labels */
  const int64_t *items;  /* n dataset item indices */
  sal_tensor *masks;     /* (n, 1, H, W), 1 where any object's ground-truth mask is set, else 0;
                          * NULL unless opts.masks. Items without mask files get all zeros. */
  /* Boxes mapped into the model frame: item i has n_boxes[i] boxes at boxes[i * box_stride + j],
   * with their labels in box_labels and box_inside false for boxes cropped away entirely. */
  const int64_t *n_boxes;
  int64_t box_stride;
  const sal_box *boxes;
  const int64_t *box_labels;
  const bool *box_inside;
} sal_batch;

typedef struct sal_loader sal_loader;

/* Creates a loader over ds (borrowed; must outlive the loader) and starts its threads; no epoch
 * is running until sal_loader_epoch. Errors: BAD_INPUT (options), OUT_OF_MEMORY, INTERNAL (a
 * thread could not start). */
sal_status sal_loader_new(sal_ctx *ctx, const sal_dataset *ds, const sal_loader_opts *opts, sal_loader **out);
/* Stops the threads and frees everything. */
void sal_loader_free(sal_loader *ld);

/* Starts epoch `epoch` (any batch of a previous epoch is released; work in flight is drained). */
sal_status sal_loader_epoch(sal_loader *ld, int64_t epoch);
/* The next batch of the epoch, or *out = NULL after the last one. A file that cannot be read or
 * preprocessed is an error naming it (the epoch then ends). */
sal_status sal_loader_next(sal_loader *ld, const sal_batch **out);
/* Batches per epoch of this loader's shard. */
int64_t sal_loader_num_batches(const sal_loader *ld);

#ifdef __cplusplus
}
#endif
#endif
