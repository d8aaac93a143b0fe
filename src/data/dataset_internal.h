/* Internal pieces shared by the dataset readers (dataset.c: folder and CSV manifest; voc.c: Pascal
 * VOC XML): the dataset builder and path helpers. */
#ifndef SAL_DATA_DATASET_INTERNAL_H
#define SAL_DATA_DATASET_INTERNAL_H

#include "salient/dataset.h"

#include "core/internal.h"

typedef struct sal__ds_builder {
  sal_ctx *ctx;
  sal_dataset *ds; /* being filled; freed by the caller on error */
  int64_t items_cap, classes_cap;
} sal__ds_builder;

sal_status sal__ds_new(sal_ctx *ctx, const char *source, sal__ds_builder *b);
/* Appends an item with n_objects zeroed objects; *out points into the item array (valid until
 * the next add). */
sal_status sal__ds_add_item(sal__ds_builder *b, const char *path, int n_objects, sal_item **out);
sal_status sal__ds_add_class(sal__ds_builder *b, const char *name);
/* Reads a class list (one name per line, or ImageNet "nXXXXXXXX description" lines). */
sal_status sal__ds_read_classes(sal__ds_builder *b, const char *path);
/* Adds the distinct names of names[0..n) as classes in sorted byte order (reorders names). */
sal_status sal__ds_classes_from_names(sal__ds_builder *b, char **names, int64_t n);
/* Pascal VOC annotation directory → items (voc.c). */
sal_status sal__ds_open_voc(sal__ds_builder *b, const char *dir, const sal_dataset_opts *o);

/* A sorted list of names (directory entries). */
typedef struct sal__name_list {
  char **v;
  int64_t n, cap;
} sal__name_list;
void sal__name_list_free(sal__name_list *l);
/* The entries of dir except "." and "..", sorted by byte value. Errors name dir. */
sal_status sal__list_dir(sal_ctx *ctx, const char *dir, sal__name_list *out);

/* dir + "/" + rel (rel unchanged when absolute or dir empty); sal_alloc'd. */
char *sal__path_join(sal_ctx *ctx, const char *dir, const char *rel);
/* The directory part of path ("." when none); sal_alloc'd. */
char *sal__path_dir(sal_ctx *ctx, const char *path);

#endif
