/* Resize: nearest, (bi)linear and cubic resampling with ONNX's coordinate transformation modes.
 * Shape rule, the parser shared with the reference kernel (src/kernels/ref/resize.c), and the
 * definition. */
#include "ops/shape.h"

#include <math.h>
#include <string.h>

typedef struct name_code {
  const char *name;
  int code;
} name_code;

static const name_code modes[] = {
    {"nearest", SAL__RESIZE_NEAREST}, {"linear", SAL__RESIZE_LINEAR}, {"cubic", SAL__RESIZE_CUBIC}, {NULL, 0}};
static const name_code coords[] = {{"half_pixel", SAL__COORD_HALF_PIXEL},
                                   {"pytorch_half_pixel", SAL__COORD_PYTORCH_HALF_PIXEL},
                                   {"align_corners", SAL__COORD_ALIGN_CORNERS},
                                   {"asymmetric", SAL__COORD_ASYMMETRIC},
                                   {"tf_half_pixel_for_nn", SAL__COORD_TF_HALF_PIXEL_FOR_NN},
                                   {NULL, 0}};
static const name_code rounds[] = {{"round_prefer_floor", SAL__ROUND_PREFER_FLOOR},
                                   {"round_prefer_ceil", SAL__ROUND_PREFER_CEIL},
                                   {"floor", SAL__ROUND_FLOOR},
                                   {"ceil", SAL__ROUND_CEIL},
                                   {NULL, 0}};

/* Looks up a string attribute in a table; an unknown value is BAD_INPUT listing the known ones. */
static sal_status attr_enum(sal_ctx *ctx, const sal_node *n, const char *name, const char *def,
                            const name_code *table, int *out) {
  const char *v;
  sal_status st = sal__attr_string(ctx, n, name, def, &v);
  if (st) return st;
  for (int i = 0; table[i].name; i++)
    if (strcmp(v, table[i].name) == 0) {
      *out = table[i].code;
      return SAL_STATUS_OK;
    }
  if (strcmp(name, "coordinate_transformation_mode") == 0 && strcmp(v, "tf_crop_and_resize") == 0)
    return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED,
                         "coordinate_transformation_mode 'tf_crop_and_resize' (roi cropping) is not supported");
  char known[160] = "";
  for (int i = 0; table[i].name; i++) {
    if (i) strncat(known, ", ", sizeof known - strlen(known) - 1);
    strncat(known, table[i].name, sizeof known - strlen(known) - 1);
  }
  return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "unknown %s '%s' (known: %s)", name, v, known);
}

/* ONNX Resize-10..18. Inputs: (X, scales) at opset 10; (X, roi, scales[, sizes]) from opset 11,
 * exactly one of scales and sizes given (a constant; an empty tensor counts as absent). Opset 10
 * has no coordinate attributes: its form defaults to asymmetric coordinates and, for nearest,
 * floor rounding (what PyTorch's exporter meant by it). */
