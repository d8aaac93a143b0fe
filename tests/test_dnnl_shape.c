/* oneDNN kernels of Resize and Concat (src/kernels/dnnl/resize.c, concat.c) against the reference
 * kernels: one-node graphs over many shapes and attribute combinations (th_compare_kernels), the
 * cases the kernels must decline (the reference kernel runs), and multi-node graphs in which the
 * plan keeps activations blocked (nChw16c) through Concat and Resize. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define OMIT {.name = ""}
#define I64(...) ((const int64_t[]){__VA_ARGS__})
#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Plans c with automatic kernel choice and returns whether node 0 runs a oneDNN kernel; -1 when
 * the plan fails (counted as a failure). */
static int picks_dnnl(const th_op_case *c) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = th_build(c);
  if (!g) return -1;
  sal_plan_opts o = sal_plan_opts_default();
  o.grad_inputs = true;
  sal_plan *p = NULL;
  sal_status st = sal_plan_new(ctx, g, &o, &p);
  TH_CHECK(st == SAL_STATUS_OK, "%s: plan: %s", c->label, sal_ctx_last_error(ctx));
  int r = -1;
  if (!st) {
    const char *kn = sal_plan_node_kernel(p, 0);
    r = kn && strncmp(kn, "dnnl:", 5) == 0;
    if (!r) TH_CHECK(kn && strcmp(kn, "ref") == 0, "%s: ran '%s'", c->label, kn ? kn : "?");
    /* PERF-NOTES: a oneDNN "ref" implementation is a slow fallback the kernels must avoid */
    if (r) TH_CHECK(strstr(kn, "ref") == NULL, "%s: oneDNN picked '%s'", c->label, kn);
  }
  sal_plan_free(p);
  sal_graph_free(g);
  return r;
}

static void expect_declined(const th_op_case *c) {
  TH_CHECK(picks_dnnl(c) == 0, "%s: the oneDNN kernel should have declined", c->label);
}

/* ---- Resize, one node ---- */

static const char *coord_names[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                    "tf_half_pixel_for_nn"};
static const char *round_names[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};

/* Resize of x (dims) to sizes (4 values, kept in *sz so they outlive the case). */
static th_op_case resize_sizes(const char *label, const int64_t *dims, float *sz, const int64_t *out, const char *mode,
                               const char *coord, const char *round) {
  th_op_case c = {.label = label, .op = "Resize", .n_in = 4, .n_out = 1};
  c.in[0] = (th_input){.name = "x", .ndim = 4, .dims = {dims[0], dims[1], dims[2], dims[3]}};
  c.in[1] = (th_input)OMIT;
  c.in[2] = (th_input)OMIT;
  for (int d = 0; d < 4; d++) sz[d] = (float)out[d];
  c.in[3] = (th_input){.name = "sz", .ndim = 1, .dims = {4}, .constant = true, .fill = TH_FILL_DATA, .data = sz};
  c.attrs[c.n_attrs++] = sal_attr_string("mode", mode);
  if (coord) c.attrs[c.n_attrs++] = sal_attr_string("coordinate_transformation_mode", coord);
  if (round) c.attrs[c.n_attrs++] = sal_attr_string("nearest_mode", round);
  return c;
}

/* Every nearest-mode combination of coordinate transform and rounding rule over a grid of sizes
 * (H resized, W kept): whatever the kernel accepts must match the reference; the combinations
 * known to agree must be accepted. Forward values are copies (exact); the gradient sums a
 * different number of dy terms per cell in another order: 1e-6. */
static void resize_nearest_grid(void) {
  const int64_t ins[] = {1, 2, 3, 4, 5, 7, 8};
  const int64_t outs_full[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 16, 21};
  const int64_t outs_quick[] = {1, 3, 4, 8, 14};
  const int64_t *outs = th_quick() ? outs_quick : outs_full;
  int n_out = th_quick() ? NELEM(outs_quick) : NELEM(outs_full);
  int accepted = 0, total = 0;
  for (int ci = 0; ci < NELEM(coord_names); ci++)
    for (int ri = 0; ri < NELEM(round_names); ri++)
      for (int a = 0; a < NELEM(ins); a++)
        for (int b = 0; b < n_out; b++) {
          int64_t in = ins[a], out = outs[b];
          char lbl[160];
          snprintf(lbl, sizeof lbl, "nearest %s %s H %lld->%lld", coord_names[ci], round_names[ri], (long long)in,
                   (long long)out);
          float sz[4];
          th_op_case c = resize_sizes(lbl, I64(2, 3, in, 5), sz, I64(2, 3, out, 5), "nearest", coord_names[ci],
                                      round_names[ri]);
          int r = picks_dnnl(&c);
          total++;
          if (r == 1) {
            accepted++;
            th_compare_kernels(&c, 1e-6, 1e-6);
          }
          /* oneDNN takes floor((2o+1)*in/(2*out)): half_pixel with ties upward is that exactly;
           * tf_half_pixel_for_nn with floor is floor((o+0.5)*in/out), the same; asymmetric with
           * floor agrees on integer upsampling (o/k and (o+0.5)/k share their floor). */
          bool must = (ci == 0 && ri == 1) || (ci == 4 && ri == 2) || (ci == 3 && ri == 2 && out % in == 0) ||
                      (ci == 1 && ri == 1 && out > 1) || (ci == 0 && ri == 0 && out % in == 0 && in == 1) ||
                      (ci == 0 && ri == 0 && out == 2 * in);
          if (must) TH_CHECK(r == 1, "%s: must run oneDNN", lbl);
        }
  /* a grid where nothing is accepted would test nothing */
  TH_CHECK(accepted > total / 5, "nearest grid: only %d of %d combinations accepted", accepted, total);
}

