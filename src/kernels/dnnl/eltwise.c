/* oneDNN kernels for elementwise activations (Relu, LeakyRelu, Sigmoid, Tanh, Clip, HardSwish):
 * one eltwise primitive forward and one backward, chosen by the plan in place of the reference
 * kernels (src/kernels/ref/activation.c). HardSigmoid has no oneDNN 2.6 algorithm (it arrived
 * in 3.0) and keeps its reference kernel.
 * Blocked (nChw16c) and plain tensors mix freely: a layout change is one reorder.
 *   forward, same layouts:  y = f(x)
 *   forward, x and y differ: y = reorder(x); y = f(y) in place (y's layout)
 *   backward: eltwise backward in x's layout from x and dy (dy reordered into scratch s when its
 *             layout differs); when dx accumulates the result goes to s and is added by a
 *             reorder with a sum post-op. */
#include "kernels/dnnl/util.h"
#include "ops/activation.h"
#include "tensor/layout.h"

typedef struct elt_params {
  dnnl_alg_kind_t alg;
  float alpha, beta;
  /* f'(x) for a backward in plain C, where oneDNN's convention at a kink differs from the
   * reference's; NULL = oneDNN's eltwise backward. */
  float (*deriv)(float x);
} elt_params;

typedef struct elt_state {
  sal_dnnl_res r;
  elt_params prm;
  bool same;           /* x and y share a layout */
  sal_dnnl_prim fwd;   /* eltwise forward on y's layout */
  sal_dnnl_prim to_y;  /* reorder x -> y (layouts differ) */
  sal_dnnl_prim bwd;   /* eltwise backward on x's layout */
  sal_dnnl_prim dy_to_s; /* reorder dy -> s (layouts differ) */
  sal_dnnl_prim s_add;   /* dx += s (accumulation) */
  dnnl_memory_t m_x, m_y, m_dy_out, m_dx, m_s;
  float *s;            /* scratch in x's layout, NULL when neither a layout change nor accumulation */
  char name[96];
} elt_state;
SAL_DNNL_STATE_CHECK(elt_state);

static sal_status elt_prepare(sal_kctx *k, elt_params prm) {
  sal_status st = sal__dnnl_state_new(k, sizeof(elt_state));
  if (st) return st;
  elt_state *s = k->state;
  s->prm = prm;
  sal_dnnl_res *r = &s->r;
  const sal_tensor *X = k->in[0], *Y = k->out[0];
  s->same = X->layout == Y->layout;
  dnnl_memory_desc_t mx, my;
  if (!st) st = sal__dnnl_md(k->ctx, &X->shape, X->layout, 0, &mx);
  if (!st) st = sal__dnnl_md(k->ctx, &Y->shape, Y->layout, 0, &my);
  if (!st) st = sal__dnnl_mem_at(r, &mx, X->data, &s->m_x);
  if (!st) st = sal__dnnl_mem_at(r, &my, Y->data, &s->m_y);
  if (!st) st = sal__dnnl_mem_at(r, &my, NULL, &s->m_dy_out);
  if (!st) st = sal__dnnl_mem_at(r, &mx, NULL, &s->m_dx);
  if (st) goto out;

  dnnl_eltwise_desc_t d;
  st = sal__dnnl_check(k->ctx, dnnl_eltwise_forward_desc_init(&d, dnnl_forward_training, prm.alg, &my, prm.alpha, prm.beta),
                       "eltwise forward");
  if (!st) st = sal__dnnl_op(r, &d, NULL, NULL, "eltwise forward", &s->fwd);
  if (!st && !s->same) st = sal__dnnl_reorder(r, &mx, &my, 1.0f, false, &s->to_y);
  if (st) goto out;

  bool acc = sal__dnnl_input_shared(k, 0);
  if (prm.deriv) {
    /* dx (+)= dy*f'(x) elementwise over x's storage; only dy may need a layout change */
    if (!s->same) {
      st = sal__dnnl_mem_buf(r, &mx, &s->s, &s->m_s);
      if (!st) st = sal__dnnl_reorder(r, &my, &mx, 1.0f, false, &s->dy_to_s);
    }
    goto out;
  }

  /* Backward runs in x's layout; its hint is a forward descriptor in that layout. */
  dnnl_primitive_desc_t hint = NULL;
  dnnl_eltwise_desc_t hd, bd;
  st = sal__dnnl_check(k->ctx, dnnl_eltwise_forward_desc_init(&hd, dnnl_forward_training, prm.alg, &mx, prm.alpha, prm.beta),
                       "eltwise forward (hint)");
  if (!st) st = sal__dnnl_pd(r, &hd, NULL, "eltwise forward (hint)", &hint);
  if (!st) st = sal__dnnl_check(k->ctx, dnnl_eltwise_backward_desc_init(&bd, prm.alg, &mx, &mx, prm.alpha, prm.beta),
                                "eltwise backward");
  if (!st) st = sal__dnnl_op(r, &bd, NULL, hint, "eltwise backward", &s->bwd);
  if (st) goto out;

  if (!s->same || acc) {
    st = sal__dnnl_mem_buf(r, &mx, &s->s, &s->m_s);
    if (!st && !s->same) st = sal__dnnl_reorder(r, &my, &mx, 1.0f, false, &s->dy_to_s);
    if (!st && acc) st = sal__dnnl_reorder(r, &mx, &mx, 1.0f, true, &s->s_add);
  }
out:
  return sal__dnnl_state_done(k, st, s->fwd.pd, s->name, sizeof s->name);
}

