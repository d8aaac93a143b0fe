/* Gradient checks, forward values and shape errors for the matrix products: Gemm (all transposes,
 * every broadcast form of C, alpha/beta != 1) and MatMul (1-D, 2-D, batched, broadcast, 5-D). */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Gemm y = alpha A'B' + beta C with A' (M,K), B' (K,N): C given as (cnd, cdims). */
static th_op_case gemm_case(const char *label, int64_t M, int64_t K, int64_t N, int ta, int tb, int cnd,
                            const int64_t *cdims, float alpha, float beta) {
  th_op_case c = {.label = label, .op = "Gemm", .n_in = 2, .n_out = 1};
  c.in[0] = (th_input){.name = "A", .ndim = 2, .dims = {ta ? K : M, ta ? M : K}};
  /* B and C are the classifier head's weight and bias: trainable parameters. */
  c.in[1] = (th_input){.name = "B", .ndim = 2, .dims = {tb ? N : K, tb ? K : N}, .param = true};
  if (cnd >= 0) {
    c.in[2] = (th_input){.name = "C", .ndim = cnd, .param = true};
    for (int i = 0; i < cnd; i++) c.in[2].dims[i] = cdims[i];
    c.n_in = 3;
  }
  c.attrs[c.n_attrs++] = sal_attr_int("transA", ta);
  c.attrs[c.n_attrs++] = sal_attr_int("transB", tb);
  c.attrs[c.n_attrs++] = sal_attr_float("alpha", alpha);
  c.attrs[c.n_attrs++] = sal_attr_float("beta", beta);
  return c;
}

/* Runs a one-node graph on given input data and copies output y0 into out (n elements); returns
 * 1 on success. Inputs listed with data become graph inputs (non-NULL data) set before forward. */
static int run_forward(const th_op_case *c, const float *const *data, float *out, int64_t n, sal_shape *shape) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = th_build(c);
  if (!g) return 0;
  int ok = 0;
  sal_plan *p = NULL;
  sal_tensor *ts[8] = {0};
  sal_plan_opts o = sal_plan_opts_default();
  if (sal_plan_new(ctx, g, &o, &p)) goto done;
  for (int i = 0; i < c->n_in; i++) {
    if (c->in[i].param || c->in[i].constant || !data[i]) continue;
    if (sal_tensor_wrap(ctx, c->in[i].ndim, c->in[i].dims, (float *)data[i], &ts[i])) goto done;
    if (sal_plan_set_input(p, c->in[i].name, ts[i])) goto done;
  }
  const sal_tensor *y;
  if (sal_plan_forward(p) || sal_plan_value(p, "y0", &y)) goto done;
  if (shape) *shape = y->shape;
  if (sal_tensor_numel(y) != n) {
    fprintf(stderr, "%s: output has %lld elements, expected %lld\n", c->label, (long long)sal_tensor_numel(y),
            (long long)n);
    goto done;
  }
  memcpy(out, y->data, (size_t)n * sizeof(float));
  ok = 1;
done:
  if (!ok) {
    th_failed++;
    fprintf(stderr, "FAIL %s: %s\n", c->label, sal_ctx_last_error(ctx));
  }
  for (int i = 0; i < 8; i++) sal_tensor_free(ts[i]);
  sal_plan_free(p);
  sal_graph_free(g);
  return ok;
}

