/* oneDNN kernel for Resize on 4-D tensors: resampling forward and backward primitives created
 * once in prepare, chosen by plans over src/kernels/ref/resize.c where oneDNN computes the same
 * map (anything else keeps the reference kernel).
 *
 * oneDNN's map (developer guide "Resampling"; cpu/resampling_utils.hpp): along an axis of in ->
 * out elements, output index o reads the source coordinate s = (o + 0.5) * in/out - 0.5, ONNX's
 * half_pixel transform with the scale out/in. Nearest takes roundf(s), i.e. floor((2o+1)*in /
 * (2*out)) with ties upward; linear takes the taps floor(s) and ceil(s), clamped to the edges, with
 * weights 1 - frac(s) and frac(s), which is ONNX's edge-replicating linear interpolation. So a node
 * is accepted only when:
 *   - N and C keep their size with scale 1 (oneDNN resamples the spatial dims only);
 *   - the scales of H and W are exactly out/in: ONNX divides by the given scale, which differs
 *     when floor(in * scale) is not in * scale (e.g. 5 * 1.5 -> 7);
 *   - linear: coordinate mode half_pixel, or pytorch_half_pixel with more than one output
 *     element on both axes (the two agree then). align_corners, asymmetric and the nearest-only
 *     tf_half_pixel_for_nn are declined;
 *   - nearest: any coordinate mode and rounding rule whose index map, computed exactly in
 *     integers (nearest_agrees), is oneDNN's on both axes: half_pixel with round_prefer_ceil
 *     always, round_prefer_floor when no output lands on a tie, asymmetric with floor (PyTorch's
 *     export of mode 'nearest') for integer upsampling factors, ...;
 *   - cubic: never (oneDNN has no cubic resampling). exclude_outside does not matter for
 *     nearest and linear: the taps it drops past an edge are, clamped, the edge sample itself;
 *   - 2*in*out < 2^24 on each axis, so that oneDNN's float index arithmetic is exact at ties and
 *     never crosses an integer elsewhere.
 * The tests compare both kernels over these cases (tests/test_dnnl_shape.c).
 *
 * Layouts: oneDNN 2.6 resamples nchw -> nchw and nChw16c -> nChw16c in jit code (backward on
 * nchw: "simple:any") but mixed pairs only in "ref:any" (measured), so both primitives run in one
 * layout, that of the larger of x and y: the port's reorder (kernels/dnnl/util.h) then moves the
 * smaller tensor. */
#include "kernels/dnnl/util.h"
#include "ops/shape.h"

typedef struct dnnl_resize {
  sal_dnnl_res r;
  char impl[128];
  sal_dnnl_prim fwd, bwd;
  bool has_bwd;
  sal_dnnl_port src, dst, ddst, dsrc;
} dnnl_resize;
SAL_DNNL_STATE_CHECK(dnnl_resize);

