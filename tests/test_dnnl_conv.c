/* oneDNN kernels of the convolution family against the reference kernels: outputs and gradients,
 * accumulation, batch-norm statistics, the weight cache, implementation names, blocked tensors. */
#include "harness.h"
#include "graph/internal.h"
#include "kernels/dnnl/env.h"
#include "tensor/layout.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Shapes cover odd sizes, strides, groups, depthwise, dilation, 1x1, the 7x7/2 first layer, batch
 * 1 and > 1. Blocked (nChw16c) tensors are driven through the kernel interface directly, since
 * plans keep activations plain for now. */
static const int64_t P1[4] = {1, 1, 1, 1}, S2[2] = {2, 2}, D2[2] = {2, 2}, K3[2] = {3, 3}, K2[2] = {2, 2};

/* Tolerance for a conv whose longest f32 reduction has K terms of unit-scale products. The
 * reference accumulates in double; oneDNN in f32 in its own order, so its error grows like
 * sqrt(K) roundings of a sum of size ~sqrt(K): about K * 6e-8. atol = 1e-5*sqrt(K) is 1e-5
 * relative to a typical output (~sqrt(K)) and still >= 10x the expected error for K <= 3000. The
 * harness scales the gradients' atol by their largest magnitude. */
static void compare_conv(const th_op_case *c) {
  const th_input *x = &c->in[0], *w = &c->in[1];
  int64_t k_fwd = w->dims[1] * w->dims[2] * w->dims[3];
  int64_t k_bwd_w = x->dims[0] * x->dims[2] * x->dims[3];
  int64_t k_bwd_d = w->dims[0] * w->dims[2] * w->dims[3];
  int64_t kmax = k_fwd > k_bwd_w ? k_fwd : k_bwd_w;
  if (k_bwd_d > kmax) kmax = k_bwd_d;
  th_compare_kernels(c, 1e-4, 1e-5 * sqrt((double)kmax));
}

static void conv_cases(void) {
  int q = th_quick();
  th_op_case cases[] = {
      {.label = "conv 3x3 pad 1 bias batch 1", .op = "Conv", .n_in = 3,
       .in = {{"x", 4, {1, 16, 9, 7}}, {"w", 4, {16, 16, 3, 3}, .param = true}, {"b", 1, {16}, .param = true}},
       .n_out = 1, .attrs = {sal_attr_ints("pads", 4, P1)}, .n_attrs = 1},
      {.label = "conv 3x3 stride 2 odd batch 3", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {3, 8, 11, 9}}, {"w", 4, {12, 8, 3, 3}, .param = true}}, .n_out = 1,
       .attrs = {sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, P1)}, .n_attrs = 2},
      {.label = "conv groups 2", .op = "Conv", .n_in = 3,
       .in = {{"x", 4, {2, 8, 7, 7}}, {"w", 4, {8, 4, 3, 3}, .param = true}, {"b", 1, {8}, .param = true}},
       .n_out = 1, .attrs = {sal_attr_int("group", 2), sal_attr_ints("pads", 4, P1)}, .n_attrs = 2},
      {.label = "conv depthwise", .op = "Conv", .n_in = 3,
       .in = {{"x", 4, {2, 16, 9, 9}}, {"w", 4, {16, 1, 3, 3}, .param = true}, {"b", 1, {16}, .param = true}},
       .n_out = 1, .attrs = {sal_attr_int("group", 16), sal_attr_ints("pads", 4, P1)}, .n_attrs = 2},
      {.label = "conv depthwise stride 2 asymmetric pads", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {1, 32, 8, 8}}, {"w", 4, {32, 1, 3, 3}, .param = true}}, .n_out = 1,
       .attrs = {sal_attr_int("group", 32), sal_attr_ints("strides", 2, S2),
                 sal_attr_ints("pads", 4, (const int64_t[]){0, 0, 1, 1})},
       .n_attrs = 3},
      {.label = "conv dilation 2", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {1, 8, 10, 9}}, {"w", 4, {8, 8, 3, 3}, .param = true}}, .n_out = 1,
       .attrs = {sal_attr_ints("dilations", 2, D2), sal_attr_ints("pads", 4, (const int64_t[]){2, 2, 2, 2})},
       .n_attrs = 2},
      {.label = "conv 1x1 pointwise bias batch 2", .op = "Conv", .n_in = 3,
       .in = {{"x", 4, {2, 32, 7, 7}}, {"w", 4, {64, 32, 1, 1}, .param = true}, {"b", 1, {64}, .param = true}},
       .n_out = 1},
      {.label = "conv 1x1 stride 2 downsample", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {1, 32, 8, 8}}, {"w", 4, {64, 32, 1, 1}, .param = true}}, .n_out = 1,
       .attrs = {sal_attr_ints("strides", 2, S2)}, .n_attrs = 1},
      {.label = "conv 7x7/2 first layer", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {1, 3, 32, 32}}, {"w", 4, {16, 3, 7, 7}, .param = true}}, .n_out = 1,
       .attrs = {sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, (const int64_t[]){3, 3, 3, 3})}, .n_attrs = 2},
      {.label = "conv 7x7/2 first layer batch 2 bias", .op = "Conv", .n_in = 3,
       .in = {{"x", 4, {2, 3, 19, 17}}, {"w", 4, {16, 3, 7, 7}, .param = true}, {"b", 1, {16}, .param = true}},
       .n_out = 1,
       .attrs = {sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, (const int64_t[]){3, 3, 3, 3})}, .n_attrs = 2},
      {.label = "conv SAME_UPPER 4x4 stride 2", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {1, 16, 7, 5}}, {"w", 4, {16, 16, 4, 4}, .param = true}}, .n_out = 1,
       .attrs = {sal_attr_string("auto_pad", "SAME_UPPER"), sal_attr_ints("strides", 2, S2)}, .n_attrs = 2},
      {.label = "conv odd channels 20 -> 24", .op = "Conv", .n_in = 3,
       .in = {{"x", 4, {2, 20, 6, 6}}, {"w", 4, {24, 20, 3, 3}, .param = true}, {"b", 1, {24}, .param = true}},
       .n_out = 1},
      {.label = "conv resnet 3x3 64", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {1, 64, q ? 8 : 16, q ? 8 : 16}}, {"w", 4, {64, 64, 3, 3}, .param = true}}, .n_out = 1,
       .attrs = {sal_attr_ints("pads", 4, P1)}, .n_attrs = 1},
      /* The weight is a graph input: its gradient comes from backward-weights like a parameter's. */
      {.label = "conv weight as input", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {2, 16, 6, 6}}, {"w", 4, {16, 16, 3, 3}}}, .n_out = 1},
      /* Frozen weights with a trainable bias: backward-weights runs only for d(bias). */
      {.label = "conv frozen weight trainable bias", .op = "Conv", .n_in = 3,
       .in = {{"x", 4, {1, 16, 6, 6}}, {"w", 4, {16, 16, 3, 3}, .constant = true}, {"b", 1, {16}, .param = true}},
       .n_out = 1, .attrs = {sal_attr_ints("pads", 4, P1)}, .n_attrs = 1},
      /* Frozen weights, no bias: no backward-weights primitive at all. */
      {.label = "conv frozen weight", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {1, 16, 6, 6}}, {"w", 4, {32, 16, 3, 3}, .constant = true}}, .n_out = 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) compare_conv(&cases[i]);
}

/* 1792 values floor(1.5 z), z ~ N(0,1): integers in about -5..4, so most pooling windows hold
 * repeated values, often the maximum twice. */
static const float *tied_grid(void) {
  static float tied[2 * 16 * 8 * 7];
  th_input nf = {.fill = TH_FILL_NORMAL};
  th_fill_buf(&nf, tied, 2 * 16 * 8 * 7, 31);
  for (size_t i = 0; i < sizeof tied / sizeof tied[0]; i++) tied[i] = floorf(tied[i] * 1.5f);
  return tied;
}

static void bn_pool_cases(void) {
  /* Batch-norm: the reference reduces in double, oneDNN in f32 over N*H*W <= 300 values (relative
   * error ~1e-6); d(input) in training subtracts two means from dy, so it is compared at 1e-4
   * relative with 1e-5 absolute slack (scaled by the largest gradient). */
  th_op_case bn[] = {
      {.label = "bn inference", .op = "BatchNormalization", .n_in = 5,
       .in = {{"x", 4, {2, 16, 5, 5}}, {"scale", 1, {16}, .param = true}, {"B", 1, {16}, .param = true},
              {"mean", 1, {16}, .constant = true}, {"var", 1, {16}, .constant = true, .fill = TH_FILL_POSITIVE}},
       .n_out = 1},
      {.label = "bn inference 3 channels", .op = "BatchNormalization", .n_in = 5,
       .in = {{"x", 4, {1, 3, 7, 7}}, {"scale", 1, {3}, .param = true}, {"B", 1, {3}, .param = true},
              {"mean", 1, {3}, .constant = true}, {"var", 1, {3}, .constant = true, .fill = TH_FILL_POSITIVE}},
       .n_out = 1, .attrs = {sal_attr_float("epsilon", 1e-3f)}, .n_attrs = 1},
      {.label = "bn training", .op = "BatchNormalization", .n_in = 5, .training = true,
       .in = {{"x", 4, {3, 16, 5, 5}}, {"scale", 1, {16}, .param = true}, {"B", 1, {16}, .param = true},
              {"mean", 1, {16}, .constant = true}, {"var", 1, {16}, .constant = true, .fill = TH_FILL_POSITIVE}},
       .n_out = 1},
      {.label = "bn training odd", .op = "BatchNormalization", .n_in = 5, .training = true,
       .in = {{"x", 4, {2, 5, 4, 3}}, {"scale", 1, {5}, .param = true}, {"B", 1, {5}, .param = true},
              {"mean", 1, {5}, .constant = true}, {"var", 1, {5}, .constant = true, .fill = TH_FILL_POSITIVE}},
       .n_out = 1},
  };
  for (size_t i = 0; i < sizeof bn / sizeof bn[0]; i++) th_compare_kernels(&bn[i], 1e-4, 1e-5);
  /* Pools: max pooling selects (exact; distinct values, no ties) and its backward sums at most
   * kH*kW values per input; averages divide sums of <= 9 values: 1e-6 covers the rounding. */
  th_op_case pools[] = {
      {.label = "maxpool 3x3 s2 pad 1 ceil", .op = "MaxPool", .n_in = 1,
       .in = {{"x", 4, {2, 16, 8, 7}, .fill = TH_FILL_DISTINCT}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, P1),
                 sal_attr_int("ceil_mode", 1)},
       .n_attrs = 4},
      {.label = "maxpool 2x2 s2", .op = "MaxPool", .n_in = 1, .in = {{"x", 4, {1, 3, 9, 8}, .fill = TH_FILL_DISTINCT}},
       .n_out = 1, .attrs = {sal_attr_ints("kernel_shape", 2, K2), sal_attr_ints("strides", 2, S2)}, .n_attrs = 2},
      {.label = "avgpool exclude pad s2", .op = "AveragePool", .n_in = 1, .in = {{"x", 4, {2, 16, 7, 9}}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, P1)},
       .n_attrs = 3},
      {.label = "avgpool exclude pad ceil", .op = "AveragePool", .n_in = 1, .in = {{"x", 4, {1, 8, 6, 6}}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, P1),
                 sal_attr_int("ceil_mode", 1)},
       .n_attrs = 4},
      {.label = "avgpool include pad", .op = "AveragePool", .n_in = 1, .in = {{"x", 4, {1, 8, 7, 7}}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, P1),
                 sal_attr_int("count_include_pad", 1)},
       .n_attrs = 4},
      {.label = "gap", .op = "GlobalAveragePool", .n_in = 1, .in = {{"x", 4, {2, 16, 5, 7}}}, .n_out = 1},
      {.label = "gmp", .op = "GlobalMaxPool", .n_in = 1, .in = {{"x", 4, {2, 16, 5, 7}, .fill = TH_FILL_DISTINCT}},
       .n_out = 1},
  };
  for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++) th_compare_kernels(&pools[i], 1e-6, 1e-6);
  /* Exact ties: values on a coarse grid repeat inside most windows. Both kernels must route each
   * window's gradient to its first maximum in row-major window order (PyTorch's rule). Overlapping
   * windows sum up to 4 gradients per input in different orders (1e-6 covers that rounding); a
   * kernel breaking ties another way moves a whole O(1) window gradient to another pixel. */
  const float *tied = tied_grid();
  th_op_case tie_cases[] = {
      {.label = "maxpool ties 3x3 s2 pad 1 ceil", .op = "MaxPool", .n_in = 1,
       .in = {{"x", 4, {2, 16, 8, 7}, .fill = TH_FILL_DATA, .data = tied}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, P1),
                 sal_attr_int("ceil_mode", 1)},
       .n_attrs = 4},
      {.label = "maxpool ties 2x2 s2", .op = "MaxPool", .n_in = 1,
       .in = {{"x", 4, {1, 3, 9, 8}, .fill = TH_FILL_DATA, .data = tied}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K2), sal_attr_ints("strides", 2, S2)}, .n_attrs = 2},
      {.label = "maxpool ties 3x3 s1", .op = "MaxPool", .n_in = 1,
       .in = {{"x", 4, {1, 16, 8, 7}, .fill = TH_FILL_DATA, .data = tied}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K3)}, .n_attrs = 1},
  };
  for (size_t i = 0; i < sizeof tie_cases / sizeof tie_cases[0]; i++) th_compare_kernels(&tie_cases[i], 1e-6, 1e-6);
}

