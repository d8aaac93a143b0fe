/* Reference kernels of the convolution family (Conv, BatchNormalization, MaxPool, AveragePool,
 * GlobalAveragePool): gradient checks, hand-computed forward values and bad-input errors. */
#include "harness.h"

#include <math.h>
#include <string.h>

/* Expected values of the tiny cases were worked by hand and agree with PyTorch 1.13's F.conv2d /
 * F.max_pool2d / F.avg_pool2d. */
static const int64_t P1[4] = {1, 1, 1, 1}, S2[2] = {2, 2}, D2[2] = {2, 2}, K3[2] = {3, 3}, K2[2] = {2, 2};

/* Runs c forward with the given kernels and compares output y0 (which must have n elements) with
 * want. Inputs use their fill rule (TH_FILL_DATA for hand cases). */
static void check_forward(const th_op_case *c, sal_kernels kernels, const float *want, int64_t n, double tol) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = th_build(c);
  if (!g) return;
  sal_plan_opts o = sal_plan_opts_default();
  o.training = c->training;
  o.kernels = kernels;
  sal_plan *p = NULL;
  sal_tensor *ins[8] = {0};
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  if (!p) goto done;
  for (int i = 0; i < c->n_in; i++) {
    const th_input *in = &c->in[i];
    if (!in->name || !in->name[0] || in->param || in->constant) continue;
    TH_OK(sal_tensor_new(ctx, in->ndim, in->dims, &ins[i]));
    th_fill_buf(in, ins[i]->data, sal_tensor_numel(ins[i]), 100 + (uint64_t)i);
    TH_OK(sal_plan_set_input(p, in->name, ins[i]));
  }
  TH_OK(sal_plan_forward(p));
  const sal_tensor *y = NULL;
  TH_OK(sal_plan_value(p, "y0", &y));
  if (y) {
    TH_CHECK(sal_tensor_numel(y) == n, "%s: output has %lld elements, want %lld", c->label,
             (long long)sal_tensor_numel(y), (long long)n);
    if (sal_tensor_numel(y) == n) th_allclose(c->label, y->data, want, n, tol, tol);
  }
done:
  for (int i = 0; i < 8; i++) sal_tensor_free(ins[i]);
  sal_plan_free(p);
  sal_graph_free(g);
}

static void check_shape(const th_op_case *c, int ndim, const int64_t *dims) {
  sal_graph *g = th_build(c);
  if (!g) return;
  sal_shape s, want;
  sal_shape_make(&want, ndim, dims);
  TH_OK(sal_graph_value_shape(g, "y0", &s));
  char a[64], b[64];
  TH_CHECK(sal_shape_equal(&s, &want), "%s: output shape %s, want %s", c->label, sal_shape_str(&s, a, sizeof a),
           sal_shape_str(&want, b, sizeof b));
  sal_graph_free(g);
}

