/* Shape ops other than Resize (tests/test_ops_resize.c): Flatten, Reshape, Transpose, Concat,
 * Split, Slice, Pad — gradient checks over shapes and attribute forms, hand-computed forward and
 * backward values, batch binding, and bad inputs whose errors name the node.
 * These ops only move values, so y is linear in x: central differences are exact up to float
 * rounding and the harness's default tolerances (rtol 2e-2, atol 2e-3 of the largest gradient)
 * are loose enough; the value checks are exact (atol 0 or 1e-6 for copies of copies). */
#include <stdlib.h>
#include <string.h>

#include "shape_cases.h"

#define I64(...) ((const int64_t[]){__VA_ARGS__})
#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))
/* Float stand-ins for INT64_MAX / INT64_MIN as an importer delivers them. */
#define BIGF 9.3e18f

static void gradcheck_all(const th_op_case *cases, int n) {
  for (int i = 0; i < n; i++) th_gradcheck(&cases[i], SAL_KERNELS_REF);
}

static void test_flatten_reshape(void) {
  th_op_case cases[] = {
      {.label = "flatten default", .op = "Flatten", .n_in = 1, .in = {{"x", 4, {2, 3, 4, 5}}}, .n_out = 1},
      {.label = "flatten axis 0", .op = "Flatten", .n_in = 1, .in = {{"x", 3, {3, 5, 7}}}, .n_out = 1,
       .attrs = {sal_attr_int("axis", 0)}, .n_attrs = 1},
      {.label = "flatten axis -1", .op = "Flatten", .n_in = 1, .in = {{"x", 4, {1, 3, 2, 5}}}, .n_out = 1,
       .attrs = {sal_attr_int("axis", -1)}, .n_attrs = 1},
      {.label = "reshape -1", .op = "Reshape", .n_in = 2, .in = {{"x", 3, {2, 3, 4}}, TH_CONST("s", 2, 4, -1)}, .n_out = 1},
      {.label = "reshape 0 copies", .op = "Reshape", .n_in = 2,
       .in = {{"x", 3, {2, 3, 4}}, TH_CONST("s", 4, 0, 0, 2, 2)}, .n_out = 1},
      {.label = "reshape 0 and -1", .op = "Reshape", .n_in = 2, .in = {{"x", 3, {1, 5, 3}}, TH_CONST("s", 3, 3, 0, -1)},
       .n_out = 1},
      {.label = "reshape allowzero", .op = "Reshape", .n_in = 2, .in = {{"x", 2, {3, 4}}, TH_CONST("s", 3, 2, 3, 2)},
       .n_out = 1, .attrs = {sal_attr_int("allowzero", 1)}, .n_attrs = 1},
  };
  gradcheck_all(cases, NELEM(cases));
  th_check_shape(&cases[0], 0, 2, I64(2, 60));
  th_check_accumulate(&cases[0]);
  th_check_accumulate(&cases[4]);
  th_check_shape(&cases[1], 0, 2, I64(1, 105));
  th_check_shape(&cases[2], 0, 2, I64(6, 5));
  th_check_shape(&cases[3], 0, 2, I64(4, 6));
  th_check_shape(&cases[4], 0, 4, I64(2, 3, 2, 2));
  th_check_shape(&cases[5], 0, 3, I64(3, 5, 1));
  th_op_case f4 = {.label = "flatten axis 4", .op = "Flatten", .n_in = 1, .in = {{"x", 4, {2, 3, 4, 5}}}, .n_out = 1,
                   .attrs = {sal_attr_int("axis", 4)}, .n_attrs = 1};
  th_check_shape(&f4, 0, 2, I64(120, 1));

  /* Values: row-major order is kept. */
  th_op_case r = {.label = "reshape values", .op = "Reshape", .n_in = 2,
                  .in = {{"x", 2, {2, 3}, TH_VALS(0, 1, 2, 3, 4, 5)}, TH_CONST("s", 2, 3, 2)}, .n_out = 1};
  th_check_values(&r, 0, (const float[]){0, 1, 2, 3, 4, 5}, 6, (const float[]){1, 1, 1, 1, 1, 1}, 6, 0);
  th_check_shape(&r, 0, 2, I64(3, 2));

  /* Bad inputs. */
  th_op_case bad = {.label = "bad_reshape", .op = "Reshape", .n_in = 2,
                    .in = {{"x", 3, {2, 3, 4}}, TH_CONST("s", 2, 5, 5)}, .n_out = 1};
  TH_FAILS(th_try_node(&bad), SAL_STATUS_SHAPE,
           "node 'bad_reshape' (Reshape): cannot reshape input (2, 3, 4) with 24 elements to shape (5, 5) with 25 elements");
  bad.in[1] = (th_input)TH_CONST("s", 2, 5, -1);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_SHAPE, "to shape (5, -1): 24 is not a multiple of 5");
  bad.in[1] = (th_input)TH_CONST("s", 3, -1, 4, -1);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "shape (-1, 4, -1) has more than one -1");
  bad.in[1] = (th_input)TH_CONST("s", 2, 2.5f, -1);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "shape[0] = 2.5 is not an integer");
  bad.in[1] = (th_input)TH_CONST("s", 2, -2, 12);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "shape[0] = -2 is outside -1..");
  bad.in[1] = (th_input)TH_CONST("s", 6, 1, 2, 3, 4, 1, 1);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_SHAPE, "has 6 values, at most 5");
  bad.in[1] = (th_input)TH_CONST("s", 4, 0, 0, 0, 0);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_SHAPE, "a 0 at index 3 copies an input dim, but input (2, 3, 4) has rank 3");
  bad.in[1] = (th_input){.name = "s", .ndim = 1, .dims = {2}}; /* a graph input, not a constant */
  TH_FAILS(th_try_node(&bad), SAL_STATUS_UNSUPPORTED, "node 'bad_reshape' (Reshape): input 1 's' (shape) is computed by the graph");
  bad.in[1] = (th_input)TH_CONST("s", 2, 0, -1);
  bad.attrs[0] = sal_attr_int("allowzero", 1);
  bad.n_attrs = 1;
  TH_FAILS(th_try_node(&bad), SAL_STATUS_SHAPE, "-1 cannot be inferred beside a 0 dim");
  TH_FAILS(th_try_node(&f4), SAL_STATUS_OK, NULL);
  f4.attrs[0] = sal_attr_int("axis", 5);
  f4.label = "bad_flatten";
  TH_FAILS(th_try_node(&f4), SAL_STATUS_BAD_INPUT, "node 'bad_flatten' (Flatten): axis 5 is out of range for rank 4");

  /* Batch binding: 0 copies the bound batch, Flatten keeps it, -1 absorbs it. */
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  TH_OK(sal_graph_add_input(g, "x", 4, I64(-1, 3, 2, 2)));
  TH_OK(sal_graph_add_param(g, "s0", 1, I64(2), (const float[]){0, -1}, false));
  TH_OK(sal_graph_add_param(g, "s1", 1, I64(2), (const float[]){-1, 4}, false));
  TH_OK(sal_graph_add_node(g, "Reshape", "r0", (const char *[]){"x", "s0"}, 2, (const char *[]){"a"}, 1, NULL, 0));
  TH_OK(sal_graph_add_node(g, "Flatten", "f", (const char *[]){"x"}, 1, (const char *[]){"b"}, 1, NULL, 0));
  TH_OK(sal_graph_add_node(g, "Reshape", "r1", (const char *[]){"x", "s1"}, 2, (const char *[]){"c"}, 1, NULL, 0));
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = 3;
  sal_plan *p = NULL;
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  sal_shape s;
  if (p) {
    TH_OK(sal_plan_shape(p, "a", &s));
    TH_CHECK(s.ndim == 2 && s.d[0] == 3 && s.d[1] == 12, "reshape (0, -1) at batch 3");
    TH_OK(sal_plan_shape(p, "b", &s));
    TH_CHECK(s.ndim == 2 && s.d[0] == 3 && s.d[1] == 12, "flatten at batch 3");
    TH_OK(sal_plan_shape(p, "c", &s));
    TH_CHECK(s.ndim == 2 && s.d[0] == 9 && s.d[1] == 4, "reshape (-1, 4) at batch 3");
  }
  sal_plan_free(p);
  sal_graph_free(g);
}