/* Runs a graph with the given kernels: forward, backward from "y" (all-ones seed), and returns
 * copies of y and of the gradients of `names` (caller frees). */
static int run_graph(sal_graph *g, sal_kernels kernels, bool training, bool grad_inputs, const char *input,
                     const float *xdata, const char *const *names, int n_names, float **out_y, float **grads) {
  sal_ctx *ctx = th_ctx();
  sal_plan_opts o = sal_plan_opts_default();
  o.kernels = kernels;
  o.training = training;
  o.grad_inputs = grad_inputs;
  o.grad_params = true;
  sal_plan *p = NULL;
  sal_tensor *x = NULL;
  int ok = 0;
  sal_shape s;
  if (sal_plan_new(ctx, g, &o, &p) || sal_plan_shape(p, input, &s) ||
      sal_tensor_wrap(ctx, s.ndim, s.d, (float *)xdata, &x) || sal_plan_set_input(p, input, x) ||
      sal_plan_forward(p) || sal_plan_backward(p, "y", NULL)) {
    TH_CHECK(0, "run_graph: %s", sal_ctx_last_error(ctx));
    goto done;
  }
  const sal_tensor *t;
  if (sal_plan_value(p, "y", &t)) {
    TH_CHECK(0, "run_graph: %s", sal_ctx_last_error(ctx));
    goto done;
  }
  *out_y = malloc((size_t)sal_tensor_numel(t) * sizeof(float));
  memcpy(*out_y, t->data, (size_t)sal_tensor_numel(t) * sizeof(float));
  for (int i = 0; i < n_names; i++) {
    if (sal_plan_grad(p, names[i], &t)) {
      TH_CHECK(0, "run_graph: %s", sal_ctx_last_error(ctx));
      goto done;
    }
    grads[i] = malloc((size_t)sal_tensor_numel(t) * sizeof(float));
    memcpy(grads[i], t->data, (size_t)sal_tensor_numel(t) * sizeof(float));
  }
  ok = 1;
done:
  sal_tensor_free(x);
  sal_plan_free(p);
  return ok;
}

/* PyTorch's tie rule by hand: a 2x2 stride-2 max pool over x (1,1,2,4) = [[1 1 0 0] [1 1 0 0]]
 * (both windows all ties) routes each window's gradient (1, from run_graph's all-ones seed) to its
 * first element in row-major order: dx = [[1 0 1 0] [0 0 0 0]], with reference and oneDNN kernels. */
static void maxpool_tie_rule(void) {
  static const float x[8] = {1, 1, 0, 0, 1, 1, 0, 0}, want[8] = {1, 0, 1, 0, 0, 0, 0, 0};
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(th_ctx(), &g));
  if (!g) return;
  sal_attr pool[2] = {sal_attr_ints("kernel_shape", 2, K2), sal_attr_ints("strides", 2, S2)};
  TH_OK(sal_graph_add_input(g, "x", 4, (int64_t[]){1, 1, 2, 4}));
  TH_OK(sal_graph_add_node(g, "MaxPool", "mp", (const char *[]){"x"}, 1, (const char *[]){"y"}, 1, pool, 2));
  TH_OK(sal_graph_add_output(g, "y"));
  const sal_kernels kinds[2] = {SAL_KERNELS_REF, SAL_KERNELS_DNNL};
  for (int k = 0; k < 2; k++) {
    float *y = NULL, *dx = NULL;
    if (run_graph(g, kinds[k], false, true, "x", x, (const char *const[]){"x"}, 1, &y, &dx)) {
      th_allclose(k ? "maxpool tie rule (dnnl): y" : "maxpool tie rule (ref): y", y, (const float[]){1, 0}, 2, 0, 0);
      th_allclose(k ? "maxpool tie rule (dnnl): dx" : "maxpool tie rule (ref): dx", dx, want, 8, 0, 0);
    }
    free(y);
    free(dx);
  }
  sal_graph_free(g);
}

static double maxabs(const float *v, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
  return m;
}

static void add_node(sal_graph *g, const char *op, const char *name, const char *const *ins, int n_in, const char *out,
                     const sal_attr *attrs, int n_attrs) {
  TH_OK(sal_graph_add_node(g, op, name, ins, n_in, &out, 1, attrs, n_attrs));
}

/* Gradient accumulation: x feeds two convs sharing one weight and bias, a max pool, an average pool and
 * two batch-norms; every oneDNN backward after the first into x (and the second into w) must add
 * through its scratch buffer. Checked against the reference plan. */
static void accumulation(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  const int64_t xd[4] = {2, 16, 6, 6};
  float *w = malloc(16 * 16 * 9 * sizeof(float)), *xs = malloc(2 * 16 * 36 * sizeof(float));
  float *sc = malloc(16 * sizeof(float)), *var = malloc(16 * sizeof(float));
  /* Normal values: an exact tie inside a max-pool window has probability ~0. */
  th_input fill = {.fill = TH_FILL_NORMAL};
  th_fill_buf(&fill, xs, 2 * 16 * 36, 5);
  th_fill_buf(&fill, w, 16 * 16 * 9, 6);
  th_fill_buf(&fill, sc, 16, 7);
  fill.fill = TH_FILL_POSITIVE;
  th_fill_buf(&fill, var, 16, 8);
  TH_OK(sal_graph_add_input(g, "x", 4, xd));
  TH_OK(sal_graph_add_param(g, "w", 4, (int64_t[]){16, 16, 3, 3}, w, true));
  TH_OK(sal_graph_add_param(g, "sc", 1, (int64_t[]){16}, sc, true));
  TH_OK(sal_graph_add_param(g, "cb", 1, (int64_t[]){16}, var, true));
  TH_OK(sal_graph_add_param(g, "mean", 1, (int64_t[]){16}, NULL, false));
  TH_OK(sal_graph_add_param(g, "var", 1, (int64_t[]){16}, var, false));
  sal_attr pads = sal_attr_ints("pads", 4, P1);
  sal_attr pool[3] = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("pads", 4, P1), sal_attr_int("count_include_pad", 1)};
  TH_OK(sal_graph_add_node(g, "Conv", "c1", (const char *[]){"x", "w", "cb"}, 3, (const char *[]){"a"}, 1, &pads, 1));
  TH_OK(sal_graph_add_node(g, "Conv", "c2", (const char *[]){"x", "w", "cb"}, 3, (const char *[]){"b"}, 1, &pads, 1));
  TH_OK(sal_graph_add_node(g, "MaxPool", "mp", (const char *[]){"x"}, 1, (const char *[]){"c"}, 1, pool, 2));
  TH_OK(sal_graph_add_node(g, "AveragePool", "ap", (const char *[]){"x"}, 1, (const char *[]){"d"}, 1, pool, 3));
  TH_OK(sal_graph_add_node(g, "BatchNormalization", "bn1", (const char *[]){"x", "sc", "sc", "mean", "var"}, 5,
                           (const char *[]){"e"}, 1, NULL, 0));
  TH_OK(sal_graph_add_node(g, "BatchNormalization", "bn2", (const char *[]){"x", "sc", "sc", "mean", "var"}, 5,
                           (const char *[]){"f"}, 1, NULL, 0));
  TH_OK(sal_graph_add_node(g, "Mul", "m1", (const char *[]){"a", "b"}, 2, (const char *[]){"ab"}, 1, NULL, 0));
  TH_OK(sal_graph_add_node(g, "Add", "s1", (const char *[]){"ab", "c"}, 2, (const char *[]){"abc"}, 1, NULL, 0));
  TH_OK(sal_graph_add_node(g, "Mul", "m2", (const char *[]){"d", "e"}, 2, (const char *[]){"de"}, 1, NULL, 0));
  TH_OK(sal_graph_add_node(g, "Add", "s2", (const char *[]){"abc", "de"}, 2, (const char *[]){"g"}, 1, NULL, 0));
  TH_OK(sal_graph_add_node(g, "Mul", "m3", (const char *[]){"g", "f"}, 2, (const char *[]){"y"}, 1, NULL, 0));
  TH_OK(sal_graph_add_output(g, "y"));
  for (int training = 0; training < 2; training++) {
    const char *names[4] = {"x", "w", "sc", "cb"};
    float *ya = NULL, *yb = NULL, *ga[4] = {0}, *gb[4] = {0};
    if (run_graph(g, SAL_KERNELS_REF, training, true, "x", xs, names, 4, &ya, ga) &&
        run_graph(g, SAL_KERNELS_AUTO, training, true, "x", xs, names, 4, &yb, gb)) {
      /* Sums of products of convs (K = 144 terms forward, 2*36*2 per weight gradient) and
       * batch-norms: 1e-4 relative, with 1e-5 of each result's largest magnitude as absolute
       * slack for entries that cancel. */
      th_allclose(training ? "accumulate y (training)" : "accumulate y", yb, ya, 2 * 16 * 36, 1e-4,
                  1e-5 * maxabs(ya, 2 * 16 * 36));
      th_allclose("accumulate d(x)", gb[0], ga[0], 2 * 16 * 36, 1e-4, 1e-5 * maxabs(ga[0], 2 * 16 * 36));
      th_allclose("accumulate d(w)", gb[1], ga[1], 16 * 16 * 9, 1e-4, 1e-5 * maxabs(ga[1], 16 * 16 * 9));
      th_allclose("accumulate d(scale)", gb[2], ga[2], 16, 1e-4, 1e-5 * maxabs(ga[2], 16));
      th_allclose("accumulate d(conv bias)", gb[3], ga[3], 16, 1e-4, 1e-5 * maxabs(ga[3], 16));
    }
    free(ya);
    free(yb);
    for (int i = 0; i < 4; i++) {
      free(ga[i]);
      free(gb[i]);
    }
  }
  sal_graph_free(g);
  free(w);
  free(xs);
  free(sc);
  free(var);
}

/* One parameter as both scale and B of a batch-norm: the plan then accumulates into every
 * gradient of the node, d(input) included, although the input has a single consumer. */
