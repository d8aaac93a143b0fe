/* Gradient checks, forward values against hand-computed answers and bad inputs for the scalar
 * losses: SoftmaxCrossEntropyLoss (with label smoothing), KLDivLoss and MSELoss. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A one-node plan with inputs "x0", "x1" (graph inputs unless constant data is given), output
 * "y" and input gradients. */
typedef struct lrun {
  sal_graph *g;
  sal_plan *p;
  sal_tensor *in[2];
} lrun;

static void lrun_free(lrun *r) {
  for (int i = 0; i < 2; i++) sal_tensor_free(r->in[i]);
  sal_plan_free(r->p);
  sal_graph_free(r->g);
  memset(r, 0, sizeof *r);
}

/* const_target: input 1 is a constant parameter holding d1 (class indices), not a graph input. */
static int lrun_make(lrun *r, const char *op, const char *node, int nd0, const int64_t *dims0, const float *d0,
                     int nd1, const int64_t *dims1, const float *d1, bool const_target, const sal_attr *attrs,
                     int n_attrs) {
  sal_ctx *ctx = th_ctx();
  memset(r, 0, sizeof *r);
  if (sal_graph_new(ctx, &r->g) || sal_graph_add_input(r->g, "x0", nd0, dims0)) goto fail;
  if (const_target ? sal_graph_add_param(r->g, "x1", nd1, dims1, d1, false) : sal_graph_add_input(r->g, "x1", nd1, dims1))
    goto fail;
  if (sal_graph_add_node(r->g, op, node, (const char *[]){"x0", "x1"}, 2, (const char *[]){"y"}, 1, attrs, n_attrs) ||
      sal_graph_add_output(r->g, "y"))
    goto fail;
  sal_plan_opts o = sal_plan_opts_default();
  o.grad_inputs = true;
  if (sal_plan_new(ctx, r->g, &o, &r->p)) goto fail;
  if (sal_tensor_wrap(ctx, nd0, dims0, (float *)d0, &r->in[0]) || sal_plan_set_input(r->p, "x0", r->in[0])) goto fail;
  if (!const_target &&
      (sal_tensor_wrap(ctx, nd1, dims1, (float *)d1, &r->in[1]) || sal_plan_set_input(r->p, "x1", r->in[1])))
    goto fail;
  return 1;
fail:
  th_failed++;
  fprintf(stderr, "FAIL building %s: %s\n", node, sal_ctx_last_error(ctx));
  lrun_free(r);
  return 0;
}

/* Forward value of the loss, or NaN after a counted failure. */
static float lrun_value(lrun *r, const char *label) {
  const sal_tensor *y;
  if (sal_plan_forward(r->p) || sal_plan_value(r->p, "y", &y)) {
    th_failed++;
    fprintf(stderr, "FAIL %s: %s\n", label, sal_ctx_last_error(th_ctx()));
    return NAN;
  }
  TH_CHECK(y->shape.ndim == 0, "%s: loss has ndim %d, want 0", label, y->shape.ndim);
  return y->data[0];
}

/* Cross-entropy by torch's formulation (a different route from the kernel's sum_j q_j (lse - x_j)):
 * (1 - s) * (-log p_t) + s * mean_j(-log p_j), averaged over rows, p = softmax computed directly. */
static double ce_by_hand(const float *x, const float *t, int64_t N, int64_t K, double s) {
  double total = 0;
  for (int64_t i = 0; i < N; i++) {
    double z = 0;
    for (int64_t j = 0; j < K; j++) z += exp((double)x[i * K + j]);
    double nll_t = -log(exp((double)x[i * K + (int64_t)t[i]]) / z), nll_mean = 0;
    for (int64_t j = 0; j < K; j++) nll_mean += -log(exp((double)x[i * K + j]) / z) / (double)K;
    total += (1 - s) * nll_t + s * nll_mean;
  }
  return total / (double)N;
}

