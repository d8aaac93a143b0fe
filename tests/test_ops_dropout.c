/* Tests for Dropout: inference is the identity (gradient-checked), training keeps each element
 * with probability 1 - ratio and scales by 1/(1 - ratio), its backward uses the forward's mask, and
 * masks are a pure function of (seed, node, pass, element). Central differences cannot check the
 * training backward (every forward draws a new mask), so it is checked directly against the mask. */
#include "harness.h"
#include "ops/dropout.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Inference (and ratio 0 in training, where the mask is all ones) is differentiable as usual. */
static void gradchecks(void) {
  static const float r05[] = {0.5f}, on[] = {1.0f};
  th_op_case cases[] = {
      {.label = "dropout inference", .op = "Dropout", .n_in = 1, .in = {{"x", 4, {2, 3, 5, 5}}}, .n_out = 1},
      {.label = "dropout inference mask", .op = "Dropout", .n_in = 1, .in = {{"x", 2, {1, 7}}}, .n_out = 2,
       .attrs = {sal_attr_float("ratio", 0.3f)}, .n_attrs = 1},
      {.label = "dropout inference inputs", .op = "Dropout", .n_in = 3,
       .in = {{"x", 2, {2, 9}},
              {"ratio", 0, {0}, .constant = true, .fill = TH_FILL_DATA, .data = r05},
              {"training_mode", 0, {0}, .constant = true, .fill = TH_FILL_DATA, .data = on}},
       .n_out = 2},
      {.label = "dropout training ratio 0", .op = "Dropout", .n_in = 1, .in = {{"x", 4, {2, 3, 4, 4}}}, .n_out = 2,
       .attrs = {sal_attr_float("ratio", 0.0f)}, .n_attrs = 1, .training = true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) th_gradcheck(&cases[i], SAL_KERNELS_REF);
}

/* A graph x -> Dropout (n_drop nodes "d0", "d1", ... with outputs "y<i>" and "m<i>"), and with two
 * nodes their sum "y"; all are graph outputs, so plans keep them readable. x is (dims) with
 * dims[0] = -1 allowed (the batch). */
static sal_graph *dropout_graph(int ndim, const int64_t *dims, float ratio, int n_drop) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  if (sal_graph_new(ctx, &g) || sal_graph_add_input(g, "x", ndim, dims)) goto fail;
  sal_attr r = sal_attr_float("ratio", ratio);
  for (int i = 0; i < n_drop; i++) {
    char nm[16], y[16], m[16];
    snprintf(nm, sizeof nm, "d%d", i);
    snprintf(y, sizeof y, "y%d", i);
    snprintf(m, sizeof m, "m%d", i);
    if (sal_graph_add_node(g, "Dropout", nm, (const char *[]){"x"}, 1, (const char *[]){y, m}, 2, &r, 1) ||
        sal_graph_add_output(g, y) || sal_graph_add_output(g, m))
      goto fail;
  }
  if (n_drop == 2 &&
      (sal_graph_add_node(g, "Add", "sum", (const char *[]){"y0", "y1"}, 2, (const char *[]){"y"}, 1, NULL, 0) ||
       sal_graph_add_output(g, "y")))
    goto fail;
  return g;
fail:
  th_failed++;
  fprintf(stderr, "FAIL building the dropout graph: %s\n", sal_ctx_last_error(ctx));
  sal_graph_free(g);
  return NULL;
}

static sal_plan *make_plan(sal_graph *g, int64_t batch, bool training) {
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = batch;
  o.training = training;
  o.grad_inputs = true;
  o.kernels = SAL_KERNELS_REF;
  sal_plan *p = NULL;
  TH_OK(sal_plan_new(th_ctx(), g, &o, &p));
  return p;
}

/* Reads value `name` of p into a new malloc'd copy (NULL on failure, counted). */
static float *read_value(sal_plan *p, const char *name, bool grad, int64_t *n) {
  const sal_tensor *t = NULL;
  sal_status st = grad ? sal_plan_grad(p, name, &t) : sal_plan_value(p, name, &t);
  TH_CHECK(st == SAL_STATUS_OK, "reading %s of '%s': %s", grad ? "gradient" : "value", name,
           sal_ctx_last_error(th_ctx()));
  if (st) return NULL;
  *n = sal_tensor_numel(t);
  float *c = malloc((size_t)*n * sizeof(float));
  memcpy(c, t->data, (size_t)*n * sizeof(float));
  return c;
}

