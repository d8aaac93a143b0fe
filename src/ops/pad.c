/* Pad: constant, reflect and edge padding, with negative pads cropping. Shape rule, the parser
 * shared with the reference kernel (src/kernels/ref/pad.c), and the definition. */
#include "ops/shape.h"

#include <math.h>
#include <string.h>

/* ONNX Pad-18 (and the attribute forms of Pad-2): pads is [x1_begin, x2_begin, ..., x1_end,
 * x2_end] over all dims, or over `axes` (input 3) when given. Negative pads remove elements; as
 * in onnxruntime, a dim is cropped first and reflect/edge then read the cropped data. */
sal_status sal__pad_parse(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                          sal__pad_params *p) {
  const char *mode;
  sal_status st = sal__attr_string(ctx, n, "mode", "constant", &mode);
  if (st) return st;
  if (strcmp(mode, "constant") == 0) p->mode = SAL__PAD_CONSTANT;
  else if (strcmp(mode, "reflect") == 0) p->mode = SAL__PAD_REFLECT;
  else if (strcmp(mode, "edge") == 0) p->mode = SAL__PAD_EDGE;
  else if (strcmp(mode, "wrap") == 0)
    return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED, "mode 'wrap' is not supported (constant, reflect, edge are)");
  else
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "unknown mode '%s' (constant, reflect, edge)", mode);

  int r = in->ndim;
  if (r == 0) return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "cannot pad a scalar (rank 0)");
  int64_t pads[SAL__MAX_ARGS];
  int np;
  bool has_input = n->n_in > 1 && n->in[1] >= 0;
  st = sal__attr_ints_copy(ctx, n, "pads", pads, SAL__MAX_ARGS, &np);
  if (st) return st;
  if (np >= 0 && has_input)
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "pads is given both as an attribute and as input 1");
  if (np >= 0) {
    for (int i = 0; i < np; i++)
      if (pads[i] < -INT32_MAX || pads[i] > INT32_MAX)
        return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "pads[%d] = %lld is outside -2^31..2^31", i,
                             (long long)pads[i]);
  } else {
    st = sal__const_ints(ctx, g, n, 1, "pads", -INT32_MAX, INT32_MAX, false, pads, SAL__MAX_ARGS, &np);
    if (st) return st;
    if (np < 0)
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "pads is required (input 1, or an attribute before opset 11)");
  }

  /* The pad value: input 2 (opset >= 11) or attribute 'value' (before); NaN marks "absent". */
  float attr_value;
  int nv;
  st = sal__attr_float(ctx, n, "value", NAN, &attr_value);
  if (st) return st;
  st = sal__const_floats(ctx, g, n, 2, "constant_value", &p->value, 1, &nv);
  if (st) return st;
  if (nv >= 0 && !isnan(attr_value))
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "the pad value is given both as an attribute and as input 2");
  if (nv < 0) p->value = isnan(attr_value) ? 0.0f : attr_value;

  int64_t axes_raw[SAL__MAX_ARGS];
  int na;
  st = sal__const_ints(ctx, g, n, 3, "axes", -SAL_MAX_DIMS, SAL_MAX_DIMS, false, axes_raw, SAL__MAX_ARGS, &na);
  if (st) return st;
  int axes[SAL_MAX_DIMS];
  if (na < 0) {
    na = r;
    for (int i = 0; i < r; i++) axes[i] = i;
  } else {
    if (na > r) return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "%d axes for an input of rank %d", na, r);
    bool seen[SAL_MAX_DIMS] = {false};
    for (int i = 0; i < na; i++) {
      st = sal__norm_axis(ctx, n, "axes entry", axes_raw[i], r, &axes[i]);
      if (st) return st;
      if (seen[axes[i]]) return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "axes lists axis %d twice", axes[i]);
      seen[axes[i]] = true;
    }
  }
  if (np != 2 * na)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "pads has %d values, expected %d (2 per padded axis)", np, 2 * na);

  char s[96];
  p->out = *in;
  for (int d = 0; d < r; d++) {
    p->crop_lo[d] = 0;
    p->extent[d] = in->d[d];
    p->pad_lo[d] = 0;
  }
  for (int i = 0; i < na; i++) {
    int d = axes[i];
    int64_t b = pads[i], e = pads[i + na], dim = in->d[d];
    int64_t crop_lo = b < 0 ? -b : 0, crop_hi = e < 0 ? -e : 0;
    int64_t pad_lo = b > 0 ? b : 0, pad_hi = e > 0 ? e : 0;
    int64_t extent = dim - crop_lo - crop_hi;
    if (extent < 0)
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "pads (%lld, %lld) on axis %d crop more than the %lld elements of input %s",
                           (long long)b, (long long)e, d, (long long)dim, sal_shape_str(in, s, sizeof s));
    if (p->mode == SAL__PAD_EDGE && extent == 0 && pad_lo + pad_hi > 0)
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "edge padding of axis %d needs at least one element, input %s has none left",
                           d, sal_shape_str(in, s, sizeof s));
    /* Reflection without repeating the edge needs pad < extent on each side (PyTorch's rule too). */
    if (p->mode == SAL__PAD_REFLECT && (pad_lo >= extent || pad_hi >= extent) && pad_lo + pad_hi > 0)
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "reflect pads (%lld, %lld) on axis %d must be smaller than the %lld elements left of input %s",
                           (long long)pad_lo, (long long)pad_hi, d, (long long)extent, sal_shape_str(in, s, sizeof s));
    p->crop_lo[d] = crop_lo;
    p->extent[d] = extent;
    p->pad_lo[d] = pad_lo;
    p->out.d[d] = extent + pad_lo + pad_hi;
  }
  return SAL_STATUS_OK;
}

static sal_status infer_pad(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                            sal_shape *out) {
  sal__pad_params p;
  sal_status st = sal__pad_parse(ctx, g, n, &in[0], &p);
  if (st) return st;
  out[0] = p.out;
  return SAL_STATUS_OK;
}

/* constant_value and axes are constants; pads too. The gradient for x only. */
const sal_op_def sal__op_pad = {.name = "Pad", .min_in = 1, .max_in = 4, .min_out = 1, .max_out = 1,
                                .infer = infer_pad, .nograd_inputs = 0xeu};