static void duplicate_inputs(void) {
  sal_ctx *ctx = th_ctx();
  for (int training = 0; training < 2; training++) {
    sal_graph *g = NULL;
    TH_OK(sal_graph_new(ctx, &g));
    if (!g) return;
    float x[2 * 16 * 25], sv[16];
    th_input nf = {.fill = TH_FILL_NORMAL}, pf = {.fill = TH_FILL_POSITIVE};
    th_fill_buf(&nf, x, 2 * 16 * 25, 80);
    th_fill_buf(&pf, sv, 16, 81);
    TH_OK(sal_graph_add_input(g, "x", 4, (int64_t[]){2, 16, 5, 5}));
    TH_OK(sal_graph_add_param(g, "s", 1, (int64_t[]){16}, sv, true));
    TH_OK(sal_graph_add_param(g, "m", 1, (int64_t[]){16}, NULL, false));
    TH_OK(sal_graph_add_param(g, "v", 1, (int64_t[]){16}, sv, false));
    TH_OK(sal_graph_add_param(g, "r", 4, (int64_t[]){2, 16, 5, 5}, x, false));
    /* The ReLU makes the batch-norm's input an activation the plan keeps blocked. */
    add_node(g, "Relu", "r0", (const char *[]){"x"}, 1, "xr", NULL, 0);
    add_node(g, "BatchNormalization", "bn", (const char *[]){"xr", "s", "s", "m", "v"}, 5, "z", NULL, 0);
    add_node(g, "Mul", "m", (const char *[]){"z", "r"}, 2, "y", NULL, 0);
    TH_OK(sal_graph_add_output(g, "y"));
    const char *names[2] = {"x", "s"};
    float *ya = NULL, *yb = NULL, *ga[2] = {0}, *gb[2] = {0};
    if (run_graph(g, SAL_KERNELS_REF, training, true, "x", x, names, 2, &ya, ga) &&
        run_graph(g, SAL_KERNELS_AUTO, training, true, "x", x, names, 2, &yb, gb)) {
      /* Batch-norm reductions over 50 values: as in the accumulation test. */
      th_allclose("duplicate inputs: d(x)", gb[0], ga[0], 2 * 16 * 25, 1e-4, 1e-5 * maxabs(ga[0], 2 * 16 * 25));
      th_allclose("duplicate inputs: d(s)", gb[1], ga[1], 16, 1e-4, 1e-5 * maxabs(ga[1], 16));
    }
    free(ya);
    free(yb);
    for (int i = 0; i < 2; i++) {
      free(ga[i]);
      free(gb[i]);
    }
    sal_graph_free(g);
  }
}

/* Parameter gradients only (no input gradient): the conv runs backward-weights alone, reusing
 * forward's source buffer, and the batch-norm reduces d(scale), d(B) without d(input). */
static void param_grads_only(void) {
  sal_ctx *ctx = th_ctx();
  for (int training = 0; training < 2; training++) {
    th_op_case c = {.label = "conv-bn params", .op = "Conv", .n_in = 3,
                    .in = {{"x", 4, {2, 16, 7, 6}}, {"w", 4, {32, 16, 3, 3}, .param = true}, {"cb", 1, {32}, .param = true}},
                    .n_out = 1, .attrs = {sal_attr_ints("pads", 4, P1), sal_attr_ints("strides", 2, S2)}, .n_attrs = 2};
    sal_graph *g = th_build(&c);
    if (!g) return;
    float sc[32], var[32], x[2 * 16 * 42];
    th_input f = {.fill = TH_FILL_NORMAL};
    th_fill_buf(&f, sc, 32, 3);
    th_fill_buf(&f, x, 2 * 16 * 42, 4);
    f.fill = TH_FILL_POSITIVE;
    th_fill_buf(&f, var, 32, 5);
    TH_OK(sal_graph_add_param(g, "sc", 1, (int64_t[]){32}, sc, true));
    TH_OK(sal_graph_add_param(g, "B", 1, (int64_t[]){32}, var, true));
    TH_OK(sal_graph_add_param(g, "mean", 1, (int64_t[]){32}, sc, false));
    TH_OK(sal_graph_add_param(g, "var", 1, (int64_t[]){32}, var, false));
    TH_OK(sal_graph_add_node(g, "BatchNormalization", "bn", (const char *[]){"y0", "sc", "B", "mean", "var"}, 5,
                             (const char *[]){"z"}, 1, NULL, 0));
    /* y = z * r with a fixed random r (a sum of z^2 would be flat through training batch-norm). */
    float r[2 * 32 * 4 * 3];
    f.fill = TH_FILL_NORMAL;
    th_fill_buf(&f, r, 2 * 32 * 12, 6);
    TH_OK(sal_graph_add_param(g, "r", 4, (int64_t[]){2, 32, 4, 3}, r, false));
    TH_OK(sal_graph_add_node(g, "Mul", "mr", (const char *[]){"z", "r"}, 2, (const char *[]){"y"}, 1, NULL, 0));
    TH_OK(sal_graph_add_output(g, "y"));
    const char *names[4] = {"w", "cb", "sc", "B"};
    float *ya = NULL, *yb = NULL, *ga[4] = {0}, *gb[4] = {0};
    if (run_graph(g, SAL_KERNELS_REF, training, false, "x", x, names, 4, &ya, ga) &&
        run_graph(g, SAL_KERNELS_AUTO, training, false, "x", x, names, 4, &yb, gb)) {
      /* As in the accumulation test, but the absolute slack is 1e-5 of the largest gradient of
       * all four: in training the conv bias is cancelled by the batch mean, so d(cb) is ~0 and
       * only rounding noise is compared. */
      const int64_t sizes[4] = {32 * 16 * 9, 32, 32, 32};
      double scale = 0;
      for (int i = 0; i < 4; i++) scale = fmax(scale, maxabs(ga[i], sizes[i]));
      for (int i = 0; i < 4; i++) {
        char lbl[64];
        snprintf(lbl, sizeof lbl, "params only%s: d(%s)", training ? " (training)" : "", names[i]);
        th_allclose(lbl, gb[i], ga[i], sizes[i], 1e-4, 1e-5 * scale);
      }
    }
    free(ya);
    free(yb);
    for (int i = 0; i < 4; i++) {
      free(ga[i]);
      free(gb[i]);
    }
    sal_graph_free(g);

    /* Batch-norm straight on the graph input: no d(input) at all. */
    th_op_case b = {.label = "bn params", .op = "BatchNormalization", .n_in = 5, .training = training,
                    .in = {{"x", 4, {2, 16, 7, 6}}, {"sc", 1, {16}, .param = true}, {"B", 1, {16}, .param = true},
                           {"mean", 1, {16}, .constant = true}, {"var", 1, {16}, .constant = true, .fill = TH_FILL_POSITIVE}},
                    .n_out = 1};
    g = th_build(&b);
    if (!g) return;
    TH_OK(sal_graph_add_param(g, "r", 4, (int64_t[]){2, 16, 7, 6}, x, false));
    TH_OK(sal_graph_add_node(g, "Mul", "mr", (const char *[]){"y0", "r"}, 2, (const char *[]){"y"}, 1, NULL, 0));
    TH_OK(sal_graph_add_output(g, "y"));
    float *gr[2][2] = {{0}};
    if (run_graph(g, SAL_KERNELS_REF, training, false, "x", x, names + 2, 2, &ya, gr[0]) &&
        run_graph(g, SAL_KERNELS_AUTO, training, false, "x", x, names + 2, 2, &yb, gr[1])) {
      /* Reductions over 84 values per channel: 1e-4 relative, 1e-5 of the largest absolute. */
      th_allclose("bn params only: d(scale)", gr[1][0], gr[0][0], 16, 1e-4, 1e-5 * maxabs(gr[0][0], 16));
      th_allclose("bn params only: d(B)", gr[1][1], gr[0][1], 16, 1e-4, 1e-5 * maxabs(gr[0][1], 16));
    }
    free(ya);
    free(yb);
    for (int i = 0; i < 4; i++) free(gr[i / 2][i % 2]);
    sal_graph_free(g);
  }
  (void)ctx;
}

/* A ResNet basic block with a downsampling shortcut, max pool and global pool: with oneDNN the plan
 * keeps every activation between these kernels (and the blocked-aware Relu/Add) in nChw16c, with
 * 20 channels in the second half (channel padding). Outputs and all gradients must match the
 * plain reference plan, in inference and in training. */
static void resnet_block(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  if (!g) return;
  th_input nf = {.fill = TH_FILL_NORMAL}, pf = {.fill = TH_FILL_POSITIVE};
  float buf[20 * 16 * 9], x[2 * 16 * 64];
  th_fill_buf(&nf, x, 2 * 16 * 64, 40);
  TH_OK(sal_graph_add_input(g, "x", 4, (int64_t[]){2, 16, 8, 8}));
  struct { const char *name; int ndim; int64_t d[4]; bool pos, train; } params[] = {
      {"w1", 4, {16, 16, 3, 3}, 0, 1}, {"b1", 1, {16}, 0, 1}, {"s1", 1, {16}, 1, 1}, {"B1", 1, {16}, 0, 1},
      {"m1", 1, {16}, 0, 0}, {"v1", 1, {16}, 1, 0}, {"w2", 4, {20, 16, 3, 3}, 0, 1}, {"s2", 1, {20}, 1, 1},
      {"B2", 1, {20}, 0, 1}, {"m2", 1, {20}, 0, 0}, {"v2", 1, {20}, 1, 0}, {"ws", 4, {20, 16, 1, 1}, 0, 1}};
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
    sal_shape sh;
    sal_shape_make(&sh, params[i].ndim, params[i].d);
    th_fill_buf(params[i].pos ? &pf : &nf, buf, sal_shape_numel(&sh), 50 + i);
    /* weights scaled by 1/sqrt(fan-in) keep activations at unit scale */
    if (params[i].ndim == 4)
      for (int64_t e = 0; e < sal_shape_numel(&sh); e++) buf[e] /= sqrtf((float)(params[i].d[1] * params[i].d[2] * params[i].d[3]));
    TH_OK(sal_graph_add_param(g, params[i].name, params[i].ndim, params[i].d, buf, params[i].train));
  }
  sal_attr p1 = sal_attr_ints("pads", 4, P1), s2 = sal_attr_ints("strides", 2, S2);
  sal_attr c2a[2] = {p1, s2}, mpa[2] = {sal_attr_ints("kernel_shape", 2, K2), s2};
  add_node(g, "Conv", "c1", (const char *[]){"x", "w1", "b1"}, 3, "a", &p1, 1);
  add_node(g, "BatchNormalization", "bn1", (const char *[]){"a", "s1", "B1", "m1", "v1"}, 5, "an", NULL, 0);
  add_node(g, "Relu", "r1", (const char *[]){"an"}, 1, "ar", NULL, 0);
  add_node(g, "Conv", "c2", (const char *[]){"ar", "w2"}, 2, "c", c2a, 2);
  add_node(g, "BatchNormalization", "bn2", (const char *[]){"c", "s2", "B2", "m2", "v2"}, 5, "cn", NULL, 0);
  add_node(g, "Conv", "cs", (const char *[]){"x", "ws"}, 2, "sc", &s2, 1);
  add_node(g, "Add", "add", (const char *[]){"cn", "sc"}, 2, "s", NULL, 0);
  add_node(g, "Relu", "r2", (const char *[]){"s"}, 1, "sr", NULL, 0);
  add_node(g, "MaxPool", "mp", (const char *[]){"sr"}, 1, "m", mpa, 2);
  add_node(g, "GlobalAveragePool", "gap", (const char *[]){"m"}, 1, "y", NULL, 0);
  TH_OK(sal_graph_add_output(g, "y"));
  const char *names[9] = {"x", "w1", "b1", "s1", "B1", "w2", "s2", "B2", "ws"};
  const int64_t sizes[9] = {2 * 16 * 64, 16 * 16 * 9, 16, 16, 16, 20 * 16 * 9, 20, 20, 20 * 16};
  for (int training = 0; training < 2; training++) {
    float *ya = NULL, *yb = NULL, *ga[9] = {0}, *gb[9] = {0};
    if (run_graph(g, SAL_KERNELS_REF, training, true, "x", x, names, 9, &ya, ga) &&
        run_graph(g, SAL_KERNELS_AUTO, training, true, "x", x, names, 9, &yb, gb)) {
      /* Two convs (K <= 144) and two batch-norms in sequence: 1e-4 relative, with 1e-5 of the
       * largest gradient of all as absolute slack (in training, d(b1) is cancelled by the batch
       * mean and only rounding noise remains). */
      char lbl[96];
      snprintf(lbl, sizeof lbl, "resnet block%s: y", training ? " (training)" : "");
      th_allclose(lbl, yb, ya, 2 * 20, 1e-4, 1e-5 * maxabs(ya, 2 * 20));
      double scale = 0;
      for (int i = 0; i < 9; i++) scale = fmax(scale, maxabs(ga[i], sizes[i]));
      for (int i = 0; i < 9; i++) {
        snprintf(lbl, sizeof lbl, "resnet block%s: d(%s)", training ? " (training)" : "", names[i]);
        th_allclose(lbl, gb[i], ga[i], sizes[i], 1e-4, 1e-5 * scale);
      }
    }
    free(ya);
    free(yb);
    for (int i = 0; i < 9; i++) {
      free(ga[i]);
      free(gb[i]);
    }
  }
  sal_graph_free(g);
}