static void test_transpose(void) {
  th_op_case cases[] = {
      {.label = "transpose default", .op = "Transpose", .n_in = 1, .in = {{"x", 3, {2, 3, 4}}}, .n_out = 1},
      {.label = "transpose nhwc", .op = "Transpose", .n_in = 1, .in = {{"x", 4, {2, 3, 4, 5}}}, .n_out = 1,
       .attrs = {sal_attr_ints("perm", 4, I64(0, 2, 3, 1))}, .n_attrs = 1},
      {.label = "transpose 5-D", .op = "Transpose", .n_in = 1, .in = {{"x", 5, {3, 1, 5, 2, 2}}}, .n_out = 1,
       .attrs = {sal_attr_ints("perm", 5, I64(4, 0, 3, 1, 2))}, .n_attrs = 1},
      {.label = "transpose 1-D", .op = "Transpose", .n_in = 1, .in = {{"x", 1, {7}}}, .n_out = 1},
  };
  gradcheck_all(cases, NELEM(cases));
  th_check_shape(&cases[0], 0, 3, I64(4, 3, 2));
  th_check_accumulate(&cases[1]);
  th_check_shape(&cases[1], 0, 4, I64(2, 4, 5, 3));
  th_check_shape(&cases[2], 0, 5, I64(2, 3, 2, 1, 5));
  th_op_case t = {.label = "transpose values", .op = "Transpose", .n_in = 1,
                  .in = {{"x", 2, {2, 3}, TH_VALS(0, 1, 2, 3, 4, 5)}}, .n_out = 1};
  th_check_values(&t, 0, (const float[]){0, 3, 1, 4, 2, 5}, 6, (const float[]){1, 1, 1, 1, 1, 1}, 6, 0);
  /* (2, 2, 2) with perm (1, 2, 0): y[i][j][k] = x[k][i][j]. */
  th_op_case t3 = {.label = "transpose 3-D values", .op = "Transpose", .n_in = 1,
                   .in = {{"x", 3, {2, 2, 2}, TH_VALS(0, 1, 2, 3, 4, 5, 6, 7)}}, .n_out = 1,
                   .attrs = {sal_attr_ints("perm", 3, I64(1, 2, 0))}, .n_attrs = 1};
  th_check_values(&t3, 0, (const float[]){0, 4, 1, 5, 2, 6, 3, 7}, 8, NULL, 0, 0);

  th_op_case bad = {.label = "bad_transpose", .op = "Transpose", .n_in = 1, .in = {{"x", 3, {2, 3, 4}}}, .n_out = 1,
                    .attrs = {sal_attr_ints("perm", 3, I64(0, 0, 1))}, .n_attrs = 1};
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "node 'bad_transpose' (Transpose): perm lists axis 0 twice");
  bad.attrs[0] = sal_attr_ints("perm", 2, I64(1, 0));
  TH_FAILS(th_try_node(&bad), SAL_STATUS_SHAPE, "perm has 2 entries, the input has rank 3");
  bad.attrs[0] = sal_attr_ints("perm", 3, I64(0, 3, 1));
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "perm[1] = 3 is out of range 0..2");
}

