/* Gradient checks, hand-computed forward values and bad-input errors for the activations
 * (LeakyRelu, Sigmoid, Tanh, Clip, HardSigmoid, HardSwish), Softmax/LogSoftmax and ReduceMean. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fills buf with scale*N(0,1) values kept at least 0.1 away from every kink point, so that the
 * central differences (eps 0.01) never straddle a kink. */
static void fill_away_from(float *buf, int64_t n, const float *kinks, int nk, float scale, uint64_t seed) {
  sal_rng_normal(seed, 21, 0, buf, (size_t)n);
  for (int64_t i = 0; i < n; i++) {
    float v = scale * buf[i];
    for (int j = 0; j < nk; j++) {
      float d = v - kinks[j];
      if (fabsf(d) < 0.1f) v = kinks[j] + (d < 0 ? -0.1f + d : 0.1f + d);
    }
    buf[i] = v;
  }
}

/* Runs a one-node case with reference kernels: input 0 (a graph input) gets x; y receives output
 * 0 (and *ys its shape); when dx is non-NULL it receives the gradient of <dy, y0> wrt input 0
 * (dy NULL = all ones). Returns 1 on success (a failure is counted). */
static int eval_case(const th_op_case *c, const float *x, float *y, sal_shape *ys, const float *dy, float *dx) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = th_build(c);
  sal_plan *p = NULL;
  sal_tensor *xt = NULL, *dyt = NULL;
  int ok = 0;
  if (!g) return 0;
  sal_plan_opts o = sal_plan_opts_default();
  o.grad_inputs = dx != NULL;
  o.kernels = SAL_KERNELS_REF;
  if (sal_plan_new(ctx, g, &o, &p)) goto done;
  if (sal_tensor_wrap(ctx, c->in[0].ndim, c->in[0].dims, (float *)x, &xt)) goto done;
  if (sal_plan_set_input(p, c->in[0].name, xt) || sal_plan_forward(p)) goto done;
  const sal_tensor *yt;
  if (sal_plan_value(p, "y0", &yt)) goto done;
  memcpy(y, yt->data, (size_t)sal_tensor_numel(yt) * sizeof(float));
  if (ys) *ys = yt->shape;
  if (dx) {
    if (dy && sal_tensor_wrap(ctx, yt->shape.ndim, yt->shape.d, (float *)dy, &dyt)) goto done;
    if (sal_plan_backward(p, "y0", dyt)) goto done;
    const sal_tensor *gt;
    if (sal_plan_grad(p, c->in[0].name, &gt)) goto done;
    memcpy(dx, gt->data, (size_t)sal_tensor_numel(gt) * sizeof(float));
  }
  ok = 1;
done:
  if (!ok) {
    th_failed++;
    fprintf(stderr, "FAIL %s: %s\n", c->label, sal_ctx_last_error(ctx));
  }
  sal_tensor_free(xt);
  sal_tensor_free(dyt);
  sal_plan_free(p);
  sal_graph_free(g);
  return ok;
}

/* Checks forward values (and gradients of sum(y) when want_dx) of a 1-D case on x[0..n). Values
 * are computed in double by the kernels and rounded once, so the tolerance is a few float ulps. */
static void check_values(const th_op_case *c, const float *x, int64_t n, const float *want_y, int64_t ny,
                         const float *want_dx) {
  float y[64], dx[64];
  char lbl[128];
  if (!eval_case(c, x, y, NULL, NULL, want_dx ? dx : NULL)) return;
  snprintf(lbl, sizeof lbl, "%s forward", c->label);
  th_allclose(lbl, y, want_y, ny, 1e-6, 1e-7);
  if (want_dx) {
    snprintf(lbl, sizeof lbl, "%s gradient", c->label);
    th_allclose(lbl, dx, want_dx, n, 1e-6, 1e-7);
  }
}

/* y = op(x) + op(x) as two nodes: the second backward must add into the first's gradient, so dx
 * must be exactly twice the single-node gradient (both are the same float sums). */