/* Inference plan with input gradients only (saliency): the plan folds each batch-norm and ReLU
 * into the conv before it. The fused plan must give the unfused reference plan's output and input
 * gradient, before and after a batch-norm parameter change announced with
 * sal_plan_params_changed. */
static void fusion(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  if (!g) return;
  th_input nf = {.fill = TH_FILL_NORMAL}, pf = {.fill = TH_FILL_POSITIVE};
  float buf[20 * 16 * 9], x[2 * 16 * 64];
  th_fill_buf(&nf, x, 2 * 16 * 64, 60);
  TH_OK(sal_graph_add_input(g, "x", 4, (int64_t[]){2, 16, 8, 8}));
  struct { const char *name; int ndim; int64_t d[4]; bool pos; } params[] = {
      {"w1", 4, {16, 16, 3, 3}, 0}, {"b1", 1, {16}, 0}, {"s1", 1, {16}, 1}, {"B1", 1, {16}, 0}, {"m1", 1, {16}, 0},
      {"v1", 1, {16}, 1},           {"w2", 4, {20, 16, 3, 3}, 0}, {"s2", 1, {20}, 1}, {"B2", 1, {20}, 0},
      {"m2", 1, {20}, 0},           {"v2", 1, {20}, 1},           {"ws", 4, {20, 16, 1, 1}, 0}};
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
    sal_shape sh;
    sal_shape_make(&sh, params[i].ndim, params[i].d);
    th_fill_buf(params[i].pos ? &pf : &nf, buf, sal_shape_numel(&sh), 70 + i);
    TH_OK(sal_graph_add_param(g, params[i].name, params[i].ndim, params[i].d, buf, true));
  }
  sal_attr p1 = sal_attr_ints("pads", 4, P1), s2 = sal_attr_ints("strides", 2, S2), c2a[2] = {p1, s2};
  add_node(g, "Conv", "c1", (const char *[]){"x", "w1", "b1"}, 3, "a", &p1, 1);
  add_node(g, "BatchNormalization", "bn1", (const char *[]){"a", "s1", "B1", "m1", "v1"}, 5, "an", NULL, 0);
  add_node(g, "Relu", "r1", (const char *[]){"an"}, 1, "ar", NULL, 0);
  add_node(g, "Conv", "c2", (const char *[]){"ar", "w2"}, 2, "c", c2a, 2);
  add_node(g, "BatchNormalization", "bn2", (const char *[]){"c", "s2", "B2", "m2", "v2"}, 5, "cn", NULL, 0);
  add_node(g, "Conv", "cs", (const char *[]){"x", "ws"}, 2, "sc", &s2, 1);
  add_node(g, "Relu", "r3", (const char *[]){"sc"}, 1, "sr", NULL, 0);
  add_node(g, "Add", "add", (const char *[]){"cn", "sr"}, 2, "s", NULL, 0);
  add_node(g, "Relu", "r2", (const char *[]){"s"}, 1, "t", NULL, 0);
  add_node(g, "GlobalAveragePool", "gap", (const char *[]){"t"}, 1, "y", NULL, 0);
  TH_OK(sal_graph_add_output(g, "y"));
  sal_plan *pr = NULL, *pd = NULL;
  sal_tensor *xt = NULL;
  sal_plan_opts o = sal_plan_opts_default();
  o.grad_inputs = true;
  o.kernels = SAL_KERNELS_REF;
  TH_OK(sal_plan_new(ctx, g, &o, &pr));
  o.kernels = SAL_KERNELS_AUTO;
  TH_OK(sal_plan_new(ctx, g, &o, &pd));
  TH_OK(sal_tensor_wrap(ctx, 4, (int64_t[]){2, 16, 8, 8}, x, &xt));
  if (!pr || !pd || !xt) goto done;
  /* The fusion really happened (otherwise this test would prove nothing). */
  const char *want[10] = {"+bn+relu", "fused", "fused", "+bn", "fused", "+relu", "fused", NULL, NULL, NULL};
  for (int i = 0; i < 7; i++) {
    const char *nm = sal_plan_node_kernel(pd, i);
    size_t ln = strlen(nm), lw = strlen(want[i]);
    TH_CHECK(strcmp(want[i], "fused") == 0 ? strcmp(nm, "fused") == 0 : (ln > lw && strcmp(nm + ln - lw, want[i]) == 0),
             "fusion: node %d runs '%s', want '%s'", i, nm, want[i]);
  }
  for (int round = 0; round < 2; round++) {
    if (round == 1) {
      /* A new batch-norm scale and mean: the folded weights must follow. */
      sal_tensor v;
      TH_OK(sal_graph_param(g, "s1", &v));
      for (int i = 0; i < 16; i++) v.data[i] *= 1.5f;
      TH_OK(sal_graph_param(g, "m2", &v));
      for (int i = 0; i < 20; i++) v.data[i] += 0.25f;
      sal_plan_params_changed(pd);
    }
    const sal_tensor *ya, *yb, *ga, *gb;
    TH_OK(sal_plan_set_input(pr, "x", xt));
    TH_OK(sal_plan_set_input(pd, "x", xt));
    TH_OK(sal_plan_forward(pr));
    TH_OK(sal_plan_forward(pd));
    TH_OK(sal_plan_backward(pr, "y", NULL));
    TH_OK(sal_plan_backward(pd, "y", NULL));
    if (sal_plan_value(pr, "y", &ya) || sal_plan_value(pd, "y", &yb) || sal_plan_grad(pr, "x", &ga) ||
        sal_plan_grad(pd, "x", &gb)) {
      TH_CHECK(0, "fusion: %s", sal_ctx_last_error(ctx));
      break;
    }
    /* Folding changes the rounding (a*W instead of a*(W x)): 1e-4 relative, with 1e-5 of the
     * largest magnitude as absolute slack, as for the unfused block. */
    th_allclose(round ? "fused y after params_changed" : "fused y", yb->data, ya->data, 2 * 20, 1e-4,
                1e-5 * maxabs(ya->data, 2 * 20));
    th_allclose(round ? "fused d(x) after params_changed" : "fused d(x)", gb->data, ga->data, 2 * 16 * 64, 1e-4,
                1e-5 * maxabs(ga->data, 2 * 16 * 64));
  }
done:
  sal_tensor_free(xt);
  sal_plan_free(pr);
  sal_plan_free(pd);
  sal_graph_free(g);
}

/* Residual Add fusion (saliency plans: inference, input gradients only). Three joins, each folded
 * into the conv (+ batch-norm) written last before it, as a binary post-op before the ReLU:
 *   identity block: relu(bn2(c2(.)) + a), a read earlier by c1 (its gradient: written by the
 *     fused c2, then accumulated by c1's backward-data);
 *   downsample block (20 channels: blocked channel padding): relu(bn4(c4(.)) + bn5(cs(s1))), fused
 *     into cs with d2 = bn4(c4(.)) as the operand;
 *   relu(c5(s2) + d1) with d1 read again after it by the final Add, so the fused backward adds
 *     into a gradient already written.
 * Forward values and the input gradient must match the reference plan at batch 1 and 3, in a plan
 * without gradients (liveness: the operand must outlive its last graph consumer), and with the
 * first join's sum kept (keep_values: the Add is still fused, its ReLU is not). */