static void gemm_gradchecks(void) {
  static const char *trans_labels[4] = {"gemm nn", "gemm nt", "gemm tn", "gemm tt"};
  /* All four transposes, odd sizes, alpha/beta != 1, a (N) bias. Gemm is linear in each input, so
   * central differences are exact up to the rounding of y: the default tolerances hold. */
  for (int t = 0; t < 4; t++) {
    th_op_case c = gemm_case(trans_labels[t], 3, 5, 4, t >> 1, t & 1, 1, (int64_t[]){4}, 0.7f, -1.5f);
    th_gradcheck(&c, SAL_KERNELS_REF);
  }
  /* Every broadcast form of C, with batch 1 and > 1. */
  struct { const char *label; int64_t M; int nd; int64_t d[2]; } cforms[] = {
      {"gemm C scalar", 3, 0, {0}},      {"gemm C (N)", 3, 1, {4}},       {"gemm C (1)", 3, 1, {1}},
      {"gemm C (1,N)", 3, 2, {1, 4}},    {"gemm C (M,1)", 3, 2, {3, 1}}, {"gemm C (M,N)", 3, 2, {3, 4}},
      {"gemm C (1,1)", 3, 2, {1, 1}},    {"gemm C (N) batch 1", 1, 1, {4}},
  };
  for (size_t i = 0; i < sizeof cforms / sizeof cforms[0]; i++) {
    th_op_case c = gemm_case(cforms[i].label, cforms[i].M, 6, 4, 0, 1, cforms[i].nd, cforms[i].d, 1.25f, 0.5f);
    th_gradcheck(&c, SAL_KERNELS_REF);
  }
  th_op_case noc = gemm_case("gemm no C", 2, 7, 3, 1, 0, -1, NULL, 2.0f, 1.0f);
  th_gradcheck(&noc, SAL_KERNELS_REF);
  th_op_case defaults = {.label = "gemm defaults", .op = "Gemm", .n_in = 3, .n_out = 1,
                         .in = {{"A", 2, {2, 3}}, {"B", 2, {3, 5}}, {"C", 1, {5}}}};
  th_gradcheck(&defaults, SAL_KERNELS_REF);
  th_op_case omitted = {.label = "gemm C omitted", .op = "Gemm", .n_in = 3, .n_out = 1,
                        .in = {{"A", 2, {4, 3}}, {"B", 2, {3, 2}}, {""}}};
  th_gradcheck(&omitted, SAL_KERNELS_REF);
  /* Large enough that forward and both products take the OpenMP row split (> 65536 MACs). */
  for (int t = 0; t < 4; t++) {
    th_op_case c = gemm_case("gemm head 8x96x100", 8, 96, 100, t >> 1, t & 1, 1, (int64_t[]){100}, 1.0f, 1.0f);
    th_gradcheck(&c, SAL_KERNELS_REF);
  }
}

/* Forward of the four transposes and several C forms against hand-computed values.
 * A = [[1,2,3],[4,5,6]], B = [[1,0],[0,1],[1,1]]: AB = [[4,5],[10,11]]. */
static void gemm_values(void) {
  const float A[6] = {1, 2, 3, 4, 5, 6}, At[6] = {1, 4, 2, 5, 3, 6};
  const float B[6] = {1, 0, 0, 1, 1, 1}, Bt[6] = {1, 0, 1, 0, 1, 1};
  struct { int nd; int64_t d[2]; float c[4]; float want[4]; } cs[] = {
      /* alpha 2, beta 0.5: y = 2 AB + 0.5 C */
      {1, {2}, {10, 20}, {13, 20, 25, 32}},
      {0, {0}, {4}, {10, 12, 22, 24}},
      {2, {2, 1}, {100, 200}, {58, 60, 120, 122}},
      {2, {1, 2}, {-2, 2}, {7, 11, 19, 23}},
      {2, {2, 2}, {2, 4, 6, 8}, {9, 12, 23, 26}},
  };
  for (int t = 0; t < 4; t++) {
    int ta = t >> 1, tb = t & 1;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
      char label[64];
      snprintf(label, sizeof label, "gemm value transA=%d transB=%d C#%zu", ta, tb, i);
      th_op_case c = gemm_case(label, 2, 3, 2, ta, tb, cs[i].nd, cs[i].d, 2.0f, 0.5f);
      c.in[1].param = false;
      c.in[2].fill = TH_FILL_DATA;
      c.in[2].data = cs[i].c;
      c.in[2].constant = true;
      c.in[2].param = false;
      float y[4];
      const float *data[3] = {ta ? At : A, tb ? Bt : B, NULL};
      /* small integers: exact in float */
      if (run_forward(&c, data, y, 4, NULL)) th_allclose(label, y, cs[i].want, 4, 0, 0);
    }
  }
  /* No C, defaults alpha = beta = 1. */
  th_op_case c = {.label = "gemm value no C", .op = "Gemm", .n_in = 2, .n_out = 1,
                  .in = {{"A", 2, {2, 3}}, {"B", 2, {3, 2}}}};
  float y[4];
  if (run_forward(&c, (const float *[]){A, B}, y, 4, NULL)) th_allclose(c.label, y, (float[]){4, 5, 10, 11}, 4, 0, 0);
}