static void check_accumulation(const th_op_case *c) {
  sal_ctx *ctx = th_ctx();
  const th_input *in = &c->in[0];
  sal_shape s;
  sal_shape_make(&s, in->ndim, in->dims);
  int64_t n = sal_shape_numel(&s);
  float *x = malloc((size_t)n * sizeof(float)), *single = malloc((size_t)n * sizeof(float));
  float *y = malloc((size_t)n * sizeof(float));
  th_fill_buf(in, x, n, 5);
  sal_graph *g = NULL;
  sal_plan *p = NULL;
  sal_tensor *xt = NULL;
  int ok = eval_case(c, x, y, NULL, NULL, single);
  if (!ok) goto done;
  ok = 0;
  if (sal_graph_new(ctx, &g) || sal_graph_add_input(g, in->name, in->ndim, in->dims)) goto done;
  const char *ins[] = {in->name};
  if (sal_graph_add_node(g, c->op, "a", ins, 1, (const char *[]){"ya"}, 1, c->attrs, c->n_attrs) ||
      sal_graph_add_node(g, c->op, "b", ins, 1, (const char *[]){"yb"}, 1, c->attrs, c->n_attrs) ||
      sal_graph_add_node(g, "Add", "sum", (const char *[]){"ya", "yb"}, 2, (const char *[]){"y"}, 1, NULL, 0))
    goto done;
  sal_plan_opts o = sal_plan_opts_default();
  o.grad_inputs = true;
  o.kernels = SAL_KERNELS_REF;
  if (sal_plan_new(ctx, g, &o, &p) || sal_tensor_wrap(ctx, in->ndim, in->dims, x, &xt) ||
      sal_plan_set_input(p, in->name, xt) || sal_plan_forward(p) || sal_plan_backward(p, "y", NULL))
    goto done;
  const sal_tensor *gt;
  if (sal_plan_grad(p, in->name, &gt)) goto done;
  for (int64_t i = 0; i < n; i++) single[i] *= 2.0f;
  char lbl[128];
  snprintf(lbl, sizeof lbl, "%s: gradient of two uses", c->label);
  th_allclose(lbl, gt->data, single, n, 0, 0);
  ok = 1;
done:
  if (!ok) {
    th_failed++;
    fprintf(stderr, "FAIL %s (two uses): %s\n", c->label, sal_ctx_last_error(ctx));
  }
  sal_tensor_free(xt);
  sal_plan_free(p);
  sal_graph_free(g);
  free(x);
  free(single);
  free(y);
}

/* Kink-free inputs for the piecewise ops (filled in main before the cases are used). */
static float clip_a[2 * 3 * 5 * 5], clip_b[11], clip_c[14], clip_d[12];
static float hsig_a[2 * 3 * 4 * 4], hsig_b[13], hswish_a[2 * 3 * 5 * 5], hswish_b[9];
static const float c_lo[] = {-1.0f}, c_hi[] = {0.3f}, c_hi2[] = {0.2f};
static const float axes_02[] = {0.0f, 2.0f}, axes_m1[] = {-1.0f};