static void gradchecks(void) {
  static const float t1[] = {3}, t4[] = {0, 6, 3, 3}, t3[] = {9, 0, 4}, t5[] = {2, 1, 0, 1, 2}, t2[] = {999, 17};
  th_op_case cases[] = {
      {.label = "ce batch 1", .op = "SoftmaxCrossEntropyLoss", .n_in = 2, .n_out = 1,
       .in = {{"x", 2, {1, 5}}, {"t", 1, {1}, .constant = true, .fill = TH_FILL_DATA, .data = t1}}},
      {.label = "ce 4x7", .op = "SoftmaxCrossEntropyLoss", .n_in = 2, .n_out = 1,
       .in = {{"x", 2, {4, 7}}, {"t", 1, {4}, .constant = true, .fill = TH_FILL_DATA, .data = t4}}},
      {.label = "ce 3x10 ls 0.1", .op = "SoftmaxCrossEntropyLoss", .n_in = 2, .n_out = 1,
       .in = {{"x", 2, {3, 10}}, {"t", 1, {3}, .constant = true, .fill = TH_FILL_DATA, .data = t3}},
       .attrs = {{"label_smoothing", SAL_ATTR_FLOAT, .f = 0.1f}}, .n_attrs = 1},
      {.label = "ce 5x3 ls 0.3", .op = "SoftmaxCrossEntropyLoss", .n_in = 2, .n_out = 1,
       .in = {{"x", 2, {5, 3}}, {"t", 1, {5}, .constant = true, .fill = TH_FILL_DATA, .data = t5}},
       .attrs = {{"label_smoothing", SAL_ATTR_FLOAT, .f = 0.3f}}, .n_attrs = 1},
      /* An ImageNet-sized row: most gradients are ~softmax/N ≈ 5e-4, so the absolute tolerance is
       * tightened to 1e-4 (default 2e-3 would pass anything). The loss is O(7): its float
       * rounding (~5e-7) over the 2*eps = 0.02 step gives numeric gradients good to ~3e-5. */
      {.label = "ce 2x1000", .op = "SoftmaxCrossEntropyLoss", .n_in = 2, .n_out = 1,
       .in = {{"x", 2, {2, 1000}}, {"t", 1, {2}, .constant = true, .fill = TH_FILL_DATA, .data = t2}},
       .atol = 1e-4},
      {.label = "kl batch 1", .op = "KLDivLoss", .n_in = 2, .n_out = 1, .in = {{"p", 2, {1, 4}}, {"q", 2, {1, 4}}}},
      {.label = "kl 3x6", .op = "KLDivLoss", .n_in = 2, .n_out = 1, .in = {{"p", 2, {3, 6}}, {"q", 2, {3, 6}}}},
      {.label = "kl 5x10 q param", .op = "KLDivLoss", .n_in = 2, .n_out = 1,
       .in = {{"p", 2, {5, 10}}, {"q", 2, {5, 10}, .param = true}}},
      /* As ce 2x1000: small per-class gradients, tightened absolute tolerance. */
      {.label = "kl 2x1000", .op = "KLDivLoss", .n_in = 2, .n_out = 1,
       .in = {{"p", 2, {2, 1000}}, {"q", 2, {2, 1000}}}, .atol = 1e-4},
      {.label = "mse 1-D", .op = "MSELoss", .n_in = 2, .n_out = 1, .in = {{"a", 1, {7}}, {"b", 1, {7}}}},
      {.label = "mse 3-D", .op = "MSELoss", .n_in = 2, .n_out = 1, .in = {{"a", 3, {2, 3, 4}}, {"b", 3, {2, 3, 4}, .param = true}}},
      /* Graph inputs have at least one dimension: the 0-D operands are parameters. */
      {.label = "mse scalar", .op = "MSELoss", .n_in = 2, .n_out = 1,
       .in = {{"a", 0, {0}, .param = true}, {"b", 0, {0}, .param = true}}},
      /* Several MSE blocks (4096 elements each), so the block partial sums are exercised. */
      {.label = "mse 3 blocks", .op = "MSELoss", .n_in = 2, .n_out = 1,
       .in = {{"a", 2, {3, 3000}}, {"b", 2, {3, 3000}}}, .atol = 1e-4},
  };
  /* The losses are smooth: with eps = 1e-2 the central-difference truncation error is ~eps^2 * a
   * third derivative of O(1), inside the default rtol 2e-2; MSE is quadratic, so exact. */
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) th_gradcheck(&cases[i], SAL_KERNELS_REF);
}