/* Larger products (OpenMP row split, all loop orders of the kernel) against a naive double loop. */
static void gemm_large_values(void) {
  const int64_t M = 9, K = 300, N = 50;
  float *a = malloc((size_t)(M * K) * sizeof(float)), *b = malloc((size_t)(K * N) * sizeof(float));
  float *c = malloc((size_t)N * sizeof(float)), *y = malloc((size_t)(M * N) * sizeof(float));
  float *want = malloc((size_t)(M * N) * sizeof(float));
  th_input fill = {.fill = TH_FILL_NORMAL};
  th_fill_buf(&fill, a, M * K, 1);
  th_fill_buf(&fill, b, K * N, 2);
  th_fill_buf(&fill, c, N, 3);
  for (int t = 0; t < 4; t++) {
    int ta = t >> 1, tb = t & 1;
    /* a holds A (M,K) or (K,M), b holds B (K,N) or (N,K): read each per the transpose. */
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = 0; n < N; n++) {
        double s = 0;
        for (int64_t k = 0; k < K; k++)
          s += (double)a[ta ? k * M + m : m * K + k] * (double)b[tb ? n * K + k : k * N + n];
        want[m * N + n] = (float)(-0.5 * s + 3.0 * c[n]);
      }
    char label[64];
    snprintf(label, sizeof label, "gemm 9x300x50 transA=%d transB=%d", ta, tb);
    th_op_case cs = gemm_case(label, M, K, N, ta, tb, 1, (int64_t[]){N}, -0.5f, 3.0f);
    cs.in[1].param = false;
    cs.in[2].param = false;
    cs.in[2].constant = true;
    cs.in[2].fill = TH_FILL_DATA;
    cs.in[2].data = c;
    /* |y| ~ sqrt(K)/2 ≈ 9; float accumulation of 300 products errs by ~1e-5 at most. */
    if (run_forward(&cs, (const float *[]){a, b, NULL}, y, M * N, NULL)) th_allclose(label, y, want, M * N, 1e-5, 1e-4);
  }
  free(a);
  free(b);
  free(c);
  free(y);
  free(want);
}