/* Linear over a grid of H and W sizes: half_pixel (and pytorch_half_pixel with out > 1) must be
 * accepted and match; the other transforms must be declined. oneDNN computes the weights in float
 * from in/out (the reference in double from the scale): a few ulp of values of order 1, and the
 * gradient's sums of at most ~(in/out)^2 terms: 1e-5. */
static void resize_linear_grid(void) {
  const int64_t hw[][4] = {{1, 4, 3, 3},  {2, 5, 5, 2},  {3, 7, 4, 9},   {4, 8, 8, 4},  {5, 3, 7, 11},
                           {8, 3, 5, 13}, {7, 1, 6, 16}, {16, 9, 32, 18}, {9, 4, 12, 1}, {6, 6, 6, 6}};
  const int64_t chans[] = {3, 16, 20, 33};
  int n = th_quick() ? 4 : NELEM(hw);
  for (int ci = 0; ci < 4; ci++)
    for (int i = 0; i < n; i++) {
      int64_t c = chans[i % NELEM(chans)], batch = i % 3 == 0 ? 1 : 2;
      char lbl[160];
      snprintf(lbl, sizeof lbl, "linear %s (%lld,%lld,%lld,%lld) -> %lldx%lld", coord_names[ci], (long long)batch,
               (long long)c, (long long)hw[i][0], (long long)hw[i][1], (long long)hw[i][2], (long long)hw[i][3]);
      float sz[4];
      th_op_case k = resize_sizes(lbl, I64(batch, c, hw[i][0], hw[i][1]), sz, I64(batch, c, hw[i][2], hw[i][3]), "linear",
                                  coord_names[ci], NULL);
      bool want = ci == 0 || (ci == 1 && hw[i][2] > 1 && hw[i][3] > 1);
      /* align_corners and asymmetric give other maps unless nothing is resized */
      bool same_size = hw[i][0] == hw[i][2] && hw[i][1] == hw[i][3];
      int r = picks_dnnl(&k);
      if (want) TH_CHECK(r == 1, "%s: must run oneDNN", lbl);
      else if (!same_size) TH_CHECK(r == 0, "%s: must keep the reference kernel", lbl);
      if (r == 1) th_compare_kernels(&k, 1e-5, 1e-5);
    }
}

/* Resize given by scales (opset 13 and the opset-10 form), batch and channel variety, and the
 * nodes the kernel must leave to the reference. */