static int count_diff(const float *a, const float *b, int64_t n) {
  int d = 0;
  for (int64_t i = 0; i < n; i++) d += a[i] != b[i];
  return d;
}

/* Inference: the output is x bit for bit and the mask is all ones. */
static void inference_identity(void) {
  const int64_t dims[] = {2, 3, 5, 7};
  sal_graph *g = dropout_graph(4, dims, 0.5f, 1);
  if (!g) return;
  sal_plan *p = make_plan(g, 1, false);
  sal_tensor *xt = NULL;
  TH_OK(sal_tensor_new(th_ctx(), 4, dims, &xt));
  if (p && xt) {
    int64_t n = sal_tensor_numel(xt), ny = 0, nm = 0;
    sal_rng_normal(3, 0, 0, xt->data, (size_t)n);
    TH_OK(sal_plan_set_input(p, "x", xt));
    TH_OK(sal_plan_forward(p));
    float *y = read_value(p, "y0", false, &ny), *m = read_value(p, "m0", false, &nm);
    float *ones = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) ones[i] = 1.0f;
    if (y) th_allclose("dropout inference output", y, xt->data, n, 0, 0);
    if (m) th_allclose("dropout inference mask", m, ones, n, 0, 0);
    free(y);
    free(m);
    free(ones);
  }
  sal_tensor_free(xt);
  sal_plan_free(p);
  sal_graph_free(g);
}

/* One training forward + backward on p, checked element by element:
 *   - the mask output is 0/1 and equals [u >= ratio] for u from sal__dropout_uniform at this pass;
 *   - the output is x * scale where kept and 0 where dropped (x has no zeros, so the mask can be
 *     recovered from y alone, and it must agree with the mask output);
 *   - dx = mask * dy * scale exactly (the kernel and this check compute the same float product).
 * Returns the mask (malloc'd) for reproducibility checks. */
static float *check_training_pass(sal_plan *p, const sal_tensor *x, float ratio, uint64_t pass, const char *label) {
  int64_t n = sal_tensor_numel(x), ny = 0, nm = 0, nd = 0;
  char lbl[128];
  float scale = 1.0f / (1.0f - ratio);
  TH_OK(sal_plan_forward(p));
  float *y = read_value(p, "y0", false, &ny), *m = read_value(p, "m0", false, &nm);
  float *u = malloc((size_t)n * sizeof(float)), *want = malloc((size_t)n * sizeof(float));
  sal_tensor *dy = NULL;
  TH_OK(sal_tensor_new(th_ctx(), x->shape.ndim, x->shape.d, &dy));
  if (!y || !m || !dy) goto done;
  sal_rng_normal(77, pass, 0, dy->data, (size_t)n);

  sal__dropout_uniform(sal_ctx_seed(th_ctx()), 0, pass, 0, u, (size_t)n);
  for (int64_t i = 0; i < n; i++) want[i] = u[i] >= ratio ? 1.0f : 0.0f;
  snprintf(lbl, sizeof lbl, "%s: mask = [u >= ratio] at pass %llu", label, (unsigned long long)pass);
  th_allclose(lbl, m, want, n, 0, 0);
  for (int64_t i = 0; i < n; i++) want[i] = y[i] != 0.0f ? 1.0f : 0.0f;
  snprintf(lbl, sizeof lbl, "%s: mask recovered from the output", label);
  th_allclose(lbl, m, want, n, 0, 0);
  for (int64_t i = 0; i < n; i++) want[i] = m[i] != 0.0f ? x->data[i] * scale : 0.0f;
  snprintf(lbl, sizeof lbl, "%s: output = x * mask / (1 - ratio)", label);
  th_allclose(lbl, y, want, n, 0, 0);

  TH_OK(sal_plan_backward(p, "y0", dy));
  float *dx = read_value(p, "x", true, &nd);
  if (dx) {
    for (int64_t i = 0; i < n; i++) want[i] = y[i] != 0.0f ? dy->data[i] * scale : 0.0f;
    snprintf(lbl, sizeof lbl, "%s: dx = mask * dy / (1 - ratio)", label);
    th_allclose(lbl, dx, want, n, 0, 0);
    free(dx);
  }
  /* The mask output carries no gradient: a backward seeded only there gives dx = 0. */
  TH_OK(sal_plan_backward(p, "m0", NULL));
  dx = read_value(p, "x", true, &nd);
  if (dx) {
    memset(want, 0, (size_t)n * sizeof(float));
    snprintf(lbl, sizeof lbl, "%s: no gradient through the mask", label);
    th_allclose(lbl, dx, want, n, 0, 0);
    free(dx);
  }
done:
  sal_tensor_free(dy);
  free(y);
  free(u);
  free(want);
  return m;
}