static int64_t gcd64(int64_t a, int64_t b) {
  while (b) {
    int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* floor(p / q) for q > 0. */
static int64_t floor_div(int64_t p, int64_t q) {
  int64_t d = p / q;
  return (p % q != 0 && p < 0) ? d - 1 : d;
}

/* True when the reference kernel's nearest index (ONNX coordinate transform, then rounding rule,
 * clamped to [0, in)) equals oneDNN's floor((2o+1)*in / (2*out)) for every output index o of an
 * axis of in -> out elements. The reference's coordinate is the rational x = P/Q below. It is
 * computed in double there, which is exact where the rounding rule is decided (x an integer for
 * floor and ceil, x + 0.5 one for the round_prefer rules) provided its scale out/in is exact in
 * binary (reduced denominator a power of 2); with another scale such a point may round either
 * way, so the node is declined. align_corners and a single pytorch_half_pixel output do not use
 * the scale. */
static bool nearest_agrees(const sal__resize_params *p, int64_t in, int64_t out) {
  int64_t den = in / gcd64(in, out);
  bool scale_exact = (den & (den - 1)) == 0;
  for (int64_t o = 0; o < out; o++) {
    int64_t P, Q;
    bool uses_scale = true;
    switch (p->coord) {
      case SAL__COORD_ALIGN_CORNERS:
        P = out > 1 ? o * (in - 1) : 0;
        Q = out > 1 ? out - 1 : 1;
        uses_scale = false;
        break;
      case SAL__COORD_ASYMMETRIC: P = o * in, Q = out; break;
      case SAL__COORD_TF_HALF_PIXEL_FOR_NN: P = (2 * o + 1) * in, Q = 2 * out; break;
      case SAL__COORD_PYTORCH_HALF_PIXEL:
        if (out == 1) {
          P = 0, Q = 1;
          uses_scale = false;
          break;
        }
        P = (2 * o + 1) * in - out, Q = 2 * out; /* = half_pixel */
        break;
      default: P = (2 * o + 1) * in - out, Q = 2 * out; break; /* half_pixel: (o + 0.5) in/out - 0.5 */
    }
    int64_t f = floor_div(P, Q), rem = P - f * Q; /* x = f + rem/Q, 0 <= rem < Q */
    int64_t idx;
    bool decided_at_boundary;
    switch (p->round) {
      case SAL__ROUND_FLOOR: idx = f, decided_at_boundary = rem == 0; break;
      case SAL__ROUND_CEIL: idx = f + (rem > 0), decided_at_boundary = rem == 0; break;
      case SAL__ROUND_PREFER_CEIL: idx = f + (2 * rem >= Q), decided_at_boundary = 2 * rem == Q; break;
      default: idx = f + (2 * rem > Q), decided_at_boundary = 2 * rem == Q; break; /* round_prefer_floor */
    }
    if (decided_at_boundary && uses_scale && !scale_exact) return false;
    idx = idx < 0 ? 0 : (idx >= in ? in - 1 : idx);
    if (idx != (2 * o + 1) * in / (2 * out)) return false;
  }
  return true;
}

/* The oneDNN algorithm for node k, or false when the kernel declines it (see the top). */
static bool resize_alg(const sal_kctx *k, dnnl_alg_kind_t *alg) {
  const sal_shape *x = &k->in[0]->shape;
  sal__resize_params p;
  if (x->ndim != 4 || sal_shape_numel(x) <= 0 || sal__resize_parse(k->ctx, k->graph, k->node, x, &p)) return false;
  if (p.mode == SAL__RESIZE_CUBIC) return false;
  for (int d = 0; d < 2; d++)
    if (p.out.d[d] != x->d[d] || p.scale[d] != 1.0) return false;
  for (int d = 2; d < 4; d++) {
    int64_t in = x->d[d], out = p.out.d[d];
    if (in > (1 << 24) || out > (1 << 24) || 2 * in * out >= (1 << 24)) return false;
    if (p.scale[d] != (double)out / (double)in) return false;
    if (p.mode == SAL__RESIZE_LINEAR) {
      bool half = p.coord == SAL__COORD_HALF_PIXEL || (p.coord == SAL__COORD_PYTORCH_HALF_PIXEL && out > 1);
      if (!half) return false;
    } else if (!nearest_agrees(&p, in, out)) {
      return false;
    }
  }
  *alg = p.mode == SAL__RESIZE_LINEAR ? dnnl_resampling_linear : dnnl_resampling_nearest;
  return true;
}

static bool plain_or_blocked(const sal_tensor *t) {
  return t->layout == SAL_LAYOUT_PLAIN || t->layout == SAL_LAYOUT_BLOCKED16;
}

/* Descriptors of x and y in the compute layout (the larger tensor's) and in their own layouts. */
static sal_status resize_mds(const sal_kctx *k, dnnl_memory_desc_t *src, dnnl_memory_desc_t *dst,
                             dnnl_memory_desc_t *src_user, dnnl_memory_desc_t *dst_user) {
  const sal_tensor *X = k->in[0], *Y = k->out[0];
  sal_layout lc = sal_tensor_numel(Y) >= sal_tensor_numel(X) ? Y->layout : X->layout;
  sal_status st = sal__dnnl_act_md(k->ctx, &X->shape, lc, src);
  if (!st) st = sal__dnnl_act_md(k->ctx, &Y->shape, lc, dst);
  if (!st) st = sal__dnnl_act_md(k->ctx, &X->shape, X->layout, src_user);
  if (!st) st = sal__dnnl_act_md(k->ctx, &Y->shape, Y->layout, dst_user);
  return st;
}

static bool resize_supports(const sal_kctx *k) {
  dnnl_alg_kind_t alg;
  if (!plain_or_blocked(k->in[0]) || !plain_or_blocked(k->out[0]) || !resize_alg(k, &alg)) return false;
  dnnl_memory_desc_t src, dst, su, du;
  dnnl_resampling_desc_t f, b;
  /* factors NULL: oneDNN takes out/in from the dims, as checked above */
  if (resize_mds(k, &src, &dst, &su, &du) ||
      dnnl_resampling_forward_desc_init(&f, dnnl_forward_training, alg, NULL, &src, &dst) ||
      dnnl_resampling_backward_desc_init(&b, alg, NULL, &src, &dst))
    return false;
  const_dnnl_op_desc_t bwd[1] = {&b};
  return sal__dnnl_probe(k, &f, bwd, 1);
}

static sal_status resize_prepare(sal_kctx *k) {
  sal_status st = sal__dnnl_state_new(k, sizeof(dnnl_resize));
  if (st) return st;
  dnnl_resize *s = k->state;
  sal_dnnl_res *r = &s->r;
  dnnl_alg_kind_t alg;
  dnnl_memory_desc_t src, dst, src_user, dst_user;
  dnnl_resampling_desc_t d;
  dnnl_primitive_desc_t fpd, bpd;
  if (!resize_alg(k, &alg))
    st = sal__op_error(k->ctx, k->node, SAL_STATUS_UNSUPPORTED, "oneDNN's resampling computes another map");
  if (!st) st = resize_mds(k, &src, &dst, &src_user, &dst_user);
  if (!st)
    st = sal__dnnl_check(k->ctx, dnnl_resampling_forward_desc_init(&d, dnnl_forward_training, alg, NULL, &src, &dst),
                         "resampling forward descriptor");
  if (!st) st = sal__dnnl_pd(r, &d, NULL, "resampling forward", &fpd);
  if (!st) st = sal__dnnl_prim(r, fpd, "resampling forward", &s->fwd);
  if (st) goto fail;
  st = sal__dnnl_port_in(r, &s->src, &src_user, sal__dnnl_qmd(fpd, dnnl_query_src_md));
  if (!st) st = sal__dnnl_port_out(r, &s->dst, &dst_user, sal__dnnl_qmd(fpd, dnnl_query_dst_md), false);
  if (st) goto fail;
  /* Backward only in plans whose backward can ask for d(x). */
  s->has_bwd = !sal__dnnl_grad_unwanted(k, 0);
  if (s->has_bwd) {
    st = sal__dnnl_check(k->ctx, dnnl_resampling_backward_desc_init(&d, alg, NULL, &src, &dst),
                         "resampling backward descriptor");
    if (!st) st = sal__dnnl_pd(r, &d, fpd, "resampling backward", &bpd);
    if (!st) st = sal__dnnl_prim(r, bpd, "resampling backward", &s->bwd);
    if (!st) st = sal__dnnl_port_in(r, &s->ddst, &dst_user, sal__dnnl_qmd(bpd, dnnl_query_diff_dst_md));
    if (!st)
      st = sal__dnnl_port_out(r, &s->dsrc, &src_user, sal__dnnl_qmd(bpd, dnnl_query_diff_src_md), sal__dnnl_input_shared(k, 0));
    if (st) goto fail;
  }
fail:
  return sal__dnnl_state_done(k, st, s->fwd.pd, s->impl, sizeof s->impl);
}

static sal_status resize_forward(sal_kctx *k) {
  // x is (N,C,IH,IW), y is (N,C,OH,OW), each in its own layout
  dnnl_resize *s = k->state;
  sal_dnnl_res *r = &s->r;
  return sal__dnnl_run_io(r, &s->fwd, &s->src, DNNL_ARG_SRC, k->in[0]->data, &s->dst, DNNL_ARG_DST, k->out[0]->data,
                          false, 0, NULL);
}

static sal_status resize_backward(sal_kctx *k) {
  // dy is (N,C,OH,OW) in y's layout, dx (N,C,IH,IW) in x's
  dnnl_resize *s = k->state;
  sal_dnnl_res *r = &s->r;
  if (sal__dnnl_grad_trivial(k, 0)) return SAL_STATUS_OK;
  if (!s->has_bwd)
    return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL, "a gradient the plan did not prepare for was asked");
  if (k->din[0]->layout != k->in[0]->layout || k->dout[0]->layout != k->out[0]->layout)
    return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL, "gradients are not in their values' layouts");
  return sal__dnnl_run_io(r, &s->bwd, &s->ddst, DNNL_ARG_DIFF_DST, k->dout[0]->data, &s->dsrc, DNNL_ARG_DIFF_SRC,
                          k->din[0]->data, k->din_accum[0], 0, NULL);
}

static const char *resize_impl_name(const sal_kctx *k) {
  const dnnl_resize *s = k->state;
  return s ? s->impl : "dnnl";
}

const sal_kernel sal__dnnl_resize = {.name = "dnnl", .flags = SAL_KERNEL_BLOCKED, .supports = resize_supports,
                                     .prepare = resize_prepare, .release = sal__dnnl_state_release,
                                     .forward = resize_forward, .backward = resize_backward,
                                     .impl_name = resize_impl_name};