static void resize_scales(void) {
  th_op_case acc[] = {
      /* ONNX default (half_pixel, round_prefer_floor) nearest x2: no ties */
      {.label = "nearest x2 scales c16", .op = "Resize", .n_in = 3, .n_out = 1,
       .in = {{"x", 4, {2, 16, 5, 7}}, OMIT, {"sc", 1, {4}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){1, 1, 2, 2}}}},
      /* PyTorch's export of nearest upsampling: asymmetric + floor */
      {.label = "nearest x3 asymmetric floor c20", .op = "Resize", .n_in = 3, .n_out = 1,
       .in = {{"x", 4, {1, 20, 3, 4}}, OMIT, {"sc", 1, {4}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){1, 1, 3, 3}}},
       .attrs = {sal_attr_string("coordinate_transformation_mode", "asymmetric"), sal_attr_string("nearest_mode", "floor")},
       .n_attrs = 2},
      /* opset 10: (X, scales), asymmetric + floor by default */
      {.label = "opset-10 nearest x2 c33", .op = "Resize", .n_in = 2, .n_out = 1,
       .in = {{"x", 4, {2, 33, 3, 5}}, {"sc", 1, {4}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){1, 1, 2, 2}}}},
      /* ties on every output (8 -> 4), resolved upward as oneDNN does */
      {.label = "nearest /2 prefer_ceil c3", .op = "Resize", .n_in = 3, .n_out = 1,
       .in = {{"x", 4, {3, 3, 8, 6}}, OMIT, {"sc", 1, {4}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){1, 1, 0.5f, 0.5f}}},
       .attrs = {sal_attr_string("nearest_mode", "round_prefer_ceil")}, .n_attrs = 1},
      {.label = "linear x2 scales c16 b1", .op = "Resize", .n_in = 3, .n_out = 1,
       .attrs = {sal_attr_string("mode", "linear")}, .n_attrs = 1,
       .in = {{"x", 4, {1, 16, 7, 5}}, OMIT, {"sc", 1, {4}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){1, 1, 2, 2}}}},
      {.label = "linear /2 scales c20", .op = "Resize", .n_in = 3, .n_out = 1,
       .attrs = {sal_attr_string("mode", "linear")}, .n_attrs = 1,
       .in = {{"x", 4, {2, 20, 8, 6}}, OMIT, {"sc", 1, {4}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){1, 1, 0.5f, 0.5f}}}},
      /* exclude_outside drops the taps past an edge and renormalises: the same as clamping them
       * for linear (the two taps then share the edge sample) */
      {.label = "linear x2 exclude_outside c20", .op = "Resize", .n_in = 3, .n_out = 1,
       .attrs = {sal_attr_string("mode", "linear"), sal_attr_int("exclude_outside", 1)}, .n_attrs = 2,
       .in = {{"x", 4, {2, 20, 3, 4}}, OMIT, {"sc", 1, {4}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){1, 1, 2, 2}}}},
      {.label = "linear x1.5 scales c3", .op = "Resize", .n_in = 3, .n_out = 1,
       .attrs = {sal_attr_string("mode", "linear")}, .n_attrs = 1,
       .in = {{"x", 4, {2, 3, 6, 4}}, OMIT, {"sc", 1, {4}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){1, 1, 1.5f, 1.5f}}}},
  };
  for (int i = 0; i < NELEM(acc); i++) {
    TH_CHECK(picks_dnnl(&acc[i]) == 1, "%s: must run oneDNN", acc[i].label);
    th_compare_kernels(&acc[i], 1e-5, 1e-5); /* as in the grids */
  }
  float s1[4], s2[4], s3[4], s4[4], s5[4], s6[4];
  th_op_case no[] = {
      {.label = "cubic", .op = "Resize", .n_in = 3, .n_out = 1, .attrs = {sal_attr_string("mode", "cubic")}, .n_attrs = 1,
       .in = {{"x", 4, {1, 3, 4, 4}}, OMIT, {"sc", 1, {4}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){1, 1, 2, 2}}}},
      /* floor(5 * 1.5) = 7: ONNX divides by 1.5, oneDNN by 7/5 */
      {.label = "linear scale 1.5 on 5", .op = "Resize", .n_in = 3, .n_out = 1, .attrs = {sal_attr_string("mode", "linear")},
       .n_attrs = 1,
       .in = {{"x", 4, {1, 3, 5, 4}}, OMIT, {"sc", 1, {4}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){1, 1, 1.5f, 1}}}},
      /* oneDNN resamples spatial dims only */
      {.label = "nearest over channels", .op = "Resize", .n_in = 3, .n_out = 1,
       .in = {{"x", 4, {1, 3, 4, 4}}, OMIT, {"sc", 1, {4}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){1, 2, 2, 2}}}},
      {.label = "nearest 3-d", .op = "Resize", .n_in = 3, .n_out = 1,
       .in = {{"x", 3, {1, 3, 4}}, OMIT, {"sc", 1, {3}, .constant = true, .fill = TH_FILL_DATA, .data = (const float[]){1, 1, 2}}}},
      resize_sizes("linear align_corners", I64(1, 3, 5, 4), s1, I64(1, 3, 7, 4), "linear", "align_corners", NULL),
      resize_sizes("linear asymmetric", I64(1, 3, 5, 4), s2, I64(1, 3, 10, 8), "linear", "asymmetric", NULL),
      resize_sizes("linear pytorch_half_pixel to 1", I64(1, 3, 5, 4), s3, I64(1, 3, 1, 8), "linear", "pytorch_half_pixel", NULL),
      /* ONNX default rounding on ties (8 -> 4): the reference rounds down, oneDNN up */
      resize_sizes("nearest /2 prefer_floor", I64(1, 3, 8, 8), s4, I64(1, 3, 4, 4), "nearest", NULL, NULL),
      resize_sizes("nearest asymmetric floor 5->7", I64(1, 3, 5, 4), s5, I64(1, 3, 7, 4), "nearest", "asymmetric", "floor"),
      resize_sizes("nearest half_pixel ceil x2", I64(1, 3, 4, 4), s6, I64(1, 3, 8, 8), "nearest", NULL, "ceil"),
  };
  for (int i = 0; i < NELEM(no); i++) expect_declined(&no[i]);
}

/* ---- Concat, one node ---- */

