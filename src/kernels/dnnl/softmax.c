/* oneDNN kernels for Softmax and LogSoftmax along one axis (opset-13 semantics, see
 * src/ops/softmax.c), replacing src/kernels/ref/softmax.c: oneDNN's softmax_v2 primitive
 * (algorithms softmax_accurate and softmax_log) forward and backward, both in y's layout.
 *   forward: y = softmax(x); when x's layout differs, x is reordered into y first and the
 *            primitive runs in place there.
 *   backward (from y and dy only): dx = y (dy - sum dy*y) or dy - e^y sum dy, written straight
 *            into din when it shares y's layout and does not accumulate, else into scratch s
 *            and moved by a reorder (with a sum post-op when accumulating). */
#include "kernels/dnnl/util.h"
#include "ops/softmax.h"

typedef struct sm_state {
  sal_dnnl_res r;
  bool same;           /* x and y share a layout */
  sal_dnnl_prim fwd, bwd, to_y;
  sal_dnnl_prim s_out[2]; /* s -> dx, [accumulate] */
  dnnl_memory_t m_x, m_y, m_dy, m_dx, m_s;
  float *s;
  char name[96];
} sm_state;
SAL_DNNL_STATE_CHECK(sm_state);

static bool sm_supports(const sal_kctx *k) {
  int axis;
  const sal_shape *s = &k->in[0]->shape;
  return s->ndim >= 1 && s->ndim <= 5 && sal_shape_numel(s) > 0 &&
         !sal__softmax_axis(k->ctx, k->node, s, &axis);
}

static sal_status sm_prepare(sal_kctx *k, dnnl_alg_kind_t alg) {
  sal_status st = sal__dnnl_state_new(k, sizeof(sm_state));
  if (st) return st;
  sm_state *s = k->state;
  sal_dnnl_res *r = &s->r;
  const sal_tensor *X = k->in[0], *Y = k->out[0];
  s->same = X->layout == Y->layout;
  int axis;
  dnnl_memory_desc_t mx, my;
  if (!st) st = sal__softmax_axis(k->ctx, k->node, &X->shape, &axis);
  if (!st) st = sal__dnnl_md(k->ctx, &X->shape, X->layout, 0, &mx);
  if (!st) st = sal__dnnl_md(k->ctx, &Y->shape, Y->layout, 0, &my);
  if (!st) st = sal__dnnl_mem_at(r, &mx, X->data, &s->m_x);
  if (!st) st = sal__dnnl_mem_at(r, &my, Y->data, &s->m_y);
  if (!st) st = sal__dnnl_mem_at(r, &my, NULL, &s->m_dy);
  if (!st) st = sal__dnnl_mem_at(r, &mx, NULL, &s->m_dx);
  if (st) goto fail;
  dnnl_softmax_v2_desc_t fd, bd;
  st = sal__dnnl_check(k->ctx, dnnl_softmax_v2_forward_desc_init(&fd, dnnl_forward_training, alg, &my, &my, axis),
                       "softmax forward");
  if (!st) st = sal__dnnl_op(r, &fd, NULL, NULL, "softmax forward", &s->fwd);
  if (!st && !s->same) st = sal__dnnl_reorder(r, &mx, &my, 1.0f, false, &s->to_y);
  if (!st) st = sal__dnnl_check(k->ctx, dnnl_softmax_v2_backward_desc_init(&bd, alg, &my, &my, &my, axis), "softmax backward");
  if (!st) st = sal__dnnl_op(r, &bd, NULL, s->fwd.pd, "softmax backward", &s->bwd);
  if (st) goto fail;
  bool acc = sal__dnnl_input_shared(k, 0);
  if (!s->same || acc) {
    st = sal__dnnl_mem_buf(r, &my, &s->s, &s->m_s);
    for (int a = 0; a <= (int)acc && !st; a++) st = sal__dnnl_reorder(r, &my, &mx, 1.0f, a, &s->s_out[a]);
  }
fail:
  return sal__dnnl_state_done(k, st, s->fwd.pd, s->name, sizeof s->name);
}

static sal_status sm_forward(sal_kctx *k) {
  sm_state *s = k->state;
  dnnl_memory_t src = s->m_x;
  if (!s->same) {
    dnnl_exec_arg_t r[] = {{DNNL_ARG_FROM, s->m_x}, {DNNL_ARG_TO, s->m_y}};
    sal_status st = sal__dnnl_exec(&s->r, &s->to_y, 2, r);
    if (st) return st;
    src = s->m_y;
  }
  dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, s->m_y}};
  return sal__dnnl_exec(&s->r, &s->fwd, 2, a);
}

static sal_status sm_backward(sal_kctx *k) {
  sm_state *s = k->state;
  if (sal__dnnl_grad_trivial(k, 0)) return SAL_STATUS_OK;
  sal_tensor *DX = k->din[0];
  bool acc = k->din_accum[0];
  bool direct = s->same && !acc;
  if (!direct && !s->s_out[acc].p) return sal__dnnl_unexpected_accum(k, 0);
  sal__dnnl_bind(s->m_dy, k->dout[0]->data);
  sal__dnnl_bind(s->m_dx, DX->data);
  dnnl_exec_arg_t a[] = {{DNNL_ARG_DST, s->m_y}, {DNNL_ARG_DIFF_DST, s->m_dy}, {DNNL_ARG_DIFF_SRC, direct ? s->m_dx : s->m_s}};
  sal_status st = sal__dnnl_exec(&s->r, &s->bwd, 3, a);
  if (!st && !direct) {
    dnnl_exec_arg_t r[] = {{DNNL_ARG_FROM, s->m_s}, {DNNL_ARG_TO, s->m_dx}};
    st = sal__dnnl_exec(&s->r, &s->s_out[acc], 2, r);
  }
  return st;
}

static const char *sm_name(const sal_kctx *k) {
  const sm_state *s = k->state;
  return s ? s->name : "dnnl";
}

static sal_status softmax_prepare(sal_kctx *k) { return sm_prepare(k, dnnl_softmax_accurate); }
static sal_status log_softmax_prepare(sal_kctx *k) { return sm_prepare(k, dnnl_softmax_log); }

const sal_kernel sal__dnnl_softmax = {.name = "dnnl", .flags = SAL_KERNEL_BLOCKED, .supports = sm_supports,
                                      .prepare = softmax_prepare, .release = sal__dnnl_state_release, .forward = sm_forward,
                                      .backward = sm_backward, .impl_name = sm_name};
const sal_kernel sal__dnnl_log_softmax = {.name = "dnnl", .flags = SAL_KERNEL_BLOCKED, .supports = sm_supports,
                                          .prepare = log_softmax_prepare, .release = sal__dnnl_state_release,
                                          .forward = sm_forward, .backward = sm_backward, .impl_name = sm_name};
