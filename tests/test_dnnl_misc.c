/* oneDNN kernels of the eltwise, binary, softmax, matmul, resize and concat families against the
 * reference kernels: one-node graphs over many shapes (th_compare_kernels), declined cases, and
 * multi-node graphs whose intermediate values the plan keeps blocked (nChw16c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- multi-node graphs: reference vs oneDNN, with blocked intermediates ---- */

typedef struct gnode {
  const char *op;
  const char *in[4];
  int n_in;
  const char *out;
  sal_attr attrs[4];
  int n_attrs;
} gnode;

typedef struct gcase {
  const char *label;
  int n_in;
  th_input in[4];
  int n_nodes;
  gnode nodes[8];
  const char *output;
  const char *blocked[4]; /* values the plan must keep blocked (NULL-terminated) */
  double rtol, atol;
} gcase;

static sal_graph *gbuild(const gcase *c) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  if (sal_graph_new(ctx, &g)) return NULL;
  for (int i = 0; i < c->n_in; i++) {
    const th_input *in = &c->in[i];
    sal_status st;
    if (in->param) {
      sal_shape s;
      sal_shape_make(&s, in->ndim, in->dims);
      int64_t n = sal_shape_numel(&s);
      float *buf = calloc((size_t)n, sizeof(float));
      th_fill_buf(in, buf, n, 300 + (uint64_t)i);
      st = sal_graph_add_param(g, in->name, in->ndim, in->dims, buf, true);
      free(buf);
    } else {
      st = sal_graph_add_input(g, in->name, in->ndim, in->dims);
    }
    if (st) goto fail;
  }
  for (int j = 0; j < c->n_nodes; j++) {
    const gnode *n = &c->nodes[j];
    char nm[32];
    snprintf(nm, sizeof nm, "n%d", j);
    if (sal_graph_add_node(g, n->op, nm, n->in, n->n_in, &n->out, 1, n->attrs, n->n_attrs)) goto fail;
  }
  if (sal_graph_add_output(g, c->output)) goto fail;
  return g;
fail:
  sal_graph_free(g);
  return NULL;
}

/* Runs c with reference and with automatic (oneDNN) kernels (th_graph_compare): the output and
 * the gradient of every input and parameter, every node on oneDNN, the listed values blocked. */
static void gcompare(const gcase *c) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = gbuild(c);
  TH_CHECK(g != NULL, "%s: graph: %s", c->label, sal_ctx_last_error(ctx));
  if (!g) return;
  sal_tensor *x[4] = {0};
  const char *xn[4], *grad_of[5] = {0}, *blocked[5] = {0};
  int n_x = 0;
  for (int i = 0; i < c->n_in; i++) {
    grad_of[i] = c->in[i].name;
    if (c->in[i].param) continue;
    sal_tensor_new(ctx, c->in[i].ndim, c->in[i].dims, &x[n_x]);
    th_fill_buf(&c->in[i], x[n_x]->data, sal_tensor_numel(x[n_x]), 200 + (uint64_t)i);
    xn[n_x++] = c->in[i].name;
  }
  for (int b = 0; b < 4 && c->blocked[b]; b++) blocked[b] = c->blocked[b];
  th_graph_compare(g, &(th_graph_cmp){.label = c->label, .output = c->output, .n_x = n_x, .x_names = xn, .x = x,
                                      .grad_of = grad_of, .blocked = blocked, .rtol = c->rtol, .atol = c->atol});
  for (int i = 0; i < 4; i++) sal_tensor_free(x[i]);
  sal_graph_free(g);
}

/* A node the oneDNN kernel declines must run the reference kernel under AUTO. */
static void check_declined(const th_op_case *c) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = th_build(c);
  if (!g) return;
  sal_plan_opts o = sal_plan_opts_default();
  sal_plan *p = NULL;
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  const char *kn = p ? sal_plan_node_kernel(p, 0) : NULL;
  TH_CHECK(kn && strcmp(kn, "ref") == 0, "%s: ran '%s', expected the reference kernel", c->label, kn ? kn : "?");
  sal_plan_free(p);
  sal_graph_free(g);
}