static void gradchecks(void) {
  /* Defaults (eps 1e-2, rtol 2e-2, atol 2e-3 of the largest gradient): Conv and the pools are
   * piecewise linear, so central differences are exact up to float rounding of the forward
   * (~1e-7 relative); BatchNormalization is smooth and its O(eps^2) truncation error stays well
   * below 2e-2 at unit-scale inputs. */
  th_op_case cases[] = {
      {.label = "conv 3x3 pad 1 bias", .op = "Conv", .n_in = 3,
       .in = {{"x", 4, {1, 3, 7, 5}}, {"w", 4, {4, 3, 3, 3}, .param = true}, {"b", 1, {4}, .param = true}},
       .n_out = 1, .attrs = {sal_attr_ints("pads", 4, P1)}, .n_attrs = 1},
      {.label = "conv stride 2 asymmetric pads batch 3", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {3, 2, 7, 5}}, {"w", 4, {3, 2, 3, 2}, .param = true}}, .n_out = 1,
       .attrs = {sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, (const int64_t[]){1, 0, 2, 1})}, .n_attrs = 2},
      {.label = "conv dilation 2", .op = "Conv", .n_in = 3,
       .in = {{"x", 4, {2, 2, 7, 6}}, {"w", 4, {3, 2, 3, 3}, .param = true}, {"b", 1, {3}, .param = true}},
       .n_out = 1, .attrs = {sal_attr_ints("dilations", 2, D2), sal_attr_ints("pads", 4, (const int64_t[]){2, 1, 2, 1})},
       .n_attrs = 2},
      {.label = "conv groups 2", .op = "Conv", .n_in = 3,
       .in = {{"x", 4, {2, 4, 6, 5}}, {"w", 4, {6, 2, 3, 3}, .param = true}, {"b", 1, {6}, .param = true}},
       .n_out = 1, .attrs = {sal_attr_int("group", 2), sal_attr_ints("pads", 4, P1)}, .n_attrs = 2},
      {.label = "conv depthwise stride 2", .op = "Conv", .n_in = 3,
       .in = {{"x", 4, {1, 4, 7, 5}}, {"w", 4, {4, 1, 3, 3}, .param = true}, {"b", 1, {4}, .param = true}},
       .n_out = 1, .attrs = {sal_attr_int("group", 4), sal_attr_ints("pads", 4, P1), sal_attr_ints("strides", 2, S2)},
       .n_attrs = 3},
      {.label = "conv depthwise multiplier 2", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {3, 3, 5, 5}}, {"w", 4, {6, 1, 3, 3}, .param = true}}, .n_out = 1,
       .attrs = {sal_attr_int("group", 3)}, .n_attrs = 1},
      {.label = "conv 1x1 (direct columns)", .op = "Conv", .n_in = 3,
       .in = {{"x", 4, {2, 5, 4, 3}}, {"w", 4, {3, 5, 1, 1}, .param = true}, {"b", 1, {3}, .param = true}},
       .n_out = 1},
      {.label = "conv 1x1 stride 2", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {1, 3, 7, 5}}, {"w", 4, {4, 3, 1, 1}, .param = true}}, .n_out = 1,
       .attrs = {sal_attr_ints("strides", 2, S2)}, .n_attrs = 1},
      {.label = "conv SAME_UPPER stride 2", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {1, 2, 7, 5}}, {"w", 4, {2, 2, 4, 4}, .param = true}}, .n_out = 1,
       .attrs = {sal_attr_string("auto_pad", "SAME_UPPER"), sal_attr_ints("strides", 2, S2)}, .n_attrs = 2},
      {.label = "conv SAME_LOWER", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {1, 2, 5, 6}}, {"w", 4, {2, 2, 2, 3}, .param = true}}, .n_out = 1,
       .attrs = {sal_attr_string("auto_pad", "SAME_LOWER"), sal_attr_ints("kernel_shape", 2, (const int64_t[]){2, 3})},
       .n_attrs = 2},
      /* The weight is an input here (not a parameter): its gradient goes through din[1] as well. */
      {.label = "conv VALID weight as input", .op = "Conv", .n_in = 2,
       .in = {{"x", 4, {2, 3, 6, 7}}, {"w", 4, {2, 3, 3, 3}}}, .n_out = 1,
       .attrs = {sal_attr_string("auto_pad", "VALID")}, .n_attrs = 1},
      {.label = "bn inference", .op = "BatchNormalization", .n_in = 5,
       .in = {{"x", 4, {2, 3, 4, 5}}, {"scale", 1, {3}, .param = true}, {"B", 1, {3}, .param = true},
              {"mean", 1, {3}, .constant = true}, {"var", 1, {3}, .constant = true, .fill = TH_FILL_POSITIVE}},
       .n_out = 1},
      {.label = "bn training", .op = "BatchNormalization", .n_in = 5, .training = true,
       .in = {{"x", 4, {3, 4, 3, 3}}, {"scale", 1, {4}, .param = true}, {"B", 1, {4}, .param = true},
              {"mean", 1, {4}, .constant = true}, {"var", 1, {4}, .constant = true, .fill = TH_FILL_POSITIVE}},
       .n_out = 1},
      {.label = "bn training batch 1 (N,C)", .op = "BatchNormalization", .n_in = 5, .training = true,
       .in = {{"x", 2, {5, 3}}, {"scale", 1, {3}, .param = true}, {"B", 1, {3}, .param = true},
              {"mean", 1, {3}, .constant = true}, {"var", 1, {3}, .constant = true, .fill = TH_FILL_POSITIVE}},
       .n_out = 1, .attrs = {sal_attr_float("epsilon", 1e-3f), sal_attr_float("momentum", 0.5f)}, .n_attrs = 2},
      /* Max pooling: TH_FILL_DISTINCT keeps values >= 0.05 apart, more than the 2*eps = 0.02 a
       * perturbation spans, so no window's argmax changes during the check. */
      {.label = "maxpool 3x3 s2 pad 1 ceil", .op = "MaxPool", .n_in = 1,
       .in = {{"x", 4, {2, 3, 7, 6}, .fill = TH_FILL_DISTINCT}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, P1),
                 sal_attr_int("ceil_mode", 1)},
       .n_attrs = 4},
      {.label = "maxpool 2x2 s2 odd ceil", .op = "MaxPool", .n_in = 1,
       .in = {{"x", 4, {1, 2, 5, 7}, .fill = TH_FILL_DISTINCT}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K2), sal_attr_ints("strides", 2, S2), sal_attr_int("ceil_mode", 1)},
       .n_attrs = 3},
      {.label = "maxpool dilation 2 overlapping", .op = "MaxPool", .n_in = 1,
       .in = {{"x", 4, {2, 2, 7, 7}, .fill = TH_FILL_DISTINCT}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K2), sal_attr_ints("dilations", 2, D2)}, .n_attrs = 2},
      {.label = "avgpool exclude pad", .op = "AveragePool", .n_in = 1, .in = {{"x", 4, {2, 3, 7, 5}}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, P1)},
       .n_attrs = 3},
      {.label = "avgpool include pad ceil", .op = "AveragePool", .n_in = 1, .in = {{"x", 4, {1, 2, 6, 7}}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, P1),
                 sal_attr_int("count_include_pad", 1), sal_attr_int("ceil_mode", 1)},
       .n_attrs = 5},
      {.label = "avgpool SAME_UPPER", .op = "AveragePool", .n_in = 1, .in = {{"x", 4, {1, 2, 5, 5}}}, .n_out = 1,
       .attrs = {sal_attr_ints("kernel_shape", 2, K2), sal_attr_string("auto_pad", "SAME_UPPER")}, .n_attrs = 2},
      {.label = "gap", .op = "GlobalAveragePool", .n_in = 1, .in = {{"x", 4, {2, 3, 5, 7}}}, .n_out = 1},
      {.label = "gap 3-D", .op = "GlobalAveragePool", .n_in = 1, .in = {{"x", 3, {2, 3, 5}}}, .n_out = 1},
      {.label = "gmp", .op = "GlobalMaxPool", .n_in = 1, .in = {{"x", 4, {2, 3, 5, 7}, .fill = TH_FILL_DISTINCT}},
       .n_out = 1},
      {.label = "gmp 3-D", .op = "GlobalMaxPool", .n_in = 1, .in = {{"x", 3, {2, 3, 5}, .fill = TH_FILL_DISTINCT}},
       .n_out = 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) th_gradcheck(&cases[i], SAL_KERNELS_REF);
}