static void ce_values(void) {
  /* logits [[1,2,3],[1,1,1]], targets [2,0]:
   *   row 0: log(e + e^2 + e^3) - 3 = 0.40760596,  row 1: log 3 = 1.09861229;  mean 0.75310913
   * (torch.nn.functional.cross_entropy gives 0.7531091265562451). */
  float x[6] = {1, 2, 3, 1, 1, 1}, t[2] = {2, 0};
  int64_t xd[2] = {2, 3}, td[1] = {2};
  lrun r;
  /* rtol 1e-6: the kernel computes in double and rounds once to float (2^-24 ≈ 6e-8). */
  if (lrun_make(&r, "SoftmaxCrossEntropyLoss", "ce", 2, xd, x, 1, td, t, false, NULL, 0)) {
    float y = lrun_value(&r, "ce value");
    th_allclose("ce of known logits", &y, (float[]){0.7531091265562451f}, 1, 1e-6, 0);
    float h = (float)ce_by_hand(x, t, 2, 3, 0.0);
    th_allclose("ce against the formula", &y, &h, 1, 1e-6, 0);
    /* Backward with seed 1: dL/dx = (softmax(x) - onehot) / N, by hand. */
    if (sal_plan_backward(r.p, "y", NULL) == SAL_STATUS_OK) {
      const sal_tensor *gx;
      TH_OK(sal_plan_grad(r.p, "x0", &gx));
      double z0 = exp(1) + exp(2) + exp(3);
      float want[6] = {(float)(exp(1) / z0 / 2), (float)(exp(2) / z0 / 2), (float)((exp(3) / z0 - 1) / 2),
                       (float)((1.0 / 3 - 1) / 2), (float)(1.0 / 3 / 2), (float)(1.0 / 3 / 2)};
      if (gx) th_allclose("ce gradient by hand", gx->data, want, 6, 1e-6, 1e-7);
    } else {
      TH_CHECK(0, "ce backward: %s", sal_ctx_last_error(th_ctx()));
    }
    lrun_free(&r);
  }
  /* Label smoothing 0.1 (K = 3): target distribution (1 - 0.1) onehot + 0.1/3.
   *   row 0: lse - sum_j q_j x_j = 3.40760596 - (0.1/3 * 6 + 0.9 * 3) = 0.50760596
   *   row 1: 2.09861229 - 1 = 1.09861229;  mean 0.80310913 (torch: 0.8031091265562451). */
  sal_attr ls[] = {sal_attr_float("label_smoothing", 0.1f)};
  if (lrun_make(&r, "SoftmaxCrossEntropyLoss", "ce_ls", 2, xd, x, 1, td, t, false, ls, 1)) {
    float y = lrun_value(&r, "ce ls value");
    th_allclose("ce label smoothing 0.1", &y, (float[]){0.8031091265562451f}, 1, 1e-6, 0);
    float h = (float)ce_by_hand(x, t, 2, 3, (double)0.1f);
    th_allclose("ce label smoothing 0.1 against the formula", &y, &h, 1, 1e-6, 0);
    lrun_free(&r);
  }
  /* Stability: logits of 1000 (exp overflows float and double) give the same loss as the same
   * logits shifted to 0..2, which the loss is invariant to. */
  float big[6] = {1000, 1001, 1002, 1000, 1000, 1000};
  if (lrun_make(&r, "SoftmaxCrossEntropyLoss", "ce_big", 2, xd, big, 1, td, t, false, NULL, 0)) {
    float y = lrun_value(&r, "ce big value");
    th_allclose("ce of large logits", &y, (float[]){0.7531091265562451f}, 1, 1e-6, 0);
    lrun_free(&r);
  }
}

