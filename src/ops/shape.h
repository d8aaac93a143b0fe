/* Internal interface of the shape op family (Flatten, Reshape, Transpose, Concat, Split, Slice,
 * Pad, Resize): readers for integer arguments given as attributes or constant inputs, and the
 * parameter parsers shared by the shape rules (src/ops/<op>.c) and the reference kernels
 * (src/kernels/ref/<op>.c), so that both read a node the same way. */
#ifndef SAL_OPS_SHAPE_H
#define SAL_OPS_SHAPE_H

#include "graph/internal.h"

/* Most integers any shape-family argument holds (Pad: 2 per dim; Split: one per output). */
#define SAL__MAX_ARGS 16

/* Reads constant input i of n — `what` names its role ("shape", "pads") — as integers into
 * out[0..*count). An omitted input (or one with no elements) gives *count = -1 and OK.
 * Errors name the node: a computed (non-parameter) input is UNSUPPORTED; more than `cap`
 * elements or a rank above 1 is SHAPE; a non-integer or NaN is BAD_INPUT; a value outside
 * [lo, hi] is BAD_INPUT unless `clamp`, which clamps it instead (Slice uses INT64_MAX for "to
 * the end", which reaches us as the float 9.2e18). */
sal_status sal__const_ints(sal_ctx *ctx, const sal_graph *g, const sal_node *n, int i, const char *what,
                           int64_t lo, int64_t hi, bool clamp, int64_t *out, int cap, int *count);
/* Same for real values (Resize's scales, Pad's constant_value); non-finite values are BAD_INPUT. */
sal_status sal__const_floats(sal_ctx *ctx, const sal_graph *g, const sal_node *n, int i, const char *what,
                             float *out, int cap, int *count);
/* Reads an ints attribute into out[0..*count) (at most cap; absent: *count = -1). */
sal_status sal__attr_ints_copy(sal_ctx *ctx, const sal_node *n, const char *name, int64_t *out, int cap,
                               int *count);
/* Normalises an axis (negative counts from the end) into [0, rank); what names it in errors. */
sal_status sal__norm_axis(sal_ctx *ctx, const sal_node *n, const char *what, int64_t axis, int rank, int *out);

/* Transpose: output dim i is input dim perm[i]. */
typedef struct sal__transpose_params {
  int perm[SAL_MAX_DIMS];
} sal__transpose_params;
sal_status sal__transpose_parse(sal_ctx *ctx, const sal_node *n, int rank, sal__transpose_params *p);

/* Concat and Split: the axis they join / cut along, normalised. */
sal_status sal__concat_axis(sal_ctx *ctx, const sal_node *n, int rank, int *axis);
sal_status sal__split_axis(sal_ctx *ctx, const sal_node *n, int rank, int *axis);

/* Slice: output element o reads input element start[d] + o[d]*step[d] along each dim d. */
typedef struct sal__slice_params {
  int64_t start[SAL_MAX_DIMS], step[SAL_MAX_DIMS];
  sal_shape out;
} sal__slice_params;
sal_status sal__slice_parse(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                            sal__slice_params *p);

/* Pad: along dim d the input is first cropped to [crop_lo, crop_lo + extent) (negative pads),
 * then pad_lo elements are added before and out.d[d] - extent - pad_lo after. */
typedef enum sal__pad_mode { SAL__PAD_CONSTANT, SAL__PAD_REFLECT, SAL__PAD_EDGE } sal__pad_mode;
typedef struct sal__pad_params {
  sal__pad_mode mode;
  float value;
  int64_t crop_lo[SAL_MAX_DIMS], extent[SAL_MAX_DIMS], pad_lo[SAL_MAX_DIMS];
  sal_shape out;
} sal__pad_params;
sal_status sal__pad_parse(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                          sal__pad_params *p);

/* Resize. scale[d] is the factor the coordinate transform divides by: the given scale, or
 * out/in when sizes were given (ONNX Resize-13 "scales ... or computed from sizes"). */
typedef enum sal__resize_mode { SAL__RESIZE_NEAREST, SAL__RESIZE_LINEAR, SAL__RESIZE_CUBIC } sal__resize_mode;
typedef enum sal__resize_coord {
  SAL__COORD_HALF_PIXEL,
  SAL__COORD_PYTORCH_HALF_PIXEL,
  SAL__COORD_ALIGN_CORNERS,
  SAL__COORD_ASYMMETRIC,
  SAL__COORD_TF_HALF_PIXEL_FOR_NN
} sal__resize_coord;
typedef enum sal__resize_round {
  SAL__ROUND_PREFER_FLOOR,
  SAL__ROUND_PREFER_CEIL,
  SAL__ROUND_FLOOR,
  SAL__ROUND_CEIL
} sal__resize_round;
typedef struct sal__resize_params {
  sal__resize_mode mode;
  sal__resize_coord coord;
  sal__resize_round round;
  float cubic_a;
  bool exclude_outside;
  double scale[SAL_MAX_DIMS];
  sal_shape out;
} sal__resize_params;
sal_status sal__resize_parse(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                             sal__resize_params *p);

#endif
