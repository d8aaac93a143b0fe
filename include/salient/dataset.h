/* salient datasets: lists of labelled images with their ground truth (boxes, masks), read from an
 * image folder (one subfolder per class), a CSV manifest or Pascal VOC XML annotations; with
 * deterministic shuffling and sharding. Decoding and preprocessing happen in the loader. */
#ifndef SALIENT_DATASET_H
#define SALIENT_DATASET_H

#include "salient/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A box in continuous pixel coordinates of the original image: pixel (i, j) covers
 * [i, i+1) × [j, j+1); x runs along the width. x0 < x1, y0 < y1. */
typedef struct sal_box {
  float x0, y0, x1, y1;
} sal_box;

/* One annotated object. */
typedef struct sal_object {
  int64_t label;   /* class index */
  bool has_box;
  sal_box box;
  char *mask_path; /* ground-truth mask image (nonzero = object), absolute or relative to the cwd; NULL = none */
} sal_object;

typedef struct sal_item {
  char *path;          /* image path, resolved against the dataset's root (usable as is) */
  int64_t label;       /* the image's class: the first object's label */
  int n_objects;       /* ≥ 1; several for multi-object images (boxes / masks in label order) */
  sal_object *objects;
} sal_item;

typedef struct sal_dataset {
  int64_t n_items;
  sal_item *items;
  int64_t n_classes;
  char **class_names; /* n_classes names (index order); owned */
  char *source;       /* what was read: the manifest, folder or annotation directory */
  int64_t n_skipped;  /* with sal_dataset_opts.skip_bad_rows: the manifest rows left out */
  char **skipped;     /* their "PATH:LINE: why" messages (owned) */
} sal_dataset;

/* Options. A zero-initialised struct (or NULL) gives the defaults. */
typedef struct sal_dataset_opts {
  /* Class names file (one name per line; for VOC/ImageNet also "synset description" lines, the
   * first word being the name). NULL: "classes.txt" beside a manifest when it exists. */
  const char *classes_path;
  /* VOC: directory of the images (NULL = the annotation directory's sibling "JPEGImages" when it
   * exists, else the annotation directory itself). */
  const char *image_dir;
  /* VOC: coordinates are 0-based instead of the Pascal VOC devkit's 1-based inclusive pixels. */
  bool voc_zero_based;
  int64_t max_items; /* stop after this many items; 0 = no limit */
  /* CSV manifests: a malformed row (field count, path, label, box, mask list) is left out and its
   * message kept in skipped[] instead of failing the whole open; the file-level errors (header,
   * quoting, no rows at all) still fail. */
  bool skip_bad_rows;
} sal_dataset_opts;

/* Opens a dataset:
 *  - a directory with class subfolders → image folder: classes are the subfolder names sorted by
 *    byte value, images are the files with an image extension (.png .jpg .jpeg .ppm .bmp .pgm
 *    .tif .tiff .webp, any case) found recursively, sorted, as torchvision's ImageFolder does;
 *  - a ".csv" file → manifest `path,label[,boxes][,masks]` (header optional; RFC 4180 quoting;
 *    labels are indices or class names; boxes "x0 y0 x1 y1;…"; masks "a.png;b.png"; several labels
 *    separated by ';' pair with boxes/masks in order; paths are relative to the manifest);
 *  - a directory of ".xml" files → Pascal VOC annotations (ImageNet validation boxes use this
 *    format), classes from opts->classes_path (required) or from the names in order of appearance.
 * Errors name the file and line/element: BAD_INPUT for malformed entries, NOT_FOUND for missing
 * paths. Free with sal_dataset_free. */
sal_status sal_dataset_open(sal_ctx *ctx, const char *path, const sal_dataset_opts *opts, sal_dataset **out);
void sal_dataset_free(sal_dataset *ds);

/* Index of a class name, or -1. */
int64_t sal_dataset_class_index(const sal_dataset *ds, const char *name);

/* The items of part `part` of `parts` (0 <= part < parts) for epoch `epoch`: when shuffle, a
 * permutation of all items drawn from (seed, epoch) — the same on every machine and thread count —
 * else the file order; item k of that order belongs to part k mod parts. *idx_out (free with
 * sal_free) receives the part's item indices in order, *n_out their number. */
sal_status sal_dataset_order(sal_ctx *ctx, const sal_dataset *ds, uint64_t seed, int64_t epoch, bool shuffle,
                             int part, int parts, int64_t **idx_out, int64_t *n_out);

#ifdef __cplusplus
}
#endif
#endif