static void kl_values(void) {
  /* p = [[1,2,3],[0.5,-1,2]], q = [[3,2,1],[0,0,0]]: 0.813724224598859 from
   * torch.nn.functional.kl_div(log_softmax(q), log_softmax(p), log_target=True, reduction='batchmean'),
   * and checked below against the definition sum_j P_j log(P_j / Q_j) computed directly. */
  float p[6] = {1, 2, 3, 0.5f, -1, 2}, q[6] = {3, 2, 1, 0, 0, 0};
  int64_t d[2] = {2, 3};
  double want = 0;
  for (int i = 0; i < 2; i++) {
    double zp = 0, zq = 0;
    for (int j = 0; j < 3; j++) zp += exp(p[i * 3 + j]), zq += exp(q[i * 3 + j]);
    for (int j = 0; j < 3; j++) {
      double P = exp(p[i * 3 + j]) / zp, Q = exp(q[i * 3 + j]) / zq;
      want += P * log(P / Q) / 2;
    }
  }
  float wf = (float)want;
  TH_CHECK(fabs(want - 0.813724224598859) < 1e-6, "KL by hand %.9g disagrees with torch", want);
  lrun r;
  if (lrun_make(&r, "KLDivLoss", "kl", 2, d, p, 2, d, q, false, NULL, 0)) {
    float y = lrun_value(&r, "kl value");
    th_allclose("kl of known logits", &y, &wf, 1, 1e-6, 0);
    lrun_free(&r);
  }
  /* KL(P || P) = 0, and adding a constant to a row of logits changes nothing. */
  float p2[6] = {11, 12, 13, -4.5f, -6, -3};
  if (lrun_make(&r, "KLDivLoss", "kl_same", 2, d, p, 2, d, p2, false, NULL, 0)) {
    float y = lrun_value(&r, "kl same value");
    TH_CHECK(fabsf(y) < 1e-6f, "KL of a distribution with itself is %g", (double)y);
    if (sal_plan_backward(r.p, "y", NULL) == SAL_STATUS_OK) {
      const sal_tensor *gp, *gq;
      TH_OK(sal_plan_grad(r.p, "x0", &gp));
      TH_OK(sal_plan_grad(r.p, "x1", &gq));
      float zero[6] = {0};
      /* At P = Q both gradients vanish (to double rounding of P). */
      if (gp) th_allclose("kl gradient of p at the minimum", gp->data, zero, 6, 0, 1e-7);
      if (gq) th_allclose("kl gradient of q at the minimum", gq->data, zero, 6, 0, 1e-7);
    }
    lrun_free(&r);
  }
}

static void mse_values(void) {
  /* mean of (1-1)^2, (2-0)^2, (3-0)^2 = 13/3; gradient wrt a: 2 (a - b) / 3 = [0, 4/3, 2]. */
  float a[3] = {1, 2, 3}, b[3] = {1, 0, 0};
  int64_t d[1] = {3};
  lrun r;
  if (lrun_make(&r, "MSELoss", "mse", 1, d, a, 1, d, b, false, NULL, 0)) {
    float y = lrun_value(&r, "mse value");
    th_allclose("mse of known values", &y, (float[]){13.0f / 3.0f}, 1, 1e-7, 0);
    if (sal_plan_backward(r.p, "y", NULL) == SAL_STATUS_OK) {
      const sal_tensor *ga, *gb;
      TH_OK(sal_plan_grad(r.p, "x0", &ga));
      TH_OK(sal_plan_grad(r.p, "x1", &gb));
      if (ga) th_allclose("mse gradient of a", ga->data, (float[]){0, 4.0f / 3.0f, 2}, 3, 1e-7, 0);
      if (gb) th_allclose("mse gradient of b", gb->data, (float[]){0, -4.0f / 3.0f, -2}, 3, 1e-7, 0);
    }
    lrun_free(&r);
  }
}

/* The classifier head: logits = Gemm(x, W, b, transB=1), loss = CE(logits, t). The plan chains
 * CE's backward into Gemm's: dW = G^T x and db = sum_rows G with G = (softmax - onehot) / N. */