static void matmul_gradchecks(void) {
  th_op_case cases[] = {
      {.label = "matmul 1-D x 1-D", .op = "MatMul", .n_in = 2, .in = {{"a", 1, {5}}, {"b", 1, {5}}}, .n_out = 1},
      {.label = "matmul 1-D x 2-D", .op = "MatMul", .n_in = 2, .in = {{"a", 1, {4}}, {"b", 2, {4, 3}}}, .n_out = 1},
      {.label = "matmul 2-D x 1-D", .op = "MatMul", .n_in = 2, .in = {{"a", 2, {3, 4}}, {"b", 1, {4}}}, .n_out = 1},
      {.label = "matmul 2-D", .op = "MatMul", .n_in = 2, .in = {{"a", 2, {3, 4}}, {"b", 2, {4, 5}, .param = true}}, .n_out = 1},
      {.label = "matmul batch 1 row", .op = "MatMul", .n_in = 2, .in = {{"a", 2, {1, 7}}, {"b", 2, {7, 2}}}, .n_out = 1},
      {.label = "matmul batched", .op = "MatMul", .n_in = 2, .in = {{"a", 3, {2, 3, 4}}, {"b", 3, {2, 4, 5}}}, .n_out = 1},
      {.label = "matmul B broadcast", .op = "MatMul", .n_in = 2, .in = {{"a", 3, {3, 2, 4}}, {"b", 2, {4, 5}, .param = true}}, .n_out = 1},
      {.label = "matmul A broadcast", .op = "MatMul", .n_in = 2, .in = {{"a", 2, {3, 4}}, {"b", 3, {2, 4, 5}}}, .n_out = 1},
      {.label = "matmul both broadcast", .op = "MatMul", .n_in = 2, .in = {{"a", 4, {2, 1, 3, 4}}, {"b", 3, {3, 4, 5}}}, .n_out = 1},
      {.label = "matmul 1-D x batched", .op = "MatMul", .n_in = 2, .in = {{"a", 1, {4}}, {"b", 3, {2, 4, 3}}}, .n_out = 1},
      {.label = "matmul batched x 1-D", .op = "MatMul", .n_in = 2, .in = {{"a", 3, {2, 3, 4}}, {"b", 1, {4}}}, .n_out = 1},
      {.label = "matmul 5-D", .op = "MatMul", .n_in = 2, .in = {{"a", 5, {2, 1, 2, 3, 4}}, {"b", 5, {1, 3, 1, 4, 2}}}, .n_out = 1},
      /* > 65536 MACs: batches split across threads; B's gradient sums 4 batches serially. */
      {.label = "matmul batched large", .op = "MatMul", .n_in = 2, .in = {{"a", 3, {4, 16, 32}}, {"b", 2, {32, 40}}}, .n_out = 1},
      {.label = "matmul 2-D large", .op = "MatMul", .n_in = 2, .in = {{"a", 2, {20, 64}}, {"b", 2, {64, 60}}}, .n_out = 1},
  };
  /* Bilinear: central differences are exact up to the rounding of y (default tolerances). */
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) th_gradcheck(&cases[i], SAL_KERNELS_REF);
}

static void matmul_values(void) {
  /* 1-D . 1-D = 1*4 + 2*5 + 3*6 = 32, shape () */
  th_op_case dot = {.label = "matmul dot value", .op = "MatMul", .n_in = 2, .n_out = 1,
                    .in = {{"a", 1, {3}}, {"b", 1, {3}}}};
  float y[8];
  sal_shape s;
  if (run_forward(&dot, (const float *[]){(float[]){1, 2, 3}, (float[]){4, 5, 6}}, y, 1, &s)) {
    TH_CHECK(s.ndim == 0, "1-D . 1-D has ndim %d, want 0", s.ndim);
    th_allclose(dot.label, y, (float[]){32}, 1, 0, 0);
  }
  /* (2,1,2) x (2,1): two batches of [1,2].[1,10]' = 21 and [3,4].[1,10]' = 43, shape (2,1,1). */
  th_op_case bc = {.label = "matmul broadcast value", .op = "MatMul", .n_in = 2, .n_out = 1,
                   .in = {{"a", 3, {2, 1, 2}}, {"b", 2, {2, 1}}}};
  if (run_forward(&bc, (const float *[]){(float[]){1, 2, 3, 4}, (float[]){1, 10}}, y, 2, &s)) {
    TH_CHECK(s.ndim == 3 && s.d[0] == 2 && s.d[1] == 1 && s.d[2] == 1, "broadcast result ndim %d", s.ndim);
    th_allclose(bc.label, y, (float[]){21, 43}, 2, 0, 0);
  }
  /* (3) x (2,3,2): v B_b for B_0 = [[1,0],[0,1],[1,1]], B_1 = [[2,0],[0,2],[0,0]], v = [1,2,3]
   * → [[4,5],[2,4]], shape (2,2). */
  th_op_case vb = {.label = "matmul vector x batch value", .op = "MatMul", .n_in = 2, .n_out = 1,
                   .in = {{"a", 1, {3}}, {"b", 3, {2, 3, 2}}}};
  if (run_forward(&vb, (const float *[]){(float[]){1, 2, 3}, (float[]){1, 0, 0, 1, 1, 1, 2, 0, 0, 2, 0, 0}}, y, 4, &s)) {
    TH_CHECK(s.ndim == 2 && s.d[0] == 2 && s.d[1] == 2, "vector x batch result ndim %d", s.ndim);
    th_allclose(vb.label, y, (float[]){4, 5, 2, 4}, 4, 0, 0);
  }

  /* Result shapes of the NumPy rules. */
  struct { int na; int64_t a[5]; int nb; int64_t b[5]; int nd; int64_t want[5]; } sh[] = {
      {1, {4}, 3, {2, 4, 3}, 2, {2, 3}},
      {3, {2, 3, 4}, 1, {4}, 2, {2, 3}},
      {4, {2, 1, 3, 4}, 3, {5, 4, 2}, 4, {2, 5, 3, 2}},
      {5, {2, 1, 2, 3, 4}, 5, {1, 3, 1, 4, 2}, 5, {2, 3, 2, 3, 2}},
      {2, {3, 4}, 1, {4}, 1, {3}},
  };
  for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) {
    sal_graph *g = NULL;
    TH_OK(sal_graph_new(th_ctx(), &g));
    TH_OK(sal_graph_add_input(g, "a", sh[i].na, sh[i].a));
    TH_OK(sal_graph_add_input(g, "b", sh[i].nb, sh[i].b));
    TH_OK(sal_graph_add_node(g, "MatMul", "mm", (const char *[]){"a", "b"}, 2, (const char *[]){"y"}, 1, NULL, 0));
    sal_shape got = {0}, want;
    sal_shape_make(&want, sh[i].nd, sh[i].want);
    TH_OK(sal_graph_value_shape(g, "y", &got));
    char gs[96], ws[96];
    TH_CHECK(sal_shape_equal(&got, &want), "matmul shape case %zu: got %s, want %s", i, sal_shape_str(&got, gs, sizeof gs),
             sal_shape_str(&want, ws, sizeof ws));
    sal_graph_free(g);
  }
}