sal_status sal__resize_parse(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                             sal__resize_params *p) {
  bool opset10 = n->n_in == 2;
  int code;
  sal_status st = attr_enum(ctx, n, "mode", "nearest", modes, &code);
  if (st) return st;
  p->mode = (sal__resize_mode)code;
  st = attr_enum(ctx, n, "coordinate_transformation_mode", opset10 ? "asymmetric" : "half_pixel", coords, &code);
  if (st) return st;
  p->coord = (sal__resize_coord)code;
  st = attr_enum(ctx, n, "nearest_mode", opset10 ? "floor" : "round_prefer_floor", rounds, &code);
  if (st) return st;
  p->round = (sal__resize_round)code;
  int64_t excl, antialias;
  const char *policy;
  if ((st = sal__attr_float(ctx, n, "cubic_coeff_a", -0.75f, &p->cubic_a)) ||
      (st = sal__attr_int(ctx, n, "exclude_outside", 0, &excl)) ||
      (st = sal__attr_int(ctx, n, "antialias", 0, &antialias)) ||
      (st = sal__attr_string(ctx, n, "keep_aspect_ratio_policy", "stretch", &policy)))
    return st;
  if (excl != 0 && excl != 1)
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "exclude_outside must be 0 or 1, got %lld", (long long)excl);
  p->exclude_outside = excl == 1;
  if (antialias != 0)
    return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED, "antialias = %lld is not supported", (long long)antialias);
  if (strcmp(policy, "stretch") != 0)
    return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED, "keep_aspect_ratio_policy '%s' is not supported (only 'stretch')",
                         policy);

  int r = in->ndim;
  char s[96];
  if (r == 0) return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "cannot resize a scalar (rank 0)");
  float scales[SAL__MAX_ARGS];
  int64_t sizes[SAL__MAX_ARGS];
  int ns = -1, nz = -1;
  st = sal__const_floats(ctx, g, n, opset10 ? 1 : 2, "scales", scales, SAL__MAX_ARGS, &ns);
  if (st) return st;
  if (!opset10) {
    st = sal__const_ints(ctx, g, n, 3, "sizes", 1, INT32_MAX, false, sizes, SAL__MAX_ARGS, &nz);
    if (st) return st;
  }
  if (ns >= 0 && nz >= 0)
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "both scales and sizes are given; exactly one is allowed");
  if (ns < 0 && nz < 0)
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT,
                         opset10 ? "scales (input 1) is required" : "one of scales (input 2) and sizes (input 3) is required");
  int cnt = ns >= 0 ? ns : nz;

  /* Opset 18's axes: scales/sizes then cover only those axes; the others keep their size. */
  int64_t axes_raw[SAL__MAX_ARGS];
  int na;
  st = sal__attr_ints_copy(ctx, n, "axes", axes_raw, SAL__MAX_ARGS, &na);
  if (st) return st;
  int axes[SAL__MAX_ARGS];
  if (na < 0) {
    if (cnt != r)
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "%s has %d values for input %s of rank %d",
                           ns >= 0 ? "scales" : "sizes", cnt, sal_shape_str(in, s, sizeof s), r);
    for (int i = 0; i < r; i++) axes[i] = i;
  } else {
    if (na != cnt)
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "%s has %d values for %d axes", ns >= 0 ? "scales" : "sizes", cnt, na);
    bool seen[SAL_MAX_DIMS] = {false};
    for (int i = 0; i < na; i++) {
      st = sal__norm_axis(ctx, n, "axes entry", axes_raw[i], r, &axes[i]);
      if (st) return st;
      if (seen[axes[i]]) return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "axes lists axis %d twice", axes[i]);
      seen[axes[i]] = true;
    }
  }

  p->out = *in;
  for (int d = 0; d < r; d++) p->scale[d] = 1.0;
  for (int i = 0; i < cnt; i++) {
    int d = axes[i];
    int64_t dim = in->d[d];
    if (dim == 0)
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "axis %d of input %s is empty", d, sal_shape_str(in, s, sizeof s));
    if (ns >= 0) {
      if (!(scales[i] > 0.0f))
        return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "scales[%d] = %g must be positive", i, scales[i]);
      /* ONNX: output_dimension = floor(input_dimension * scale). */
      double o = floor((double)dim * (double)scales[i]);
      if (o < 1.0 || o > (double)INT32_MAX)
        return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "scale %g on axis %d of input %s gives %.0f elements", scales[i],
                             d, sal_shape_str(in, s, sizeof s), o);
      p->out.d[d] = (int64_t)o;
      p->scale[d] = (double)scales[i];
    } else {
      p->out.d[d] = sizes[i];
      p->scale[d] = (double)sizes[i] / (double)dim;
    }
  }
  /* Linear and cubic interpolate over the last two dims only (bilinear / bicubic over H, W). */
  if (p->mode != SAL__RESIZE_NEAREST)
    for (int d = 0; d < r - 2; d++)
      if (p->out.d[d] != in->d[d] || p->scale[d] != 1.0)
        return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED,
                             "%s mode resizes only the last two axes; axis %d of input %s has scale %g",
                             p->mode == SAL__RESIZE_LINEAR ? "linear" : "cubic", d, sal_shape_str(in, s, sizeof s),
                             p->scale[d]);
  return SAL_STATUS_OK;
}

static sal_status infer_resize(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                               sal_shape *out) {
  sal__resize_params p;
  sal_status st = sal__resize_parse(ctx, g, n, &in[0], &p);
  if (st) return st;
  out[0] = p.out;
  return SAL_STATUS_OK;
}

/* roi, scales and sizes are constants: the gradient flows to X only. */
const sal_op_def sal__op_resize = {.name = "Resize", .min_in = 2, .max_in = 4, .min_out = 1, .max_out = 1,
                                   .infer = infer_resize, .nograd_inputs = 0xeu};