static void head_chain(void) {
  sal_ctx *ctx = th_ctx();
  enum { N = 3, D = 4, K = 5 };
  float x[N * D], W[K * D], b[K], t[N] = {4, 0, 2};
  th_input f = {.fill = TH_FILL_NORMAL};
  th_fill_buf(&f, x, N * D, 1);
  th_fill_buf(&f, W, K * D, 2);
  th_fill_buf(&f, b, K, 3);
  sal_graph *g = NULL;
  sal_plan *p = NULL;
  sal_tensor *xt = NULL, *tt = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  TH_OK(sal_graph_add_input(g, "x", 2, (int64_t[]){-1, D}));
  TH_OK(sal_graph_add_input(g, "t", 1, (int64_t[]){-1}));
  TH_OK(sal_graph_add_param(g, "W", 2, (int64_t[]){K, D}, W, true));
  TH_OK(sal_graph_add_param(g, "b", 1, (int64_t[]){K}, b, true));
  sal_attr tb[] = {sal_attr_int("transB", 1)};
  TH_OK(sal_graph_add_node(g, "Gemm", "fc", (const char *[]){"x", "W", "b"}, 3, (const char *[]){"logits"}, 1, tb, 1));
  TH_OK(sal_graph_add_node(g, "SoftmaxCrossEntropyLoss", "loss", (const char *[]){"logits", "t"}, 2,
                           (const char *[]){"L"}, 1, NULL, 0));
  TH_OK(sal_graph_add_output(g, "L"));
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = N;
  o.grad_params = true;
  o.grad_inputs = true;
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  TH_OK(sal_tensor_wrap(ctx, 2, (int64_t[]){N, D}, x, &xt));
  TH_OK(sal_tensor_wrap(ctx, 1, (int64_t[]){N}, t, &tt));
  if (!p || !xt || !tt) goto done;
  TH_OK(sal_plan_set_input(p, "x", xt));
  TH_OK(sal_plan_set_input(p, "t", tt));
  TH_OK(sal_plan_forward(p));
  TH_OK(sal_plan_backward(p, "L", NULL));
  double G[N][K], loss = 0;
  for (int i = 0; i < N; i++) {
    double z[K], m = -INFINITY, s = 0;
    for (int c = 0; c < K; c++) {
      z[c] = b[c];
      for (int j = 0; j < D; j++) z[c] += (double)x[i * D + j] * W[c * D + j];
      m = fmax(m, z[c]);
    }
    for (int c = 0; c < K; c++) s += exp(z[c] - m);
    loss += (m + log(s) - z[(int)t[i]]) / N;
    for (int c = 0; c < K; c++) G[i][c] = (exp(z[c] - m) / s - (c == (int)t[i])) / N;
  }
  float wantW[K * D], wantb[K], wantL = (float)loss;
  for (int c = 0; c < K; c++) {
    wantb[c] = 0;
    double sb = 0;
    for (int i = 0; i < N; i++) sb += G[i][c];
    wantb[c] = (float)sb;
    for (int j = 0; j < D; j++) {
      double sw = 0;
      for (int i = 0; i < N; i++) sw += G[i][c] * x[i * D + j];
      wantW[c * D + j] = (float)sw;
    }
  }
  const sal_tensor *L, *gW, *gb;
  /* Float logits (7 digits) feed the loss and gradients: 1e-5 relative, 1e-6 absolute. */
  if (sal_plan_value(p, "L", &L) == SAL_STATUS_OK) th_allclose("head loss", L->data, &wantL, 1, 1e-5, 0);
  if (sal_plan_grad(p, "W", &gW) == SAL_STATUS_OK) th_allclose("head dW", gW->data, wantW, K * D, 1e-5, 1e-6);
  if (sal_plan_grad(p, "b", &gb) == SAL_STATUS_OK) th_allclose("head db", gb->data, wantb, K, 1e-5, 1e-6);
done:
  sal_tensor_free(xt);
  sal_tensor_free(tt);
  sal_plan_free(p);
  sal_graph_free(g);
}