static void concat_cases(void) {
  /* Concat copies values: forward and gradients are exact. */
  th_op_case cases[] = {
      {.label = "2-d axis 0", .n_in = 2, .in = {{"a", 2, {3, 5}}, {"b", 2, {4, 5}}}, .attrs = {sal_attr_int("axis", 0)}},
      {.label = "2-d axis 1 c3,c20,c33", .n_in = 3, .in = {{"a", 2, {2, 3}}, {"b", 2, {2, 20}}, {"c", 2, {2, 33}}},
       .attrs = {sal_attr_int("axis", 1)}},
      {.label = "3-d axis 0", .n_in = 2, .in = {{"a", 3, {1, 3, 4}}, {"b", 3, {2, 3, 4}}}, .attrs = {sal_attr_int("axis", 0)}},
      {.label = "3-d axis 1", .n_in = 3, .in = {{"a", 3, {2, 3, 4}}, {"b", 3, {2, 1, 4}}, {"c", 3, {2, 5, 4}}},
       .attrs = {sal_attr_int("axis", 1)}},
      {.label = "3-d axis -1", .n_in = 2, .in = {{"a", 3, {2, 3, 4}}, {"b", 3, {2, 3, 7}}}, .attrs = {sal_attr_int("axis", -1)}},
      {.label = "4-d axis 0 c20", .n_in = 2, .in = {{"a", 4, {1, 20, 3, 5}}, {"b", 4, {2, 20, 3, 5}}},
       .attrs = {sal_attr_int("axis", 0)}},
      {.label = "4-d axis 1 c16,c32 b1", .n_in = 2, .in = {{"a", 4, {1, 16, 5, 3}}, {"b", 4, {1, 32, 5, 3}}},
       .attrs = {sal_attr_int("axis", 1)}},
      {.label = "4-d axis 1 c16 x5 b2", .n_in = 5,
       .in = {{"a", 4, {2, 32, 3, 3}}, {"b", 4, {2, 16, 3, 3}}, {"c", 4, {2, 16, 3, 3}}, {"d", 4, {2, 48, 3, 3}}, {"e", 4, {2, 16, 3, 3}}},
       .attrs = {sal_attr_int("axis", 1)}},
      {.label = "4-d axis 2 c33", .n_in = 3, .in = {{"a", 4, {2, 33, 1, 4}}, {"b", 4, {2, 33, 3, 4}}, {"c", 4, {2, 33, 2, 4}}},
       .attrs = {sal_attr_int("axis", 2)}},
      {.label = "4-d axis 3 c3", .n_in = 2, .in = {{"a", 4, {3, 3, 5, 2}}, {"b", 4, {3, 3, 5, 7}}}, .attrs = {sal_attr_int("axis", 3)}},
      {.label = "4-d axis -3 c16", .n_in = 2, .in = {{"a", 4, {1, 16, 2, 2}}, {"b", 4, {1, 16, 2, 2}}},
       .attrs = {sal_attr_int("axis", -3)}},
      {.label = "5-d axis 2", .n_in = 2, .in = {{"a", 5, {2, 3, 2, 3, 4}}, {"b", 5, {2, 3, 1, 3, 4}}}, .attrs = {sal_attr_int("axis", 2)}},
      {.label = "5-d axis 1", .n_in = 2, .in = {{"a", 5, {1, 3, 2, 3, 4}}, {"b", 5, {1, 20, 2, 3, 4}}}, .attrs = {sal_attr_int("axis", 1)}},
      {.label = "single input", .n_in = 1, .in = {{"a", 4, {2, 20, 3, 3}}}, .attrs = {sal_attr_int("axis", 2)}},
      /* a constant input: its gradient is never asked, so no backward reorder exists for it */
      {.label = "with a constant", .n_in = 2, .in = {{"a", 4, {2, 16, 3, 3}}, {"k", 4, {2, 16, 3, 3}, .constant = true}},
       .attrs = {sal_attr_int("axis", 1)}},
      /* eight inputs, as in an Inception / DenseNet join */
      {.label = "eight inputs axis 2", .n_in = 8,
       .in = {{"a", 4, {1, 5, 1, 3}}, {"b", 4, {1, 5, 2, 3}}, {"c", 4, {1, 5, 3, 3}}, {"d", 4, {1, 5, 1, 3}},
              {"e", 4, {1, 5, 2, 3}}, {"f", 4, {1, 5, 1, 3}}, {"g", 4, {1, 5, 4, 3}}, {"h", 4, {1, 5, 1, 3}}},
       .attrs = {sal_attr_int("axis", 2)}},
  };
  for (int i = 0; i < NELEM(cases); i++) {
    cases[i].op = "Concat";
    cases[i].n_out = 1;
    cases[i].n_attrs = 1;
    th_compare_kernels(&cases[i], 0, 0);
  }
  th_op_case no[] = {
      /* 4-d channels not in 16-blocks: a blocked window could not start there */
      {.label = "4-d axis 1 c20,c16", .n_in = 2, .in = {{"a", 4, {1, 20, 3, 3}}, {"b", 4, {1, 16, 3, 3}}}},
      {.label = "4-d axis 1 c3,c33", .n_in = 2, .in = {{"a", 4, {2, 3, 3, 3}}, {"b", 4, {2, 33, 3, 3}}}},
      {.label = "1-d", .n_in = 2, .in = {{"a", 1, {3}}, {"b", 1, {4}}}, .attrs = {sal_attr_int("axis", 0)}},
  };
  for (int i = 0; i < NELEM(no); i++) {
    no[i].op = "Concat";
    no[i].n_out = 1;
    no[i].n_attrs = 1;
    if (no[i].attrs[0].name == NULL) no[i].attrs[0] = sal_attr_int("axis", 1);
    expect_declined(&no[i]);
  }
}

/* ---- multi-node graphs ---- */

#define GB_MAX 80