static void training_backward(void) {
  const int64_t dims[] = {2, 3, 17, 19}; /* odd sizes: the last mask chunk is partial */
  const float ratios[] = {0.3f, 0.75f};
  for (int r = 0; r < 2; r++) {
    sal_graph *g = dropout_graph(4, dims, ratios[r], 1);
    if (!g) return;
    sal_plan *p = make_plan(g, 1, true);
    th_input xin = {"x", 4, {2, 3, 17, 19}, .fill = TH_FILL_AWAY}; /* |x| >= 0.1: no zeros */
    sal_tensor *xt = NULL;
    TH_OK(sal_tensor_new(th_ctx(), 4, dims, &xt));
    if (p && xt) {
      int64_t n = sal_tensor_numel(xt);
      th_fill_buf(&xin, xt->data, n, 9);
      TH_OK(sal_plan_set_input(p, "x", xt));
      /* Two passes: the second draws a new mask, and backward must follow it. */
      float *m1 = check_training_pass(p, xt, ratios[r], 1, "training pass 1");
      float *m2 = check_training_pass(p, xt, ratios[r], 2, "training pass 2");
      if (m1 && m2) TH_CHECK(count_diff(m1, m2, n) > 0, "ratio %g: passes 1 and 2 drew the same mask", ratios[r]);
      free(m1);
      free(m2);
    }
    sal_tensor_free(xt);
    sal_plan_free(p);
    sal_graph_free(g);
  }
}

/* Keep fraction and pairwise independence, checked statistically. With n Bernoulli(1 - p) draws the
 * kept count has standard deviation sqrt(n p (1 - p)); a 5-sigma band fails a correct
 * implementation with probability < 1e-6 (and the draws are fixed by the seed, so the outcome is
 * deterministic), while a swapped ratio (keep with probability p) or a counter reused across
 * neighbouring elements lands hundreds of sigmas out. */
static void keep_fraction(void) {
  int64_t n = th_quick() ? 16384 : 65536;
  const int64_t dims[] = {1, n};
  const float ratios[] = {0.1f, 0.5f, 0.9f};
  sal_tensor *xt = NULL;
  TH_OK(sal_tensor_new(th_ctx(), 2, dims, &xt));
  if (!xt) return;
  for (int64_t i = 0; i < n; i++) xt->data[i] = 1.0f;
  for (int r = 0; r < 3; r++) {
    double p = ratios[r], q = 1.0 - p;
    sal_graph *g = dropout_graph(2, dims, ratios[r], 1);
    sal_plan *pl = g ? make_plan(g, 1, true) : NULL;
    if (pl) {
      TH_OK(sal_plan_set_input(pl, "x", xt));
      TH_OK(sal_plan_forward(pl));
      int64_t nm = 0;
      float *m = read_value(pl, "m0", false, &nm);
      if (m) {
        int64_t kept = 0, both = 0;
        for (int64_t i = 0; i < n; i++) kept += m[i] != 0.0f;
        for (int64_t i = 0; i + 1 < n; i += 2) both += m[i] != 0.0f && m[i + 1] != 0.0f;
        double frac = (double)kept / (double)n, tol = 5.0 * sqrt(p * q / (double)n);
        TH_CHECK(fabs(frac - q) <= tol, "ratio %g: kept fraction %.5f, want %.5f +- %.5f", p, frac, q, tol);
        /* Disjoint pairs: both kept with probability q^2, over n/2 independent trials. */
        double npairs = (double)(n / 2), fboth = (double)both / npairs;
        double tol2 = 5.0 * sqrt(q * q * (1.0 - q * q) / npairs);
        TH_CHECK(fabs(fboth - q * q) <= tol2, "ratio %g: both of a pair kept %.5f, want %.5f +- %.5f", p, fboth,
                 q * q, tol2);
        free(m);
      }
    }
    sal_plan_free(pl);
    sal_graph_free(g);
  }
  sal_tensor_free(xt);
}