static void bad_inputs(void) {
  int64_t xd[2] = {2, 5}, td[1] = {2};
  float x[10] = {0};
  /* Class 7 for K = 5, as a constant target: the forward fails naming the node and the row. */
  lrun r;
  if (lrun_make(&r, "SoftmaxCrossEntropyLoss", "ce_bad", 2, xd, x, 1, td, (float[]){1, 7}, true, NULL, 0)) {
    TH_FAILS(sal_plan_forward(r.p), SAL_STATUS_BAD_INPUT,
             "node 'ce_bad' (SoftmaxCrossEntropyLoss): target of row 1 is 7, not a class index in 0..4");
    TH_FAILS(sal_plan_backward(r.p, "y", NULL), SAL_STATUS_BAD_STATE, "call forward first");
    lrun_free(&r);
  }
  /* Non-integer, negative and NaN targets from a graph input; a valid one then succeeds. */
  float bad[3][2] = {{2.5f, 0}, {0, -1}, {NAN, 0}};
  const char *msg[3] = {"target of row 0 is 2.5, not a class index", "target of row 1 is -1, not a class index",
                        "target of row 0 is nan, not a class index"};
  float tv[2] = {0, 0};
  if (lrun_make(&r, "SoftmaxCrossEntropyLoss", "ce_in", 2, xd, x, 1, td, tv, false, NULL, 0)) {
    for (int i = 0; i < 3; i++) {
      memcpy(tv, bad[i], sizeof tv);
      TH_OK(sal_plan_set_input(r.p, "x1", r.in[1]));
      TH_FAILS(sal_plan_forward(r.p), SAL_STATUS_BAD_INPUT, msg[i]);
    }
    tv[0] = 4, tv[1] = 0;
    TH_OK(sal_plan_set_input(r.p, "x1", r.in[1]));
    /* all-zero logits: log 5 per row */
    float y = lrun_value(&r, "ce valid after errors");
    th_allclose("ce of zero logits", &y, (float[]){(float)log(5.0)}, 1, 1e-6, 0);
    lrun_free(&r);
  }

  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  TH_OK(sal_graph_add_input(g, "x25", 2, (int64_t[]){2, 5}));
  TH_OK(sal_graph_add_input(g, "x35", 2, (int64_t[]){3, 5}));
  TH_OK(sal_graph_add_input(g, "x235", 3, (int64_t[]){2, 3, 5}));
  TH_OK(sal_graph_add_input(g, "t3", 1, (int64_t[]){3}));
  TH_OK(sal_graph_add_input(g, "t2", 1, (int64_t[]){2}));
  /* Graph inputs cannot be empty; parameters can. */
  TH_OK(sal_graph_add_param(g, "x20", 2, (int64_t[]){2, 0}, NULL, false));
  const char *const y[] = {"y"};
  TH_FAILS(sal_graph_add_node(g, "SoftmaxCrossEntropyLoss", "ce_t", (const char *[]){"x25", "t3"}, 2, y, 1, NULL, 0),
           SAL_STATUS_SHAPE, "node 'ce_t' (SoftmaxCrossEntropyLoss): target (3) must be (N) for logits (2, 5)");
  TH_FAILS(sal_graph_add_node(g, "SoftmaxCrossEntropyLoss", "ce_3d", (const char *[]){"x235", "t2"}, 2, y, 1, NULL, 0),
           SAL_STATUS_SHAPE, "node 'ce_3d' (SoftmaxCrossEntropyLoss): logits (2, 3, 5) must be (N, K)");
  TH_FAILS(sal_graph_add_node(g, "SoftmaxCrossEntropyLoss", "ce_k0", (const char *[]){"x20", "t2"}, 2, y, 1, NULL, 0),
           SAL_STATUS_SHAPE, "node 'ce_k0' (SoftmaxCrossEntropyLoss): logits (2, 0) must be (N, K) with N, K >= 1");
  sal_attr ls[] = {sal_attr_float("label_smoothing", 1.5f)};
  TH_FAILS(sal_graph_add_node(g, "SoftmaxCrossEntropyLoss", "ce_ls", (const char *[]){"x25", "t2"}, 2, y, 1, ls, 1),
           SAL_STATUS_BAD_INPUT, "node 'ce_ls' (SoftmaxCrossEntropyLoss): label_smoothing = 1.5 is outside [0, 1]");
  sal_attr red[] = {sal_attr_string("reduction", "sum")};
  TH_FAILS(sal_graph_add_node(g, "SoftmaxCrossEntropyLoss", "ce_sum", (const char *[]){"x25", "t2"}, 2, y, 1, red, 1),
           SAL_STATUS_UNSUPPORTED, "node 'ce_sum' (SoftmaxCrossEntropyLoss): reduction 'sum' is not supported");
  TH_FAILS(sal_graph_add_node(g, "KLDivLoss", "kl_shape", (const char *[]){"x25", "x35"}, 2, y, 1, NULL, 0),
           SAL_STATUS_SHAPE, "node 'kl_shape' (KLDivLoss): p_logits (2, 5) and q_logits (3, 5) differ in shape");
  TH_FAILS(sal_graph_add_node(g, "KLDivLoss", "kl_1d", (const char *[]){"t2", "t2"}, 2, y, 1, NULL, 0),
           SAL_STATUS_SHAPE, "node 'kl_1d' (KLDivLoss): p_logits (2) must be (N, K)");
  TH_FAILS(sal_graph_add_node(g, "MSELoss", "mse_shape", (const char *[]){"x25", "x35"}, 2, y, 1, NULL, 0),
           SAL_STATUS_SHAPE, "node 'mse_shape' (MSELoss): a (2, 5) and b (3, 5) differ in shape");
  TH_FAILS(sal_graph_add_node(g, "MSELoss", "mse_empty", (const char *[]){"x20", "x20"}, 2, y, 1, NULL, 0),
           SAL_STATUS_SHAPE, "node 'mse_empty' (MSELoss): a (2, 0) is empty");
  sal_graph_free(g);
}