static void gradchecks(void) {
  const float k_clip_a[] = {-0.5f, 0.8f}, k_clip_b[] = {-1.0f, 0.3f}, k_clip_c[] = {0.2f}, k_zero[] = {0.0f};
  const float k_hsig_a[] = {-2.5f, 2.5f}, k_hsig_b[] = {-0.6f, 1.4f}, k_hswish[] = {-3.0f, 3.0f};
  fill_away_from(clip_a, 150, k_clip_a, 2, 1.0f, 1);
  fill_away_from(clip_b, 11, k_clip_b, 2, 1.0f, 2);
  fill_away_from(clip_c, 14, k_clip_c, 1, 1.0f, 3);
  fill_away_from(clip_d, 12, k_zero, 1, 1.0f, 4);
  fill_away_from(hsig_a, 96, k_hsig_a, 2, 3.0f, 5);
  fill_away_from(hsig_b, 13, k_hsig_b, 2, 2.0f, 6);
  fill_away_from(hswish_a, 150, k_hswish, 2, 3.0f, 7);
  fill_away_from(hswish_b, 9, k_hswish, 2, 4.0f, 8);

  th_op_case cases[] = {
      /* LeakyRelu's kink at 0: inputs kept >= 0.1 away (eps 0.01 never crosses). */
      {.label = "leaky default", .op = "LeakyRelu", .n_in = 1, .in = {{"x", 4, {2, 3, 5, 5}, .fill = TH_FILL_AWAY}}, .n_out = 1},
      {.label = "leaky alpha", .op = "LeakyRelu", .n_in = 1, .in = {{"x", 2, {1, 7}, .fill = TH_FILL_AWAY}}, .n_out = 1,
       .attrs = {sal_attr_float("alpha", 0.2f)}, .n_attrs = 1},
      {.label = "sigmoid 4d", .op = "Sigmoid", .n_in = 1, .in = {{"x", 4, {2, 3, 4, 5}}}, .n_out = 1},
      {.label = "sigmoid b1", .op = "Sigmoid", .n_in = 1, .in = {{"x", 2, {1, 9}}}, .n_out = 1},
      {.label = "tanh 2d", .op = "Tanh", .n_in = 1, .in = {{"x", 2, {3, 5}}}, .n_out = 1},
      {.label = "tanh 4d b1", .op = "Tanh", .n_in = 1, .in = {{"x", 4, {1, 2, 3, 3}}}, .n_out = 1},
      /* Clip: kinks at the bounds, inputs kept 0.1 away from them. */
      {.label = "clip attrs", .op = "Clip", .n_in = 1, .in = {{"x", 4, {2, 3, 5, 5}, .fill = TH_FILL_DATA, .data = clip_a}},
       .n_out = 1, .attrs = {sal_attr_float("min", -0.5f), sal_attr_float("max", 0.8f)}, .n_attrs = 2},
      {.label = "clip inputs", .op = "Clip", .n_in = 3,
       .in = {{"x", 2, {1, 11}, .fill = TH_FILL_DATA, .data = clip_b},
              {"lo", 0, {0}, .constant = true, .fill = TH_FILL_DATA, .data = c_lo},
              {"hi", 1, {1}, .constant = true, .fill = TH_FILL_DATA, .data = c_hi}},
       .n_out = 1},
      {.label = "clip max only", .op = "Clip", .n_in = 3,
       .in = {{"x", 2, {2, 7}, .fill = TH_FILL_DATA, .data = clip_c}, {""},
              {"hi", 0, {0}, .constant = true, .fill = TH_FILL_DATA, .data = c_hi2}},
       .n_out = 1},
      {.label = "clip min attr", .op = "Clip", .n_in = 1, .in = {{"x", 2, {3, 4}, .fill = TH_FILL_DATA, .data = clip_d}},
       .n_out = 1, .attrs = {sal_attr_float("min", 0.0f)}, .n_attrs = 1},
      /* HardSigmoid: kinks where alpha*x + beta is 0 or 1. */
      {.label = "hardsigmoid default", .op = "HardSigmoid", .n_in = 1,
       .in = {{"x", 4, {2, 3, 4, 4}, .fill = TH_FILL_DATA, .data = hsig_a}}, .n_out = 1},
      {.label = "hardsigmoid attrs", .op = "HardSigmoid", .n_in = 1, .in = {{"x", 2, {1, 13}, .fill = TH_FILL_DATA, .data = hsig_b}},
       .n_out = 1, .attrs = {sal_attr_float("alpha", 0.5f), sal_attr_float("beta", 0.3f)}, .n_attrs = 2},
      /* HardSwish: kinks at -3 and 3. */
      {.label = "hardswish 4d", .op = "HardSwish", .n_in = 1,
       .in = {{"x", 4, {2, 3, 5, 5}, .fill = TH_FILL_DATA, .data = hswish_a}}, .n_out = 1},
      {.label = "hardswish b1", .op = "HardSwish", .n_in = 1, .in = {{"x", 2, {1, 9}, .fill = TH_FILL_DATA, .data = hswish_b}},
       .n_out = 1},
      /* Softmax / LogSoftmax along different axes, odd sizes, batch 1 and > 1. */
      {.label = "softmax default axis", .op = "Softmax", .n_in = 1, .in = {{"x", 2, {2, 5}}}, .n_out = 1},
      {.label = "softmax b1", .op = "Softmax", .n_in = 1, .in = {{"x", 2, {1, 7}}}, .n_out = 1},
      {.label = "softmax axis 1", .op = "Softmax", .n_in = 1, .in = {{"x", 4, {2, 3, 4, 5}}}, .n_out = 1,
       .attrs = {sal_attr_int("axis", 1)}, .n_attrs = 1},
      {.label = "softmax axis 0", .op = "Softmax", .n_in = 1, .in = {{"x", 3, {3, 4, 5}}}, .n_out = 1,
       .attrs = {sal_attr_int("axis", 0)}, .n_attrs = 1},
      {.label = "softmax axis -2", .op = "Softmax", .n_in = 1, .in = {{"x", 4, {1, 3, 5, 3}}}, .n_out = 1,
       .attrs = {sal_attr_int("axis", -2)}, .n_attrs = 1},
      {.label = "logsoftmax default axis", .op = "LogSoftmax", .n_in = 1, .in = {{"x", 2, {3, 7}}}, .n_out = 1},
      {.label = "logsoftmax axis -3", .op = "LogSoftmax", .n_in = 1, .in = {{"x", 4, {2, 3, 4, 5}}}, .n_out = 1,
       .attrs = {sal_attr_int("axis", -3)}, .n_attrs = 1},
      {.label = "logsoftmax axis 2", .op = "LogSoftmax", .n_in = 1, .in = {{"x", 3, {1, 3, 5}}}, .n_out = 1,
       .attrs = {sal_attr_int("axis", 2)}, .n_attrs = 1},
      /* ReduceMean: attribute and input axes, keepdims 0/1, reduce-all and no-op. */
      {.label = "reducemean gap", .op = "ReduceMean", .n_in = 1, .in = {{"x", 4, {2, 3, 4, 5}}}, .n_out = 1,
       .attrs = {sal_attr_ints("axes", 2, (const int64_t[]){2, 3})}, .n_attrs = 1},
      {.label = "reducemean gap flat", .op = "ReduceMean", .n_in = 1, .in = {{"x", 4, {2, 3, 3, 5}}}, .n_out = 1,
       .attrs = {sal_attr_ints("axes", 2, (const int64_t[]){-1, -2}), sal_attr_int("keepdims", 0)}, .n_attrs = 2},
      {.label = "reducemean last b1", .op = "ReduceMean", .n_in = 1, .in = {{"x", 3, {1, 7, 3}}}, .n_out = 1,
       .attrs = {sal_attr_ints("axes", 1, (const int64_t[]){-1})}, .n_attrs = 1},
      {.label = "reducemean channels", .op = "ReduceMean", .n_in = 1, .in = {{"x", 4, {2, 5, 3, 3}}}, .n_out = 1,
       .attrs = {sal_attr_ints("axes", 1, (const int64_t[]){1}), sal_attr_int("keepdims", 0)}, .n_attrs = 2},
      {.label = "reducemean all", .op = "ReduceMean", .n_in = 1, .in = {{"x", 2, {3, 5}}}, .n_out = 1,
       .attrs = {sal_attr_int("keepdims", 0)}, .n_attrs = 1},
      {.label = "reducemean axes input", .op = "ReduceMean", .n_in = 2,
       .in = {{"x", 3, {2, 3, 5}}, {"axes", 1, {2}, .constant = true, .fill = TH_FILL_DATA, .data = axes_02}},
       .n_out = 1, .attrs = {sal_attr_int("keepdims", 0)}, .n_attrs = 1},
      {.label = "reducemean axes input -1", .op = "ReduceMean", .n_in = 2,
       .in = {{"x", 2, {3, 4}}, {"axes", 1, {1}, .constant = true, .fill = TH_FILL_DATA, .data = axes_m1}}, .n_out = 1},
      {.label = "reducemean empty axes input", .op = "ReduceMean", .n_in = 2,
       .in = {{"x", 2, {2, 3}}, {"axes", 1, {0}, .constant = true}}, .n_out = 1},
      {.label = "reducemean noop", .op = "ReduceMean", .n_in = 1, .in = {{"x", 3, {2, 3, 4}}}, .n_out = 1,
       .attrs = {sal_attr_int("noop_with_empty_axes", 1)}, .n_attrs = 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    th_gradcheck(&cases[i], SAL_KERNELS_REF);
    if (cases[i].n_in == 1) check_accumulation(&cases[i]);
  }
}

static void forward_values(void) {
  const float x4[] = {-2.0f, -0.5f, 0.0f, 1.5f};
  th_op_case leaky = {.label = "leaky values", .op = "LeakyRelu", .n_in = 1, .in = {{"x", 1, {4}}}, .n_out = 1,
                      .attrs = {sal_attr_float("alpha", 0.1f)}, .n_attrs = 1};
  /* At x == 0 the slope is alpha, as in PyTorch. */
  check_values(&leaky, x4, 4, (const float[]){-0.2f, -0.05f, 0.0f, 1.5f}, 4, (const float[]){0.1f, 0.1f, 0.1f, 1.0f});
  th_op_case leaky_def = {.label = "leaky default alpha", .op = "LeakyRelu", .n_in = 1, .in = {{"x", 1, {4}}}, .n_out = 1};
  check_values(&leaky_def, x4, 4, (const float[]){-0.02f, -0.005f, 0.0f, 1.5f}, 4, NULL);

  /* Sigmoid / Tanh, including saturated inputs that must not overflow to NaN. */
  th_op_case sig = {.label = "sigmoid values", .op = "Sigmoid", .n_in = 1, .in = {{"x", 1, {6}}}, .n_out = 1};
  check_values(&sig, (const float[]){0, 2, -2, 30, -1000, 1000}, 6,
               (const float[]){0.5f, 0.8807970779778823f, 0.11920292202211755f, 1.0f, 0.0f, 1.0f}, 6,
               (const float[]){0.25f, 0.10499358540350662f, 0.1049935854035065f, 0.0f, 0.0f, 0.0f});
  th_op_case tnh = {.label = "tanh values", .op = "Tanh", .n_in = 1, .in = {{"x", 1, {4}}}, .n_out = 1};
  check_values(&tnh, (const float[]){0, 0.5f, -1, 20}, 4,
               (const float[]){0.0f, 0.46211715726000974f, -0.7615941559557649f, 1.0f}, 4,
               (const float[]){1.0f, 0.7864477329659274f, 0.41997434161402614f, 0.0f});

  /* Clip [-1, 2]: the gradient is 0 at the bounds themselves (hardtanh convention). */
  const float xc[] = {-3, -1, 0.5f, 2, 5};
  const float yc[] = {-1, -1, 0.5f, 2, 2}, dc[] = {0, 0, 1, 0, 0};
  th_op_case clip_attr = {.label = "clip attr values", .op = "Clip", .n_in = 1, .in = {{"x", 1, {5}}}, .n_out = 1,
                          .attrs = {sal_attr_float("min", -1), sal_attr_float("max", 2)}, .n_attrs = 2};
  check_values(&clip_attr, xc, 5, yc, 5, dc);
  th_op_case clip_in = {.label = "clip input values", .op = "Clip", .n_in = 3,
                        .in = {{"x", 1, {5}},
                               {"lo", 0, {0}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){-1}},
                               {"hi", 0, {0}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){2}}},
                        .n_out = 1};
  check_values(&clip_in, xc, 5, yc, 5, dc);
  /* min > max: every element becomes max (ONNX), and nothing is differentiable. */
  th_op_case clip_swap = {.label = "clip min > max", .op = "Clip", .n_in = 1, .in = {{"x", 1, {5}}}, .n_out = 1,
                          .attrs = {sal_attr_float("min", 2), sal_attr_float("max", 1)}, .n_attrs = 2};
  check_values(&clip_swap, xc, 5, (const float[]){1, 1, 1, 1, 1}, 5, (const float[]){0, 0, 0, 0, 0});
  th_op_case clip_none = {.label = "clip no bounds", .op = "Clip", .n_in = 1, .in = {{"x", 1, {5}}}, .n_out = 1};
  check_values(&clip_none, xc, 5, xc, 5, (const float[]){1, 1, 1, 1, 1});
  {
    th_op_case clip_nan = {.label = "clip NaN", .op = "Clip", .n_in = 1, .in = {{"x", 1, {2}}}, .n_out = 1,
                           .attrs = {sal_attr_float("min", -1), sal_attr_float("max", 2)}, .n_attrs = 2};
    float y[2];
    if (eval_case(&clip_nan, (const float[]){NAN, 1.0f}, y, NULL, NULL, NULL))
      TH_CHECK(isnan(y[0]) && y[1] == 1.0f, "clip: NaN must propagate, got %g %g", y[0], y[1]);
  }

  /* HardSigmoid default (0.2, 0.5): flat outside [-2.5, 2.5], gradient 0 on the kinks. */
  th_op_case hsig = {.label = "hardsigmoid values", .op = "HardSigmoid", .n_in = 1, .in = {{"x", 1, {6}}}, .n_out = 1};
  check_values(&hsig, (const float[]){-3, -2.5f, 0, 1, 2.5f, 3}, 6, (const float[]){0, 0, 0.5f, 0.7f, 1, 1}, 6,
               (const float[]){0, 0, 0.2f, 0.2f, 0, 0});
  /* HardSwish: x*(x+3)/6 on [-3, 3]; the gradient (2x+3)/6 includes both ends (PyTorch). */
  th_op_case hsw = {.label = "hardswish values", .op = "HardSwish", .n_in = 1, .in = {{"x", 1, {7}}}, .n_out = 1};
  check_values(&hsw, (const float[]){-4, -3, -1, 0, 1, 3, 4}, 7,
               (const float[]){0, 0, -1.0f / 3, 0, 2.0f / 3, 3, 4}, 7,
               (const float[]){0, -0.5f, 1.0f / 6, 0.5f, 5.0f / 6, 1.5f, 1});

  /* Softmax / LogSoftmax of (1, 2, 3); shifted by +-1000 the answer must not change (stability:
   * without subtracting the maximum, exp overflows at +1000 and underflows to 0/0 at -1000). */
  const float sm[] = {0.09003057317038045f, 0.2447284710547976f, 0.6652409557748218f};
  const float lsm[] = {-2.4076059644443806f, -1.4076059644443804f, -0.4076059644443804f};
  const float dy0[] = {1, 0, 0};
  float y[8], dx[8];
  th_op_case soft = {.label = "softmax values", .op = "Softmax", .n_in = 1, .in = {{"x", 2, {1, 3}}}, .n_out = 1};
  th_op_case lsoft = {.label = "logsoftmax values", .op = "LogSoftmax", .n_in = 1, .in = {{"x", 2, {1, 3}}}, .n_out = 1};
  const float *xs[] = {(const float[]){1, 2, 3}, (const float[]){1000, 1001, 1002}, (const float[]){-1001, -1000, -999}};
  for (int s = 0; s < 3; s++) {
    if (eval_case(&soft, xs[s], y, NULL, dy0, dx)) {
      th_allclose("softmax forward", y, sm, 3, 1e-6, 1e-7);
      th_allclose("softmax gradient", dx,
                  (const float[]){0.08192506906499322f, -0.02203304452017429f, -0.059892024544818914f}, 3, 1e-5, 1e-7);
    }
    if (eval_case(&lsoft, xs[s], y, NULL, dy0, dx)) {
      /* x - max is exact, so the shifted input gives the same answer to float rounding. */
      th_allclose("logsoftmax forward", y, lsm, 3, 1e-6, 1e-7);
      th_allclose("logsoftmax gradient", dx, (const float[]){0.9099694268296196f, -0.24472847105479764f, -0.6652409557748218f},
                  3, 1e-5, 1e-7);
    }
  }
  th_op_case soft0 = {.label = "softmax axis 0 values", .op = "Softmax", .n_in = 1, .in = {{"x", 2, {2, 2}}}, .n_out = 1,
                      .attrs = {sal_attr_int("axis", 0)}, .n_attrs = 1};
  check_values(&soft0, (const float[]){1, 2, 3, 4}, 4,
               (const float[]){0.11920292202211755f, 0.11920292202211755f, 0.8807970779778823f, 0.8807970779778823f}, 4,
               NULL);

  /* ReduceMean of [[1, 2, 3], [4, 5, 6]]: output shapes and values. */
  const float xr[] = {1, 2, 3, 4, 5, 6};
  sal_shape ys;
  th_op_case r1 = {.label = "reducemean axis 1", .op = "ReduceMean", .n_in = 1, .in = {{"x", 2, {2, 3}}}, .n_out = 1,
                   .attrs = {sal_attr_ints("axes", 1, (const int64_t[]){1})}, .n_attrs = 1};
  if (eval_case(&r1, xr, y, &ys, (const float[]){1, 2}, dx)) {
    TH_CHECK(ys.ndim == 2 && ys.d[0] == 2 && ys.d[1] == 1, "reducemean axis 1 keepdims: shape ndim %d", ys.ndim);
    th_allclose("reducemean axis 1 forward", y, (const float[]){2, 5}, 2, 1e-6, 0);
    th_allclose("reducemean axis 1 gradient", dx, (const float[]){1.f / 3, 1.f / 3, 1.f / 3, 2.f / 3, 2.f / 3, 2.f / 3}, 6,
                1e-6, 0);
  }
  th_op_case r0 = {.label = "reducemean axis 0", .op = "ReduceMean", .n_in = 1, .in = {{"x", 2, {2, 3}}}, .n_out = 1,
                   .attrs = {sal_attr_ints("axes", 1, (const int64_t[]){0}), sal_attr_int("keepdims", 0)}, .n_attrs = 2};
  if (eval_case(&r0, xr, y, &ys, NULL, NULL)) {
    TH_CHECK(ys.ndim == 1 && ys.d[0] == 3, "reducemean axis 0 no keepdims: shape ndim %d", ys.ndim);
    th_allclose("reducemean axis 0 forward", y, (const float[]){2.5f, 3.5f, 4.5f}, 3, 1e-6, 0);
  }
  th_op_case rall = {.label = "reducemean all", .op = "ReduceMean", .n_in = 1, .in = {{"x", 2, {2, 3}}}, .n_out = 1,
                     .attrs = {sal_attr_int("keepdims", 0)}, .n_attrs = 1};
  if (eval_case(&rall, xr, y, &ys, NULL, dx)) {
    TH_CHECK(ys.ndim == 0, "reducemean all no keepdims: rank %d, want 0", ys.ndim);
    th_allclose("reducemean all forward", y, (const float[]){3.5f}, 1, 1e-6, 0);
    th_allclose("reducemean all gradient", dx, (const float[]){1.f / 6, 1.f / 6, 1.f / 6, 1.f / 6, 1.f / 6, 1.f / 6}, 6,
                1e-6, 0);
  }
  th_op_case rkeep = {.label = "reducemean all keepdims", .op = "ReduceMean", .n_in = 1, .in = {{"x", 2, {2, 3}}},
                      .n_out = 1};
  if (eval_case(&rkeep, xr, y, &ys, NULL, NULL)) {
    TH_CHECK(ys.ndim == 2 && ys.d[0] == 1 && ys.d[1] == 1, "reducemean all keepdims: rank %d, want (1, 1)", ys.ndim);
    th_allclose("reducemean all keepdims forward", y, (const float[]){3.5f}, 1, 1e-6, 0);
  }
  th_op_case rnoop = {.label = "reducemean noop", .op = "ReduceMean", .n_in = 1, .in = {{"x", 2, {2, 3}}}, .n_out = 1,
                      .attrs = {sal_attr_int("noop_with_empty_axes", 1)}, .n_attrs = 1};
  if (eval_case(&rnoop, xr, y, &ys, NULL, NULL)) {
    TH_CHECK(ys.ndim == 2 && ys.d[0] == 2 && ys.d[1] == 3, "reducemean noop: rank %d, want (2, 3)", ys.ndim);
    th_allclose("reducemean noop forward", y, xr, 6, 0, 0);
  }
}