static void forward_values(void) {
  static const float x9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  static float x16[16];
  for (int i = 0; i < 16; i++) x16[i] = (float)(i + 1);
  static const float w22[4] = {1, 0, 0, -1}, ones9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, bias[1] = {0.5f};
  const float tol = 1e-5f;
  const sal_kernels kinds[2] = {SAL_KERNELS_REF, SAL_KERNELS_AUTO};
  for (int kk = 0; kk < 2; kk++) {
    sal_kernels kd = kinds[kk];
    /* y[i][j] = x[i][j] - x[i+1][j+1] + 0.5 = -3.5 everywhere. */
    th_op_case c1 = {.label = "conv diff 2x2", .op = "Conv", .n_in = 3,
                     .in = {{"x", 4, {1, 1, 3, 3}, .fill = TH_FILL_DATA, .data = x9},
                            {"w", 4, {1, 1, 2, 2}, .param = true, .fill = TH_FILL_DATA, .data = w22},
                            {"b", 1, {1}, .param = true, .fill = TH_FILL_DATA, .data = bias}},
                     .n_out = 1};
    check_forward(&c1, kd, (const float[]){-3.5f, -3.5f, -3.5f, -3.5f}, 4, tol);
    /* 3x3 box sum, stride 2, pad 1: windows cover {1,2,4,5}, {2,3,5,6}, {4,5,7,8}, {5,6,8,9}. */
    th_op_case c2 = {.label = "conv box s2 p1", .op = "Conv", .n_in = 2,
                     .in = {{"x", 4, {1, 1, 3, 3}, .fill = TH_FILL_DATA, .data = x9},
                            {"w", 4, {1, 1, 3, 3}, .param = true, .fill = TH_FILL_DATA, .data = ones9}},
                     .n_out = 1, .attrs = {sal_attr_ints("strides", 2, S2), sal_attr_ints("pads", 4, P1)}, .n_attrs = 2};
    check_forward(&c2, kd, (const float[]){12, 16, 24, 28}, 4, tol);
    /* Two groups of one channel: y = (2*10, 3*100). */
    th_op_case c3 = {.label = "conv groups", .op = "Conv", .n_in = 2,
                     .in = {{"x", 4, {1, 2, 1, 1}, .fill = TH_FILL_DATA, .data = (const float[]){2, 3}},
                            {"w", 4, {2, 1, 1, 1}, .param = true, .fill = TH_FILL_DATA, .data = (const float[]){10, 100}}},
                     .n_out = 1, .attrs = {sal_attr_int("group", 2)}, .n_attrs = 1};
    check_forward(&c3, kd, (const float[]){20, 300}, 2, tol);
    th_op_case m1 = {.label = "maxpool 2x2 s2", .op = "MaxPool", .n_in = 1,
                     .in = {{"x", 4, {1, 1, 4, 4}, .fill = TH_FILL_DATA, .data = x16}}, .n_out = 1,
                     .attrs = {sal_attr_ints("kernel_shape", 2, K2), sal_attr_ints("strides", 2, S2)}, .n_attrs = 2};
    check_forward(&m1, kd, (const float[]){6, 8, 14, 16}, 4, tol);
    th_op_case m2 = {.label = "maxpool 3x3 s2 ceil", .op = "MaxPool", .n_in = 1,
                     .in = {{"x", 4, {1, 1, 4, 4}, .fill = TH_FILL_DATA, .data = x16}}, .n_out = 1,
                     .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("strides", 2, S2),
                               sal_attr_int("ceil_mode", 1)},
                     .n_attrs = 3};
    check_forward(&m2, kd, (const float[]){11, 12, 15, 16}, 4, tol);
    /* 3x3 stride 1 pad 1 on 4x4: corner mean over 4 taps (exclude) or 9 (include). */
    th_op_case a1 = {.label = "avgpool exclude pad", .op = "AveragePool", .n_in = 1,
                     .in = {{"x", 4, {1, 1, 4, 4}, .fill = TH_FILL_DATA, .data = x16}}, .n_out = 1,
                     .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("pads", 4, P1)}, .n_attrs = 2};
    check_forward(&a1, kd,
                  (const float[]){3.5f, 4, 5, 5.5f, 5.5f, 6, 7, 7.5f, 9.5f, 10, 11, 11.5f, 11.5f, 12, 13, 13.5f}, 16, tol);
    th_op_case a2 = a1;
    a2.label = "avgpool include pad";
    a2.attrs[2] = sal_attr_int("count_include_pad", 1);
    a2.n_attrs = 3;
    check_forward(&a2, kd,
                  (const float[]){14 / 9.f, 24 / 9.f, 30 / 9.f, 22 / 9.f, 33 / 9.f, 6, 7, 5, 57 / 9.f, 10, 11,
                                  69 / 9.f, 46 / 9.f, 8, 78 / 9.f, 6},
                  16, tol);
    /* ceil_mode with pads, counting pads: the last window (start 3) counts taps 3 and 4 only —
     * the tap at 5 hangs past the pad and is not counted (PyTorch: 1.5556, 3.3333, 2.0, ...). */
    th_op_case a3 = {.label = "avgpool include pad ceil", .op = "AveragePool", .n_in = 1,
                     .in = {{"x", 4, {1, 1, 4, 4}, .fill = TH_FILL_DATA, .data = x16}}, .n_out = 1,
                     .attrs = {sal_attr_ints("kernel_shape", 2, K3), sal_attr_ints("strides", 2, S2),
                               sal_attr_ints("pads", 4, P1), sal_attr_int("ceil_mode", 1),
                               sal_attr_int("count_include_pad", 1)},
                     .n_attrs = 5};
    check_forward(&a3, kd, (const float[]){14 / 9.f, 30 / 9.f, 2, 57 / 9.f, 11, 6, 4.5f, 7.5f, 4}, 9, tol);
    th_op_case a4 = {.label = "avgpool ceil no pad", .op = "AveragePool", .n_in = 1,
                     .in = {{"x", 4, {1, 1, 3, 3}, .fill = TH_FILL_DATA, .data = x9}}, .n_out = 1,
                     .attrs = {sal_attr_ints("kernel_shape", 2, K2), sal_attr_ints("strides", 2, S2),
                               sal_attr_int("ceil_mode", 1), sal_attr_int("count_include_pad", 1)},
                     .n_attrs = 4};
    check_forward(&a4, kd, (const float[]){3, 4.5f, 7.5f, 9}, 4, tol);
    th_op_case g1 = {.label = "gap", .op = "GlobalAveragePool", .n_in = 1,
                     .in = {{"x", 4, {1, 2, 2, 2}, .fill = TH_FILL_DATA, .data = (const float[]){1, 2, 3, 4, 5, 6, 7, 8}}},
                     .n_out = 1};
    check_forward(&g1, kd, (const float[]){2.5f, 6.5f}, 2, tol);
    th_op_case g2 = g1;
    g2.label = "gmp";
    g2.op = "GlobalMaxPool";
    g2.in[0].data = (const float[]){1, 7, 3, 4, -5, -6, -2, -8};
    check_forward(&g2, kd, (const float[]){7, -2}, 2, tol);
    /* BN inference: y = 2*(x - 1)/sqrt(3 + 1e-5) + 1. */
    th_op_case b1 = {.label = "bn inference", .op = "BatchNormalization", .n_in = 5,
                     .in = {{"x", 4, {2, 1, 1, 1}, .fill = TH_FILL_DATA, .data = (const float[]){1, 3}},
                            {"scale", 1, {1}, .param = true, .fill = TH_FILL_DATA, .data = (const float[]){2}},
                            {"B", 1, {1}, .param = true, .fill = TH_FILL_DATA, .data = (const float[]){1}},
                            {"mean", 1, {1}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){1}},
                            {"var", 1, {1}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){3}}},
                     .n_out = 1};
    check_forward(&b1, kd, (const float[]){1, (float)(1 + 4 / sqrt(3 + 1e-5))}, 2, tol);
    /* BN training: batch mean 2, biased variance 1 → y = 2*(x - 2)/sqrt(1 + 1e-5) + 1. */
    th_op_case b2 = b1;
    b2.label = "bn training";
    b2.training = true;
    check_forward(&b2, kd, (const float[]){(float)(1 - 2 / sqrt(1 + 1e-5)), (float)(1 + 2 / sqrt(1 + 1e-5))}, 2, tol);
  }
}