/* Fault injection: each allocation of plan creation (the kernels' workspaces among them) may
 * fail; every failure must be a clean OUT_OF_MEMORY (ASan/LSan report leaks). */
static void alloc_faults(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  TH_OK(sal_graph_add_input(g, "x", 2, (int64_t[]){-1, 4}));
  TH_OK(sal_graph_add_input(g, "t", 1, (int64_t[]){-1}));
  TH_OK(sal_graph_add_param(g, "W", 2, (int64_t[]){3, 4}, NULL, true));
  TH_OK(sal_graph_add_input(g, "q", 2, (int64_t[]){-1, 3}));
  sal_attr tb[] = {sal_attr_int("transB", 1)};
  TH_OK(sal_graph_add_node(g, "Gemm", "fc", (const char *[]){"x", "W"}, 2, (const char *[]){"z"}, 1, tb, 1));
  TH_OK(sal_graph_add_node(g, "SoftmaxCrossEntropyLoss", "ce", (const char *[]){"z", "t"}, 2, (const char *[]){"L1"}, 1, NULL, 0));
  TH_OK(sal_graph_add_node(g, "KLDivLoss", "kl", (const char *[]){"z", "q"}, 2, (const char *[]){"L2"}, 1, NULL, 0));
  TH_OK(sal_graph_add_node(g, "MSELoss", "mse", (const char *[]){"z", "q"}, 2, (const char *[]){"L3"}, 1, NULL, 0));
  int failures = 0, done = 0;
  for (int k = 1; k < 400 && !done; k++) {
    sal_plan_opts o = sal_plan_opts_default();
    o.batch = 2;
    o.grad_inputs = true;
    o.grad_params = true;
    sal_plan *p = NULL;
    sal_ctx_fail_alloc_after(ctx, k);
    sal_status st = sal_plan_new(ctx, g, &o, &p);
    sal_ctx_fail_alloc_after(ctx, 0);
    if (st == SAL_STATUS_OK) {
      done = 1;
      sal_plan_free(p);
      break;
    }
    failures++;
    TH_CHECK(st == SAL_STATUS_OUT_OF_MEMORY, "fault %d: got %s (%s)", k, sal_status_name(st), sal_ctx_last_error(ctx));
  }
  TH_CHECK(done && failures > 8, "fault injection: %d failures, plan built %d", failures, done);
  sal_graph_free(g);
}

int main(void) {
  gradchecks();
  ce_values();
  kl_values();
  mse_values();
  head_chain();
  bad_inputs();
  alloc_faults();
  return th_finish("test_ops_loss");
}