static sal_status elt_forward(sal_kctx *k) {
  elt_state *s = k->state;
  if (s->same) {
    dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC, s->m_x}, {DNNL_ARG_DST, s->m_y}};
    return sal__dnnl_exec(&s->r, &s->fwd, 2, a);
  }
  dnnl_exec_arg_t r[] = {{DNNL_ARG_FROM, s->m_x}, {DNNL_ARG_TO, s->m_y}};
  sal_status st = sal__dnnl_exec(&s->r, &s->to_y, 2, r);
  if (st) return st;
  dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC, s->m_y}, {DNNL_ARG_DST, s->m_y}};
  return sal__dnnl_exec(&s->r, &s->fwd, 2, a);
}

/* dx (+)= dy * f'(x) over the storage of x (blocked padding: x = 0 and dy = 0 there, so dx
 * stays 0). */
static sal_status c_backward(sal_kctx *k, elt_state *s, bool acc) {
  const float *dy = k->dout[0]->data;
  if (!s->same) {
    dnnl_exec_arg_t r[] = {{DNNL_ARG_FROM, s->m_dy_out}, {DNNL_ARG_TO, s->m_s}};
    sal_status st = sal__dnnl_exec(&s->r, &s->dy_to_s, 2, r);
    if (st) return st;
    dy = s->s;
  }
  const float *x = k->in[0]->data;
  float *dx = k->din[0]->data;
  float (*deriv)(float) = s->prm.deriv;
  int64_t n = sal__tensor_storage(k->in[0]);
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float g = dy[i] * deriv(x[i]);
    dx[i] = acc ? dx[i] + g : g;
  }
  return SAL_STATUS_OK;
}

static sal_status elt_backward(sal_kctx *k) {
  elt_state *s = k->state;
  if (sal__dnnl_grad_trivial(k, 0)) return SAL_STATUS_OK;
  sal_tensor *DX = k->din[0];
  bool acc = k->din_accum[0];
  if (acc && !s->s_add.p && !s->prm.deriv) return sal__dnnl_unexpected_accum(k, 0);
  sal__dnnl_bind(s->m_dy_out, k->dout[0]->data);
  if (s->prm.deriv) return c_backward(k, s, acc);
  sal__dnnl_bind(s->m_dx, DX->data);
  sal_status st = SAL_STATUS_OK;
  dnnl_memory_t dy = s->m_dy_out;
  if (!s->same) {
    dnnl_exec_arg_t r[] = {{DNNL_ARG_FROM, s->m_dy_out}, {DNNL_ARG_TO, s->m_s}};
    st = sal__dnnl_exec(&s->r, &s->dy_to_s, 2, r);
    dy = s->m_s;
  }
  /* Accumulating: the gradient goes to s (in place over dy when dy is already there). */
  dnnl_memory_t target = acc ? s->m_s : s->m_dx;
  dnnl_exec_arg_t b[] = {{DNNL_ARG_SRC, s->m_x}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_SRC, target}};
  if (!st) st = sal__dnnl_exec(&s->r, &s->bwd, 3, b);
  if (!st && acc) {
    dnnl_exec_arg_t r[] = {{DNNL_ARG_FROM, s->m_s}, {DNNL_ARG_TO, s->m_dx}};
    st = sal__dnnl_exec(&s->r, &s->s_add, 2, r);
  }
  return st;
}