static void residual_add_fusion(void) {
  sal_ctx *ctx = th_ctx();
  th_input nf = {.fill = TH_FILL_NORMAL}, pf = {.fill = TH_FILL_POSITIVE};
  float buf[20 * 20 * 9];
  for (int64_t batch = 1; batch <= 3; batch += 2) {
    sal_graph *g = NULL;
    TH_OK(sal_graph_new(ctx, &g));
    if (!g) return;
    TH_OK(sal_graph_add_input(g, "x", 4, (int64_t[]){batch, 16, 8, 8}));
    struct { const char *name; int64_t m, c, k; } convs[] = {
        {"c0", 16, 16, 3}, {"c1", 16, 16, 3}, {"c2", 16, 16, 3}, {"c3", 20, 16, 3},
        {"c4", 20, 20, 3}, {"cs", 20, 16, 1}, {"c5", 20, 20, 1}};
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
      char nm[16];
      int64_t wd[4] = {convs[i].m, convs[i].c, convs[i].k, convs[i].k}, n = wd[0] * wd[1] * wd[2] * wd[3];
      th_fill_buf(&nf, buf, n, 200 + i);
      /* 1/sqrt(fan-in) keeps activations at unit scale */
      for (int64_t e = 0; e < n; e++) buf[e] /= sqrtf((float)(wd[1] * wd[2] * wd[3]));
      snprintf(nm, sizeof nm, "w%s", convs[i].name);
      TH_OK(sal_graph_add_param(g, nm, 4, wd, buf, true));
      if (i == 6) continue; /* c5 has no batch-norm */
      const char *bn_p[4] = {"s", "B", "m", "v"};
      for (int j = 0; j < 4; j++) {
        th_fill_buf(j == 0 || j == 3 ? &pf : &nf, buf, convs[i].m, 300 + 10 * i + j);
        snprintf(nm, sizeof nm, "%s%s", bn_p[j], convs[i].name);
        TH_OK(sal_graph_add_param(g, nm, 1, (int64_t[]){convs[i].m}, buf, true));
      }
    }
    sal_attr p1 = sal_attr_ints("pads", 4, P1), s2 = sal_attr_ints("strides", 2, S2), c3a[2] = {p1, s2};
#define CONV_BN(c, in, attrs, na, out)                                                                        \
  add_node(g, "Conv", c, (const char *[]){in, "w" c}, 2, c "o", attrs, na);                                  \
  add_node(g, "BatchNormalization", "bn" c, (const char *[]){c "o", "s" c, "B" c, "m" c, "v" c}, 5, out, NULL, 0)
    CONV_BN("c0", "x", &p1, 1, "c0n");
    add_node(g, "Relu", "r0", (const char *[]){"c0n"}, 1, "a", NULL, 0);
    CONV_BN("c1", "a", &p1, 1, "c1n");
    add_node(g, "Relu", "r1", (const char *[]){"c1n"}, 1, "b1", NULL, 0);
    CONV_BN("c2", "b1", &p1, 1, "b2");
    add_node(g, "Add", "add1", (const char *[]){"b2", "a"}, 2, "add1", NULL, 0);
    add_node(g, "Relu", "ra1", (const char *[]){"add1"}, 1, "s1", NULL, 0);
    CONV_BN("c3", "s1", c3a, 2, "c3n");
    add_node(g, "Relu", "r3", (const char *[]){"c3n"}, 1, "d1", NULL, 0);
    CONV_BN("c4", "d1", &p1, 1, "d2");
    CONV_BN("cs", "s1", &s2, 1, "e");
    add_node(g, "Add", "add2", (const char *[]){"d2", "e"}, 2, "add2", NULL, 0);
    add_node(g, "Relu", "ra2", (const char *[]){"add2"}, 1, "s2", NULL, 0);
    add_node(g, "Conv", "c5", (const char *[]){"s2", "wc5"}, 2, "t", NULL, 0);
    add_node(g, "Add", "add3", (const char *[]){"t", "d1"}, 2, "add3", NULL, 0);
    add_node(g, "Relu", "ra3", (const char *[]){"add3"}, 1, "r5", NULL, 0);
    add_node(g, "Add", "add4", (const char *[]){"r5", "d1"}, 2, "u", NULL, 0);
    add_node(g, "GlobalAveragePool", "gap", (const char *[]){"u"}, 1, "y", NULL, 0);
#undef CONV_BN
    TH_OK(sal_graph_add_output(g, "y"));
    int64_t xn = batch * 16 * 64, yn = batch * 20;
    float *x = malloc((size_t)xn * sizeof(float));
    th_fill_buf(&nf, x, xn, 400 + (uint64_t)batch);
    static const char *const keep[] = {"add1"};
    /* variants: 0 input gradients, 1 forward only, 2 input gradients with add1 kept */
    for (int var = 0; var < 3; var++) {
      sal_plan *p[2] = {NULL, NULL};
      sal_tensor *xt = NULL;
      TH_OK(sal_tensor_wrap(ctx, 4, (int64_t[]){batch, 16, 8, 8}, x, &xt));
      for (int r = 0; r < 2; r++) {
        sal_plan_opts o = sal_plan_opts_default();
        o.batch = batch;
        o.grad_inputs = var != 1;
        o.kernels = r ? SAL_KERNELS_AUTO : SAL_KERNELS_REF;
        if (var == 2) {
          o.keep_values = keep;
          o.n_keep_values = 1;
        }
        TH_OK(sal_plan_new(ctx, g, &o, &p[r]));
      }
      if (!p[0] || !p[1] || !xt) goto next;
      /* The joins really were fused (else this test proves nothing). Nodes in the order built:
       * c2 6, its bn 7, add1 8, ra1 9; cs 15, its bn 16, add2 17, ra2 18; c5 19, add3 20, ra3 21,
       * add4 22 (not fused: r5 is the end of c5's chain). */
      struct { int node; const char *want; } names[] = {
          {6, var == 2 ? "+bn+add" : "+bn+add+relu"}, {7, "fused"}, {8, "fused"}, {9, var == 2 ? "dnnl:" : "fused"},
          {13, "+bn"}, {15, "+bn+add+relu"}, {16, "fused"}, {17, "fused"}, {18, "fused"},
          {19, "+add+relu"}, {20, "fused"}, {21, "fused"}, {22, "dnnl:"}};
      for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *nm = sal_plan_node_kernel(p[1], names[i].node);
        size_t ln = nm ? strlen(nm) : 0, lw = strlen(names[i].want);
        bool ok = nm && (strcmp(names[i].want, "fused") == 0 ? strcmp(nm, "fused") == 0
                         : strcmp(names[i].want, "dnnl:") == 0 ? strncmp(nm, "dnnl:", 5) == 0
                         : ln > lw && strcmp(nm + ln - lw, names[i].want) == 0);
        TH_CHECK(ok, "residual fusion (batch %lld, variant %d): node %d (%s) runs '%s', want '%s'", (long long)batch,
                 var, names[i].node, sal_plan_node_name(p[1], names[i].node), nm ? nm : "?", names[i].want);
      }
      const sal_tensor *ya = NULL, *yb = NULL, *ga = NULL, *gb = NULL;
      for (int r = 0; r < 2; r++) {
        TH_OK(sal_plan_set_input(p[r], "x", xt));
        TH_OK(sal_plan_forward(p[r]));
        if (var != 1) TH_OK(sal_plan_backward(p[r], "y", NULL));
      }
      char lbl[96];
      /* seven convs (K <= 180) with folded batch-norms in sequence: 1e-4 relative, with 1e-5 of
       * the largest magnitude as absolute slack, as for the fusion test above */
      if (!sal_plan_value(p[0], "y", &ya) && !sal_plan_value(p[1], "y", &yb)) {
        snprintf(lbl, sizeof lbl, "residual fusion y (batch %lld, variant %d)", (long long)batch, var);
        th_allclose(lbl, yb->data, ya->data, yn, 1e-4, 1e-5 * maxabs(ya->data, yn));
      }
      if (var == 2 && !sal_plan_value(p[0], "add1", &ya) && !sal_plan_value(p[1], "add1", &yb)) {
        int64_t n = batch * 16 * 64;
        snprintf(lbl, sizeof lbl, "residual fusion kept add1 (batch %lld)", (long long)batch);
        th_allclose(lbl, yb->data, ya->data, n, 1e-4, 1e-5 * maxabs(ya->data, n));
      }
      if (var != 1 && !sal_plan_grad(p[0], "x", &ga) && !sal_plan_grad(p[1], "x", &gb)) {
        snprintf(lbl, sizeof lbl, "residual fusion d(x) (batch %lld, variant %d)", (long long)batch, var);
        th_allclose(lbl, gb->data, ga->data, xn, 1e-4, 1e-5 * maxabs(ga->data, xn));
      }
    next:
      sal_tensor_free(xt);
      sal_plan_free(p[0]);
      sal_plan_free(p[1]);
    }
    free(x);
    sal_graph_free(g);
  }
}

/* A residual Add whose operand is a graph input (plain, so the conv's output is kept plain too):
 * the add is a post-op in plain layout (oneDNN 2.6 then picks an implementation writing nchw, for
 * the 1x1 and the 3x3 conv alike; the add in C after the conv, "+add(c)", is the kernel's fallback
 * when none fits and is accepted here too). Against the reference plan: y and the gradients of
 * both inputs (the operand's written by the fused conv). */
static void residual_add_plain(void) {
  sal_ctx *ctx = th_ctx();
  th_input nf = {.fill = TH_FILL_NORMAL};
  for (int k = 1; k <= 3; k += 2) {
    sal_graph *g = NULL;
    TH_OK(sal_graph_new(ctx, &g));
    if (!g) return;
    float w[16 * 16 * 9], x[2][2 * 16 * 256];
    th_fill_buf(&nf, w, 16 * 16 * k * k, 500 + k);
    for (int i = 0; i < 16 * 16 * k * k; i++) w[i] /= sqrtf((float)(16 * k * k)); /* unit-scale outputs */
    th_fill_buf(&nf, x[0], 2 * 16 * 256, 510);
    th_fill_buf(&nf, x[1], 2 * 16 * 256, 511);
    TH_OK(sal_graph_add_input(g, "x1", 4, (int64_t[]){2, 16, 16, 16}));
    TH_OK(sal_graph_add_input(g, "x2", 4, (int64_t[]){2, 16, 16, 16}));
    TH_OK(sal_graph_add_param(g, "w", 4, (int64_t[]){16, 16, k, k}, w, true));
    sal_attr pa = sal_attr_ints("pads", 4, k == 3 ? P1 : (int64_t[]){0, 0, 0, 0});
    add_node(g, "Conv", "c", (const char *[]){"x1", "w"}, 2, "a", &pa, 1);
    add_node(g, "Add", "add", (const char *[]){"a", "x2"}, 2, "s", NULL, 0);
    add_node(g, "Relu", "r", (const char *[]){"s"}, 1, "y", NULL, 0);
    TH_OK(sal_graph_add_output(g, "y"));
    float *res[2][3] = {{NULL}};
    for (int kk = 0; kk < 2; kk++) {
      sal_plan_opts o = sal_plan_opts_default();
      o.batch = 2;
      o.grad_inputs = true;
      o.kernels = kk ? SAL_KERNELS_AUTO : SAL_KERNELS_REF;
      sal_plan *p = NULL;
      sal_tensor *xt[2] = {NULL, NULL};
      TH_OK(sal_plan_new(ctx, g, &o, &p));
      for (int i = 0; i < 2; i++) TH_OK(sal_tensor_wrap(ctx, 4, (int64_t[]){2, 16, 16, 16}, x[i], &xt[i]));
      if (p && xt[0] && xt[1]) {
        if (kk) {
          const char *nm = sal_plan_node_kernel(p, 0);
          TH_CHECK(strstr(nm, "+add+relu") || strstr(nm, "+add(c)+relu"), "residual add (%dx%d): conv runs '%s'", k, k, nm);
          TH_CHECK(strcmp(sal_plan_node_kernel(p, 1), "fused") == 0 && strcmp(sal_plan_node_kernel(p, 2), "fused") == 0,
                   "residual add (%dx%d): Add and Relu fused", k, k);
        }
        const sal_tensor *t[3] = {NULL, NULL, NULL};
        if (!sal_plan_set_input(p, "x1", xt[0]) && !sal_plan_set_input(p, "x2", xt[1]) && !sal_plan_forward(p) &&
            !sal_plan_backward(p, "y", NULL) && !sal_plan_value(p, "y", &t[0]) && !sal_plan_grad(p, "x1", &t[1]) &&
            !sal_plan_grad(p, "x2", &t[2])) {
          for (int j = 0; j < 3; j++) {
            res[kk][j] = malloc(sizeof x[0]);
            memcpy(res[kk][j], t[j]->data, sizeof x[0]);
          }
        } else {
          TH_CHECK(0, "residual add (%dx%d): %s", k, k, sal_ctx_last_error(ctx));
        }
      }
      for (int i = 0; i < 2; i++) sal_tensor_free(xt[i]);
      sal_plan_free(p);
    }
    static const char *const what[3] = {"y", "d(x1)", "d(x2)"};
    for (int j = 0; j < 3 && res[0][j] && res[1][j]; j++) {
      char lbl[64];
      snprintf(lbl, sizeof lbl, "residual add (%dx%d): %s", k, k, what[j]);
      /* one conv (K <= 144): 1e-5 relative, 1e-6 of the largest as absolute slack */
      th_allclose(lbl, res[1][j], res[0][j], 2 * 16 * 256, 1e-5, 1e-6 * maxabs(res[0][j], 2 * 16 * 256));
    }
    for (int kk = 0; kk < 2; kk++)
      for (int j = 0; j < 3; j++) free(res[kk][j]);
    sal_graph_free(g);
  }
}

/* Training-mode BN updates the running statistics the same way in both kernels (oneDNN's f32
 * batch variance vs the reference's double one: 1e-5 relative). */
static void bn_running_stats(void) {
  sal_ctx *ctx = th_ctx();
  th_op_case c = {.label = "bn running", .op = "BatchNormalization", .n_in = 5, .training = true,
                  .in = {{"x", 4, {4, 16, 5, 3}}, {"scale", 1, {16}, .param = true}, {"B", 1, {16}, .param = true},
                         {"mean", 1, {16}, .constant = true}, {"var", 1, {16}, .constant = true, .fill = TH_FILL_POSITIVE}},
                  .n_out = 1, .attrs = {sal_attr_float("momentum", 0.8f)}, .n_attrs = 1};
  float stats[2][2][16];
  float x[4 * 16 * 15];
  th_fill_buf(&c.in[0], x, 4 * 16 * 15, 3);
  for (int kind = 0; kind < 2; kind++) {
    sal_graph *g = th_build(&c);
    if (!g) return;
    sal_tensor view;
    sal_graph_param(g, "mean", &view);
    float before = view.data[0];
    sal_plan_opts o = sal_plan_opts_default();
    o.training = true;
    o.kernels = kind ? SAL_KERNELS_DNNL : SAL_KERNELS_REF;
    sal_plan *p = NULL;
    sal_tensor *xt = NULL;
    TH_OK(sal_plan_new(ctx, g, &o, &p));
    TH_OK(sal_tensor_wrap(ctx, 4, (int64_t[]){4, 16, 5, 3}, x, &xt));
    if (p && xt) {
      TH_OK(sal_plan_set_input(p, "x", xt));
      TH_OK(sal_plan_forward(p));
      TH_OK(sal_plan_forward(p)); /* twice: the update compounds */
      if (kind) TH_CHECK(strncmp(sal_plan_node_kernel(p, 0), "dnnl:", 5) == 0, "bn kernel %s", sal_plan_node_kernel(p, 0));
    }
    sal_graph_param(g, "mean", &view);
    TH_CHECK(view.data[0] != before, "training forward left the running mean unchanged");
    memcpy(stats[kind][0], view.data, sizeof stats[kind][0]);
    sal_graph_param(g, "var", &view);
    memcpy(stats[kind][1], view.data, sizeof stats[kind][1]);
    sal_tensor_free(xt);
    sal_plan_free(p);
    sal_graph_free(g);
  }
  th_allclose("running mean dnnl vs ref", stats[1][0], stats[0][0], 16, 1e-5, 1e-6);
  th_allclose("running var dnnl vs ref", stats[1][1], stats[0][1], 16, 1e-5, 1e-6);
}

