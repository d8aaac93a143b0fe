/* Helpers shared by the shape-op tests (tests/test_ops_shape.c, tests/test_ops_resize.c): a
 * one-node forward/backward run checked against hand-computed values, and a builder that returns
 * the status of adding a (bad) node. Header-only: each test binary includes it once. */
#ifndef SAL_TEST_SHAPE_CASES_H
#define SAL_TEST_SHAPE_CASES_H

#include <stdlib.h>

#include "harness.h"

/* A constant 1-D input holding the listed values (shape tensors, pads, scales). */
#define TH_CONST(nm, cnt, ...) \
  {nm, 1, {cnt}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){__VA_ARGS__}}
/* Fill of an input holding the listed values: {"x", 2, {2, 3}, TH_VALS(1, 2, 3, 4, 5, 6)}. */
#define TH_VALS(...) .fill = TH_FILL_DATA, .data = (const float[]){__VA_ARGS__}

/* Runs c with reference kernels and checks output j against want[0..n) within atol; when want_dx
 * is given, also runs backward from output j seeded with ones and checks the gradient of input 0
 * (ndx values). */
static inline void check_values(const th_op_case *c, int j, const float *want, int64_t n, const float *want_dx,
                         int64_t ndx, double atol) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = th_build(c);
  if (!g) return;
  sal_plan_opts o = sal_plan_opts_default();
  o.kernels = SAL_KERNELS_REF;
  o.grad_inputs = want_dx != NULL;
  sal_plan *p = NULL;
  sal_tensor *ts[8] = {0};
  char nm[16], label[160];
  snprintf(nm, sizeof nm, "y%d", j);
  sal_status st = sal_plan_new(ctx, g, &o, &p);
  TH_CHECK(st == SAL_STATUS_OK, "%s: plan: %s", c->label, sal_ctx_last_error(ctx));
  if (st) goto done;
  for (int i = 0; i < c->n_in; i++) {
    const th_input *in = &c->in[i];
    if (!in->name || !in->name[0] || in->param || in->constant) continue;
    st = sal_tensor_new(ctx, in->ndim, in->dims, &ts[i]);
    TH_CHECK(st == SAL_STATUS_OK, "%s: input %d: %s", c->label, i, sal_ctx_last_error(ctx));
    if (st) goto done;
    th_fill_buf(in, ts[i]->data, sal_tensor_numel(ts[i]), 100 + (uint64_t)i);
    TH_OK(sal_plan_set_input(p, in->name, ts[i]));
  }
  TH_OK(sal_plan_forward(p));
  const sal_tensor *y = NULL;
  TH_OK(sal_plan_value(p, nm, &y));
  if (!y) goto done;
  TH_CHECK(sal_tensor_numel(y) == n, "%s: output %d has %lld values, want %lld", c->label, j,
           (long long)sal_tensor_numel(y), (long long)n);
  snprintf(label, sizeof label, "%s: output %d", c->label, j);
  if (sal_tensor_numel(y) == n) th_allclose(label, y->data, want, n, 0, atol);
  if (want_dx) {
    const sal_tensor *gx = NULL;
    TH_OK(sal_plan_backward(p, nm, NULL));
    TH_OK(sal_plan_grad(p, c->in[0].name, &gx));
    snprintf(label, sizeof label, "%s: gradient of %s", c->label, c->in[0].name);
    if (gx && sal_tensor_numel(gx) == ndx) th_allclose(label, gx->data, want_dx, ndx, 0, atol);
    else TH_CHECK(0, "%s: gradient has the wrong size", c->label);
  }
done:
  for (int i = 0; i < 8; i++) sal_tensor_free(ts[i]);
  sal_plan_free(p);
  sal_graph_free(g);
}

/* Builds c's inputs and returns the status of adding its node (for bad-input cases). */
static inline sal_status try_node(const th_op_case *c) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  sal_status st = sal_graph_new(ctx, &g);
  if (st) return st;
  const char *ins[8];
  for (int i = 0; i < c->n_in && !st; i++) {
    const th_input *in = &c->in[i];
    ins[i] = in->name && in->name[0] ? in->name : "";
    if (!ins[i][0]) continue;
    if (in->param || in->constant) {
      int64_t n = 1;
      for (int d = 0; d < in->ndim; d++) n *= in->dims[d];
      float *buf = calloc((size_t)(n ? n : 1), sizeof(float));
      th_fill_buf(in, buf, n, 100 + (uint64_t)i);
      st = sal_graph_add_param(g, in->name, in->ndim, in->dims, buf, in->param);
      free(buf);
    } else {
      st = sal_graph_add_input(g, in->name, in->ndim, in->dims);
    }
  }
  const char *outs[16] = {"y0", "y1", "y2", "y3", "y4", "y5", "y6", "y7",
                          "y8", "y9", "y10", "y11", "y12", "y13", "y14", "y15"};
  if (!st) st = sal_graph_add_node(g, c->op, c->label, ins, c->n_in, outs, c->n_out, c->attrs, c->n_attrs);
  sal_graph_free(g);
  return st;
}