#define IN(nm, nd, ...) {nm, nd, {__VA_ARGS__}}
#define INF(nm, fl, nd, ...) {nm, nd, {__VA_ARGS__}, .fill = fl}
#define PARAM(nm, nd, ...) {nm, nd, {__VA_ARGS__}, .param = true}

/* ---- eltwise ---- */

static void test_relu(void) {
  /* Relu is exact in oneDNN (a compare and a select): forward and backward match bit for bit;
   * tolerance 1e-6 only guards against a -0/+0 difference in the comparison. */
  th_op_case cases[] = {
      {.label = "relu 1-d", .op = "Relu", .n_in = 1, .in = {IN("x", 1, 37)}, .n_out = 1},
      {.label = "relu 2-d", .op = "Relu", .n_in = 1, .in = {IN("x", 2, 3, 5)}, .n_out = 1},
      {.label = "relu 4-d b1", .op = "Relu", .n_in = 1, .in = {IN("x", 4, 1, 3, 7, 5)}, .n_out = 1},
      {.label = "relu 4-d b2 c16", .op = "Relu", .n_in = 1, .in = {IN("x", 4, 2, 16, 4, 4)}, .n_out = 1},
      {.label = "relu 4-d b3 c17", .op = "Relu", .n_in = 1, .in = {IN("x", 4, 3, 17, 3, 5)}, .n_out = 1},
      {.label = "relu 5-d", .op = "Relu", .n_in = 1, .in = {IN("x", 5, 2, 3, 2, 3, 4)}, .n_out = 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) th_compare_kernels(&cases[i], 0, 1e-6);
}

/* Every other oneDNN activation over plain shapes, with attributes and, at the kinks, the
 * reference's boundary conventions (exact boundary values in the data). */
static void test_activations(void) {
  static const float kinks[12] = {-4, -3, -1, -0.5f, 0, 0.5f, 1, 2, 3, 4, 6, -6};
  static const float lo = -1, hi = 2, zero = 0;
  static const float six = 6;
  /* {ndim, dims...} */
  const int64_t shapes[][6] = {{4, 1, 3, 7, 5}, {4, 2, 16, 4, 4}, {4, 3, 17, 3, 5}, {2, 5, 9}, {1, 37}, {5, 2, 3, 2, 3, 2}};
  struct {
    const char *op;
    sal_attr attrs[2];
    int n_attrs;
    double rtol, atol;
  } ops[] = {
      /* compare/select/multiply: identical roundings */
      {"LeakyRelu", {{0}}, 0, 0, 1e-6},
      {"LeakyRelu", {sal_attr_float("alpha", 0.3f)}, 1, 0, 1e-6},
      {"Clip", {sal_attr_float("min", -0.5f), sal_attr_float("max", 0.7f)}, 2, 0, 1e-6},
      {"Clip", {sal_attr_float("min", 0.0f)}, 1, 0, 1e-6},
      /* oneDNN evaluates exp/tanh with its own polynomial: a few ulp from libm */
      {"Sigmoid", {{0}}, 0, 1e-5, 1e-6},
      {"Tanh", {{0}}, 0, 1e-5, 1e-6},
      /* x*(x+3)/6 evaluated in a different order: an ulp or two */
      {"HardSwish", {{0}}, 0, 1e-6, 1e-6},
  };
  for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
      th_op_case c = {.op = ops[o].op, .n_in = 1, .n_out = 1, .n_attrs = ops[o].n_attrs};
      char lbl[96];
      snprintf(lbl, sizeof lbl, "%s#%zu shape %zu", ops[o].op, o, i);
      c.label = lbl;
      c.in[0] = (th_input){.name = "x", .ndim = (int)shapes[i][0]};
      memcpy(c.in[0].dims, &shapes[i][1], sizeof c.in[0].dims);
      memcpy(c.attrs, ops[o].attrs, sizeof ops[o].attrs);
      th_compare_kernels(&c, ops[o].rtol, ops[o].atol);
    }
  /* Kinks hit exactly: Clip's bounds (strict: no gradient at lo or hi), HardSwish at -3 and 3
   * (inclusive: (2x+3)/6), LeakyRelu and Relu at 0 (slope alpha / 0). */
  th_op_case k[] = {
      {.label = "clip kinks attrs", .op = "Clip", .n_in = 1, .in = {{"x", 1, {12}, .fill = TH_FILL_DATA, .data = kinks}},
       .n_out = 1, .attrs = {sal_attr_float("min", -1), sal_attr_float("max", 2)}, .n_attrs = 2},
      {.label = "clip kinks inputs", .op = "Clip", .n_in = 3,
       .in = {{"x", 2, {3, 4}, .fill = TH_FILL_DATA, .data = kinks},
              {"lo", 0, {0}, .constant = true, .fill = TH_FILL_DATA, .data = &lo},
              {"hi", 0, {0}, .constant = true, .fill = TH_FILL_DATA, .data = &hi}}, .n_out = 1},
      {.label = "clip relu6", .op = "Clip", .n_in = 3,
       .in = {{"x", 2, {3, 4}, .fill = TH_FILL_DATA, .data = kinks},
              {"lo", 0, {0}, .constant = true, .fill = TH_FILL_DATA, .data = &zero},
              {"hi", 0, {0}, .constant = true, .fill = TH_FILL_DATA, .data = &six}}, .n_out = 1},
      {.label = "hardswish kinks", .op = "HardSwish", .n_in = 1, .in = {{"x", 1, {12}, .fill = TH_FILL_DATA, .data = kinks}}, .n_out = 1},
      {.label = "leakyrelu kinks", .op = "LeakyRelu", .n_in = 1, .in = {{"x", 1, {12}, .fill = TH_FILL_DATA, .data = kinks}},
       .n_out = 1, .attrs = {sal_attr_float("alpha", 0.2f)}, .n_attrs = 1},
      {.label = "relu kinks", .op = "Relu", .n_in = 1, .in = {{"x", 1, {12}, .fill = TH_FILL_DATA, .data = kinks}}, .n_out = 1},
      {.label = "sigmoid large", .op = "Sigmoid", .n_in = 1, .in = {{"x", 1, {12}, .fill = TH_FILL_DATA, .data = kinks}}, .n_out = 1},
  };
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) th_compare_kernels(&k[i], 1e-6, 1e-6);
  /* Declined: HardSigmoid (no oneDNN 2.6 algorithm), Clip with min > max. */
  th_op_case no[] = {
      {.label = "hardsigmoid", .op = "HardSigmoid", .n_in = 1, .in = {IN("x", 2, 3, 4)}, .n_out = 1},
      {.label = "clip min > max", .op = "Clip", .n_in = 1, .in = {IN("x", 2, 3, 4)}, .n_out = 1,
       .attrs = {sal_attr_float("min", 1), sal_attr_float("max", -1)}, .n_attrs = 2},
  };
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) check_declined(&no[i]);
}