/* A graph under construction, with the names of its trainable parameters (their gradients are
 * compared too) and the parameters' fill rules. */
typedef struct gb {
  sal_graph *g;
  char params[GB_MAX][16];
  int n_params, n_nodes;
  bool ok;
} gb;

static void gb_init(gb *b) {
  memset(b, 0, sizeof *b);
  b->ok = sal_graph_new(th_ctx(), &b->g) == SAL_STATUS_OK;
}

static void gb_check(gb *b, sal_status st, const char *what) {
  if (st && b->ok) TH_CHECK(0, "building %s: %s", what, sal_ctx_last_error(th_ctx()));
  if (st) b->ok = false;
}

static void gb_input(gb *b, const char *name, int nd, const int64_t *dims) {
  if (b->ok) gb_check(b, sal_graph_add_input(b->g, name, nd, dims), name);
}

/* A trainable parameter filled N(0, scale^2) (conv weights: scale ~ 1/sqrt(fan-in)). */
static void gb_param(gb *b, const char *name, int nd, const int64_t *dims, float scale) {
  if (!b->ok) return;
  sal_shape s;
  sal_shape_make(&s, nd, dims);
  int64_t n = sal_shape_numel(&s);
  float *buf = malloc((size_t)n * sizeof(float));
  sal_rng_normal(500 + (uint64_t)b->n_params, 0, 0, buf, (size_t)n);
  for (int64_t i = 0; i < n; i++) buf[i] *= scale;
  gb_check(b, sal_graph_add_param(b->g, name, nd, dims, buf, true), name);
  free(buf);
  snprintf(b->params[b->n_params++], sizeof b->params[0], "%s", name);
}

static void gb_node(gb *b, const char *op, const char *const *ins, int n_in, const char *out, const sal_attr *attrs,
                    int n_attrs) {
  if (!b->ok) return;
  char nm[16];
  snprintf(nm, sizeof nm, "n%d", b->n_nodes++);
  gb_check(b, sal_graph_add_node(b->g, op, nm, ins, n_in, &out, 1, attrs, n_attrs), out);
}

static void gb_relu(gb *b, const char *in, const char *out) { gb_node(b, "Relu", &in, 1, out, NULL, 0); }

/* Conv with a (m, c, k, k) weight named w_<out>, padding (k-1)/2. */
static void gb_conv(gb *b, const char *in, int64_t c, int64_t m, int64_t k, const char *out) {
  char w[16];
  snprintf(w, sizeof w, "w_%s", out);
  gb_param(b, w, 4, I64(m, c, k, k), 1.0f / sqrtf((float)(c * k * k)));
  int64_t p = (k - 1) / 2;
  sal_attr pads = sal_attr_ints("pads", 4, I64(p, p, p, p));
  const char *ins[2] = {in, w};
  gb_node(b, "Conv", ins, 2, out, &pads, 1);
}

/* Resize by constant scales (one parameter per node, named sc_<out>). */
static void gb_resize(gb *b, const char *in, float sh, float sw, const char *mode, const char *out) {
  /* nearest downsampling by 2 lands every output on a tie: rounded up, as oneDNN does */
  bool ceil_ties = strcmp(mode, "nearest") == 0 && (sh < 1 || sw < 1);
  char sc[16];
  snprintf(sc, sizeof sc, "sc_%s", out);
  if (b->ok) gb_check(b, sal_graph_add_param(b->g, sc, 1, I64(4), (const float[]){1, 1, sh, sw}, false), sc);
  sal_attr m[2] = {sal_attr_string("mode", mode), sal_attr_string("nearest_mode", "round_prefer_ceil")};
  const char *ins[3] = {in, "", sc};
  gb_node(b, "Resize", ins, 3, out, m, ceil_ties ? 2 : 1);
}

static void gb_concat(gb *b, const char *const *ins, int n, int64_t axis, const char *out) {
  sal_attr a = sal_attr_int("axis", axis);
  gb_node(b, "Concat", ins, n, out, &a, 1);
}

/* Runs b's graph with reference and with automatic kernels (th_graph_compare): output, gradients
 * of every graph input and trainable parameter (when grads), every node on oneDNN without a "ref"
 * implementation, and the values in `blocked` (NULL-terminated) stored blocked. Frees the graph. */