/* The mask of one forward pass from a fresh plan over g at `batch` (malloc'd, NULL on failure). */
static float *first_mask(sal_graph *g, int64_t batch, const char *mask_name, int64_t *n) {
  sal_plan *p = make_plan(g, batch, true);
  float *m = NULL;
  sal_tensor *xt = NULL;
  sal_shape s;
  if (p && !sal_plan_shape(p, "x", &s) && !sal_tensor_new(th_ctx(), s.ndim, s.d, &xt)) {
    for (int64_t i = 0; i < sal_tensor_numel(xt); i++) xt->data[i] = 1.0f;
    TH_OK(sal_plan_set_input(p, "x", xt));
    TH_OK(sal_plan_forward(p));
    m = read_value(p, mask_name, false, n);
  }
  sal_tensor_free(xt);
  sal_plan_free(p);
  return m;
}

static void reproducibility(void) {
  sal_ctx *ctx = th_ctx();
  uint64_t seed0 = sal_ctx_seed(ctx);
  const int64_t dims[] = {-1, 3, 7, 5};
  sal_graph *g = dropout_graph(4, dims, 0.5f, 2);
  if (!g) return;
  int64_t n1 = 0, n2 = 0, n3 = 0, n4 = 0;
  /* Same seed, same pass (the first of a new plan): the same mask. */
  float *a = first_mask(g, 2, "m0", &n1), *b = first_mask(g, 2, "m0", &n2);
  if (a && b) th_allclose("same seed and pass: same mask", a, b, n1, 0, 0);
  /* The mask depends on the node: the second dropout on the same input draws another. */
  float *c = first_mask(g, 2, "m1", &n3);
  if (a && c) TH_CHECK(count_diff(a, c, n1) > 0, "nodes d0 and d1 drew the same mask");
  /* Element e's draw does not depend on the batch size: batch 1 is the first half of batch 2. */
  float *d = first_mask(g, 1, "m0", &n4);
  if (a && d) th_allclose("batch 1 mask = first sample of batch 2", d, a, n4, 0, 0);
  free(b);
  free(c);
  free(d);
  /* Another context seed: another mask. */
  sal_ctx_set_seed(ctx, seed0 + 1);
  b = first_mask(g, 2, "m0", &n2);
  if (a && b) TH_CHECK(count_diff(a, b, n1) > 0, "seeds %llu and %llu drew the same mask",
                       (unsigned long long)seed0, (unsigned long long)seed0 + 1);
  sal_ctx_set_seed(ctx, seed0);
  free(a);
  free(b);

  /* Two dropouts feeding one Add: the second backward adds into the first's gradient, each with
   * its own mask: dx = (m0 + m1) * dy / (1 - ratio) with dy = 1. */
  sal_plan *p = make_plan(g, 2, true);
  sal_tensor *xt = NULL;
  sal_shape s;
  if (p && !sal_plan_shape(p, "x", &s) && !sal_tensor_new(ctx, s.ndim, s.d, &xt)) {
    int64_t n = sal_tensor_numel(xt), nm = 0, nd = 0;
    sal_rng_normal(5, 0, 0, xt->data, (size_t)n);
    TH_OK(sal_plan_set_input(p, "x", xt));
    TH_OK(sal_plan_forward(p));
    TH_OK(sal_plan_backward(p, "y", NULL));
    float *m0 = read_value(p, "m0", false, &nm), *m1 = read_value(p, "m1", false, &nm);
    float *dx = read_value(p, "x", true, &nd);
    if (m0 && m1 && dx) {
      float *want = malloc((size_t)n * sizeof(float));
      for (int64_t i = 0; i < n; i++) want[i] = m0[i] * 2.0f + m1[i] * 2.0f;
      th_allclose("two dropouts: accumulated gradient", dx, want, n, 0, 0);
      free(want);
    }
    free(m0);
    free(m1);
    free(dx);
  }
  sal_tensor_free(xt);
  sal_plan_free(p);
  sal_graph_free(g);
}