/* ---- softmax ---- */

static void test_softmax(void) {
  /* oneDNN's exp is a polynomial a few ulp from libm and its sums run in float (the reference
   * sums in double): over at most 1000 terms that stays below 1e-5 relative. LogSoftmax values
   * reach ~10 in magnitude, hence the absolute 1e-5. */
  struct {
    int ndim;
    int64_t d[5];
    int64_t axis;
  } cases[] = {
      {2, {1, 10}, -1}, {2, {3, 1000}, 1}, {2, {4, 17}, 0}, {3, {2, 5, 7}, 1},
      {4, {2, 17, 3, 3}, 1}, {4, {1, 16, 5, 4}, 1}, {4, {2, 3, 4, 5}, -1}, {4, {3, 2, 5, 4}, 2}, {1, {33}, 0},
      {5, {2, 3, 2, 3, 4}, 2},
  };
  const char *ops[] = {"Softmax", "LogSoftmax"};
  for (int o = 0; o < 2; o++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      th_op_case c = {.op = ops[o], .n_in = 1, .n_out = 1, .n_attrs = 1};
      char lbl[96];
      snprintf(lbl, sizeof lbl, "%s case %zu axis %lld", ops[o], i, (long long)cases[i].axis);
      c.label = lbl;
      c.in[0] = (th_input){.name = "x", .ndim = cases[i].ndim};
      memcpy(c.in[0].dims, cases[i].d, sizeof cases[i].d);
      c.attrs[0] = sal_attr_int("axis", cases[i].axis);
      th_compare_kernels(&c, 1e-5, 1e-5);
    }
}