/* A Gemm whose A has the batch dimension -1: the plan binds M to its batch. */
static void gemm_batch_binding(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  TH_OK(sal_graph_add_input(g, "x", 2, (int64_t[]){-1, 2}));
  TH_OK(sal_graph_add_param(g, "W", 2, (int64_t[]){3, 2}, (float[]){1, 0, 0, 1, 1, 1}, true));
  TH_OK(sal_graph_add_param(g, "b", 1, (int64_t[]){3}, (float[]){0.5f, 0, -1}, true));
  sal_attr at[] = {sal_attr_int("transB", 1)};
  TH_OK(sal_graph_add_node(g, "Gemm", "fc", (const char *[]){"x", "W", "b"}, 3, (const char *[]){"y"}, 1, at, 1));
  TH_OK(sal_graph_add_output(g, "y"));
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = 3;
  sal_plan *p = NULL;
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  float xs[6] = {1, 2, 3, 4, -1, 0};
  sal_tensor *xt = NULL;
  TH_OK(sal_tensor_wrap(ctx, 2, (int64_t[]){3, 2}, xs, &xt));
  const sal_tensor *y = NULL;
  if (p && xt) {
    TH_OK(sal_plan_set_input(p, "x", xt));
    TH_OK(sal_plan_forward(p));
    TH_OK(sal_plan_value(p, "y", &y));
  }
  /* y = x W^T + b: rows [x0, x1, x0 + x1] + [0.5, 0, -1] */
  float want[9] = {1.5f, 2, 2, 3.5f, 4, 6, -0.5f, 0, -2};
  if (y) {
    TH_CHECK(y->shape.ndim == 2 && y->shape.d[0] == 3 && y->shape.d[1] == 3, "bound shape is not (3, 3)");
    th_allclose("gemm bound to batch 3", y->data, want, 9, 0, 0);
  }
  /* M*N*K = 3 rows x 3 outputs x 2 inputs */
  if (p) TH_CHECK(sal_plan_forward_macs(p) == 18, "gemm macs %lld, want 18", (long long)sal_plan_forward_macs(p));
  sal_tensor_free(xt);
  sal_plan_free(p);
  sal_graph_free(g);
}