static void bad_inputs(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  if (!g) return;
  TH_OK(sal_graph_add_input(g, "x", 2, (int64_t[]){2, 3}));
  TH_OK(sal_graph_add_input(g, "r", 1, (int64_t[]){1}));
  TH_OK(sal_graph_add_param(g, "half", 0, NULL, (const float[]){0.5f}, false));
  TH_OK(sal_graph_add_param(g, "pair", 1, (int64_t[]){2}, (const float[]){0.5f, 0.5f}, false));
  sal_attr one = sal_attr_float("ratio", 1.0f), neg = sal_attr_float("ratio", -0.1f);
  const char *y[] = {"y"}, *ym[] = {"y", "m", "z"};
  TH_FAILS(sal_graph_add_node(g, "Dropout", "d_one", (const char *[]){"x"}, 1, y, 1, &one, 1), SAL_STATUS_BAD_INPUT,
           "node 'd_one' (Dropout): ratio 1 is outside [0, 1)");
  TH_FAILS(sal_graph_add_node(g, "Dropout", "d_neg", (const char *[]){"x"}, 1, y, 1, &neg, 1), SAL_STATUS_BAD_INPUT,
           "node 'd_neg' (Dropout): ratio -0.1 is outside [0, 1)");
  TH_FAILS(sal_graph_add_node(g, "Dropout", "d_both", (const char *[]){"x", "half"}, 2, y, 1, &neg, 1),
           SAL_STATUS_BAD_INPUT, "node 'd_both' (Dropout): 'ratio' is given both as an attribute and as input 1");
  TH_FAILS(sal_graph_add_node(g, "Dropout", "d_var", (const char *[]){"x", "r"}, 2, y, 1, NULL, 0),
           SAL_STATUS_UNSUPPORTED, "node 'd_var' (Dropout): 'ratio' (input 1) must be a constant");
  TH_FAILS(sal_graph_add_node(g, "Dropout", "d_vec", (const char *[]){"x", "pair"}, 2, y, 1, NULL, 0),
           SAL_STATUS_SHAPE, "node 'd_vec' (Dropout): 'ratio' (input 1) must be a scalar, got shape (2)");
  TH_FAILS(sal_graph_add_node(g, "Dropout", "d_mode", (const char *[]){"x", "", "pair"}, 3, y, 1, NULL, 0),
           SAL_STATUS_SHAPE, "node 'd_mode' (Dropout): training_mode (input 2) must be a scalar, got shape (2)");
  TH_FAILS(sal_graph_add_node(g, "Dropout", "d_3out", (const char *[]){"x"}, 1, ym, 3, NULL, 0), SAL_STATUS_BAD_INPUT,
           "node 'd_3out' (Dropout): 3 outputs, expected 1..2");
  /* A ratio input with the default attribute, and an omitted ratio before training_mode, are fine. */
  TH_OK(sal_graph_add_node(g, "Dropout", "d_ok", (const char *[]){"x", "half", "r"}, 3, y, 1, NULL, 0));
  TH_OK(sal_graph_add_node(g, "Dropout", "d_ok2", (const char *[]){"y", "", "half"}, 3, (const char *[]){"y2", "m2"}, 2, NULL, 0));
  sal_graph_free(g);
}

int main(void) {
  gradchecks();
  inference_identity();
  training_backward();
  keep_fraction();
  reproducibility();
  bad_inputs();
  return th_finish("test_ops_dropout");
}