/* DenseNet-style Concat of 70 inputs along C: forward values and exact backward slices. */
static void test_concat_many(void) {
  enum { NIN = 70, N = 2, HW = 3 * 3 }; /* more than 64: the shape rule gets its inputs on the heap */
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  if (!g) return;
  char names[NIN][8];
  const char *ins[NIN];
  int64_t c_of[NIN], ctot = 0;
  for (int i = 0; i < NIN; i++) {
    snprintf(names[i], sizeof names[i], "x%d", i);
    ins[i] = names[i];
    c_of[i] = 1 + i % 3;
    ctot += c_of[i];
    TH_OK(sal_graph_add_input(g, names[i], 4, I64(-1, c_of[i], 3, 3)));
  }
  TH_OK(sal_graph_add_node(g, "Concat", "cat", ins, NIN, (const char *[]){"y"}, 1,
                           (const sal_attr[]){sal_attr_int("axis", 1)}, 1));
  TH_OK(sal_graph_add_output(g, "y"));
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = N;
  o.grad_inputs = true;
  o.kernels = SAL_KERNELS_REF;
  sal_plan *p = NULL;
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  float *want = calloc((size_t)(N * ctot * HW), sizeof(float));
  float *seed_data = calloc((size_t)(N * ctot * HW), sizeof(float));
  sal_tensor *seed = NULL;
  if (!p || !want || !seed_data) goto done;
  /* x_i[n][c][h] = 1000 n + 10 i + c + h/100: every element distinct and recognisable. */
  int64_t coff = 0;
  for (int i = 0; i < NIN; i++) {
    sal_tensor *t = NULL;
    TH_OK(sal_tensor_new(ctx, 4, I64(N, c_of[i], 3, 3), &t));
    if (!t) goto done;
    for (int n = 0; n < N; n++)
      for (int c = 0; c < c_of[i]; c++)
        for (int h = 0; h < HW; h++) {
          float v = 1000.0f * n + 10.0f * i + c + h / 100.0f;
          t->data[(n * c_of[i] + c) * HW + h] = v;
          want[(n * ctot + coff + c) * HW + h] = v;
        }
    TH_OK(sal_plan_set_input(p, names[i], t));
    sal_tensor_free(t);
    coff += c_of[i];
  }
  TH_OK(sal_plan_forward(p));
  const sal_tensor *y = NULL;
  TH_OK(sal_plan_value(p, "y", &y));
  if (y) th_allclose("concat 70 forward", y->data, want, N * ctot * HW, 0, 0);
  for (int64_t e = 0; e < N * ctot * HW; e++) seed_data[e] = (float)e;
  TH_OK(sal_tensor_wrap(ctx, 4, I64(N, ctot, 3, 3), seed_data, &seed));
  TH_OK(sal_plan_backward(p, "y", seed));
  coff = 0;
  int bad = 0;
  for (int i = 0; i < NIN; i++) {
    const sal_tensor *gx = NULL;
    TH_OK(sal_plan_grad(p, names[i], &gx));
    for (int n = 0; gx && n < N; n++)
      for (int c = 0; c < c_of[i]; c++)
        for (int h = 0; h < HW; h++)
          if (gx->data[(n * c_of[i] + c) * HW + h] != seed_data[(n * ctot + coff + c) * HW + h]) bad++;
    coff += c_of[i];
  }
  TH_CHECK(bad == 0, "concat 70 backward: %d gradient elements differ from their slice of the seed", bad);
done:
  sal_tensor_free(seed);
  free(want);
  free(seed_data);
  sal_plan_free(p);
  sal_graph_free(g);
}