/* ---- Gemm, MatMul ---- */

/* Gemm with A' (M,K), B' (K,N) and C of rank cnd (-1: none). */
static void gemm_case(int64_t M, int64_t K, int64_t N, int ta, int tb, int cnd, int64_t c0, int64_t c1, float alpha,
                      float beta, bool params) {
  th_op_case c = {.op = "Gemm", .n_in = 2, .n_out = 1};
  char lbl[128];
  snprintf(lbl, sizeof lbl, "gemm M%lld K%lld N%lld ta%d tb%d C%d alpha %g beta %g", (long long)M, (long long)K,
           (long long)N, ta, tb, cnd, (double)alpha, (double)beta);
  c.label = lbl;
  c.in[0] = (th_input){.name = "A", .ndim = 2, .dims = {ta ? K : M, ta ? M : K}};
  c.in[1] = (th_input){.name = "B", .ndim = 2, .dims = {tb ? N : K, tb ? K : N}, .param = params};
  if (cnd >= 0) {
    c.n_in = 3;
    c.in[2] = (th_input){.name = "C", .ndim = cnd, .dims = {c0, c1}, .param = params};
  }
  c.attrs[0] = sal_attr_int("transA", ta);
  c.attrs[1] = sal_attr_int("transB", tb);
  c.attrs[2] = sal_attr_float("alpha", alpha);
  c.attrs[3] = sal_attr_float("beta", beta);
  c.n_attrs = 4;
  /* Products of K <= 300 N(0,1) terms summed in float by both kernels in different orders:
   * |error| ~ sqrt(K) 2^-24 |terms|, below 1e-4 absolute for outputs of size ~sqrt(K); the
   * gradients sum over M or N similarly (atol scales with the largest gradient). */
  th_compare_kernels(&c, 1e-4, 1e-4);
}

