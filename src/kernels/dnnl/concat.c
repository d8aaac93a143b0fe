/* oneDNN kernel for Concat (ONNX Concat-13), chosen by plans over the reference kernel of
 * src/kernels/ref/concat.c where supported; everything is created once in prepare.
 * Each input x_i is a window of y: the sub-tensor of x_i's dims at offset o_i = sum_{j<i} a_j
 * along the axis (a submemory descriptor of y's, dnnl_memory_desc_init_submemory).
 *   forward, every x_i in y's layout: one concat primitive (oneDNN's "simple:any", a parallel
 *            copy of contiguous blocks, also over nChw16c);
 *   forward, mixed layouts: one reorder per input, x_i -> its window of y. oneDNN 2.6's concat
 *            over mixed layouts is "ref:any" (measured); its reorders into windows are
 *            "jit:uni" or "simple:any", and they convert the layout on the way.
 *   backward: din_i is dy's window i (dy has y's layout): one reorder per input from the window
 *            into din_i, with a sum post-op when din_i accumulates; no dy means zeros.
 * Layouts: 2-D..5-D plain tensors along any axis; 4-D ones may also be nChw16c in any mix with
 * plain (the plan decides after `supports`, from the SAL_KERNEL_BLOCKED flag). Along channels
 * (4-D, axis 1) every input's channel count must be a multiple of 16: a blocked window has to
 * start on a 16-channel block (init_submemory refuses other offsets) and oneDNN's blocked concat
 * of other counts is "ref:any" (measured). Such nodes keep the reference kernel, which on the
 * plain tensors they then get is the same contiguous block copy. */
#include <stdio.h>

#include "kernels/dnnl/util.h"
#include "ops/shape.h"

typedef struct cat_part {
  dnnl_memory_t m_x;    /* x_i in its own layout */
  dnnl_memory_t m_win;  /* x_i's window of y (mixed layouts) */
  dnnl_memory_t m_dwin; /* the same window of dy */
  dnnl_memory_t m_dx;   /* din_i */
  sal_dnnl_prim put;      /* reorder x_i -> window of y (mixed layouts) */
  sal_dnnl_prim get[2];   /* reorder window of dy -> din_i, [accumulate]; none when din_i is never asked */
} cat_part;

typedef struct cat_state {
  sal_dnnl_res r;
  int n;
  bool same;             /* every input is in y's layout */
  sal_dnnl_prim fwd;       /* the concat primitive (same) */
  dnnl_memory_t m_y;
  cat_part *part;        /* n */
  dnnl_exec_arg_t *args; /* n + 1 concat arguments: the inputs, then y */
  char name[96];
} cat_state;
SAL_DNNL_STATE_CHECK(cat_state);

static bool cat_supports(const sal_kctx *k) {
  const sal_shape *y = &k->out[0]->shape;
  int axis;
  if (k->n_in < 1 || k->n_in > SAL_DNNL_MAX_ARGS - 1 || y->ndim < 2 || y->ndim > 5 || sal_shape_numel(y) <= 0 ||
      sal__concat_axis(k->ctx, k->node, y->ndim, &axis))
    return false;
  for (int i = 0; i < k->n_in; i++) {
    if (!k->in[i] || sal_tensor_numel(k->in[i]) <= 0) return false;
    if (y->ndim == 4 && axis == 1 && k->in[i]->shape.d[1] % 16 != 0) return false;
  }
  return true;
}

/* The concat primitive over mx[0..n) -> my. */
static sal_status make_concat(sal_kctx *k, cat_state *s, int axis, const dnnl_memory_desc_t *my,
                              const dnnl_memory_desc_t *mx) {
  dnnl_primitive_desc_t pd = NULL;
  sal_status st = sal__dnnl_check(
      k->ctx, dnnl_concat_primitive_desc_create(&pd, my, s->n, axis, mx, s->r.attr, k->dnnl->engine), "concat descriptor");
  if (!st) st = sal__dnnl_prim_adopt(&s->r, pd, "concat", &s->fwd);
  for (int i = 0; !st && i < s->n; i++) s->args[i] = (dnnl_exec_arg_t){DNNL_ARG_MULTIPLE_SRC + i, s->part[i].m_x};
  s->args[s->n] = (dnnl_exec_arg_t){DNNL_ARG_DST, s->m_y};
  return st;
}

