/* Graph builder, rewriting and plan behaviour: errors that name things, bad calls, seeds at any
 * value, memory reuse from liveness, and clean failure under injected allocation faults. */
#include <string.h>

#include "harness.h"

/* x -> relu r1 -> add(r1, b) a1 -> relu r2 -> add(r2, a1) y  (a small residual chain) */
static sal_graph *chain(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  if (sal_graph_new(ctx, &g)) return NULL;
  float b[4] = {0.5f, -0.25f, 0.125f, 1.0f};
  if (sal_graph_add_input(g, "x", 2, (int64_t[]){-1, 4}) ||
      sal_graph_add_param(g, "b", 1, (int64_t[]){4}, b, true) ||
      sal_graph_add_node(g, "Relu", "n1", (const char *[]){"x"}, 1, (const char *[]){"r1"}, 1, NULL, 0) ||
      sal_graph_add_node(g, "Add", "n2", (const char *[]){"r1", "b"}, 2, (const char *[]){"a1"}, 1, NULL, 0) ||
      sal_graph_add_node(g, "Relu", "n3", (const char *[]){"a1"}, 1, (const char *[]){"r2"}, 1, NULL, 0) ||
      sal_graph_add_node(g, "Add", "n4", (const char *[]){"r2", "a1"}, 2, (const char *[]){"y"}, 1, NULL, 0) ||
      sal_graph_add_output(g, "y")) {
    sal_graph_free(g);
    return NULL;
  }
  return g;
}