static void gb_compare(gb *b, const char *label, const char *output, const char *const *blocked, bool grads, double rtol,
                       double atol) {
  sal_ctx *ctx = th_ctx();
  sal_tensor *x[8] = {0};
  const char *xn[8], *grad_of[64 + GB_MAX + 1] = {0};
  int n_x = 0, n_grad = 0;
  TH_CHECK(b->ok, "%s: the graph was not built", label);
  if (!b->ok) goto done;
  TH_OK(sal_graph_add_output(b->g, output));
  int n_in = sal_graph_num_inputs(b->g);
  for (int i = 0; i < n_in && i < 8; i++) {
    const char *nm = sal_graph_input_name(b->g, i);
    sal_shape s;
    TH_OK(sal_graph_value_shape(b->g, nm, &s));
    TH_OK(sal_tensor_new(ctx, s.ndim, s.d, &x[i]));
    if (!x[i]) goto done;
    sal_rng_normal(200 + (uint64_t)i, 0, 0, x[i]->data, (size_t)sal_tensor_numel(x[i]));
    xn[n_x++] = nm;
  }
  for (int i = 0; i < n_in && i < 64; i++) grad_of[n_grad++] = sal_graph_input_name(b->g, i);
  for (int i = 0; i < b->n_params; i++) grad_of[n_grad++] = b->params[i];
  th_graph_compare(b->g, &(th_graph_cmp){.label = label, .output = output, .n_x = n_x, .x_names = xn, .x = x,
                                         .grad_of = grads ? grad_of : NULL, .blocked = blocked, .no_ref_impl = true,
                                         .rtol = rtol, .atol = atol});
done:
  for (int i = 0; i < 8; i++) sal_tensor_free(x[i]);
  sal_graph_free(b->g);
  b->g = NULL;
}

#define NAMES(...) ((const char *const[]){__VA_ARGS__})

/* Concat in every mix of blocked and plain inputs and outputs (a value is blocked when its
 * producer and all its consumers are oneDNN kernels: Relu/Concat/Resize results are, graph
 * inputs and outputs are not), along each axis. Copies only: exact (1e-6 guards nothing but
 * -0/+0). */
static void concat_graphs(void) {
  gb b;
  /* all blocked: the concat primitive on nChw16c */
  gb_init(&b);
  gb_input(&b, "a", 4, I64(2, 16, 3, 5));
  gb_input(&b, "c", 4, I64(2, 32, 3, 5));
  gb_relu(&b, "a", "ra");
  gb_relu(&b, "c", "rc");
  gb_concat(&b, NAMES("ra", "rc", "ra"), 3, 1, "cat");
  gb_relu(&b, "cat", "y");
  gb_compare(&b, "concat blocked c16,c32,c16 (a value twice)", "y", NAMES("ra", "rc", "cat", NULL), true, 1e-6, 1e-6);
  /* blocked and plain inputs into a blocked output: one reorder per input */
  gb_init(&b);
  gb_input(&b, "a", 4, I64(1, 16, 4, 4));
  gb_input(&b, "c", 4, I64(1, 48, 4, 4));
  gb_relu(&b, "a", "ra");
  gb_concat(&b, NAMES("c", "ra"), 2, 1, "cat");
  gb_relu(&b, "cat", "y");
  gb_compare(&b, "concat plain+blocked -> blocked", "y", NAMES("ra", "cat", NULL), true, 1e-6, 1e-6);
  /* blocked inputs into the plain graph output; a's gradient accumulates (Relu and Concat) */
  gb_init(&b);
  gb_input(&b, "a", 4, I64(2, 16, 3, 3));
  gb_relu(&b, "a", "ra");
  gb_relu(&b, "ra", "rb");
  gb_concat(&b, NAMES("rb", "ra"), 2, 1, "y");
  gb_compare(&b, "concat blocked -> plain output", "y", NAMES("ra", "rb", NULL), true, 1e-6, 1e-6);
  /* plain inputs into a blocked output */
  gb_init(&b);
  gb_input(&b, "a", 4, I64(2, 32, 3, 3));
  gb_input(&b, "c", 4, I64(2, 16, 3, 3));
  gb_concat(&b, NAMES("a", "c", "a"), 3, 1, "cat");
  gb_relu(&b, "cat", "y");
  gb_compare(&b, "concat plain -> blocked", "y", NAMES("cat", NULL), true, 1e-6, 1e-6);
  /* along H, W and N with padded channels (20 and 33 pad to 32 and 48), blocked and mixed */
  const int64_t axes[] = {0, 2, 3};
  const int64_t chans[] = {20, 33, 3};
  for (int i = 0; i < 3; i++) {
    int64_t ax = axes[i], c = chans[i];
    int64_t da[4] = {2, c, 3, 4}, dc[4] = {2, c, 3, 4};
    da[ax] = 1;
    dc[ax] = 5;
    for (int mixed = 0; mixed < 2; mixed++) {
      gb_init(&b);
      gb_input(&b, "a", 4, da);
      gb_input(&b, "c", 4, dc);
      gb_relu(&b, "a", "ra");
      if (!mixed) gb_relu(&b, "c", "rc");
      gb_concat(&b, NAMES("ra", mixed ? "c" : "rc", "ra"), 3, ax, "cat");
      gb_relu(&b, "cat", "y");
      char lbl[96];
      snprintf(lbl, sizeof lbl, "concat axis %lld c%lld %s", (long long)ax, (long long)c, mixed ? "mixed" : "blocked");
      gb_compare(&b, lbl, "y", NAMES("ra", "cat", NULL), true, 1e-6, 1e-6);
    }
  }
  /* forward-only plan: no backward reorders are made */
  gb_init(&b);
  gb_input(&b, "a", 4, I64(1, 16, 3, 3));
  gb_relu(&b, "a", "ra");
  gb_concat(&b, NAMES("ra", "a"), 2, 1, "cat");
  gb_relu(&b, "cat", "y");
  gb_compare(&b, "concat forward only", "y", NAMES("ra", "cat", NULL), false, 1e-6, 1e-6);
  /* more inputs than one execution of most primitives takes (20 > 15 arguments) */
  gb_init(&b);
  char nms[20][16], rnms[20][16];
  const char *ins[20];
  for (int i = 0; i < 20; i++) {
    snprintf(nms[i], sizeof nms[i], "x%d", i);
    snprintf(rnms[i], sizeof rnms[i], "r%d", i);
    if (i < 8) gb_input(&b, nms[i], 4, I64(1, 16, 2, 3));
    gb_relu(&b, nms[i % 8], rnms[i]);
    ins[i] = rnms[i];
  }
  gb_concat(&b, ins, 20, 1, "cat");
  gb_relu(&b, "cat", "y");
  gb_compare(&b, "concat of 20 blocked inputs", "y", NAMES("r0", "r19", "cat", NULL), true, 1e-6, 1e-6);
}