static sal_status cat_prepare(sal_kctx *k) {
  sal_status st = sal__dnnl_state_new(k, sizeof(cat_state));
  if (st) return st;
  cat_state *s = k->state;
  sal_dnnl_res *r = &s->r;
  const sal_tensor *Y = k->out[0];
  int rank = Y->shape.ndim, axis;
  s->n = k->n_in;
  dnnl_memory_desc_t my, *mx = NULL;
  if (!st) st = sal__concat_axis(k->ctx, k->node, rank, &axis);
  if (st) goto fail;
  s->part = sal__dnnl_buf(r, (size_t)s->n * sizeof *s->part);
  s->args = sal__dnnl_buf(r, ((size_t)s->n + 1) * sizeof *s->args);
  mx = sal_alloc(k->ctx, (size_t)s->n * sizeof *mx); /* a few hundred bytes each: off the stack */
  if (!s->part || !s->args || !mx) {
    st = SAL_STATUS_OUT_OF_MEMORY;
    goto fail;
  }
  st = sal__dnnl_md(k->ctx, &Y->shape, Y->layout, 0, &my);
  if (!st) st = sal__dnnl_mem_at(r, &my, Y->data, &s->m_y);
  s->same = true;
  for (int i = 0; i < s->n && !st; i++) {
    st = sal__dnnl_md(k->ctx, &k->in[i]->shape, k->in[i]->layout, 0, &mx[i]);
    if (!st) st = sal__dnnl_mem_at(r, &mx[i], k->in[i]->data, &s->part[i].m_x);
    s->same &= k->in[i]->layout == Y->layout;
  }
  if (st) goto fail;

  if (s->same) st = make_concat(k, s, axis, &my, mx);
  int64_t off = 0;
  for (int i = 0; i < s->n && !st; i++) {
    cat_part *c = &s->part[i];
    const sal_shape *xs = &k->in[i]->shape;
    dnnl_dims_t dims, offs;
    for (int d = 0; d < rank; d++) {
      dims[d] = xs->d[d];
      offs[d] = d == axis ? off : 0;
    }
    off += xs->d[axis];
    // win is x_i's (dims) window of y at offs, in y's layout
    dnnl_memory_desc_t win;
    st = sal__dnnl_check(k->ctx, dnnl_memory_desc_init_submemory(&win, &my, dims, offs), "concat window");
    if (!st && !s->same) {
      st = sal__dnnl_mem_at(r, &win, Y->data, &c->m_win);
      if (!st) st = sal__dnnl_reorder(r, &mx[i], &win, 1.0f, false, &c->put);
    }
    /* Backward pieces only for inputs whose gradient this plan can ask for. */
    if (st || sal__dnnl_grad_unwanted(k, i)) continue;
    st = sal__dnnl_mem_at(r, &win, NULL, &c->m_dwin);
    if (!st) st = sal__dnnl_mem_at(r, &mx[i], NULL, &c->m_dx);
    /* A value feeding two inputs of this node makes the plan accumulate into every gradient of
     * the node, hence sal__dnnl_input_shared rather than a count of the value's consumers. */
    for (int a = 0; a <= (int)sal__dnnl_input_shared(k, i) && !st; a++)
      st = sal__dnnl_reorder(r, &win, &mx[i], 1.0f, a, &c->get[a]);
  }
  if (!st) st = sal__dnnl_res_ready(r);
  if (st) goto fail;
  sal_free(mx);
  if (s->same) {
    sal__dnnl_impl_name(s->fwd.pd, s->name, sizeof s->name);
  } else {
    char impl[64];
    sal__dnnl_impl_name(s->part[0].put.pd, impl, sizeof impl);
    snprintf(s->name, sizeof s->name, "dnnl:reorder:%s", impl + 5);
  }
  return SAL_STATUS_OK;
fail:
  sal_free(mx);
  sal__dnnl_state_release(k);
  return st;
}

static sal_status cat_forward(sal_kctx *k) {
  // x_i is (..., a_i, ...) along the axis; y is (..., sum_i a_i, ...)
  cat_state *s = k->state;
  sal__dnnl_bind(s->m_y, k->out[0]->data);
  for (int i = 0; i < s->n; i++) sal__dnnl_bind(s->part[i].m_x, k->in[i]->data);
  if (s->same) return sal__dnnl_exec(&s->r, &s->fwd, s->n + 1, s->args);
  for (int i = 0; i < s->n; i++) {
    cat_part *c = &s->part[i];
    sal__dnnl_bind(c->m_win, k->out[0]->data);
    dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, c->m_x}, {DNNL_ARG_TO, c->m_win}};
    sal_status st = sal__dnnl_exec(&s->r, &c->put, 2, a);
    if (st) return st;
  }
  return SAL_STATUS_OK;
}

static sal_status cat_backward(sal_kctx *k) {
  // dy has y's shape and layout; din_i is x_i's window of it, in x_i's layout
  cat_state *s = k->state;
  if (k->dout[0] && k->dout[0]->layout != k->out[0]->layout)
    return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL, "output gradient is not in the output's layout");
  for (int i = 0; i < s->n; i++) {
    if (sal__dnnl_grad_trivial(k, i)) continue;
    sal_tensor *D = k->din[i];
    bool acc = k->din_accum[i];
    cat_part *c = &s->part[i];
    if (D->layout != k->in[i]->layout)
      return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL, "gradient %d is not in its value's layout", i);
    if (!c->get[0].p)
      return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL, "gradient %d was not expected by the plan", i);
    if (acc && !c->get[1].p) return sal__dnnl_unexpected_accum(k, i);
    sal__dnnl_bind(c->m_dwin, k->dout[0]->data);
    sal__dnnl_bind(c->m_dx, D->data);
    dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, c->m_dwin}, {DNNL_ARG_TO, c->m_dx}};
    sal_status st = sal__dnnl_exec(&s->r, &c->get[acc], 2, a);
    if (st) return st;
  }
  return SAL_STATUS_OK;
}

static const char *cat_name(const sal_kctx *k) {
  const cat_state *s = k->state;
  return s ? s->name : "dnnl";
}

const sal_kernel sal__dnnl_concat = {.name = "dnnl", .flags = SAL_KERNEL_BLOCKED, .supports = cat_supports,
                                     .prepare = cat_prepare, .release = sal__dnnl_state_release, .forward = cat_forward,
                                     .backward = cat_backward, .impl_name = cat_name};