/* Adds node `name` (op, inputs, attrs) with output "<name>_y". */
static sal_status add1(sal_graph *g, const char *op, const char *name, const char *const *ins, int n_in,
                       const sal_attr *attrs, int n_attrs) {
  char out[64];
  snprintf(out, sizeof out, "%s_y", name);
  const char *outs[] = {out};
  return sal_graph_add_node(g, op, name, ins, n_in, outs, 1, attrs, n_attrs);
}

static void bad_inputs(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  if (!g) return;
  TH_OK(sal_graph_add_input(g, "x", 2, (int64_t[]){2, 3}));
  TH_OK(sal_graph_add_input(g, "x4", 4, (int64_t[]){2, 3, 4, 5}));
  TH_OK(sal_graph_add_input(g, "s", 1, (int64_t[]){1}));
  TH_OK(sal_graph_add_param(g, "two", 1, (int64_t[]){2}, (const float[]){0, 1}, false));
  TH_OK(sal_graph_add_param(g, "one", 0, NULL, (const float[]){1}, false));
  TH_OK(sal_graph_add_param(g, "half", 1, (int64_t[]){1}, (const float[]){1.5f}, false));
  TH_OK(sal_graph_add_param(g, "dup", 1, (int64_t[]){2}, (const float[]){1, -3}, false));
  const char *x[] = {"x"}, *x4[] = {"x4"};

  /* Softmax / LogSoftmax axis out of range: the message names the node, the axis and the input. */
  sal_attr ax2 = sal_attr_int("axis", 2), axm3 = sal_attr_int("axis", -3);
  TH_FAILS(add1(g, "Softmax", "sm_bad", x, 1, &ax2, 1), SAL_STATUS_SHAPE,
           "node 'sm_bad' (Softmax): axis 2 is out of range for input (2, 3)");
  TH_FAILS(add1(g, "LogSoftmax", "lsm_bad", x, 1, &axm3, 1), SAL_STATUS_SHAPE,
           "node 'lsm_bad' (LogSoftmax): axis -3 is out of range");
  sal_attr axf = sal_attr_float("axis", 1.0f);
  TH_FAILS(add1(g, "Softmax", "sm_type", x, 1, &axf, 1), SAL_STATUS_BAD_INPUT,
           "node 'sm_type' (Softmax): attribute 'axis' is float, expected int");

  /* ReduceMean axes. */
  sal_attr a4 = sal_attr_ints("axes", 1, (const int64_t[]){4});
  TH_FAILS(add1(g, "ReduceMean", "rm_range", x4, 1, &a4, 1), SAL_STATUS_SHAPE,
           "node 'rm_range' (ReduceMean): axis 4 is out of range for input (2, 3, 4, 5)");
  sal_attr adup = sal_attr_ints("axes", 2, (const int64_t[]){1, -3});
  TH_FAILS(add1(g, "ReduceMean", "rm_dup", x4, 1, &adup, 1), SAL_STATUS_BAD_INPUT,
           "node 'rm_dup' (ReduceMean): axis -3 is listed twice");
  TH_FAILS(add1(g, "ReduceMean", "rm_dup_in", (const char *[]){"x4", "dup"}, 2, NULL, 0), SAL_STATUS_BAD_INPUT,
           "node 'rm_dup_in' (ReduceMean): axis -3 is listed twice");
  TH_FAILS(add1(g, "ReduceMean", "rm_frac", (const char *[]){"x", "half"}, 2, NULL, 0), SAL_STATUS_BAD_INPUT,
           "node 'rm_frac' (ReduceMean): axes[0] = 1.5 is not a valid axis");
  TH_FAILS(add1(g, "ReduceMean", "rm_var", (const char *[]){"x", "s"}, 2, NULL, 0), SAL_STATUS_UNSUPPORTED,
           "node 'rm_var' (ReduceMean): axes (input 1) must be a constant");
  sal_attr a1 = sal_attr_ints("axes", 1, (const int64_t[]){1});
  TH_FAILS(add1(g, "ReduceMean", "rm_both", (const char *[]){"x", "two"}, 2, &a1, 1), SAL_STATUS_BAD_INPUT,
           "node 'rm_both' (ReduceMean): axes are given both as an attribute and as input 1");
  sal_attr kd2 = sal_attr_int("keepdims", 2), noop3 = sal_attr_int("noop_with_empty_axes", 3);
  TH_FAILS(add1(g, "ReduceMean", "rm_kd", x, 1, &kd2, 1), SAL_STATUS_BAD_INPUT,
           "node 'rm_kd' (ReduceMean): keepdims is 2, expected 0 or 1");
  TH_FAILS(add1(g, "ReduceMean", "rm_noop", x, 1, &noop3, 1), SAL_STATUS_BAD_INPUT,
           "node 'rm_noop' (ReduceMean): noop_with_empty_axes is 3, expected 0 or 1");

  /* Clip bounds. */
  sal_attr lo = sal_attr_float("min", 0.0f), lo_nan = sal_attr_float("min", NAN);
  TH_FAILS(add1(g, "Clip", "clip_both", (const char *[]){"x", "one"}, 2, &lo, 1), SAL_STATUS_BAD_INPUT,
           "node 'clip_both' (Clip): 'min' is given both as an attribute and as input 1");
  TH_FAILS(add1(g, "Clip", "clip_var", (const char *[]){"x", "", "s"}, 3, NULL, 0), SAL_STATUS_UNSUPPORTED,
           "node 'clip_var' (Clip): 'max' (input 2) must be a constant");
  TH_FAILS(add1(g, "Clip", "clip_vec", (const char *[]){"x", "two"}, 2, NULL, 0), SAL_STATUS_SHAPE,
           "node 'clip_vec' (Clip): 'min' (input 1) must be a scalar, got shape (2)");
  TH_FAILS(add1(g, "Clip", "clip_nan", x, 1, &lo_nan, 1), SAL_STATUS_BAD_INPUT, "node 'clip_nan' (Clip): 'min' is NaN");

  /* Attribute values. */
  sal_attr alpha_inf = sal_attr_float("alpha", INFINITY), beta_nan = sal_attr_float("beta", NAN);
  TH_FAILS(add1(g, "LeakyRelu", "leaky_inf", x, 1, &alpha_inf, 1), SAL_STATUS_BAD_INPUT,
           "node 'leaky_inf' (LeakyRelu): attribute 'alpha' is inf, expected a finite number");
  TH_FAILS(add1(g, "HardSigmoid", "hsig_nan", x, 1, &beta_nan, 1), SAL_STATUS_BAD_INPUT,
           "node 'hsig_nan' (HardSigmoid): attribute 'beta' is nan, expected a finite number");
  TH_FAILS(add1(g, "Sigmoid", "sig_two", (const char *[]){"x", "x"}, 2, NULL, 0), SAL_STATUS_BAD_INPUT,
           "node 'sig_two' (Sigmoid): 2 inputs, expected 1..1");

  /* The graph is still usable after the failed additions. */
  TH_OK(add1(g, "Softmax", "sm_ok", x, 1, NULL, 0));
  sal_graph_free(g);
}

int main(void) {
  gradchecks();
  forward_values();
  bad_inputs();
  return th_finish("test_ops_eltwise");
}