/* A DenseNet dense block: layer l computes f_l = Conv3x3(Relu(Concat(x0, f_1..f_{l-1}))) with
 * growth 16, and the block ends with the concat of all of them. x0 comes from a Conv (blocked)
 * or is the graph input itself (plain, mixed with blocked features). Conv sums <= 9*C terms in
 * float in another order: 1e-4, as in tests/test_dnnl_conv.c. */
static void dense_block(void) {
  const int layers = th_quick() ? 3 : 6;
  for (int plain_x = 0; plain_x < 2; plain_x++) {
    gb b;
    gb_init(&b);
    gb_input(&b, "x", 4, I64(1, 16, 6, 6));
    const char *x0 = "x";
    if (!plain_x) {
      gb_conv(&b, "x", 16, 32, 3, "x0");
      x0 = "x0";
    }
    int64_t c0 = plain_x ? 16 : 32;
    char f[8][16], cat[8][16], h[8][16];
    const char *ins[9] = {x0};
    for (int l = 1; l <= layers; l++) {
      snprintf(f[l], sizeof f[l], "f%d", l);
      snprintf(cat[l], sizeof cat[l], "cat%d", l);
      snprintf(h[l], sizeof h[l], "h%d", l);
      const char *in = x0;
      if (l > 1) {
        gb_concat(&b, ins, l, 1, cat[l]);
        in = cat[l];
      }
      gb_relu(&b, in, h[l]);
      gb_conv(&b, h[l], c0 + 16 * (l - 1), 16, 3, f[l]);
      ins[l] = f[l];
    }
    gb_concat(&b, ins, layers + 1, 1, "out");
    gb_relu(&b, "out", "y");
    gb_compare(&b, plain_x ? "dense block, plain input" : "dense block", "y", NAMES("f1", "cat2", "out", NULL), true,
               1e-4, 1e-4);
  }
}

/* Resize between blocked and plain values, up and down, nearest and linear. Nearest copies;
 * linear as in the one-node grid: 1e-5. */
static void resize_graphs(void) {
  gb b;
  const char *modes[] = {"nearest", "linear"};
  for (int m = 0; m < 2; m++) {
    char lbl[96];
    /* FPN top-down: blocked -> Resize x2 -> blocked, added to a blocked lateral */
    gb_init(&b);
    gb_input(&b, "x", 4, I64(2, 20, 3, 5));
    gb_input(&b, "z", 4, I64(2, 20, 6, 10));
    gb_relu(&b, "x", "r");
    gb_resize(&b, "r", 2, 2, modes[m], "u");
    gb_relu(&b, "z", "s");
    gb_node(&b, "Add", NAMES("u", "s"), 2, "a", NULL, 0);
    gb_relu(&b, "a", "y");
    snprintf(lbl, sizeof lbl, "%s: relu -> resize x2 -> add", modes[m]);
    gb_compare(&b, lbl, "y", NAMES("r", "u", "s", "a", NULL), true, 1e-5, 1e-5);
    /* plain graph input -> Resize up -> blocked (primitives run blocked: the larger side) */
    gb_init(&b);
    gb_input(&b, "x", 4, I64(1, 3, 4, 5));
    gb_resize(&b, "x", 2, 3, modes[m], "u");
    gb_relu(&b, "u", "y");
    snprintf(lbl, sizeof lbl, "%s: plain -> resize up -> blocked", modes[m]);
    gb_compare(&b, lbl, "y", NAMES("u", NULL), true, 1e-5, 1e-5);
    /* blocked -> Resize down -> plain output (primitives run blocked) */
    gb_init(&b);
    gb_input(&b, "x", 4, I64(2, 33, 8, 6));
    gb_relu(&b, "x", "r");
    gb_resize(&b, "r", 0.5f, 0.5f, modes[m], "y");
    snprintf(lbl, sizeof lbl, "%s: blocked -> resize down -> plain", modes[m]);
    gb_compare(&b, lbl, "y", NAMES("r", NULL), true, 1e-5, 1e-5);
    /* blocked -> Resize up -> plain output (primitives run plain) */
    gb_init(&b);
    gb_input(&b, "x", 4, I64(1, 16, 3, 3));
    gb_relu(&b, "x", "r");
    gb_resize(&b, "r", 3, 2, modes[m], "y");
    snprintf(lbl, sizeof lbl, "%s: blocked -> resize up -> plain", modes[m]);
    gb_compare(&b, lbl, "y", NAMES("r", NULL), true, 1e-5, 1e-5);
    /* one blocked value resized twice: its gradient accumulates from both */
    gb_init(&b);
    gb_input(&b, "x", 4, I64(2, 16, 4, 3));
    gb_relu(&b, "x", "r");
    gb_resize(&b, "r", 2, 2, modes[m], "u");
    gb_resize(&b, "r", 2, 2, modes[1 - m], "v");
    gb_node(&b, "Mul", NAMES("u", "v"), 2, "y", NULL, 0);
    snprintf(lbl, sizeof lbl, "%s: two resizes of one value", modes[m]);
    gb_compare(&b, lbl, "y", NAMES("r", "u", "v", NULL), true, 1e-5, 1e-5);
    /* forward only */
    gb_init(&b);
    gb_input(&b, "x", 4, I64(1, 16, 3, 3));
    gb_relu(&b, "x", "r");
    gb_resize(&b, "r", 2, 2, modes[m], "u");
    gb_relu(&b, "u", "y");
    snprintf(lbl, sizeof lbl, "%s: forward only", modes[m]);
    gb_compare(&b, lbl, "y", NAMES("r", "u", NULL), false, 1e-5, 1e-5);
  }
}