int main(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = chain();
  TH_CHECK(g != NULL, "chain builds: %s", sal_ctx_last_error(ctx));
  if (!g) return th_finish("test_graph");

  /* Builder errors. */
  TH_FAILS(sal_graph_add_node(g, "Frobnicate", "f", (const char *[]){"x"}, 1, (const char *[]){"q"}, 1, NULL, 0),
           SAL_STATUS_UNSUPPORTED, "node 'f': unsupported op type 'Frobnicate'");
  TH_FAILS(sal_graph_add_node(g, "Relu", "g", (const char *[]){"nope"}, 1, (const char *[]){"q"}, 1, NULL, 0),
           SAL_STATUS_NOT_FOUND, "input 0 'nope' does not exist");
  TH_FAILS(sal_graph_add_node(g, "Relu", "h", (const char *[]){"x"}, 1, (const char *[]){"y"}, 1, NULL, 0),
           SAL_STATUS_BAD_INPUT, "already exists");
  TH_FAILS(sal_graph_add_node(g, "Relu", "i", (const char *[]){"x", "x"}, 2, (const char *[]){"q"}, 1, NULL, 0),
           SAL_STATUS_BAD_INPUT, "2 inputs");
  TH_FAILS(sal_graph_add_input(g, "bad", 2, (int64_t[]){3, -1}), SAL_STATUS_BAD_INPUT, NULL);
  TH_CHECK(sal_graph_num_nodes(g) == 4 && !sal_graph_has_value(g, "q"), "failed adds leave no trace");

  /* Plan errors. */
  sal_plan *p = NULL;
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = 0;
  TH_FAILS(sal_plan_new(ctx, g, &o, &p), SAL_STATUS_BAD_INPUT, "batch size 0");
  o.batch = 1 << 30;
  TH_FAILS(sal_plan_new(ctx, g, &o, &p), SAL_STATUS_BAD_INPUT, "out of range");
  o.batch = 3;
  o.grad_values = (const char *[]){"missing"};
  o.n_grad_values = 1;
  TH_FAILS(sal_plan_new(ctx, g, &o, &p), SAL_STATUS_NOT_FOUND, "missing");

  /* Inference plan: backward refused, unkept intermediates refused, outputs readable. */
  o = sal_plan_opts_default();
  o.batch = 3;
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  sal_tensor *x = NULL;
  TH_OK(sal_tensor_new(ctx, 2, (int64_t[]){3, 4}, &x));
  for (int i = 0; i < 12; i++) x->data[i] = (float)(i - 6) * 0.5f;
  const sal_tensor *v = NULL;
  TH_FAILS(sal_plan_value(p, "y", &v), SAL_STATUS_BAD_STATE, "before forward");
  TH_OK(sal_plan_set_input(p, "x", x));
  TH_OK(sal_plan_forward(p));
  TH_FAILS(sal_plan_backward(p, "y", NULL), SAL_STATUS_BAD_STATE, "without gradients");
  TH_FAILS(sal_plan_value(p, "r1", &v), SAL_STATUS_BAD_STATE, "keep_values");
  TH_FAILS(sal_plan_value(p, "nope", &v), SAL_STATUS_NOT_FOUND, "nope");
  TH_OK(sal_plan_value(p, "y", &v));
  float want_y[12];
  const float bb[4] = {0.5f, -0.25f, 0.125f, 1.0f};
  for (int i = 0; i < 12; i++) {
    float r1 = x->data[i] > 0 ? x->data[i] : 0, a1 = r1 + bb[i % 4], r2 = a1 > 0 ? a1 : 0;
    want_y[i] = r2 + a1;
  }
  if (v) th_allclose("chain forward", v->data, want_y, 12, 1e-6, 0);
  sal_tensor *wrong = NULL;
  TH_OK(sal_tensor_new(ctx, 2, (int64_t[]){2, 4}, &wrong));
  TH_FAILS(sal_plan_set_input(p, "x", wrong), SAL_STATUS_SHAPE, "(2, 4), the plan expects (3, 4)");
  sal_tensor_free(wrong);
  sal_plan_free(p);

  /* Gradient plan: backward before forward, seed at an intermediate value, grad_values. */
  o.grad_inputs = true;
  o.grad_params = true;
  o.grad_values = (const char *[]){"a1"};
  o.n_grad_values = 1;
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  TH_FAILS(sal_plan_backward(p, "y", NULL), SAL_STATUS_BAD_STATE, "forward first");
  TH_OK(sal_plan_set_input(p, "x", x));
  TH_OK(sal_plan_forward(p));
  TH_OK(sal_plan_backward(p, "a1", NULL));  /* seed at a1: dx = [x>0], db = batch */
  const sal_tensor *gx = NULL, *gb = NULL, *ga = NULL;
  TH_OK(sal_plan_grad(p, "x", &gx));
  TH_OK(sal_plan_grad(p, "b", &gb));
  TH_OK(sal_plan_grad(p, "a1", &ga));
  float wx[12], wb[4] = {3, 3, 3, 3};
  for (int i = 0; i < 12; i++) wx[i] = x->data[i] > 0 ? 1.0f : 0.0f;
  if (gx) th_allclose("seed at a1: dx", gx->data, wx, 12, 0, 0);
  if (gb) th_allclose("seed at a1: db", gb->data, wb, 4, 0, 0);
  TH_FAILS(sal_plan_grad(p, "r2", &ga), SAL_STATUS_BAD_STATE, "was not requested");
  /* Full backward from y: dy/da1 = 1 + [a1>0]; dx = dy/da1 * [x>0]. */
  TH_OK(sal_plan_backward(p, "y", NULL));
  TH_OK(sal_plan_grad(p, "x", &gx));
  for (int i = 0; i < 12; i++) {
    float r1 = x->data[i] > 0 ? x->data[i] : 0, a1 = r1 + bb[i % 4];
    wx[i] = (x->data[i] > 0 ? 1.0f : 0.0f) * (1.0f + (a1 > 0 ? 1.0f : 0.0f));
  }
  if (gx) th_allclose("seed at y: dx", gx->data, wx, 12, 0, 0);
  sal_plan_free(p);

  /* Rewriting: insert a Mul by a mask after r1; consumers now see the masked value. */
  float mask[4] = {0, 1, 1, 0};
  TH_OK(sal_graph_add_param(g, "m", 1, (int64_t[]){4}, mask, true));
  TH_OK(sal_graph_insert_after(g, "r1", "Mul", "mask_r1", (const char *[]){"m"}, 1, "r1_masked", NULL, 0));
  o = sal_plan_opts_default();
  o.batch = 3;
  o.keep_values = (const char *[]){"a1"};
  o.n_keep_values = 1;
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  TH_OK(sal_plan_set_input(p, "x", x));
  TH_OK(sal_plan_forward(p));
  TH_OK(sal_plan_value(p, "a1", &v));
  float wa[12];
  for (int i = 0; i < 12; i++) wa[i] = (x->data[i] > 0 ? x->data[i] : 0) * mask[i % 4] + bb[i % 4];
  if (v) th_allclose("masked a1", v->data, wa, 12, 1e-6, 0);
  sal_plan_free(p);
  TH_FAILS(sal_graph_insert_after(g, "zzz", "Relu", "n", NULL, 0, "q", NULL, 0), SAL_STATUS_NOT_FOUND, "zzz");

  /* Fault injection: every allocation inside plan creation may fail; each must fail cleanly
   * (ASan/LSan report any leak) and the next attempt must succeed. */
  int failures_seen = 0;
  for (int k = 1; k < 200; k++) {
    o = sal_plan_opts_default();
    o.batch = 2;
    o.grad_inputs = true;
    sal_ctx_fail_alloc_after(ctx, k);
    sal_status st = sal_plan_new(ctx, g, &o, &p);
    sal_ctx_fail_alloc_after(ctx, 0);
    if (st == SAL_STATUS_OK) {
      sal_plan_free(p);
      break;
    }
    failures_seen++;
    TH_CHECK(st == SAL_STATUS_OUT_OF_MEMORY, "fault %d: got %s (%s)", k, sal_status_name(st), sal_ctx_last_error(ctx));
  }
  TH_CHECK(failures_seen > 5, "fault injection exercised %d allocation sites", failures_seen);
  int gfail = 0;
  for (int k = 1; k < 200; k++) {
    sal_ctx_fail_alloc_after(ctx, k);
    sal_graph *g2 = chain();
    sal_ctx_fail_alloc_after(ctx, 0);
    if (g2) {
      sal_graph_free(g2);
      break;
    }
    gfail++;
  }
  TH_CHECK(gfail > 5, "graph builder fault injection exercised %d sites", gfail);

  sal_tensor_free(x);
  sal_graph_free(g);
  return th_finish("test_graph");
}
