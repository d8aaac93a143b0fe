/* salient synthetic datasets: procedurally rendered images with exact object masks and boxes, for
 * training small classifiers and measuring saliency localisation (pointing game, D-WSOL, masks).
 *
 * Three families (docs/synth.md):
 *   shapes   RGB, one object of 10 shape classes on a textured, cluttered background;
 *   lesions  gray, one low-contrast lesion of 5 morphology classes in tissue-like texture;
 *   pairs    RGB, two objects of different shape classes, one mask each.
 * Every image is a pure function of (family, seed, split, index): the same seed gives a
 * byte-identical dataset whatever the thread count, and one split does not change when another
 * split's size does. */
#ifndef SALIENT_SYNTH_H
#define SALIENT_SYNTH_H

#include "salient/core.h"
#include "salient/image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever the pixels produced for a given (family, seed, split, index) change. */
#define SAL_SYNTH_VERSION 1
#define SAL_SYNTH_MIN_SIZE 32
#define SAL_SYNTH_MAX_SIZE 512
/* Upper bound on each split's image count (bounds allocations and file names). */
#define SAL_SYNTH_MAX_COUNT ((int64_t)10 * 1000 * 1000)
#define SAL_SYNTH_MAX_OBJECTS 2

typedef enum sal_synth_family {
  SAL_SYNTH_SHAPES = 0,
  SAL_SYNTH_LESIONS,
  SAL_SYNTH_PAIRS,
  SAL_SYNTH_FAMILY_COUNT
} sal_synth_family;

typedef enum sal_synth_split { SAL_SYNTH_TRAIN = 0, SAL_SYNTH_VAL, SAL_SYNTH_TEST, SAL_SYNTH_SPLIT_COUNT } sal_synth_split;

/* "shapes", "lesions", "pairs"; NULL when out of range. */
const char *sal_synth_family_name(sal_synth_family f);
/* The family called name; BAD_INPUT (listing the families) when there is none. */
sal_status sal_synth_family_from_name(sal_ctx *ctx, const char *name, sal_synth_family *out);
/* "train", "val", "test"; NULL when out of range. */
const char *sal_synth_split_name(sal_synth_split s);
/* Number of classes of a family (10 for shapes and pairs, 5 for lesions); 0 when out of range. */
int sal_synth_num_classes(sal_synth_family f);
/* Name of class k of family f ("circle", "spiculated"); NULL when out of range. */
const char *sal_synth_class_name(sal_synth_family f, int k);

typedef struct sal_synth_params {
  sal_synth_family family;
  uint64_t seed;
  int64_t size;                           /* image side in pixels, SAL_SYNTH_MIN_SIZE..MAX_SIZE */
  int64_t count[SAL_SYNTH_SPLIT_COUNT];   /* images per split (train, val, test), each 0..MAX_COUNT */
  /* Object size s = sqrt(object area) / image side, drawn uniformly in [size_min, size_max]
   * independently of the class (docs/synth.md explains why area, not extent). */
  double size_min, size_max;
  int threads;   /* concurrent workers for sal_synth_generate; 0 = automatic (docs/synth.md) */
  bool preview;  /* also write preview.png: up to 8 x 8 training images with masks outlined */
  bool force;    /* write into a non-empty output directory (existing files are overwritten) */
  /* Counterfactual rendering: the same scene (background, clutter, noise, every random draw) with
   * the objects left unpainted; labels, masks and boxes still say where they would be. Used to
   * show that a model's evidence is the object (docs/training.md). */
  bool omit_objects;
} sal_synth_params;

/* The documented defaults for a family: seed 0, size 64, 20 000 / 1 000 / 2 000 images, the
 * family's size range, automatic threads, no preview, no force. */
sal_synth_params sal_synth_params_default(sal_synth_family f);

/* One rendered image with its objects. Owned by the caller: free with sal_synth_sample_free. */
typedef struct sal_synth_sample {
  sal_image *image;                           /* size x size, 3 channels (shapes, pairs) or 1 (lesions), 8-bit */
  int n_objects;                              /* 1, or 2 for pairs */
  int label[SAL_SYNTH_MAX_OBJECTS];           /* class index of each object */
  int64_t box[SAL_SYNTH_MAX_OBJECTS][4];      /* x0 y0 x1 y1: pixel edges of the mask's bounding box (x1, y1 exclusive) */
  sal_image *mask[SAL_SYNTH_MAX_OBJECTS];     /* 1 channel, 8-bit, 0 or 255: pixels whose coverage by the object is >= 1/2 */
  double size[SAL_SYNTH_MAX_OBJECTS];         /* the drawn size s of each object (see sal_synth_params) */
} sal_synth_sample;

/* Renders image `index` of `split` as sal_synth_generate would write it (p->count, threads,
 * preview and force are not used). BAD_INPUT for a size, size range or index out of range. */
sal_status sal_synth_render(sal_ctx *ctx, const sal_synth_params *p, sal_synth_split split, int64_t index,
                            sal_synth_sample *out);
/* Frees the images of s and zeroes it; NULL or a zeroed sample is a no-op. */
void sal_synth_sample_free(sal_synth_sample *s);

/* Writes the dataset under dir (created if missing):
 *   images/<split>/<index>.png, masks/<split>/<index>.png (pairs: <index>_0.png, <index>_1.png),
 *   train.csv, val.csv, test.csv (header path,label,boxes,masks; paths relative to dir),
 *   classes.txt, synth.json and, with p->preview, preview.png.
 * Every file is written to a temporary name and renamed; synth.json is written last, so its
 * presence marks a complete dataset. A non-empty dir is refused (BAD_INPUT) unless p->force.
 * IO errors name the path. */
sal_status sal_synth_generate(sal_ctx *ctx, const sal_synth_params *p, const char *dir);

#ifdef __cplusplus
}
#endif
#endif