/* The oneDNN conv keeps the weights reordered into its blocked layout and refreshes them only when
 * the plan's parameter version changes. Doubling the weight (no bias) must double y after
 * sal_plan_params_changed; WITHOUT that call the kernel still uses the cached copy, by design (the
 * contract of sal_plan_params_changed in salient/plan.h), so y is unchanged. */
static void weight_cache(void) {
  sal_ctx *ctx = th_ctx();
  th_op_case c = {.label = "weight cache", .op = "Conv", .n_in = 2,
                  .in = {{"x", 4, {1, 16, 8, 8}}, {"w", 4, {32, 16, 3, 3}, .param = true}}, .n_out = 1,
                  .attrs = {sal_attr_ints("pads", 4, P1)}, .n_attrs = 1};
  sal_graph *g = th_build(&c);
  if (!g) return;
  sal_plan_opts o = sal_plan_opts_default();
  o.kernels = SAL_KERNELS_DNNL;
  sal_plan *p = NULL;
  sal_tensor *x = NULL;
  float *y1 = malloc(32 * 64 * sizeof(float)), *y2 = malloc(32 * 64 * sizeof(float));
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){1, 16, 8, 8}, &x));
  if (!p || !x) goto done;
  th_fill_buf(&c.in[0], x->data, 16 * 64, 1);
  TH_OK(sal_plan_set_input(p, "x", x));
  TH_OK(sal_plan_forward(p));
  const sal_tensor *y;
  TH_OK(sal_plan_value(p, "y0", &y));
  memcpy(y1, y->data, 32 * 64 * sizeof(float));
  sal_tensor w;
  TH_OK(sal_graph_param(g, "w", &w));
  for (int64_t i = 0; i < sal_tensor_numel(&w); i++) w.data[i] *= 2.0f;
  TH_OK(sal_plan_forward(p));
  TH_OK(sal_plan_value(p, "y0", &y));
  th_allclose("without sal_plan_params_changed the cached weights are used", y->data, y1, 32 * 64, 0, 0);
  sal_plan_params_changed(p);
  TH_OK(sal_plan_forward(p));
  TH_OK(sal_plan_value(p, "y0", &y));
  for (int i = 0; i < 32 * 64; i++) y2[i] = 2.0f * y1[i];
  /* Scaling by 2 is exact in binary floating point: the result must be bit-identical. */
  th_allclose("sal_plan_params_changed refreshes the weights", y->data, y2, 32 * 64, 0, 0);
  /* A weight that is a graph input (not a parameter) is re-read on every forward. */
  sal_plan_free(p);
  sal_graph_free(g);
  p = NULL;
  c.in[1].param = false;
  g = th_build(&c);
  sal_tensor *wt = NULL;
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){32, 16, 3, 3}, &wt));
  if (p && wt) {
    th_fill_buf(&c.in[1], wt->data, 32 * 16 * 9, 2);
    TH_OK(sal_plan_set_input(p, "x", x));
    TH_OK(sal_plan_set_input(p, "w", wt));
    TH_OK(sal_plan_forward(p));
    TH_OK(sal_plan_value(p, "y0", &y));
    memcpy(y1, y->data, 32 * 64 * sizeof(float));
    for (int i = 0; i < 32 * 16 * 9; i++) wt->data[i] *= 2.0f;
    TH_OK(sal_plan_set_input(p, "w", wt));
    TH_OK(sal_plan_forward(p));
    TH_OK(sal_plan_value(p, "y0", &y));
    for (int i = 0; i < 32 * 64; i++) y2[i] = 2.0f * y1[i];
    th_allclose("a weight fed as graph input is re-read every forward", y->data, y2, 32 * 64, 0, 0);
  }
  sal_tensor_free(wt);
done:
  free(y1);
  free(y2);
  sal_tensor_free(x);
  sal_plan_free(p);
  sal_graph_free(g);
}

/* oneDNN must pick a real implementation for ResNet-like layers (PERF-NOTES: a "ref" fallback runs
 * at 0.2-1 GFLOP/s). Dilated pooling (oneDNN has only "ref:any") and an AveragePool that counts
 * pads in ceil_mode past them stay on the reference kernel. */
static void impl_names(void) {
  sal_ctx *ctx = th_ctx();
  th_op_case cases[] = {
      {.label = "impl conv 3x3", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {1, 64, 14, 14}}, {"w", 4, {64, 64, 3, 3}, .param = true}}, .n_out = 1,
       .attrs = {sal_attr_ints("pads", 4, P1)}, .n_attrs = 1},
      {.label = "impl conv 1x1", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {1, 64, 14, 14}}, {"w", 4, {256, 64, 1, 1}, .param = true}}, .n_out = 1},
      {.label = "impl conv first layer", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {1, 3, 32, 32}}, {"w", 4, {64, 3, 7, 7}, .param = true}}, .n_out = 1,
       .attrs = {sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, (const int64_t[]){3, 3, 3, 3})}, .n_attrs = 2},
      {.label = "impl maxpool", .op = "MaxPool", .n_in = 1, .in = {{"x", 4, {1, 64, 16, 16}}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, P1)},
       .n_attrs = 3},
      {.label = "impl bn", .op = "BatchNormalization", .n_in = 5,
       .in = {{"x", 4, {1, 64, 8, 8}}, {"scale", 1, {64}, .param = true}, {"B", 1, {64}, .param = true},
              {"mean", 1, {64}, .constant = true}, {"var", 1, {64}, .constant = true, .fill = TH_FILL_POSITIVE}},
       .n_out = 1},
      {.label = "impl gap", .op = "GlobalAveragePool", .n_in = 1, .in = {{"x", 4, {1, 64, 7, 7}}}, .n_out = 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sal_graph *g = th_build(&cases[i]);
    if (!g) continue;
    sal_plan_opts o = sal_plan_opts_default();
    o.grad_inputs = true;
    sal_plan *p = NULL;
    TH_OK(sal_plan_new(ctx, g, &o, &p));
    if (p) {
      const char *nm = sal_plan_node_kernel(p, 0);
      TH_CHECK(strncmp(nm, "dnnl:", 5) == 0 && strncmp(nm, "dnnl:ref", 8) != 0, "%s: kernel %s", cases[i].label, nm);
    }
    sal_plan_free(p);
    sal_graph_free(g);
  }
  th_op_case mp = {.label = "maxpool dilation 2", .op = "MaxPool", .n_in = 1, .in = {{"x", 4, {1, 16, 7, 7}}}, .n_out = 1,
                   .attrs = {sal_attr_ints("kernel_shape", 2, K2), sal_attr_ints("dilations", 2, D2)}, .n_attrs = 2};
  th_op_case ap = {.label = "avgpool include pad ceil overhang", .op = "AveragePool", .n_in = 1,
                   .in = {{"x", 4, {1, 16, 4, 4}}}, .n_out = 1,
                   .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("strides", 2, S2),
                             sal_attr_ints("pads", 4, P1), sal_attr_int("ceil_mode", 1),
                             sal_attr_int("count_include_pad", 1)},
                   .n_attrs = 5};
  const th_op_case *refs[2] = {&mp, &ap};
  for (int i = 0; i < 2; i++) {
    sal_graph *g = th_build(refs[i]);
    sal_plan *p = NULL;
    if (!g) continue;
    TH_OK(sal_plan_new(ctx, g, NULL, &p));
    if (p)
      TH_CHECK(strcmp(sal_plan_node_kernel(p, 0), "ref") == 0, "%s: kernel %s", refs[i]->label, sal_plan_node_kernel(p, 0));
    sal_plan_free(p);
    sal_graph_free(g);
  }
}

/* ---- Blocked (nChw16c) tensors through the kernel interface ---- */

/* One node run by `kern` with activations in `layout`, parameters plain. Returns y and the
 * gradients of every input (plain order, caller frees) for the seed dy. */
typedef struct node_run {
  float *y, *grads[5];
  char impl[128]; /* the kernel's implementation name */
} node_run;

static int run_node(sal_graph *g, const sal_kernel *kern, sal_layout layout, bool training, bool want_dx,
                    const float *x, const float *dy, sal_dnnl_env *env, node_run *res) {
  sal_ctx *ctx = th_ctx();
  sal_node *n = &g->nodes[0];
  sal_tensor tin[5], tdin[5], tout, tdout;
  sal_tensor *in[5], *din[5], *out[1] = {&tout}, *dout[1] = {&tdout};
  bool accum[5] = {0};
  memset(res, 0, sizeof *res);
  memset(tin, 0, sizeof tin);
  memset(tdin, 0, sizeof tdin);
  memset(&tout, 0, sizeof tout);
  memset(&tdout, 0, sizeof tdout);
  float *bufs[16] = {0};
  int nb = 0, ok = 0;
  for (int i = 0; i < n->n_in; i++) {
    const sal_value *v = &g->values[n->in[i]];
    in[i] = &tin[i];
    din[i] = &tdin[i];
    tin[i].shape = tdin[i].shape = v->shape;
    if (i == 0) {
      tin[0].layout = tdin[0].layout = layout;
      int64_t bn = sal__storage_numel(&v->shape, layout);
      tin[0].data = bufs[nb++] = calloc((size_t)bn, sizeof(float));
      tdin[0].data = bufs[nb++] = calloc((size_t)bn, sizeof(float));
      if (layout == SAL_LAYOUT_BLOCKED16) sal__plain_to_blocked(x, &tin[0]);
      else memcpy(tin[0].data, x, (size_t)sal_shape_numel(&v->shape) * sizeof(float));
    } else {
      tin[i].data = v->data;
      if (v->trainable) tdin[i].data = bufs[nb++] = calloc((size_t)sal_shape_numel(&v->shape), sizeof(float));
      else din[i] = NULL;
    }
  }
  if (!want_dx) din[0] = NULL;
  uint32_t wanted = 0; /* the plan's din_wanted: the gradients this run asks for */
  for (int i = 0; i < n->n_in; i++)
    if (din[i]) wanted |= 1u << i;
  const sal_shape *ys = &g->values[n->out[0]].shape;
  tout.shape = tdout.shape = *ys;
  tout.layout = tdout.layout = layout;
  tout.data = bufs[nb++] = calloc((size_t)sal__storage_numel(ys, layout), sizeof(float));
  tdout.data = bufs[nb++] = calloc((size_t)sal__storage_numel(ys, layout), sizeof(float));
  if (layout == SAL_LAYOUT_BLOCKED16) sal__plain_to_blocked(dy, &tdout);
  else memcpy(tdout.data, dy, (size_t)sal_shape_numel(ys) * sizeof(float));
  sal_kctx k = {.ctx = ctx, .graph = g, .node = n, .node_index = 0, .n_in = n->n_in, .n_out = 1, .in = in, .out = out,
                .din = din, .dout = dout, .din_accum = accum, .din_wanted = wanted, .training = training, .param_version = 1,
                .dnnl = env};
  if (kern->supports && !kern->supports(&k)) {
    TH_CHECK(0, "%s: kernel does not support layout %d", n->name, (int)layout);
    goto done;
  }
  if (kern->prepare && kern->prepare(&k)) {
    TH_CHECK(0, "%s: prepare: %s", n->name, sal_ctx_last_error(ctx));
    goto done;
  }
  if (kern->forward(&k) || kern->backward(&k)) {
    TH_CHECK(0, "%s: run: %s", n->name, sal_ctx_last_error(ctx));
  } else {
    ok = 1;
    res->y = malloc((size_t)sal_shape_numel(ys) * sizeof(float));
    if (layout == SAL_LAYOUT_BLOCKED16) sal__blocked_to_plain(&tout, res->y);
    else memcpy(res->y, tout.data, (size_t)sal_shape_numel(ys) * sizeof(float));
    for (int i = 0; i < n->n_in; i++) {
      if (!din[i]) continue;
      int64_t cnt = sal_shape_numel(&tdin[i].shape);
      res->grads[i] = malloc((size_t)cnt * sizeof(float));
      if (i == 0 && layout == SAL_LAYOUT_BLOCKED16) sal__blocked_to_plain(&tdin[0], res->grads[0]);
      else memcpy(res->grads[i], tdin[i].data, (size_t)cnt * sizeof(float));
    }
  }
  if (kern->impl_name) snprintf(res->impl, sizeof res->impl, "%s", kern->impl_name(&k));
  if (kern->release) kern->release(&k);
done:
  for (int i = 0; i < nb; i++) free(bufs[i]);
  return ok;
}