/* A U-Net stage: encoder Conv -> Relu (skip e), MaxPool, Conv -> Relu, nearest x2 upsampling,
 * Concat with the skip along channels, Conv. Every activation stays blocked. Conv tolerance as in
 * dense_block. */
static void unet(void) {
  gb b;
  gb_init(&b);
  gb_input(&b, "x", 4, I64(2, 3, 8, 8));
  gb_conv(&b, "x", 3, 16, 3, "c1");
  gb_relu(&b, "c1", "e");
  sal_attr pool[2] = {sal_attr_ints("kernel_shape", 2, I64(2, 2)), sal_attr_ints("strides", 2, I64(2, 2))};
  gb_node(&b, "MaxPool", NAMES("e"), 1, "p", pool, 2);
  gb_conv(&b, "p", 16, 32, 3, "c2");
  gb_relu(&b, "c2", "d");
  gb_resize(&b, "d", 2, 2, "nearest", "u");
  gb_concat(&b, NAMES("u", "e"), 2, 1, "cat");
  gb_conv(&b, "cat", 48, 16, 3, "c3");
  gb_relu(&b, "c3", "y");
  gb_compare(&b, "u-net stage", "y", NAMES("e", "d", "u", "cat", NULL), true, 1e-4, 1e-4);
}

/* Every allocation of plan creation (kernel states, oneDNN buffers, scratchpads) can fail: the
 * plan must report OUT_OF_MEMORY and free what the kernels made (leaks show in the sanitiser
 * build). The graph has both Concat paths (one primitive; reorders into windows) and a Resize
 * whose layouts differ (reorder ports). */
static void fault_injection(void) {
  sal_ctx *ctx = th_ctx();
  gb b;
  gb_init(&b);
  gb_input(&b, "x", 4, I64(1, 16, 4, 4));
  gb_input(&b, "z", 4, I64(1, 16, 8, 8));
  gb_relu(&b, "x", "r");
  gb_resize(&b, "r", 2, 2, "linear", "u");
  gb_relu(&b, "z", "s");
  gb_concat(&b, NAMES("u", "s"), 2, 1, "c1");
  gb_concat(&b, NAMES("c1", "z"), 2, 1, "c2");
  gb_relu(&b, "c2", "y");
  if (b.ok) TH_OK(sal_graph_add_output(b.g, "y"));
  for (int grads = 0; b.ok && grads < 2; grads++) {
    sal_plan_opts o = sal_plan_opts_default();
    o.grad_inputs = grads;
    int fails = 0;
    for (int64_t n = 1; n < 400; n++) {
      sal_plan *p = NULL;
      sal_ctx_fail_alloc_after(ctx, n);
      sal_status st = sal_plan_new(ctx, b.g, &o, &p);
      sal_ctx_fail_alloc_after(ctx, 0);
      sal_plan_free(p);
      if (st == SAL_STATUS_OK) break;
      if (st != SAL_STATUS_OUT_OF_MEMORY) {
        TH_CHECK(0, "fault %lld (grads %d): %s", (long long)n, grads, sal_ctx_last_error(ctx));
        break;
      }
      fails++;
    }
    TH_CHECK(fails > 10, "grads %d: only %d allocations failed", grads, fails);
  }
  sal_graph_free(b.g);
}

int main(void) {
  resize_nearest_grid();
  resize_linear_grid();
  resize_scales();
  concat_cases();
  concat_graphs();
  dense_block();
  resize_graphs();
  unet();
  fault_injection();
  return th_finish("test_dnnl_shape");
}