/* Training-mode BN updates the running statistics in place with momentum 0.9 and the unbiased
 * batch variance: x = (1, 3) → mean 2, unbiased variance 2; running (1, 3) → (1.1, 2.9).
 * Inference mode leaves them alone. */
static void bn_running_stats(void) {
  sal_ctx *ctx = th_ctx();
  for (int training = 0; training < 2; training++) {
    th_op_case c = {.label = "bn running", .op = "BatchNormalization", .n_in = 5,
                    .in = {{"x", 2, {2, 1}, .fill = TH_FILL_DATA, .data = (const float[]){1, 3}},
                           {"scale", 1, {1}, .param = true, .fill = TH_FILL_DATA, .data = (const float[]){2}},
                           {"B", 1, {1}, .param = true, .fill = TH_FILL_DATA, .data = (const float[]){1}},
                           {"mean", 1, {1}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){1}},
                           {"var", 1, {1}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){3}}},
                    .n_out = 1};
    sal_graph *g = th_build(&c);
    if (!g) continue;
    sal_plan_opts o = sal_plan_opts_default();
    o.training = training;
    o.kernels = SAL_KERNELS_REF;
    sal_plan *p = NULL;
    sal_tensor *x = NULL;
    TH_OK(sal_plan_new(ctx, g, &o, &p));
    float xv[2] = {1, 3};
    TH_OK(sal_tensor_wrap(ctx, 2, (int64_t[]){2, 1}, xv, &x));
    if (p && x) {
      TH_OK(sal_plan_set_input(p, "x", x));
      TH_OK(sal_plan_forward(p));
      sal_tensor m, v;
      TH_OK(sal_graph_param(g, "mean", &m));
      TH_OK(sal_graph_param(g, "var", &v));
      float got[2] = {m.data[0], v.data[0]};
      const float want[2][2] = {{1, 3}, {1.1f, 2.9f}};
      th_allclose(training ? "bn running stats (training)" : "bn running stats (inference)", got, want[training], 2,
                  1e-6, 1e-6);
    }
    sal_tensor_free(x);
    sal_plan_free(p);
    sal_graph_free(g);
  }
}