static void test_matmul(void) {
  /* classifier heads: transB = 1 with a (N) bias, batch 1 and > 1, weights as parameters */
  gemm_case(1, 64, 10, 0, 1, 1, 10, 0, 1, 1, true);
  gemm_case(3, 300, 17, 0, 1, 1, 17, 0, 1, 1, true);
  gemm_case(8, 33, 20, 0, 1, 2, 1, 20, 1, 1, true);
  /* every transpose, every C form, scaled */
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      gemm_case(5, 7, 3, ta, tb, -1, 0, 0, 1, 1, false);
      gemm_case(4, 9, 6, ta, tb, 2, 4, 6, 1, 1, false);
      gemm_case(4, 9, 6, ta, tb, 2, 4, 1, 0.5f, 2, false);
      gemm_case(2, 5, 3, ta, tb, 0, 0, 0, 1.5f, 1, true);
      gemm_case(3, 4, 5, ta, tb, 1, 5, 0, 2, 0.25f, true);
      gemm_case(3, 4, 5, ta, tb, 1, 5, 0, 1, 0, true);
    }
  struct {
    int na;
    int64_t a[5];
    int nb;
    int64_t b[5];
  } mm[] = {
      {2, {4, 7}, 2, {7, 5}},         {2, {1, 33}, 2, {33, 17}},        {3, {2, 3, 8}, 2, {8, 5}},
      {4, {2, 3, 4, 6}, 2, {6, 2}},   {3, {3, 4, 5}, 3, {3, 5, 2}},     {4, {2, 2, 3, 4}, 4, {2, 2, 4, 5}},
      {1, {6}, 2, {6, 3}},            {2, {4, 6}, 1, {6}},              {3, {2, 3, 6}, 1, {6}},
      {1, {9}, 1, {9}},
  };
  for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++) {
    th_op_case c = {.op = "MatMul", .n_in = 2, .n_out = 1};
    char lbl[64];
    snprintf(lbl, sizeof lbl, "matmul case %zu", i);
    c.label = lbl;
    c.in[0] = (th_input){.name = "A", .ndim = mm[i].na};
    c.in[1] = (th_input){.name = "B", .ndim = mm[i].nb};
    memcpy(c.in[0].dims, mm[i].a, sizeof mm[i].a);
    memcpy(c.in[1].dims, mm[i].b, sizeof mm[i].b);
    th_compare_kernels(&c, 1e-4, 1e-4); /* as for Gemm */
  }
  /* declined: B batched while A's batch differs (broadcast) */
  th_op_case no = {.label = "matmul batch broadcast", .op = "MatMul", .n_in = 2,
                   .in = {IN("A", 3, 1, 4, 5), IN("B", 3, 3, 5, 2)}, .n_out = 1};
  check_declined(&no);
  th_op_case no2 = {.label = "matmul 2-d A, batched B", .op = "MatMul", .n_in = 2,
                    .in = {IN("A", 2, 4, 5), IN("B", 3, 3, 5, 2)}, .n_out = 1};
  check_declined(&no2);
}

/* ---- binary ---- */

static void test_binary(void) {
  /* Forward: one IEEE operation per element in both kernels, so results agree to rounding of
   * the same operation (tolerance 1e-6 relative). Backward: broadcast reductions sum in a
   * different order than the serial reference; with up to ~1000 N(0,1)-sized float terms the
   * difference stays below 1e-5 of the largest gradient. */
  const double rtol = 1e-5, atol = 1e-5;
  const char *ops[] = {"Add", "Sub", "Mul", "Div"};
  for (int o = 0; o < 4; o++) {
    th_fill fb = o == 3 ? TH_FILL_POSITIVE : TH_FILL_NORMAL; /* divisors away from 0 */
    th_op_case cases[] = {
        {.label = "same 2-d", .n_in = 2, .in = {IN("a", 2, 3, 5), INF("b", fb, 2, 3, 5)}},
        {.label = "same 4-d c17", .n_in = 2, .in = {IN("a", 4, 2, 17, 3, 5), INF("b", fb, 4, 2, 17, 3, 5)}},
        {.label = "bias c3", .n_in = 2, .in = {IN("a", 4, 2, 3, 4, 5), {"b", 4, {1, 3, 1, 1}, .param = true, .fill = fb}}},
        {.label = "bias c32 b1", .n_in = 2, .in = {IN("a", 4, 1, 32, 3, 3), {"b", 4, {1, 32, 1, 1}, .param = true, .fill = fb}}},
        {.label = "per-sample c17", .n_in = 2, .in = {IN("a", 4, 3, 17, 5, 5), INF("b", fb, 4, 3, 17, 1, 1)}},
        {.label = "rank 3+1", .n_in = 2, .in = {IN("a", 3, 2, 3, 7), INF("b", fb, 1, 7)}},
        {.label = "row 2-d", .n_in = 2, .in = {IN("a", 2, 5, 9), INF("b", fb, 2, 5, 1)}},
        {.label = "spatial", .n_in = 2, .in = {IN("a", 4, 2, 5, 3, 3), INF("b", fb, 4, 2, 1, 3, 3)}},
        {.label = "scalar", .n_in = 2, .in = {IN("a", 3, 2, 3, 4), {"b", 0, {0}, .param = true, .fill = fb}}},
        {.label = "5-d", .n_in = 2, .in = {IN("a", 5, 2, 3, 2, 3, 2), INF("b", fb, 5, 1, 3, 1, 3, 1)}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      char lbl[96];
      snprintf(lbl, sizeof lbl, "%s %s", ops[o], cases[i].label);
      cases[i].label = lbl;
      cases[i].op = ops[o];
      cases[i].n_out = 1;
      th_compare_kernels(&cases[i], rtol, atol);
    }
    if (o == 3) continue;
    /* a broadcasts, b does not: Add/Mul swap operands, Sub computes -(b - a) */
    th_op_case sw[] = {
        {.label = "swap c3", .n_in = 2, .in = {IN("a", 4, 1, 3, 1, 1), IN("b", 4, 2, 3, 4, 5)}},
        {.label = "swap 2-d", .n_in = 2, .in = {IN("a", 1, 6), IN("b", 2, 4, 6)}},
    };
    for (size_t i = 0; i < sizeof sw / sizeof sw[0]; i++) {
      char lbl[96];
      snprintf(lbl, sizeof lbl, "%s %s", ops[o], sw[i].label);
      sw[i].label = lbl;
      sw[i].op = ops[o];
      sw[i].n_out = 1;
      th_compare_kernels(&sw[i], rtol, atol);
    }
  }
  /* Declined: both operands broadcast; a broadcast numerator. */
  th_op_case no[] = {
      {.label = "sub both broadcast", .op = "Sub", .n_in = 2, .in = {IN("a", 3, 2, 1, 4), IN("b", 3, 1, 3, 1)}, .n_out = 1},
      {.label = "div broadcast numerator", .op = "Div", .n_in = 2, .in = {IN("a", 1, 3), INF("b", TH_FILL_POSITIVE, 2, 4, 3)}, .n_out = 1},
  };
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) check_declined(&no[i]);
}