static void node_run_free(node_run *r) {
  free(r->y);
  for (int i = 0; i < 5; i++) free(r->grads[i]);
}

/* The oneDNN kernels on nChw16c tensors (channel counts 16 and 20, i.e. with and without channel
 * padding) give the reference kernel's results on plain ones. */
static void blocked_layouts(void) {
  sal_ctx *ctx = th_ctx();
  sal_dnnl_env *env = NULL;
  TH_OK(sal__dnnl_env_new(ctx, &env));
  if (!env) return;
  th_op_case cases[] = {
      {.label = "blocked conv 3x3 bias", .op = "Conv", .n_in = 3,
       .in = {{"x", 4, {2, 20, 7, 6}}, {"w", 4, {16, 20, 3, 3}, .param = true}, {"b", 1, {16}, .param = true}},
       .n_out = 1, .attrs = {sal_attr_ints("pads", 4, P1), sal_attr_ints("strides", 2, S2)}, .n_attrs = 2},
      /* Winograd F(4x4, 3x3) where wino_wanted chooses it (>= 48 output tiles of 4x4, >= 32
       * channels in multiples of 16), square and odd sizes; parameter gradients stay direct. */
      {.label = "blocked conv 3x3 winograd", .op = "Conv", .n_in = 3,
       .in = {{"x", 4, {3, 32, 16, 16}}, {"w", 4, {32, 32, 3, 3}, .param = true}, {"b", 1, {32}, .param = true}},
       .n_out = 1, .attrs = {sal_attr_ints("pads", 4, P1)}, .n_attrs = 1},
      {.label = "blocked conv 3x3 winograd odd", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {4, 32, 13, 11}}, {"w", 4, {48, 32, 3, 3}, .param = true}},
       .n_out = 1, .attrs = {sal_attr_ints("pads", 4, P1)}, .n_attrs = 1},
      {.label = "blocked conv 1x1", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {1, 16, 5, 5}}, {"w", 4, {20, 16, 1, 1}, .param = true}}, .n_out = 1},
      {.label = "blocked maxpool", .op = "MaxPool", .n_in = 1, .in = {{"x", 4, {1, 20, 7, 7}, .fill = TH_FILL_DISTINCT}},
       .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, P1)},
       .n_attrs = 3},
      {.label = "blocked maxpool ties", .op = "MaxPool", .n_in = 1,
       .in = {{"x", 4, {1, 20, 7, 7}, .fill = TH_FILL_DATA, .data = tied_grid()}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, P1)},
       .n_attrs = 3},
      {.label = "blocked avgpool", .op = "AveragePool", .n_in = 1, .in = {{"x", 4, {2, 16, 6, 6}}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K2), sal_attr_ints("strides", 2, S2)}, .n_attrs = 2},
      {.label = "blocked gap", .op = "GlobalAveragePool", .n_in = 1, .in = {{"x", 4, {2, 20, 3, 5}}}, .n_out = 1},
      {.label = "blocked bn training", .op = "BatchNormalization", .n_in = 5, .training = true,
       .in = {{"x", 4, {2, 20, 3, 3}}, {"scale", 1, {20}, .param = true}, {"B", 1, {20}, .param = true},
              {"mean", 1, {20}, .constant = true}, {"var", 1, {20}, .constant = true, .fill = TH_FILL_POSITIVE}},
       .n_out = 1},
      {.label = "blocked bn inference", .op = "BatchNormalization", .n_in = 5,
       .in = {{"x", 4, {1, 16, 4, 4}}, {"scale", 1, {16}, .param = true}, {"B", 1, {16}, .param = true},
              {"mean", 1, {16}, .constant = true}, {"var", 1, {16}, .constant = true, .fill = TH_FILL_POSITIVE}},
       .n_out = 1},
  };
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    const th_op_case *c = &cases[ci];
    sal_graph *g = th_build(c);
    if (!g) continue;
    sal_node *n = &g->nodes[0];
    const sal_shape *xs = &g->values[n->in[0]].shape, *ys = &g->values[n->out[0]].shape;
    int64_t nx = sal_shape_numel(xs), ny = sal_shape_numel(ys);
    float *x = malloc((size_t)nx * sizeof(float)), *dy = malloc((size_t)ny * sizeof(float));
    th_fill_buf(&c->in[0], x, nx, 21);
    th_input nf = {.fill = TH_FILL_NORMAL};
    th_fill_buf(&nf, dy, ny, 22);
    float *stats = NULL;
    /* Every input gradient, then (batch-norm) only the parameters' gradients, which oneDNN's
     * kernel reduces itself over the blocked layout. */
    for (int want_dx = 1; want_dx >= (n->op == SAL_OP_BATCHNORM ? 0 : 1); want_dx--) {
      node_run ref = {0}, dn = {0};
      /* Fresh running statistics for each run (training BN updates them in place). */
      if (n->op == SAL_OP_BATCHNORM && !stats) {
        stats = malloc(2 * (size_t)xs->d[1] * sizeof(float));
        memcpy(stats, g->values[n->in[3]].data, (size_t)xs->d[1] * sizeof(float));
        memcpy(stats + xs->d[1], g->values[n->in[4]].data, (size_t)xs->d[1] * sizeof(float));
      }
      int ok = run_node(g, sal__op_ref_kernel(n->op), SAL_LAYOUT_PLAIN, c->training, want_dx, x, dy, NULL, &ref);
      if (stats) {
        memcpy(g->values[n->in[3]].data, stats, (size_t)xs->d[1] * sizeof(float));
        memcpy(g->values[n->in[4]].data, stats + xs->d[1], (size_t)xs->d[1] * sizeof(float));
      }
      bool wino = strstr(c->label, "winograd") != NULL;
      ok = ok && run_node(g, sal__op_dnnl_kernel(n->op), SAL_LAYOUT_BLOCKED16, c->training, want_dx, x, dy, env, &dn);
      if (ok && wino) {
        /* the case proves something only if the kernel took Winograd; and off means off */
        TH_CHECK(strstr(dn.impl, "wino") != NULL, "%s: implementation %s", c->label, dn.impl);
        node_run direct = {0};
        sal_ctx_set_winograd(th_ctx(), false);
        if (run_node(g, sal__op_dnnl_kernel(n->op), SAL_LAYOUT_BLOCKED16, c->training, want_dx, x, dy, env, &direct)) {
          TH_CHECK(strstr(direct.impl, "wino") == NULL, "%s with Winograd off: implementation %s", c->label, direct.impl);
          th_allclose("winograd against direct: y", dn.y, direct.y, ny, 1e-4, 2e-4);
        }
        sal_ctx_set_winograd(th_ctx(), true);
        node_run_free(&direct);
      }
      if (stats) {
        memcpy(g->values[n->in[3]].data, stats, (size_t)xs->d[1] * sizeof(float));
        memcpy(g->values[n->in[4]].data, stats + xs->d[1], (size_t)xs->d[1] * sizeof(float));
      }
      if (ok) {
        char lbl[128];
        /* Same tolerances as the plain comparisons above (conv: K <= 180 terms). */
        snprintf(lbl, sizeof lbl, "%s: y", c->label);
        th_allclose(lbl, dn.y, ref.y, ny, 1e-4, 2e-4);
        for (int i = 0; i < n->n_in; i++) {
          if (!ref.grads[i]) continue;
          snprintf(lbl, sizeof lbl, "%s%s: gradient %d", c->label, want_dx ? "" : " (no d(input))", i);
          th_allclose(lbl, dn.grads[i], ref.grads[i], sal_shape_numel(&g->values[n->in[i]].shape), 1e-4, 2e-4);
        }
      }
      node_run_free(&ref);
      node_run_free(&dn);
    }
    free(stats);
    free(x);
    free(dy);
    sal_graph_free(g);
  }
  sal__dnnl_env_free(env);
}

/* Every allocation of plan creation (kernel state, oneDNN buffers, scratchpads) can fail: the
 * plan must report OUT_OF_MEMORY and free what it made (leaks show up in the sanitiser build). */