static void test_concat_split(void) {
  th_op_case cases[] = {
      {.label = "concat channels", .op = "Concat", .n_in = 3,
       .in = {{"a", 4, {2, 3, 4, 4}}, {"b", 4, {2, 1, 4, 4}}, {"c", 4, {2, 5, 4, 4}}}, .n_out = 1,
       .attrs = {sal_attr_int("axis", 1)}, .n_attrs = 1},
      {.label = "concat axis -1", .op = "Concat", .n_in = 2, .in = {{"a", 2, {3, 5}}, {"b", 2, {3, 2}}}, .n_out = 1,
       .attrs = {sal_attr_int("axis", -1)}, .n_attrs = 1},
      {.label = "concat batch", .op = "Concat", .n_in = 3, .in = {{"a", 2, {1, 3}}, {"b", 2, {2, 3}}, {"c", 2, {4, 3}}},
       .n_out = 1, .attrs = {sal_attr_int("axis", 0)}, .n_attrs = 1},
      {.label = "concat 5 odd", .op = "Concat", .n_in = 5,
       .in = {{"a", 3, {3, 5, 1}}, {"b", 3, {3, 5, 7}}, {"c", 3, {3, 5, 2}}, {"d", 3, {3, 5, 3}}, {"e", 3, {3, 5, 1}}},
       .n_out = 1, .attrs = {sal_attr_int("axis", 2)}, .n_attrs = 1},
      {.label = "concat param", .op = "Concat", .n_in = 2, .in = {{"a", 2, {2, 3}}, {"w", 2, {2, 2}, .param = true}},
       .n_out = 1, .attrs = {sal_attr_int("axis", 1)}, .n_attrs = 1},
      {.label = "split equal", .op = "Split", .n_in = 1, .in = {{"x", 3, {2, 6, 3}}}, .n_out = 3,
       .attrs = {sal_attr_int("axis", 1)}, .n_attrs = 1},
      {.label = "split attr", .op = "Split", .n_in = 1, .in = {{"x", 3, {2, 6, 3}}}, .n_out = 3,
       .attrs = {sal_attr_int("axis", 1), sal_attr_ints("split", 3, I64(1, 2, 3))}, .n_attrs = 2},
      {.label = "split input -1", .op = "Split", .n_in = 2, .in = {{"x", 3, {3, 4, 3}}, TH_CONST("s", 2, 2, 1)},
       .n_out = 2, .attrs = {sal_attr_int("axis", -1)}, .n_attrs = 1},
      {.label = "split num_outputs", .op = "Split", .n_in = 1, .in = {{"x", 2, {7, 2}}}, .n_out = 3,
       .attrs = {sal_attr_int("num_outputs", 3)}, .n_attrs = 1},
      {.label = "split one", .op = "Split", .n_in = 1, .in = {{"x", 2, {5, 2}}}, .n_out = 1},
  };
  gradcheck_all(cases, NELEM(cases));
  th_check_shape(&cases[0], 0, 4, I64(2, 9, 4, 4));
  th_check_accumulate(&cases[0]);
  th_check_accumulate(&cases[5]);
  th_check_accumulate(&cases[7]);
  th_check_shape(&cases[3], 0, 3, I64(3, 5, 14));
  th_check_shape(&cases[6], 2, 3, I64(2, 3, 3));
  th_check_shape(&cases[8], 0, 2, I64(3, 2));
  th_check_shape(&cases[8], 2, 2, I64(1, 2));

  th_op_case c = {.label = "concat values", .op = "Concat", .n_in = 2,
                  .in = {{"a", 2, {2, 2}, TH_VALS(1, 2, 3, 4)}, {"b", 2, {2, 1}, TH_VALS(5, 6)}}, .n_out = 1,
                  .attrs = {sal_attr_int("axis", 1)}, .n_attrs = 1};
  th_check_values(&c, 0, (const float[]){1, 2, 5, 3, 4, 6}, 6, (const float[]){1, 1, 1, 1}, 4, 0);
  th_op_case s = {.label = "split values", .op = "Split", .n_in = 2,
                  .in = {{"x", 2, {2, 3}, TH_VALS(1, 2, 3, 4, 5, 6)}, TH_CONST("s", 2, 1, 2)}, .n_out = 2,
                  .attrs = {sal_attr_int("axis", 1)}, .n_attrs = 1};
  /* Backward from y1 alone: y0's gradient is absent (dout NULL) and must count as zero. */
  th_check_values(&s, 0, (const float[]){1, 4}, 2, NULL, 0, 0);
  th_check_values(&s, 1, (const float[]){2, 3, 5, 6}, 4, (const float[]){0, 1, 1, 0, 1, 1}, 6, 0);

  /* The same value twice: both gradient paths add. */
  th_op_case twice = {.label = "concat twice", .op = "Concat", .n_in = 2,
                      .in = {{"x", 1, {3}, TH_VALS(1, 2, 3)}, {"x", 1, {3}}}, .n_out = 1,
                      .attrs = {sal_attr_int("axis", 0)}, .n_attrs = 1};
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  TH_OK(sal_graph_add_input(g, "x", 1, I64(3)));
  TH_OK(sal_graph_add_node(g, twice.op, twice.label, (const char *[]){"x", "x"}, 2, (const char *[]){"y"}, 1,
                           twice.attrs, 1));
  sal_plan_opts o = sal_plan_opts_default();
  o.grad_inputs = true;
  sal_plan *p = NULL;
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  sal_tensor *xt = NULL, *seed = NULL;
  float xv[3] = {1, 2, 3}, sv[6] = {1, 2, 3, 10, 20, 30};
  TH_OK(sal_tensor_wrap(ctx, 1, I64(3), xv, &xt));
  TH_OK(sal_tensor_wrap(ctx, 1, I64(6), sv, &seed));
  if (p && xt && seed) {
    const sal_tensor *gx = NULL;
    TH_OK(sal_plan_set_input(p, "x", xt));
    TH_OK(sal_plan_forward(p));
    TH_OK(sal_plan_backward(p, "y", seed));
    TH_OK(sal_plan_grad(p, "x", &gx));
    if (gx) th_allclose("concat twice gradient", gx->data, (const float[]){11, 22, 33}, 3, 0, 0);
  }
  sal_tensor_free(xt);
  sal_tensor_free(seed);
  sal_plan_free(p);
  sal_graph_free(g);

  test_concat_many();

  th_op_case bad = {.label = "bad_concat", .op = "Concat", .n_in = 2, .in = {{"a", 3, {2, 3, 4}}, {"b", 3, {2, 3, 5}}},
                    .n_out = 1, .attrs = {sal_attr_int("axis", 1)}, .n_attrs = 1};
  TH_FAILS(th_try_node(&bad), SAL_STATUS_SHAPE,
           "node 'bad_concat' (Concat): input 1 has shape (2, 3, 5), which does not match input 0 (2, 3, 4) outside axis 1");
  bad.in[1] = (th_input){.name = "b", .ndim = 2, .dims = {2, 3}};
  TH_FAILS(th_try_node(&bad), SAL_STATUS_SHAPE, "input 1 has shape (2, 3), which does not match");
  bad.in[1] = (th_input){.name = "b", .ndim = 3, .dims = {2, 3, 4}};
  bad.attrs[0] = sal_attr_int("axis", 3);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "axis 3 is out of range for rank 3");
  bad.n_attrs = 0;
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "the attribute 'axis' is required");

  th_op_case bs = {.label = "bad_split", .op = "Split", .n_in = 1, .in = {{"x", 2, {2, 7}}}, .n_out = 2,
                   .attrs = {sal_attr_int("axis", 1)}, .n_attrs = 1};
  TH_FAILS(th_try_node(&bs), SAL_STATUS_SHAPE, "node 'bad_split' (Split): axis 1 of input (2, 7) (7) does not split into 2 equal parts");
  bs.attrs[1] = sal_attr_ints("split", 2, I64(3, 3));
  bs.n_attrs = 2;
  TH_FAILS(th_try_node(&bs), SAL_STATUS_SHAPE, "split sizes add up to 6, but axis 1 of input (2, 7) is 7");
  bs.attrs[1] = sal_attr_ints("split", 3, I64(3, 3, 1));
  TH_FAILS(th_try_node(&bs), SAL_STATUS_BAD_INPUT, "split has 3 sizes for 2 outputs");
  bs.attrs[1] = sal_attr_int("num_outputs", 3);
  TH_FAILS(th_try_node(&bs), SAL_STATUS_BAD_INPUT, "num_outputs is 3 but the node has 2 outputs");
  bs.n_attrs = 1;
  bs.n_in = 2;
  bs.in[1] = (th_input){.name = "s", .ndim = 1, .dims = {2}};
  TH_FAILS(th_try_node(&bs), SAL_STATUS_UNSUPPORTED, "input 1 's' (split) is computed by the graph");
  bs.in[1] = (th_input)TH_CONST("s", 2, 3, 4);
  bs.attrs[1] = sal_attr_int("num_outputs", 2);
  bs.n_attrs = 2;
  TH_FAILS(th_try_node(&bs), SAL_STATUS_BAD_INPUT, "split and num_outputs are both given");
}