/* One value feeding both operands: y = x x^T (Gemm, transB) and y = x x (MatMul). With seed 1,
 * d(sum x x^T)/dx_ab = 2 sum_i x_ib, and d(sum x x)/dx_ab = sum_j x_bj + sum_i x_ia. */
static void same_value_twice(void) {
  sal_ctx *ctx = th_ctx();
  float xs[9] = {1, 2, 0.5f, -1, 3, 2, 0, 1, -2};
  for (int op = 0; op < 2; op++) {
    sal_graph *g = NULL;
    sal_plan *p = NULL;
    sal_tensor *xt = NULL;
    TH_OK(sal_graph_new(ctx, &g));
    TH_OK(sal_graph_add_input(g, "x", 2, (int64_t[]){3, 3}));
    sal_attr tb[] = {sal_attr_int("transB", 1)};
    TH_OK(sal_graph_add_node(g, op ? "MatMul" : "Gemm", "sq", (const char *[]){"x", "x"}, 2, (const char *[]){"y"}, 1,
                             tb, op ? 0 : 1));
    sal_plan_opts o = sal_plan_opts_default();
    o.grad_inputs = true;
    TH_OK(sal_plan_new(ctx, g, &o, &p));
    TH_OK(sal_tensor_wrap(ctx, 2, (int64_t[]){3, 3}, xs, &xt));
    const sal_tensor *gx = NULL;
    if (p && xt) {
      TH_OK(sal_plan_set_input(p, "x", xt));
      TH_OK(sal_plan_forward(p));
      TH_OK(sal_plan_backward(p, "y", NULL));
      TH_OK(sal_plan_grad(p, "x", &gx));
    }
    float want[9];
    for (int a = 0; a < 3; a++)
      for (int b = 0; b < 3; b++) {
        float s = 0;
        for (int i = 0; i < 3; i++) s += op ? xs[b * 3 + i] + xs[i * 3 + a] : 2 * xs[i * 3 + b];
        want[a * 3 + b] = s;
      }
    /* sums of three small binary fractions: exact */
    if (gx) th_allclose(op ? "matmul x x gradient" : "gemm x x^T gradient", gx->data, want, 9, 0, 0);
    sal_tensor_free(xt);
    sal_plan_free(p);
    sal_graph_free(g);
  }
}