/* The shape of output j of c (ndim -1 when the node does not build). */
static inline sal_shape out_shape(const th_op_case *c, int j) {
  sal_shape s = {.ndim = -1};
  sal_graph *g = th_build(c);
  if (!g) return s;
  char nm[16];
  snprintf(nm, sizeof nm, "y%d", j);
  sal_graph_value_shape(g, nm, &s);
  sal_graph_free(g);
  return s;
}

/* Checks output j of c has shape want (ndim dims). */
static inline void check_shape(const th_op_case *c, int j, int ndim, const int64_t *want) {
  sal_shape s = out_shape(c, j), w;
  sal_shape_make(&w, ndim, want);
  char a[96], b[96];
  TH_CHECK(s.ndim >= 0 && sal_shape_equal(&s, &w), "%s: output %d has shape %s, want %s", c->label, j,
           s.ndim >= 0 ? sal_shape_str(&s, a, sizeof a) : "(none)", sal_shape_str(&w, b, sizeof b));
}

/* Gradient accumulation (din_accum): two copies of c's node, a and b, read the same inputs and
 * a+b = the sum of their outputs 0. Backward from a+b runs b first (which overwrites the input
 * gradients) then a (which must add), so the gradient of input 0 must be exactly twice the one
 * from a alone. */
static inline void check_accumulate(const th_op_case *c) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  sal_plan *p = NULL;
  sal_tensor *x = NULL, *seed = NULL;
  float *once = NULL;
  char label[160];
  snprintf(label, sizeof label, "%s: accumulated gradient", c->label);
  sal_status st = sal_graph_new(ctx, &g);
  const char *ins[8];
  for (int i = 0; i < c->n_in && !st; i++) {
    const th_input *in = &c->in[i];
    ins[i] = in->name && in->name[0] ? in->name : "";
    if (!ins[i][0]) continue;
    if (in->param || in->constant) {
      int64_t n = 1;
      for (int d = 0; d < in->ndim; d++) n *= in->dims[d];
      float *buf = calloc((size_t)(n ? n : 1), sizeof(float));
      th_fill_buf(in, buf, n, 100 + (uint64_t)i);
      st = sal_graph_add_param(g, in->name, in->ndim, in->dims, buf, in->param);
      free(buf);
    } else {
      st = sal_graph_add_input(g, in->name, in->ndim, in->dims);
    }
  }
  const char *outa[16] = {"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7",
                          "a8", "a9", "a10", "a11", "a12", "a13", "a14", "a15"};
  const char *outb[16] = {"b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7",
                          "b8", "b9", "b10", "b11", "b12", "b13", "b14", "b15"};
  if (!st) st = sal_graph_add_node(g, c->op, "a", ins, c->n_in, outa, c->n_out, c->attrs, c->n_attrs);
  if (!st) st = sal_graph_add_node(g, c->op, "b", ins, c->n_in, outb, c->n_out, c->attrs, c->n_attrs);
  if (!st) st = sal_graph_add_node(g, "Add", "a+b", (const char *[]){"a0", "b0"}, 2, (const char *[]){"a+b"}, 1, NULL, 0);
  sal_plan_opts o = sal_plan_opts_default();
  o.grad_inputs = true;
  o.kernels = SAL_KERNELS_REF;
  if (!st) st = sal_plan_new(ctx, g, &o, &p);
  sal_shape ys;
  if (!st) st = sal_plan_shape(p, "a+b", &ys);
  if (!st) st = sal_tensor_new(ctx, c->in[0].ndim, c->in[0].dims, &x);
  if (!st) st = sal_tensor_new(ctx, ys.ndim, ys.d, &seed);
  TH_CHECK(st == SAL_STATUS_OK, "%s: setup: %s", label, sal_ctx_last_error(ctx));
  if (st) goto done;
  th_fill_buf(&c->in[0], x->data, sal_tensor_numel(x), 100);
  sal_rng_normal(77, 0, 0, seed->data, (size_t)sal_tensor_numel(seed));
  const sal_tensor *gx = NULL;
  TH_OK(sal_plan_set_input(p, c->in[0].name, x));
  TH_OK(sal_plan_forward(p));
  TH_OK(sal_plan_backward(p, "a0", seed));
  TH_OK(sal_plan_grad(p, c->in[0].name, &gx));
  if (!gx) goto done;
  int64_t n = sal_tensor_numel(gx);
  once = calloc((size_t)(n ? n : 1), sizeof(float));
  for (int64_t e = 0; e < n; e++) once[e] = 2.0f * gx->data[e];
  TH_OK(sal_plan_backward(p, "a+b", seed));
  TH_OK(sal_plan_grad(p, c->in[0].name, &gx));
  /* 2*g and g + g are both exact in float; 1e-6 leaves room only for scatters (Pad, Resize)
   * that add an element's several terms in another order. A missed accumulation is off by g. */
  if (gx) th_allclose(label, gx->data, once, n, 1e-6, 1e-6);
done:
  free(once);
  sal_tensor_free(x);
  sal_tensor_free(seed);
  sal_plan_free(p);
  sal_graph_free(g);
}

#endif
