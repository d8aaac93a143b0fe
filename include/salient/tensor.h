/* salient tensors: f32, up to 5 dimensions in PyTorch/ONNX order (NCHW), owned or borrowed
 * storage; .npy read and write. */
#ifndef SALIENT_TENSOR_H
#define SALIENT_TENSOR_H

#include "salient/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SAL_MAX_DIMS 5

typedef struct sal_shape {
  int ndim;
  int64_t d[SAL_MAX_DIMS];
} sal_shape;

/* Memory layout of a tensor's data. Public tensors are always PLAIN (row-major in shape order);
 * BLOCKED16 (oneDNN nChw16c) exists only inside plans. */
typedef enum sal_layout { SAL_LAYOUT_PLAIN = 0, SAL_LAYOUT_BLOCKED16 = 1 } sal_layout;

typedef struct sal_tensor {
  sal_shape shape;
  float *data;
  sal_layout layout;
  bool owns_data; /* true: sal_tensor_free frees data */
} sal_tensor;

/* Builds a shape; returns false if ndim is out of 0..SAL_MAX_DIMS or a dim is negative. */
bool sal_shape_make(sal_shape *s, int ndim, const int64_t *dims);
/* Number of elements; -1 if it overflows int64 or any dim is negative. */
int64_t sal_shape_numel(const sal_shape *s);
bool sal_shape_equal(const sal_shape *a, const sal_shape *b);
/* Formats "(2, 3, 224, 224)" into buf; returns buf. */
char *sal_shape_str(const sal_shape *s, char *buf, size_t n);

/* New zero-filled tensor that owns its data. Errors: BAD_INPUT for a bad shape, OUT_OF_MEMORY.
 * Free with sal_tensor_free. */
sal_status sal_tensor_new(sal_ctx *ctx, int ndim, const int64_t *dims, sal_tensor **out);
/* New tensor borrowing data (not freed by sal_tensor_free; must outlive the tensor). */
sal_status sal_tensor_wrap(sal_ctx *ctx, int ndim, const int64_t *dims, float *data, sal_tensor **out);
/* Deep copy (always owning). */
sal_status sal_tensor_clone(sal_ctx *ctx, const sal_tensor *t, sal_tensor **out);
void sal_tensor_free(sal_tensor *t);
static inline int64_t sal_tensor_numel(const sal_tensor *t) { return sal_shape_numel(&t->shape); }

/* .npy (format 1.0/2.0/3.0, little-endian '<f4', '<f8', '<i4' or '<i8' (converted to f32), C order)
 * read and write. sal_npy_read: errors name the file; malformed or truncated files are BAD_INPUT;
 * other dtypes, Fortran order and more than SAL_MAX_DIMS dimensions are UNSUPPORTED; a missing file
 * is NOT_FOUND. sal_npy_write writes format 1.0 '<f4' to "<path>.tmp.<pid>" and renames it over
 * path (the temporary is removed on failure). */
sal_status sal_npy_read(sal_ctx *ctx, const char *path, sal_tensor **out);
sal_status sal_npy_write(sal_ctx *ctx, const char *path, const sal_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