static void shapes_and_macs(void) {
  /* PyTorch: max_pool2d(5x5, k2, s2, p1, ceil_mode) is 3x3 — the 4th window would start in the pad. */
  th_op_case m = {.label = "maxpool ceil drops last", .op = "MaxPool", .n_in = 1, .in = {{"x", 4, {1, 1, 5, 5}}},
                  .n_out = 1,
                  .attrs = {sal_attr_ints("kernel_shape", 2, K2), sal_attr_ints("strides", 2, S2),
                            sal_attr_ints("pads", 4, P1), sal_attr_int("ceil_mode", 1)},
                  .n_attrs = 4};
  check_shape(&m, 4, (const int64_t[]){1, 1, 3, 3});
  th_op_case s = {.label = "conv SAME_UPPER shape", .op = "Conv", .n_in = 2,
                  .in = {{"x", 4, {1, 2, 7, 5}}, {"w", 4, {3, 2, 4, 4}, .param = true}}, .n_out = 1,
                  .attrs = {sal_attr_string("auto_pad", "SAME_UPPER"), sal_attr_ints("strides", 2, S2)}, .n_attrs = 2};
  check_shape(&s, 4, (const int64_t[]){1, 3, 4, 3});
  th_op_case gp = {.label = "gap 5-D shape", .op = "GlobalAveragePool", .n_in = 1, .in = {{"x", 5, {2, 3, 4, 5, 6}}},
                   .n_out = 1};
  check_shape(&gp, 5, (const int64_t[]){2, 3, 1, 1, 1});

  /* MACs: N*M*OH*OW*(C/group)*kH*kW = 2*6*5*4*2*3*3 for a 2-group conv on (2,4,5,4) with pads 1. */
  th_op_case c = {.label = "conv macs", .op = "Conv", .n_in = 2,
                  .in = {{"x", 4, {2, 4, 5, 4}}, {"w", 4, {6, 2, 3, 3}, .param = true}}, .n_out = 1,
                  .attrs = {sal_attr_int("group", 2), sal_attr_ints("pads", 4, P1)}, .n_attrs = 2};
  sal_graph *g = th_build(&c);
  sal_plan *p = NULL;
  if (g) {
    TH_OK(sal_plan_new(th_ctx(), g, NULL, &p));
    if (p) TH_CHECK(sal_plan_forward_macs(p) == 2 * 6 * 5 * 4 * 2 * 9, "conv macs %lld", (long long)sal_plan_forward_macs(p));
    sal_plan_free(p);
    sal_graph_free(g);
  }
  th_op_case mp = m;
  mp.label = "pool macs";
  g = th_build(&mp);
  if (g) {
    TH_OK(sal_plan_new(th_ctx(), g, NULL, &p));
    if (p) TH_CHECK(sal_plan_forward_macs(p) == 9 * 4, "pool macs %lld", (long long)sal_plan_forward_macs(p));
    sal_plan_free(p);
    sal_graph_free(g);
  }
}