static void test_slice(void) {
  th_op_case cases[] = {
      {.label = "slice one axis", .op = "Slice", .n_in = 4,
       .in = {{"x", 3, {2, 5, 7}}, TH_CONST("st", 1, 1), TH_CONST("en", 1, 4), TH_CONST("ax", 1, 2)}, .n_out = 1},
      {.label = "slice steps 2 3", .op = "Slice", .n_in = 5,
       .in = {{"x", 3, {2, 5, 7}}, TH_CONST("st", 2, 0, 1), TH_CONST("en", 2, 5, 7), TH_CONST("ax", 2, 1, 2),
              TH_CONST("sp", 2, 2, 3)}, .n_out = 1},
      {.label = "slice reverse", .op = "Slice", .n_in = 5,
       .in = {{"x", 3, {3, 4, 5}}, TH_CONST("st", 1, -1), TH_CONST("en", 1, -BIGF), TH_CONST("ax", 1, -1),
              TH_CONST("sp", 1, -1)}, .n_out = 1},
      {.label = "slice step -2", .op = "Slice", .n_in = 5,
       .in = {{"x", 4, {1, 3, 6, 5}}, TH_CONST("st", 2, 5, 4), TH_CONST("en", 2, 0, -BIGF), TH_CONST("ax", 2, 2, 3),
              TH_CONST("sp", 2, -2, -2)}, .n_out = 1},
      {.label = "slice clamp", .op = "Slice", .n_in = 3,
       .in = {{"x", 2, {3, 5}}, TH_CONST("st", 2, -100, 2), TH_CONST("en", 2, BIGF, 100)}, .n_out = 1},
      {.label = "slice attrs", .op = "Slice", .n_in = 1, .in = {{"x", 4, {2, 3, 4, 5}}}, .n_out = 1,
       .attrs = {sal_attr_ints("starts", 2, I64(1, -3)), sal_attr_ints("ends", 2, I64(3, -1)),
                 sal_attr_ints("axes", 2, I64(1, 3))}, .n_attrs = 3},
      {.label = "slice 5-D batch", .op = "Slice", .n_in = 5,
       .in = {{"x", 5, {3, 2, 3, 4, 5}}, TH_CONST("st", 3, 1, 0, 4), TH_CONST("en", 3, 3, 3, 0),
              TH_CONST("ax", 3, 0, -3, -1), TH_CONST("sp", 3, 1, 2, -3)}, .n_out = 1},
  };
  gradcheck_all(cases, NELEM(cases));
  th_check_shape(&cases[0], 0, 3, I64(2, 5, 3));
  th_check_accumulate(&cases[2]);
  th_check_shape(&cases[1], 0, 3, I64(2, 3, 2));
  th_check_shape(&cases[2], 0, 3, I64(3, 4, 5));
  th_check_shape(&cases[3], 0, 4, I64(1, 3, 3, 3));
  th_check_shape(&cases[4], 0, 2, I64(3, 3));
  th_check_shape(&cases[5], 0, 4, I64(2, 2, 4, 2));
  th_check_shape(&cases[6], 0, 5, I64(2, 2, 2, 4, 2));

  th_op_case v = {.label = "slice values -3", .op = "Slice", .n_in = 5,
                  .in = {{"x", 1, {10}, TH_VALS(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)}, TH_CONST("st", 1, 8), TH_CONST("en", 1, 1),
                         TH_CONST("ax", 1, 0), TH_CONST("sp", 1, -3)}, .n_out = 1};
  th_check_values(&v, 0, (const float[]){8, 5, 2}, 3, (const float[]){0, 0, 1, 0, 0, 1, 0, 0, 1, 0}, 10, 0);
  v.in[1] = (th_input)TH_CONST("st", 1, -3);
  v.in[2] = (th_input)TH_CONST("en", 1, BIGF);
  v.in[4] = (th_input)TH_CONST("sp", 1, 1);
  th_check_values(&v, 0, (const float[]){7, 8, 9}, 3, NULL, 0, 0);
  th_op_case v2 = {.label = "slice values 2-D", .op = "Slice", .n_in = 5,
                   .in = {{"x", 2, {3, 4}, TH_VALS(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)}, TH_CONST("st", 2, 0, 1),
                          TH_CONST("en", 2, 3, 4), TH_CONST("ax", 2, 0, 1), TH_CONST("sp", 2, 2, 2)}, .n_out = 1};
  th_check_values(&v2, 0, (const float[]){1, 3, 9, 11}, 4, (const float[]){0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1}, 12, 0);
  th_op_case empty = {.label = "slice empty", .op = "Slice", .n_in = 3,
                      .in = {{"x", 2, {3, 4}}, TH_CONST("st", 1, 3), TH_CONST("en", 1, 1)}, .n_out = 1};
  th_check_shape(&empty, 0, 2, I64(0, 4));

  th_op_case bad = {.label = "bad_slice", .op = "Slice", .n_in = 4,
                    .in = {{"x", 3, {2, 5, 7}}, TH_CONST("st", 1, 1), TH_CONST("en", 1, 4), TH_CONST("ax", 1, 3)},
                    .n_out = 1};
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "node 'bad_slice' (Slice): axes[0] = 3 is out of range for rank 3");
  bad.in[3] = (th_input)TH_CONST("ax", 1, -4);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "axes[0] = -4 is out of range for rank 3");
  bad.in[1] = (th_input)TH_CONST("st", 2, 1, 1);
  bad.in[2] = (th_input)TH_CONST("en", 2, 4, 4);
  bad.in[3] = (th_input)TH_CONST("ax", 2, 1, -2);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "axes lists axis 1 twice");
  bad.in[3] = (th_input)TH_CONST("ax", 1, 1);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "different lengths (2, 2, 1, -1)");
  bad.n_in = 5;
  bad.in[3] = (th_input)TH_CONST("ax", 2, 1, 2);
  bad.in[4] = (th_input)TH_CONST("sp", 2, 1, 0);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "steps[1] is 0");
  bad.in[4] = (th_input)TH_CONST("sp", 2, 1, 1.5f);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "steps[1] = 1.5 is not an integer");
  bad.n_in = 2;
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "inputs 1 (starts) and 2 (ends) are required");
  bad.n_in = 3;
  bad.in[2] = (th_input){.name = "en", .ndim = 1, .dims = {2}};
  TH_FAILS(th_try_node(&bad), SAL_STATUS_UNSUPPORTED, "input 2 'en' (ends) is computed by the graph");
  bad.in[2] = (th_input)TH_CONST("en", 2, 4, 4);
  bad.attrs[0] = sal_attr_ints("starts", 1, I64(0));
  bad.n_attrs = 1;
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "starts is given both as an attribute and as an input");
}