static void fault_injection(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  TH_OK(sal_graph_add_input(g, "x", 4, (int64_t[]){2, 3, 12, 12}));
  TH_OK(sal_graph_add_param(g, "w", 4, (int64_t[]){16, 3, 3, 3}, NULL, true));
  TH_OK(sal_graph_add_param(g, "b", 1, (int64_t[]){16}, NULL, true));
  TH_OK(sal_graph_add_param(g, "one", 1, (int64_t[]){16}, (const float[16]){1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, false));
  sal_attr pads = sal_attr_ints("pads", 4, P1);
  sal_attr pool[2] = {sal_attr_ints("kernel_shape", 2, K2), sal_attr_ints("strides", 2, S2)};
  TH_OK(sal_graph_add_node(g, "Conv", "c", (const char *[]){"x", "w", "b"}, 3, (const char *[]){"a"}, 1, &pads, 1));
  TH_OK(sal_graph_add_node(g, "BatchNormalization", "bn", (const char *[]){"a", "b", "b", "one", "one"}, 5,
                           (const char *[]){"n"}, 1, NULL, 0));
  TH_OK(sal_graph_add_node(g, "MaxPool", "mp", (const char *[]){"n"}, 1, (const char *[]){"m"}, 1, pool, 2));
  TH_OK(sal_graph_add_node(g, "AveragePool", "ap", (const char *[]){"m"}, 1, (const char *[]){"q"}, 1, pool, 2));
  TH_OK(sal_graph_add_node(g, "GlobalAveragePool", "gap", (const char *[]){"q"}, 1, (const char *[]){"y"}, 1, NULL, 0));
  TH_OK(sal_graph_add_output(g, "y"));
  for (int variant = 0; variant < 4; variant++) {
    sal_plan_opts o = sal_plan_opts_default();
    o.kernels = variant & 1 ? SAL_KERNELS_AUTO : SAL_KERNELS_REF;
    o.training = variant & 2;
    o.grad_inputs = o.grad_params = true;
    int fails = 0;
    for (int64_t n = 1; n < 400; n++) {
      sal_plan *p = NULL;
      sal_ctx_fail_alloc_after(ctx, n);
      sal_status st = sal_plan_new(ctx, g, &o, &p);
      sal_ctx_fail_alloc_after(ctx, 0);
      sal_plan_free(p);
      if (st == SAL_STATUS_OK) break;
      if (st != SAL_STATUS_OUT_OF_MEMORY) {
        TH_CHECK(0, "fault %lld (variant %d): %s", (long long)n, variant, sal_ctx_last_error(ctx));
        break;
      }
      fails++;
    }
    TH_CHECK(fails > 5, "variant %d: only %d allocations failed", variant, fails);
  }
  sal_graph_free(g);
}

/* Few-input-channel convolutions get their input gradient from matmul + col2im
 * (src/kernels/dnnl/conv_gemm.c). Two such convs (dilated with asymmetric pads and stride 2; 5x5
 * with bias) read the same input, so the second one accumulates; and a fused conv + BN + ReLU
 * stem in an inference plan (folded weights, masked dy). Compared with the reference plan. */
static void small_channel_input_grad(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  if (!g) return;
  th_input nf = {.fill = TH_FILL_NORMAL}, pf = {.fill = TH_FILL_POSITIVE};
  float x[2 * 3 * 13 * 11], buf[8 * 3 * 25];
  th_fill_buf(&nf, x, 2 * 3 * 13 * 11, 71);
  TH_OK(sal_graph_add_input(g, "x", 4, (int64_t[]){2, 3, 13, 11}));
  struct { const char *name; int ndim; int64_t d[4]; bool pos, train; } params[] = {
      {"wa", 4, {8, 3, 3, 3}, 0, 1}, {"wb", 4, {8, 3, 5, 5}, 0, 1}, {"bb", 1, {8}, 0, 1},
      {"s", 1, {8}, 1, 1}, {"B", 1, {8}, 0, 1}, {"m", 1, {8}, 0, 0}, {"v", 1, {8}, 1, 0}};
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
    sal_shape sh;
    sal_shape_make(&sh, params[i].ndim, params[i].d);
    th_fill_buf(params[i].pos ? &pf : &nf, buf, sal_shape_numel(&sh), 80 + i);
    TH_OK(sal_graph_add_param(g, params[i].name, params[i].ndim, params[i].d, buf, params[i].train));
  }
  sal_attr ca[3] = {sal_attr_ints("strides", 2, (int64_t[]){2, 2}), sal_attr_ints("pads", 4, (int64_t[]){1, 0, 2, 1}),
                    sal_attr_ints("dilations", 2, (int64_t[]){2, 2})};
  sal_attr cb = sal_attr_ints("pads", 4, (int64_t[]){2, 2, 2, 2});
  add_node(g, "Conv", "ca", (const char *[]){"x", "wa"}, 2, "a", ca, 3);
  add_node(g, "BatchNormalization", "bn", (const char *[]){"a", "s", "B", "m", "v"}, 5, "an", NULL, 0);
  add_node(g, "Relu", "r", (const char *[]){"an"}, 1, "ar", NULL, 0);
  add_node(g, "Conv", "cb", (const char *[]){"x", "wb", "bb"}, 3, "b", &cb, 1);
  add_node(g, "GlobalAveragePool", "ga", (const char *[]){"ar"}, 1, "pa", NULL, 0);
  add_node(g, "GlobalAveragePool", "gb", (const char *[]){"b"}, 1, "pb", NULL, 0);
  add_node(g, "Add", "add", (const char *[]){"pa", "pb"}, 2, "y", NULL, 0);
  TH_OK(sal_graph_add_output(g, "y"));
  /* with parameter gradients (no fusion), then input gradients only (conv + BN + ReLU fused) */
  for (int fused = 0; fused < 2; fused++) {
    float *g_ref = NULL, *g_dnn = NULL;
    for (int kk = 0; kk < 2; kk++) {
      sal_plan_opts o = sal_plan_opts_default();
      o.kernels = kk ? SAL_KERNELS_AUTO : SAL_KERNELS_REF;
      o.grad_inputs = true;
      o.grad_params = !fused;
      sal_plan *p = NULL;
      sal_tensor *xt = NULL;
      const sal_tensor *gx = NULL;
      TH_OK(sal_plan_new(ctx, g, &o, &p));
      TH_OK(sal_tensor_wrap(ctx, 4, (int64_t[]){2, 3, 13, 11}, x, &xt));
      if (p && xt && !sal_plan_set_input(p, "x", xt) && !sal_plan_forward(p) && !sal_plan_backward(p, "y", NULL) &&
          !sal_plan_grad(p, "x", &gx)) {
        float *copy = malloc(sizeof x);
        memcpy(copy, gx->data, sizeof x);
        if (kk) g_dnn = copy;
        else g_ref = copy;
        if (kk && fused) TH_CHECK(strcmp(sal_plan_node_kernel(p, 1), "fused") == 0, "stem batch-norm fused");
      }
      sal_tensor_free(xt);
      sal_plan_free(p);
    }
    /* Sums of at most 75 products per element, twice: 1e-5 relative plus 1e-6 of the largest. */
    if (g_ref && g_dnn)
      th_allclose(fused ? "small-channel input gradient (fused stem)" : "small-channel input gradient (accumulated)",
                  g_dnn, g_ref, 2 * 3 * 13 * 11, 1e-5, 1e-6 * maxabs(g_ref, 2 * 3 * 13 * 11));
    else
      TH_CHECK(0, "small-channel input gradient runs: %s", sal_ctx_last_error(ctx));
    free(g_ref);
    free(g_dnn);
  }
  sal_graph_free(g);
}

/* The matmul + col2im input gradient works in bands of output rows sized to keep ~512 KB of
 * columns in cache (conv_gemm.c): 3 → 8 channels, 7x7/2 over a 13 x 600 input gives 7 x 300
 * outputs, bands of 2 rows and a last band of 1, over two images, with a fused ReLU masking dy.
 * Compared with the reference plan. */
static void small_channel_bands(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  if (!g) return;
  enum { XN = 2 * 3 * 13 * 600 };
  const int64_t xd[4] = {2, 3, 13, 600};
  th_input nf = {.fill = TH_FILL_NORMAL};
  float *x = malloc(XN * sizeof(float)), w[8 * 3 * 49];
  th_fill_buf(&nf, x, XN, 61);
  th_fill_buf(&nf, w, 8 * 3 * 49, 62);
  TH_OK(sal_graph_add_input(g, "x", 4, xd));
  TH_OK(sal_graph_add_param(g, "w", 4, (int64_t[]){8, 3, 7, 7}, w, true));
  sal_attr ca[2] = {sal_attr_ints("strides", 2, (int64_t[]){2, 2}), sal_attr_ints("pads", 4, (int64_t[]){3, 3, 3, 3})};
  add_node(g, "Conv", "c", (const char *[]){"x", "w"}, 2, "a", ca, 2);
  add_node(g, "Relu", "r", (const char *[]){"a"}, 1, "ar", NULL, 0);
  add_node(g, "GlobalAveragePool", "gap", (const char *[]){"ar"}, 1, "y", NULL, 0);
  TH_OK(sal_graph_add_output(g, "y"));
  float *gx_[2] = {NULL, NULL};
  for (int kk = 0; kk < 2; kk++) {
    sal_plan_opts o = sal_plan_opts_default();
    o.kernels = kk ? SAL_KERNELS_AUTO : SAL_KERNELS_REF;
    o.grad_inputs = true;
    sal_plan *p = NULL;
    sal_tensor *xt = NULL;
    const sal_tensor *gx = NULL;
    TH_OK(sal_plan_new(ctx, g, &o, &p));
    TH_OK(sal_tensor_wrap(ctx, 4, xd, x, &xt));
    if (p && xt && !sal_plan_set_input(p, "x", xt) && !sal_plan_forward(p) && !sal_plan_backward(p, "y", NULL) &&
        !sal_plan_grad(p, "x", &gx)) {
      gx_[kk] = malloc(XN * sizeof(float));
      memcpy(gx_[kk], gx->data, XN * sizeof(float));
      if (kk) TH_CHECK(strcmp(sal_plan_node_kernel(p, 1), "fused") == 0, "banded stem: ReLU fused");
    }
    sal_tensor_free(xt);
    sal_plan_free(p);
  }
  /* Sums of at most 8 * 16 products per element (7x7/2 taps over 8 channels): as above. */
  if (gx_[0] && gx_[1]) th_allclose("small-channel input gradient in bands", gx_[1], gx_[0], XN, 1e-5, 1e-6 * maxabs(gx_[0], XN));
  else TH_CHECK(0, "banded input gradient runs: %s", sal_ctx_last_error(ctx));
  free(gx_[0]);
  free(gx_[1]);
  free(x);
  sal_graph_free(g);
}

/* A fused conv + ReLU masks its output gradient in place, except when that gradient is a result
 * the caller asked for (grad_values): d(y) must come back exactly as seeded, and d(x) must match
 * the reference plan. */
static void fused_requested_grad(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  if (!g) return;
  th_input nf = {.fill = TH_FILL_NORMAL};
  float w[16 * 16 * 9];
  th_fill_buf(&nf, w, 16 * 16 * 9, 91);
  for (int i = 0; i < 16 * 16 * 9; i++) w[i] /= 12.0f; /* ~1/sqrt(fan-in) */
  TH_OK(sal_graph_add_input(g, "x", 4, (int64_t[]){2, 16, 6, 5}));
  TH_OK(sal_graph_add_param(g, "w", 4, (int64_t[]){16, 16, 3, 3}, w, true));
  sal_attr pa = sal_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1});
  add_node(g, "Conv", "c", (const char *[]){"x", "w"}, 2, "a", &pa, 1);
  add_node(g, "Relu", "r", (const char *[]){"a"}, 1, "y", NULL, 0);
  TH_OK(sal_graph_add_output(g, "y"));
  static const char *const gv[] = {"y"};
  const int64_t xd[4] = {2, 16, 6, 5}, n = 2 * 16 * 6 * 5;
  sal_tensor *x = NULL, *seed = NULL;
  TH_OK(sal_tensor_new(ctx, 4, xd, &x));
  TH_OK(sal_tensor_new(ctx, 4, xd, &seed));
  float *gx[2] = {NULL, NULL};
  for (int kk = 0; kk < 2 && x && seed; kk++) {
    sal_rng_normal(9, 1, 0, x->data, (size_t)n);
    sal_rng_normal(9, 2, 0, seed->data, (size_t)n);
    sal_plan_opts o = sal_plan_opts_default();
    o.kernels = kk ? SAL_KERNELS_AUTO : SAL_KERNELS_REF;
    o.grad_inputs = true;
    o.grad_values = gv;
    o.n_grad_values = 1;
    sal_plan *p = NULL;
    const sal_tensor *gy = NULL, *g0 = NULL;
    TH_OK(sal_plan_new(ctx, g, &o, &p));
    if (!p) continue;
    if (kk) TH_CHECK(strcmp(sal_plan_node_kernel(p, 1), "fused") == 0, "conv + relu fused: %s", sal_plan_node_kernel(p, 1));
    TH_OK(sal_plan_set_input(p, "x", x));
    TH_OK(sal_plan_forward(p));
    TH_OK(sal_plan_backward(p, "y", seed));
    TH_OK(sal_plan_grad(p, "y", &gy));
    TH_OK(sal_plan_grad(p, "x", &g0));
    if (gy) th_allclose(kk ? "requested d(y) untouched (fused)" : "requested d(y) (reference)", gy->data, seed->data, n, 0, 0);
    if (g0) {
      gx[kk] = malloc((size_t)n * sizeof(float));
      memcpy(gx[kk], g0->data, (size_t)n * sizeof(float));
    }
    sal_plan_free(p);
  }
  /* one conv (K = 144): 1e-5 relative, 1e-6 of the largest as absolute slack */
  if (gx[0] && gx[1]) th_allclose("fused conv + relu d(x)", gx[1], gx[0], n, 1e-5, 1e-6 * maxabs(gx[0], n));
  free(gx[0]);
  free(gx[1]);
  sal_tensor_free(x);
  sal_tensor_free(seed);
  sal_graph_free(g);
}

int main(void) {
  conv_cases();
  fused_requested_grad();
  small_channel_input_grad();
  small_channel_bands();
  bn_pool_cases();
  maxpool_tie_rule();
  accumulation();
  param_grads_only();
  duplicate_inputs();
  resnet_block();
  fusion();
  residual_add_fusion();
  residual_add_plain();
  bn_running_stats();
  weight_cache();
  impl_names();
  blocked_layouts();
  fault_injection();
  return th_finish("test_dnnl_conv");
}