static void bad_inputs(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  TH_OK(sal_graph_add_input(g, "a23", 2, (int64_t[]){2, 3}));
  TH_OK(sal_graph_add_input(g, "b45", 2, (int64_t[]){4, 5}));
  TH_OK(sal_graph_add_input(g, "b34", 2, (int64_t[]){3, 4}));
  TH_OK(sal_graph_add_input(g, "c3", 1, (int64_t[]){3}));
  TH_OK(sal_graph_add_input(g, "c24", 2, (int64_t[]){2, 4}));
  TH_OK(sal_graph_add_input(g, "c214", 3, (int64_t[]){2, 1, 4}));
  TH_OK(sal_graph_add_input(g, "x234", 3, (int64_t[]){2, 3, 4}));
  TH_OK(sal_graph_add_input(g, "x345", 3, (int64_t[]){3, 4, 5}));
  TH_OK(sal_graph_add_param(g, "s", 0, (int64_t[1]){0}, (float[]){1}, false));
  const char *const y[] = {"y"};

  TH_FAILS(sal_graph_add_node(g, "Gemm", "g_bad", (const char *[]){"a23", "b45"}, 2, y, 1, NULL, 0), SAL_STATUS_SHAPE,
           "node 'g_bad' (Gemm): inner dimensions do not match: A (2, 3) (transA=0) and B (4, 5) (transB=0) give K = 3 and 4");
  sal_attr ta[] = {sal_attr_int("transA", 1)};
  TH_FAILS(sal_graph_add_node(g, "Gemm", "g_ta", (const char *[]){"a23", "b34"}, 2, y, 1, ta, 1), SAL_STATUS_SHAPE,
           "node 'g_ta' (Gemm): inner dimensions do not match: A (2, 3) (transA=1) and B (3, 4) (transB=0) give K = 2 and 3");
  sal_attr t2[] = {sal_attr_int("transB", 2)};
  TH_FAILS(sal_graph_add_node(g, "Gemm", "g_t2", (const char *[]){"a23", "b34"}, 2, y, 1, t2, 1), SAL_STATUS_BAD_INPUT,
           "node 'g_t2' (Gemm): transA = 0 and transB = 2 must each be 0 or 1");
  sal_attr an[] = {sal_attr_float("alpha", NAN)};
  TH_FAILS(sal_graph_add_node(g, "Gemm", "g_nan", (const char *[]){"a23", "b34"}, 2, y, 1, an, 1), SAL_STATUS_BAD_INPUT,
           "node 'g_nan' (Gemm): alpha = nan");
  sal_attr as[] = {sal_attr_string("beta", "one")};
  TH_FAILS(sal_graph_add_node(g, "Gemm", "g_str", (const char *[]){"a23", "b34"}, 2, y, 1, as, 1), SAL_STATUS_BAD_INPUT,
           "node 'g_str' (Gemm): attribute 'beta' is string, expected float");
  TH_FAILS(sal_graph_add_node(g, "Gemm", "g_c3", (const char *[]){"a23", "b34", "c3"}, 3, y, 1, NULL, 0), SAL_STATUS_SHAPE,
           "node 'g_c3' (Gemm): C (3) does not broadcast to (M, N) = (2, 4)");
  TH_FAILS(sal_graph_add_node(g, "Gemm", "g_c214", (const char *[]){"a23", "b34", "c214"}, 3, y, 1, NULL, 0),
           SAL_STATUS_SHAPE, "node 'g_c214' (Gemm): C (2, 1, 4) does not broadcast");
  TH_FAILS(sal_graph_add_node(g, "Gemm", "g_3d", (const char *[]){"x234", "b34"}, 2, y, 1, NULL, 0), SAL_STATUS_SHAPE,
           "node 'g_3d' (Gemm): A (2, 3, 4) and B (3, 4) must both be 2-D");
  /* (2,4) C is the full (M,N): accepted, as is the scalar. */
  TH_OK(sal_graph_add_node(g, "Gemm", "g_ok", (const char *[]){"a23", "b34", "c24"}, 3, (const char *[]){"y1"}, 1, NULL, 0));
  TH_OK(sal_graph_add_node(g, "Gemm", "g_ok2", (const char *[]){"a23", "b34", "s"}, 3, (const char *[]){"y2"}, 1, NULL, 0));

  TH_FAILS(sal_graph_add_node(g, "MatMul", "mm_bad", (const char *[]){"a23", "b45"}, 2, y, 1, NULL, 0), SAL_STATUS_SHAPE,
           "node 'mm_bad' (MatMul): inner dimensions do not match: A (2, 3) and B (4, 5) (K = 3 and 4)");
  TH_FAILS(sal_graph_add_node(g, "MatMul", "mm_1d", (const char *[]){"c3", "c24"}, 2, y, 1, NULL, 0), SAL_STATUS_SHAPE,
           "node 'mm_1d' (MatMul): inner dimensions do not match: A (3) and B (2, 4) (K = 3 and 2)");
  TH_FAILS(sal_graph_add_node(g, "MatMul", "mm_batch", (const char *[]){"x234", "x345"}, 2, y, 1, NULL, 0), SAL_STATUS_SHAPE,
           "node 'mm_batch' (MatMul): batch dimensions of A (2, 3, 4) and B (3, 4, 5) do not broadcast");
  TH_FAILS(sal_graph_add_node(g, "MatMul", "mm_scalar", (const char *[]){"s", "c3"}, 2, y, 1, NULL, 0), SAL_STATUS_SHAPE,
           "node 'mm_scalar' (MatMul): inputs () and (3) must have at least one dimension");
  sal_graph_free(g);
}

int main(void) {
  gemm_gradchecks();
  gemm_values();
  gemm_large_values();
  gemm_batch_binding();
  matmul_gradchecks();
  matmul_values();
  same_value_twice();
  bad_inputs();
  return th_finish("test_ops_matmul");
}