static void bad_inputs(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  TH_OK(sal_graph_add_input(g, "x", 4, (int64_t[]){1, 4, 5, 5}));
  TH_OK(sal_graph_add_input(g, "small", 4, (int64_t[]){1, 1, 2, 2}));
  TH_OK(sal_graph_add_input(g, "x3", 3, (int64_t[]){1, 4, 5}));
  TH_OK(sal_graph_add_param(g, "w_bad", 4, (int64_t[]){2, 3, 3, 3}, NULL, true));
  TH_OK(sal_graph_add_param(g, "w", 4, (int64_t[]){2, 4, 3, 3}, NULL, true));
  TH_OK(sal_graph_add_param(g, "w1", 4, (int64_t[]){1, 1, 3, 3}, NULL, true));
  TH_OK(sal_graph_add_param(g, "w3", 3, (int64_t[]){2, 4, 3}, NULL, true));
  TH_OK(sal_graph_add_param(g, "b3", 1, (int64_t[]){3}, NULL, true));
  TH_OK(sal_graph_add_param(g, "c3", 1, (int64_t[]){3}, NULL, false));
  TH_OK(sal_graph_add_param(g, "c4", 1, (int64_t[]){4}, NULL, false));
  const char *y[] = {"y"};
  TH_FAILS(sal_graph_add_node(g, "Conv", "badw", (const char *[]){"x", "w_bad"}, 2, y, 1, NULL, 0), SAL_STATUS_SHAPE,
           "node 'badw' (Conv): weight (2, 3, 3, 3) has 3 input channels per group, but input (1, 4, 5, 5) with group 1 needs C/group = 4");
  TH_FAILS(sal_graph_add_node(g, "Conv", "big", (const char *[]){"small", "w1"}, 2, y, 1, NULL, 0), SAL_STATUS_SHAPE,
           "node 'big' (Conv): kernel_shape (3, 3) with dilations (1, 1) does not fit input (1, 1, 2, 2) with pads (0, 0, 0, 0)");
  sal_attr dil = sal_attr_ints("dilations", 2, (const int64_t[]){3, 3});
  TH_FAILS(sal_graph_add_node(g, "Conv", "bigdil", (const char *[]){"x", "w"}, 2, y, 1, &dil, 1), SAL_STATUS_SHAPE,
           "kernel_shape (3, 3) with dilations (3, 3) does not fit input (1, 4, 5, 5)");
  TH_FAILS(sal_graph_add_node(g, "Conv", "conv1d", (const char *[]){"x3", "w3"}, 2, y, 1, NULL, 0), SAL_STATUS_UNSUPPORTED,
           "node 'conv1d' (Conv): only 2-D convolution is supported");
  sal_attr grp = sal_attr_int("group", 3);
  TH_FAILS(sal_graph_add_node(g, "Conv", "grp", (const char *[]){"x", "w"}, 2, y, 1, &grp, 1), SAL_STATUS_SHAPE,
           "group 3 does not divide the 4 input channels");
  sal_attr ks = sal_attr_ints("kernel_shape", 2, K2);
  TH_FAILS(sal_graph_add_node(g, "Conv", "ks", (const char *[]){"x", "w"}, 2, y, 1, &ks, 1), SAL_STATUS_SHAPE,
           "kernel_shape (2, 2) does not match weight (2, 4, 3, 3)");
  TH_FAILS(sal_graph_add_node(g, "Conv", "bias", (const char *[]){"x", "w", "b3"}, 3, y, 1, NULL, 0), SAL_STATUS_SHAPE,
           "bias (3) must be (2)");
  sal_attr ap = sal_attr_string("auto_pad", "SAME");
  TH_FAILS(sal_graph_add_node(g, "Conv", "ap", (const char *[]){"x", "w"}, 2, y, 1, &ap, 1), SAL_STATUS_BAD_INPUT,
           "auto_pad 'SAME' is not one of");
  sal_attr both[2] = {sal_attr_string("auto_pad", "SAME_UPPER"), sal_attr_ints("pads", 4, P1)};
  TH_FAILS(sal_graph_add_node(g, "Conv", "both", (const char *[]){"x", "w"}, 2, y, 1, both, 2), SAL_STATUS_BAD_INPUT,
           "non-zero pads cannot be used together with auto_pad");
  sal_attr st1 = sal_attr_ints("strides", 1, (const int64_t[]){2});
  TH_FAILS(sal_graph_add_node(g, "Conv", "st1", (const char *[]){"x", "w"}, 2, y, 1, &st1, 1), SAL_STATUS_BAD_INPUT,
           "attribute 'strides' has 1 values, expected 2");
  sal_attr st0 = sal_attr_ints("strides", 2, (const int64_t[]){0, 1});
  TH_FAILS(sal_graph_add_node(g, "Conv", "st0", (const char *[]){"x", "w"}, 2, y, 1, &st0, 1), SAL_STATUS_BAD_INPUT,
           "attribute 'strides' value 0 is out of range");

  sal_attr pk[2] = {sal_attr_ints("kernel_shape", 2, K2), sal_attr_ints("pads", 4, (const int64_t[]){0, 0, 3, 0})};
  TH_FAILS(sal_graph_add_node(g, "MaxPool", "mp_pad", (const char *[]){"small"}, 1, y, 1, pk, 2), SAL_STATUS_SHAPE,
           "node 'mp_pad' (MaxPool): pooling window 2 along H of input (1, 1, 2, 2) lies entirely in the padding");
  TH_FAILS(sal_graph_add_node(g, "MaxPool", "mp_idx", (const char *[]){"x"}, 1, (const char *[]){"y", "idx"}, 2, pk, 1),
           SAL_STATUS_UNSUPPORTED, "node 'mp_idx' (MaxPool): the optional Indices output is not supported");
  TH_FAILS(sal_graph_add_node(g, "AveragePool", "ap_nok", (const char *[]){"x"}, 1, y, 1, NULL, 0), SAL_STATUS_BAD_INPUT,
           "node 'ap_nok' (AveragePool): the kernel_shape attribute is required");
  sal_attr big_k = sal_attr_ints("kernel_shape", 2, (const int64_t[]){6, 6});
  TH_FAILS(sal_graph_add_node(g, "AveragePool", "ap_big", (const char *[]){"x"}, 1, y, 1, &big_k, 1), SAL_STATUS_SHAPE,
           "kernel_shape (6, 6) with dilations (1, 1) does not fit input (1, 4, 5, 5)");
  TH_FAILS(sal_graph_add_node(g, "MaxPool", "mp3", (const char *[]){"x3"}, 1, y, 1, pk, 1), SAL_STATUS_UNSUPPORTED,
           "only 2-D pooling is supported");
  TH_FAILS(sal_graph_add_node(g, "BatchNormalization", "bn_c", (const char *[]){"x", "c4", "c4", "c3", "c4"}, 5, y, 1,
                              NULL, 0),
           SAL_STATUS_SHAPE, "node 'bn_c' (BatchNormalization): input_mean has shape (3), expected (4) for input (1, 4, 5, 5)");
  sal_attr sp = sal_attr_int("spatial", 0);
  TH_FAILS(sal_graph_add_node(g, "BatchNormalization", "bn_sp", (const char *[]){"x", "c4", "c4", "c4", "c4"}, 5, y, 1,
                              &sp, 1),
           SAL_STATUS_UNSUPPORTED, "spatial = 0");

  /* Training mode needs more than one value per channel (the unbiased variance divides by n-1). */
  TH_OK(sal_graph_add_input(g, "x11", 4, (int64_t[]){1, 4, 1, 1}));
  TH_OK(sal_graph_add_node(g, "BatchNormalization", "bn1", (const char *[]){"x11", "c4", "c4", "c4", "c4"}, 5, y, 1,
                           NULL, 0));
  sal_plan_opts o = sal_plan_opts_default();
  o.training = true;
  o.kernels = SAL_KERNELS_REF;
  sal_plan *p = NULL;
  TH_FAILS(sal_plan_new(ctx, g, &o, &p), SAL_STATUS_SHAPE, "node 'bn1' (BatchNormalization): training mode needs more than one value per channel");
  sal_plan_free(p);
  sal_graph_free(g);
}

int main(void) {
  gradchecks();
  forward_values();
  bn_running_stats();
  shapes_and_macs();
  bad_inputs();
  return th_finish("test_ops_conv");
}