/* ---- graphs with blocked intermediates ---- */

static void test_blocked_graphs(void) {
  /* Same arithmetic as the one-node cases; reductions in a different order: 1e-5. */
  gcase cases[] = {
      /* residual join: Add -> Relu */
      {.label = "add->relu join c16", .n_in = 2, .in = {IN("x", 4, 2, 16, 5, 3), IN("z", 4, 2, 16, 5, 3)}, .n_nodes = 3,
       .nodes = {{"Relu", {"x"}, 1, "r"}, {"Add", {"r", "z"}, 2, "s"}, {"Relu", {"s"}, 1, "y"}}, .output = "y",
       .blocked = {"r"}},
      /* broadcast bias, ReLU output kept blocked for a Mul that also reads x */
      {.label = "add bias->relu c20", .n_in = 2, .in = {IN("x", 4, 2, 20, 3, 3), PARAM("w", 4, 1, 20, 1, 1)}, .n_nodes = 3,
       .nodes = {{"Add", {"x", "w"}, 2, "s"}, {"Relu", {"s"}, 1, "t"}, {"Mul", {"t", "x"}, 2, "y"}}, .output = "y",
       .blocked = {"t"}},
      /* r = relu(x) is blocked (Relu -> Add); the Add mixes blocked r with plain x (input) */
      {.label = "relu->add skip c17", .n_in = 1, .in = {IN("x", 4, 2, 17, 5, 3)}, .n_nodes = 2,
       .nodes = {{"Relu", {"x"}, 1, "r"}, {"Add", {"r", "x"}, 2, "y"}}, .output = "y", .blocked = {"r"}},
      /* both Add inputs blocked; x's gradient accumulates into a plain tensor from two blocked paths */
      {.label = "relu,relu->add c3", .n_in = 1, .in = {IN("x", 4, 1, 3, 4, 4)}, .n_nodes = 3,
       .nodes = {{"Relu", {"x"}, 1, "r"}, {"Mul", {"x", "x"}, 2, "m"}, {"Add", {"r", "m"}, 2, "y"}},
       .output = "y", .blocked = {"r", "m"}},
      /* blocked -> plain -> blocked chain with a blocked per-channel operand and a parameter */
      {.label = "mul bias chain c32", .n_in = 2, .in = {IN("x", 4, 2, 32, 3, 3), PARAM("w", 4, 1, 32, 1, 1)}, .n_nodes = 4,
       .nodes = {{"Mul", {"x", "w"}, 2, "a"}, {"Relu", {"a"}, 1, "b"}, {"Sub", {"b", "a"}, 2, "c"}, {"Div", {"c", "w2"}, 2, "y"}},
       .output = "y", .blocked = {"a", "b", "c"}},
      /* Relu with a plain input (graph input with two consumers: its gradient accumulates) and a
       * blocked output: the layout change and the accumulation share the scratch */
      {.label = "relu plain->blocked accumulate", .n_in = 1, .in = {IN("x", 4, 2, 5, 3, 3)}, .n_nodes = 3,
       .nodes = {{"Relu", {"x"}, 1, "r"}, {"Add", {"r", "x"}, 2, "s"}, {"Relu", {"s"}, 1, "y"}},
       .output = "y", .blocked = {"r", "s"}},
      /* per-sample broadcast operand blocked (N,C,1,1), reduced in the blocked layout */
      {.label = "se-style scale c20", .n_in = 2, .in = {IN("x", 4, 2, 20, 4, 4), IN("s", 4, 2, 20, 1, 1)}, .n_nodes = 3,
       .nodes = {{"Relu", {"s"}, 1, "t"}, {"Relu", {"x"}, 1, "u"}, {"Mul", {"u", "t"}, 2, "y"}},
       .output = "y", .blocked = {"t", "u"}},
      /* HardSwish (backward in C) from a plain input with two consumers into a blocked value;
       * Sigmoid from blocked to the plain output */
      {.label = "hardswish,add,sigmoid c19", .n_in = 1, .in = {INF("x", TH_FILL_AWAY, 4, 2, 19, 3, 4)}, .n_nodes = 3,
       .nodes = {{"HardSwish", {"x"}, 1, "h"}, {"Add", {"h", "x"}, 2, "s"}, {"Sigmoid", {"s"}, 1, "y"}},
       .output = "y", .blocked = {"h", "s"}},
      /* activations chained blocked -> blocked */
      {.label = "leaky,tanh,clip c16", .n_in = 1, .in = {IN("x", 4, 1, 16, 5, 5)}, .n_nodes = 3,
       .nodes = {{"LeakyRelu", {"x"}, 1, "a", {sal_attr_float("alpha", 0.1f)}, 1},
                 {"Tanh", {"a"}, 1, "b"},
                 {"Clip", {"b"}, 1, "y", {sal_attr_float("min", -0.5f), sal_attr_float("max", 0.5f)}, 2}},
       .output = "y", .blocked = {"a", "b"}},
      /* softmax over blocked channels (C = 20 pads to 32), into and out of blocked values */
      {.label = "relu,softmax,mul c20", .n_in = 1, .in = {IN("x", 4, 2, 20, 3, 3)}, .n_nodes = 4,
       .nodes = {{"Relu", {"x"}, 1, "r"}, {"Softmax", {"r"}, 1, "s", {sal_attr_int("axis", 1)}, 1},
                 {"LogSoftmax", {"r"}, 1, "l", {sal_attr_int("axis", 1)}, 1}, {"Mul", {"s", "l"}, 2, "y"}},
       .output = "y", .blocked = {"r", "s", "l"}},
  };
  /* the chain's divisor: a positive parameter */
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    gcase *c = &cases[i];
    c->rtol = 1e-5;
    c->atol = 1e-5;
    if (strcmp(c->label, "mul bias chain c32") == 0) {
      c->in[2] = (th_input){"w2", 4, {1, 32, 1, 1}, .param = true, .fill = TH_FILL_POSITIVE};
      c->n_in = 3;
    }
    gcompare(c);
  }
}

int main(void) {
  test_relu();
  test_activations();
  test_softmax();
  test_matmul();
  test_binary();
  test_blocked_graphs();
  return th_finish("test_dnnl_misc");
}