static const char *elt_name(const sal_kctx *k) {
  const elt_state *s = k->state;
  return s ? s->name : "dnnl";
}

/* Shapes oneDNN takes: up to 5-d, not empty. */
static bool elt_shape_ok(const sal_kctx *k) {
  int64_t n = sal_tensor_numel(k->in[0]);
  return n > 0 && k->in[0]->shape.ndim <= 5;
}

/* ---- per-op parameters ---- */

static sal_status relu_prepare(sal_kctx *k) {
  return elt_prepare(k, (elt_params){dnnl_eltwise_relu, 0.0f, 0.0f, NULL});
}

/* LeakyRelu (ONNX): y = x for x >= 0, alpha*x otherwise: oneDNN's relu with slope alpha, whose
 * backward takes x == 0 on the alpha side as the reference does. */
static bool leaky_relu_supports(const sal_kctx *k) {
  float alpha;
  return elt_shape_ok(k) && !sal__leaky_relu_alpha(k->ctx, k->node, &alpha);
}
static sal_status leaky_relu_prepare(sal_kctx *k) {
  float alpha;
  sal_status st = sal__leaky_relu_alpha(k->ctx, k->node, &alpha);
  return st ? st : elt_prepare(k, (elt_params){dnnl_eltwise_relu, alpha, 0.0f, NULL});
}

static sal_status sigmoid_prepare(sal_kctx *k) {
  return elt_prepare(k, (elt_params){dnnl_eltwise_logistic, 0.0f, 0.0f, NULL});
}
static sal_status tanh_prepare(sal_kctx *k) {
  return elt_prepare(k, (elt_params){dnnl_eltwise_tanh, 0.0f, 0.0f, NULL});
}
/* HardSwish (ONNX opset 14): y = x * max(0, min(1, x/6 + 1/2)), oneDNN's hardswish forward.
 * oneDNN's backward takes the open interval (-3, 3) for the linear part; the reference (and
 * torch.hardswish) the closed one, so the backward is the reference's derivative in C. */
static float hard_swish_deriv(float x) { return x < -3.0f ? 0.0f : (x <= 3.0f ? (2.0f * x + 3.0f) / 6.0f : 1.0f); }
static sal_status hard_swish_prepare(sal_kctx *k) {
  return elt_prepare(k, (elt_params){dnnl_eltwise_hardswish, 0.0f, 0.0f, hard_swish_deriv});
}

/* Clip: oneDNN's clip_v2 is min(max(x, lo), hi) with the gradient passing where lo < x < hi, the
 * reference's (strict, hardtanh) convention. With lo > hi the spec makes every element hi,
 * which clip_v2 does not: declined. Bounds that are computed inputs are declined too. */
static bool clip_supports(const sal_kctx *k) {
  float lo, hi;
  return elt_shape_ok(k) && !sal__clip_bounds(k->ctx, k->graph, k->node, &lo, &hi) && lo <= hi;
}
static sal_status clip_prepare(sal_kctx *k) {
  float lo, hi;
  sal_status st = sal__clip_bounds(k->ctx, k->graph, k->node, &lo, &hi);
  return st ? st : elt_prepare(k, (elt_params){dnnl_eltwise_clip_v2, lo, hi, NULL});
}

#define SAL__ELT_KERNEL(sym, SUPPORTS)                                                                 \
  const sal_kernel sal__dnnl_##sym = {.name = "dnnl", .flags = SAL_KERNEL_BLOCKED, .supports = SUPPORTS, \
                                      .prepare = sym##_prepare, .release = sal__dnnl_state_release,                 \
                                      .forward = elt_forward, .backward = elt_backward, .impl_name = elt_name};
SAL__ELT_KERNEL(relu, elt_shape_ok)
SAL__ELT_KERNEL(leaky_relu, leaky_relu_supports)
SAL__ELT_KERNEL(sigmoid, elt_shape_ok)
SAL__ELT_KERNEL(tanh, elt_shape_ok)
SAL__ELT_KERNEL(hard_swish, elt_shape_ok)
SAL__ELT_KERNEL(clip, clip_supports)