static void test_pad(void) {
  th_op_case cases[] = {
      {.label = "pad constant", .op = "Pad", .n_in = 3,
       .in = {{"x", 4, {1, 2, 3, 4}}, TH_CONST("p", 8, 0, 0, 1, 2, 0, 0, 2, 1), TH_CONST("v", 1, 0.5f)}, .n_out = 1},
      {.label = "pad reflect", .op = "Pad", .n_in = 2,
       .in = {{"x", 4, {2, 3, 5, 4}}, TH_CONST("p", 8, 0, 0, 2, 1, 0, 0, 1, 3)}, .n_out = 1,
       .attrs = {sal_attr_string("mode", "reflect")}, .n_attrs = 1},
      {.label = "pad edge", .op = "Pad", .n_in = 2,
       .in = {{"x", 4, {2, 3, 4, 5}}, TH_CONST("p", 8, 0, 0, 3, 0, 0, 0, 1, 2)}, .n_out = 1,
       .attrs = {sal_attr_string("mode", "edge")}, .n_attrs = 1},
      {.label = "pad negative", .op = "Pad", .n_in = 2,
       .in = {{"x", 4, {2, 3, 5, 6}}, TH_CONST("p", 8, 0, 0, -1, 2, 0, 0, 1, -2)}, .n_out = 1},
      {.label = "pad negative reflect", .op = "Pad", .n_in = 2,
       .in = {{"x", 4, {1, 2, 6, 5}}, TH_CONST("p", 8, 0, 0, -1, 2, 0, 0, 2, -1)}, .n_out = 1,
       .attrs = {sal_attr_string("mode", "reflect")}, .n_attrs = 1},
      {.label = "pad negative edge", .op = "Pad", .n_in = 2,
       .in = {{"x", 3, {2, 5, 6}}, TH_CONST("p", 6, -1, -2, 3, 0, 1, -2)}, .n_out = 1,
       .attrs = {sal_attr_string("mode", "edge")}, .n_attrs = 1},
      {.label = "pad axes opset 18", .op = "Pad", .n_in = 4,
       .in = {{"x", 4, {2, 3, 4, 4}}, TH_CONST("p", 4, 1, 2, 2, 1), {"", 0, {0}}, TH_CONST("ax", 2, -2, -1)},
       .n_out = 1, .attrs = {sal_attr_string("mode", "reflect")}, .n_attrs = 1},
      {.label = "pad attrs opset 2", .op = "Pad", .n_in = 1, .in = {{"x", 2, {3, 4}}}, .n_out = 1,
       .attrs = {sal_attr_ints("pads", 4, I64(1, 0, 2, 3)), sal_attr_float("value", -1.0f)}, .n_attrs = 2},
  };
  gradcheck_all(cases, NELEM(cases));
  /* Large enough (> 32768 outputs) for the kernels' parallel paths: the scatter runs the N*C
   * planes in parallel while H and W (reflected, not injective) stay serial within a plane. */
  th_op_case big[] = {
      {.label = "pad reflect large", .op = "Pad", .n_in = 2,
       .in = {{"x", 4, {2, 4, 70, 70}}, TH_CONST("p", 8, 0, 0, 2, 3, 0, 0, 3, 2)}, .n_out = 1,
       .attrs = {sal_attr_string("mode", "reflect")}, .n_attrs = 1},
      {.label = "slice large", .op = "Slice", .n_in = 5,
       .in = {{"x", 4, {2, 4, 90, 100}}, TH_CONST("st", 2, -1, 1), TH_CONST("en", 2, -BIGF, 100),
              TH_CONST("ax", 2, 2, 3), TH_CONST("sp", 2, -1, 1)}, .n_out = 1},
  };
  gradcheck_all(big, NELEM(big));
  th_check_shape(&cases[0], 0, 4, I64(1, 2, 6, 7));
  for (int i = 0; i < NELEM(cases); i++) th_check_accumulate(&cases[i]);
  th_check_shape(&cases[3], 0, 4, I64(2, 3, 5, 6));
  th_check_shape(&cases[5], 0, 3, I64(1, 4, 7));
  th_check_shape(&cases[6], 0, 4, I64(2, 3, 7, 7));

  /* 1-D values; gradients count how often each input element is copied. */
  th_op_case v = {.label = "pad reflect values", .op = "Pad", .n_in = 2,
                  .in = {{"x", 1, {4}, TH_VALS(1, 2, 3, 4)}, TH_CONST("p", 2, 2, 3)}, .n_out = 1,
                  .attrs = {sal_attr_string("mode", "reflect")}, .n_attrs = 1};
  th_check_values(&v, 0, (const float[]){3, 2, 1, 2, 3, 4, 3, 2, 1}, 9, (const float[]){2, 3, 3, 1}, 4, 0);
  v.label = "pad edge values";
  v.attrs[0] = sal_attr_string("mode", "edge");
  v.in[1] = (th_input)TH_CONST("p", 2, 2, 1);
  th_check_values(&v, 0, (const float[]){1, 1, 1, 2, 3, 4, 4}, 7, (const float[]){3, 1, 1, 2}, 4, 0);
  v.label = "pad crop then reflect values";
  v.attrs[0] = sal_attr_string("mode", "reflect");
  v.in[1] = (th_input)TH_CONST("p", 2, -1, 2);
  th_check_values(&v, 0, (const float[]){2, 3, 4, 3, 2}, 5, (const float[]){0, 2, 2, 1}, 4, 0);
  th_op_case c = {.label = "pad constant values", .op = "Pad", .n_in = 3,
                  .in = {{"x", 2, {2, 2}, TH_VALS(1, 2, 3, 4)}, TH_CONST("p", 4, 1, -1, 0, 1), TH_CONST("v", 1, 9)},
                  .n_out = 1};
  th_check_values(&c, 0, (const float[]){9, 9, 2, 9, 4, 9}, 6, (const float[]){0, 1, 0, 1}, 4, 0);

  th_op_case bad = {.label = "bad_pad", .op = "Pad", .n_in = 2,
                    .in = {{"x", 4, {1, 1, 3, 3}}, TH_CONST("p", 8, 0, 0, 3, 0, 0, 0, 0, 0)}, .n_out = 1,
                    .attrs = {sal_attr_string("mode", "reflect")}, .n_attrs = 1};
  TH_FAILS(th_try_node(&bad), SAL_STATUS_SHAPE,
           "node 'bad_pad' (Pad): reflect pads (3, 0) on axis 2 must be smaller than the 3 elements left of input (1, 1, 3, 3)");
  bad.in[1] = (th_input)TH_CONST("p", 6, 0, 0, 1, 0, 0, 1);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_SHAPE, "pads has 6 values, expected 8");
  bad.in[1] = (th_input)TH_CONST("p", 8, 0, 0, -2, 0, 0, 0, -2, 0);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_SHAPE, "pads (-2, -2) on axis 2 crop more than the 3 elements");
  bad.attrs[0] = sal_attr_string("mode", "wrap");
  TH_FAILS(th_try_node(&bad), SAL_STATUS_UNSUPPORTED, "mode 'wrap' is not supported");
  bad.attrs[0] = sal_attr_string("mode", "mirror");
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "unknown mode 'mirror'");
  bad.attrs[0] = sal_attr_string("mode", "edge");
  bad.in[1] = (th_input)TH_CONST("p", 8, 0, 0, -3, 0, 0, 0, 1, 0);
  TH_FAILS(th_try_node(&bad), SAL_STATUS_SHAPE, "edge padding of axis 2 needs at least one element");
  bad.in[1] = (th_input){.name = "p", .ndim = 1, .dims = {8}};
  TH_FAILS(th_try_node(&bad), SAL_STATUS_UNSUPPORTED, "input 1 'p' (pads) is computed by the graph");
  bad.n_in = 1;
  TH_FAILS(th_try_node(&bad), SAL_STATUS_BAD_INPUT, "pads is required");
}

int main(void) {
  test_flatten_reshape();
  test_transpose();
  test_concat_split();
  test_slice();
  test_pad();
  return th_finish("test_ops_shape");
}
