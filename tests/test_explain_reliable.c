/* Tests of method `reliable` (src/saliency/reliable.c) and of sal_graph_clone (src/graph/clone.c):
 * masks (sal_explanation.levels) and HAF maps against the PyTorch implementation (tools/make_reliable_refs.py), automatic
 * layers on the built-in models, --layers errors, the caller's graph left unchanged, m >= 0,
 * determinism, batch invariance, preserve=class vs all. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "salient/explain.h"
#include "saliency/saliency.h"

#define FIX "tests/fixtures/"

static sal_tensor *load(const char *rel) { return th_npy(FIX, rel); }

static sal_method_params params(void) { return th_method_params("reliable"); }

/* ---- sal_graph_clone ---- */
static void test_clone(void) {
  sal_ctx *ctx = th_ctx();
  sal_model_spec s = sal_model_spec_default("resnet_small");
  s.image_size = 32;
  s.num_classes = 4;
  s.width = 4;
  sal_graph *g = NULL, *c = NULL;
  TH_OK(sal_model_build(ctx, &s, &g));
  if (!g) return;
  TH_OK(sal_graph_clone(g, &c));
  if (!c) {
    sal_graph_free(g);
    return;
  }
  TH_CHECK(sal_graph_num_nodes(c) == sal_graph_num_nodes(g) && sal_graph_num_values(c) == sal_graph_num_values(g),
           "clone: %d nodes %d values, original %d %d", sal_graph_num_nodes(c), sal_graph_num_values(c),
           sal_graph_num_nodes(g), sal_graph_num_values(g));
  TH_CHECK(sal_graph_param_count(c, true) == sal_graph_param_count(g, true) &&
               sal_graph_param_count(c, false) == sal_graph_param_count(g, false),
           "clone: parameter counts differ");
  sal_tensor pg, pc;
  TH_OK(sal_graph_param(g, "layer2.0.conv1.weight", &pg));
  TH_OK(sal_graph_param(c, "layer2.0.conv1.weight", &pc));
  TH_CHECK(pg.data != pc.data && memcmp(pg.data, pc.data, (size_t)sal_tensor_numel(&pg) * sizeof(float)) == 0,
           "clone: parameter data must be an equal copy");
  /* the same logits from both, then the copy rewritten (a mask after layer2) leaves g alone */
  sal_tensor *x = NULL;
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){2, 3, 32, 32}, &x));
  float zg[8] = {0}, zc[8] = {0};
  for (int k = 0; x && k < 2; k++) {
    sal_graph *gg = k ? c : g;
    sal_rng_normal(5, 5, 0, x->data, (size_t)sal_tensor_numel(x));
    sal_plan_opts o = sal_plan_opts_default();
    o.batch = 2;
    sal_plan *p = NULL;
    const sal_tensor *y = NULL;
    TH_OK(sal_plan_new(ctx, gg, &o, &p));
    if (p) TH_OK(sal_plan_set_input(p, "input", x));
    if (p) TH_OK(sal_plan_forward(p));
    if (p) TH_OK(sal_plan_value(p, "logits", &y));
    if (y) memcpy(k ? zc : zg, y->data, sizeof zg);
    sal_plan_free(p);
  }
  TH_CHECK(memcmp(zg, zc, sizeof zg) == 0, "clone: logits differ from the original's");
  const int nodes = sal_graph_num_nodes(g), values = sal_graph_num_values(g);
  TH_OK(sal_graph_add_input(c, "m", 4, (int64_t[]){-1, 1, 16, 16}));
  TH_OK(sal_graph_insert_after(c, "layer2", "Mul", "mul", (const char *[]){"m"}, 1, "layer2.masked", NULL, 0));
  TH_CHECK(sal_graph_num_nodes(g) == nodes && sal_graph_num_values(g) == values && !sal_graph_has_value(g, "m") &&
               sal_graph_num_inputs(g) == 1,
           "rewriting the clone changed the original");
  TH_CHECK(sal_graph_num_nodes(c) == nodes + 1 && sal_graph_num_inputs(c) == 2, "the clone was not rewritten");
  sal_graph_free(c);
  c = NULL;
  /* the original still works after its copy is gone */
  sal_plan *p = NULL;
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = 2;
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  sal_plan_free(p);
  /* allocation failures anywhere in the copy: an error, nothing leaks */
  for (int64_t n = 1; n < 200; n += th_quick() ? 7 : 1) {
    sal_ctx_fail_alloc_after(ctx, n);
    sal_status st = sal_graph_clone(g, &c);
    sal_ctx_fail_alloc_after(ctx, 0);
    TH_CHECK(st == SAL_STATUS_OK || (st == SAL_STATUS_OUT_OF_MEMORY && c == NULL), "clone, allocation %lld failing: %s",
             (long long)n, sal_status_name(st));
    sal_graph_free(c);
    c = NULL;
  }
  sal_tensor_free(x);
  sal_graph_free(g);
}

/* ---- the masking Mul: an activation (N, C, h, w) times a mask (N, 1, h, w) or (N, C, h, w) ---- */
static void test_mask_mul(void) {
  const th_op_case cases[] = {
      {.label = "mask (N,1,h,w)", .op = "Mul", .n_in = 2, .in = {{"a", 4, {3, 16, 5, 7}}, {"m", 4, {3, 1, 5, 7}}},
       .n_out = 1},
      {.label = "mask (N,1,h,w) first", .op = "Mul", .n_in = 2,
       .in = {{"m", 4, {2, 1, 4, 3}}, {"a", 4, {2, 5, 4, 3}}}, .n_out = 1},
      {.label = "mask (N,C,h,w)", .op = "Mul", .n_in = 2, .in = {{"a", 4, {2, 8, 3, 3}}, {"m", 4, {2, 8, 3, 3}}},
       .n_out = 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    th_gradcheck(&cases[i], SAL_KERNELS_REF);
    th_gradcheck(&cases[i], SAL_KERNELS_AUTO);
    /* float32 sums over up to 16 channels in either order: 1e-5 */
    th_compare_kernels(&cases[i], 1e-5, 1e-5);
  }
}

/* ---- automatic layers ---- */
static void check_levels(const char *arch, int64_t size, const char *const *want, int n_want) {
  sal_model_spec s = sal_model_spec_default(arch);
  s.image_size = size;
  s.num_classes = 10;
  sal_graph *g = NULL;
  TH_OK(sal_model_build(th_ctx(), &s, &g));
  if (!g) return;
  sal_method_params p = params();
  const char *names[SAL__REL_MAX_LEVELS];
  int n = 0;
  TH_OK(sal__reliable_levels(th_ctx(), g, &p, names, &n));
  char got[256] = "";
  for (int i = 0; i < n; i++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? "," : "", names[i]);
  bool ok = n == n_want;
  for (int i = 0; ok && i < n; i++) ok = strcmp(names[i], want[i]) == 0;
  printf("  %s at %lld: %s\n", arch, (long long)size, got);
  TH_CHECK(ok, "%s: automatic layers %s", arch, got);
  /* input_mask adds the input as the first level */
  p.input_mask = true;
  TH_OK(sal__reliable_levels(th_ctx(), g, &p, names, &n));
  TH_CHECK(n == n_want + 1 && strcmp(names[0], "input") == 0, "%s: input_mask gives %d levels", arch, n);
  sal_graph_free(g);
}

static void test_default_layers(void) {
  const char *res[] = {"layer1", "layer2", "layer3", "layer4"};
  /* under the sanitisers (th_quick) only the small model: the big ones take seconds to build */
  if (!th_quick()) check_levels("resnet18", 224, res, 4);
  check_levels("resnet_small", 64, res, 3);
  /* simple_cnn at 64: resolutions 32..4, the last ReLU before each pool and the last pool */
  const char *cnn[] = {"block2.relu", "block3.relu", "block4.relu", "block4"};
  check_levels("simple_cnn", 64, cnn, 4);
  /* 448 px: the four coarsest resolutions are 112..14, still the stage outputs */
  if (!th_quick()) check_levels("resnet18", 448, res, 4);
  if (!th_quick()) {
    check_levels("resnet50", 224, res, 4);
    /* VGG-16 at 224: the last ReLU at 56, 28 and 14, and the last max-pool (7 x 7) */
    const char *vgg[] = {"features.15", "features.22", "features.29", "features.30"};
    check_levels("vgg16", 224, vgg, 4);
  }
}

/* ---- a residual model (fused conv-BN-ReLU, blocked layouts), exact end points ---- */
static void test_resnet_small(void) {
  sal_ctx *ctx = th_ctx();
  sal_model_spec s = sal_model_spec_default("resnet_small");
  s.image_size = 32;
  s.num_classes = 4;
  s.width = 8;
  sal_graph *g = NULL;
  sal_tensor *x = NULL;
  TH_OK(sal_model_build(ctx, &s, &g));
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){2, 3, 32, 32}, &x));
  if (!g || !x) goto done;
  sal_rng_normal(3, 3, 0, x->data, (size_t)sal_tensor_numel(x));
  sal_method_params p = params();
  p.iterations = 6;
  /* λ = 0: at m = 1 the output is the original one, every gradient is exactly 0 and Adam does not
   * move (0 / (0 + ε)): the masks stay 1 and the HAF map is 1 everywhere */
  p.lambda = 0;
  sal_explanation e;
  TH_OK(sal_explain_run(ctx, g, x, NULL, &p, &e));
  TH_CHECK(e.n_levels == 3, "resnet_small: %d levels", e.n_levels);
  for (int l = 0; l < e.n_levels; l++)
    for (int64_t q = 0; q < sal_tensor_numel(e.levels[l]); q++)
      if (e.levels[l]->data[q] != 1.0f) {
        TH_CHECK(0, "lambda 0: level %s mask %g at %lld", e.level_names[l], (double)e.levels[l]->data[q], (long long)q);
        break;
      }
  for (int64_t q = 0; e.raw && q < 2 * 32 * 32; q++)
    if (fabsf(e.raw->data[q] - 1.0f) > 1e-6f) {
      TH_CHECK(0, "lambda 0: map %g at %lld", (double)e.raw->data[q], (long long)q);
      break;
    }
  sal_explanation_clear(&e);
  /* a huge λ: the L1 term wins, every mask reaches 0 within 1 / lr = 20 steps, and the map is 0 */
  p.lambda = 1e4f;
  p.iterations = 30;
  p.per_channel = true;
  TH_OK(sal_explain_run(ctx, g, x, NULL, &p, &e));
  double mx = 0;
  for (int64_t q = 0; e.raw && q < 2 * 32 * 32; q++) mx = fmax(mx, fabs(e.raw->data[q]));
  TH_CHECK(e.raw && mx == 0, "lambda 1e4: map max %g", mx);
  TH_CHECK(e.n_levels == 3 && e.levels[2] && e.levels[2]->shape.d[1] == 32, "per_channel: layer3 mask has %lld channels",
           e.n_levels == 3 && e.levels[2] ? (long long)e.levels[2]->shape.d[1] : -1LL);
  sal_explanation_clear(&e);
done:
  sal_tensor_free(x);
  sal_graph_free(g);
}

/* ---- agreement with PyTorch ---- */
static void compare_case(sal_graph *g, sal_tensor *x, int64_t *tg, const sal_method_params *p, const char *tag,
                         int levels, const char *const *level_names) {
  sal_explanation e;
  TH_OK(sal_explain_run(th_ctx(), g, x, tg, p, &e));
  if (!e.raw) return;
  TH_CHECK(e.n_levels == levels, "case %s: %d levels, want %d", tag, e.n_levels, levels);
  /* Tolerance 2e-4 of the largest value. salient runs float32 with oneDNN kernels, the reference
   * float64; 60 Adam steps carry the ~1e-6 rounding differences of the gradients forward (Adam
   * divides by √v, so even small gradient components move the mask by up to lr per step), and the
   * projection m >= 0 is a kink. Measured on this model: at most 5.5e-5 of the maximum (case b's
   * map), ~1e-6 for case a; the bound leaves a factor of ~4. */
  const double tol = 2e-4;
  for (int l = 0; l < e.n_levels && l < levels; l++) {
    char rel[64], label[64];
    snprintf(rel, sizeof rel, "rel_refs/%s_mask%d.npy", tag, l);
    snprintf(label, sizeof label, "case %s mask %d", tag, l);
    TH_CHECK(e.level_names[l] && strcmp(e.level_names[l], level_names[l]) == 0, "case %s level %d is '%s', want '%s'",
             tag, l, e.level_names[l] ? e.level_names[l] : "(null)", level_names[l]);
    sal_tensor *want = load(rel), *m = e.levels[l];
    if (want && m) th_check_scaled(label, m->data, &m->shape, want, tol);
    for (int64_t q = 0; m && q < sal_tensor_numel(m); q++)
      if (!(m->data[q] >= 0)) {
        TH_CHECK(0, "case %s mask %d: m[%lld] = %g < 0", tag, l, (long long)q, (double)m->data[q]);
        break;
      }
    sal_tensor_free(want);
  }
  char rel[64], label[64];
  snprintf(rel, sizeof rel, "rel_refs/%s_map.npy", tag);
  snprintf(label, sizeof label, "case %s HAF map", tag);
  sal_tensor *want = load(rel);
  if (want) th_check_scaled(label, e.raw->data, &e.raw->shape, want, tol);
  sal_tensor_free(want);
  sal_explanation_clear(&e);
}

static void test_reference(sal_graph *g, sal_tensor *x, int64_t *tg) {
  sal_method_params p = params();
  p.iterations = 60;
  const char *names[3] = {"input", "/Tanh_output_0", "/Tanh_1_output_0"};
  if (!th_quick()) compare_case(g, x, tg, &p, "a", 2, names + 1); /* quick: case b, which sets every parameter */
  p.input_mask = true;
  p.per_channel = true;
  p.preserve = SAL_PRESERVE_CLASS;
  p.lambda = 0.1f;
  p.lr = 0.03f;
  compare_case(g, x, tg, &p, "b", 3, names);
}

/* ---- properties ---- */
static void test_properties(sal_graph *g, sal_tensor *x, int64_t *tg) {
  sal_ctx *ctx = th_ctx();
  const int64_t N = x->shape.d[0], HW = 256;
  sal_method_params p = params();
  p.iterations = th_quick() ? 8 : 15;
  /* the caller's graph: same structure and same logits after the call */
  const int nodes = sal_graph_num_nodes(g), values = sal_graph_num_values(g), inputs = sal_graph_num_inputs(g);
  sal_explanation a, b, c, one;
  TH_OK(sal_explain_run(ctx, g, x, tg, &p, &a));
  TH_CHECK(sal_graph_num_nodes(g) == nodes && sal_graph_num_values(g) == values && sal_graph_num_inputs(g) == inputs &&
               strcmp(sal_graph_output_name(g, 0), "logits") == 0,
           "the caller's graph was modified");
  TH_OK(sal_explain_run(ctx, g, x, tg, &p, &b));
  if (a.raw && b.raw)
    TH_CHECK(memcmp(a.raw->data, b.raw->data, (size_t)(N * HW) * sizeof(float)) == 0, "two runs differ");
  /* HAF maps are means of max-normalised levels: in [0, 1] */
  for (int64_t q = 0; a.raw && q < N * HW; q++)
    if (!(a.raw->data[q] >= 0 && a.raw->data[q] <= 1 + 1e-6)) {
      TH_CHECK(0, "map value %g at %lld outside [0, 1]", (double)a.raw->data[q], (long long)q);
      break;
    }
  /* batch invariance: image 1 alone, and a budget of one image per pass */
  sal_tensor v = *x;
  v.shape.d[0] = 1;
  v.data = x->data + 1 * 3 * HW;
  v.owns_data = false;
  TH_OK(sal_explain_run(ctx, g, &v, tg + 1, &p, &one));
  if (a.raw && one.raw) th_allclose("image 1 alone", one.raw->data, a.raw->data + HW, HW, 0, 1e-4);
  sal_explanation_clear(&one);
  p.max_memory = 1;
  TH_OK(sal_explain_run(ctx, g, x, tg, &p, &c));
  if (a.raw && c.raw) th_allclose("max_memory=1", c.raw->data, a.raw->data, N * HW, 0, 1e-4);
  sal_explanation_clear(&c);
  p.max_memory = SAL_EXPLAIN_DEFAULT_MEMORY;
  /* preserve=class ignores the other logits: different masks */
  p.preserve = SAL_PRESERVE_CLASS;
  TH_OK(sal_explain_run(ctx, g, x, tg, &p, &c));
  if (a.raw && c.raw) {
    double d = 0;
    for (int64_t q = 0; q < N * HW; q++) d = fmax(d, fabs((double)a.raw->data[q] - c.raw->data[q]));
    printf("  preserve=class vs all: max map difference %.3g\n", d);
    TH_CHECK(d > 1e-3, "preserve=class and preserve=all give the same maps (max difference %g)", d);
  }
  sal_explanation_clear(&a);
  sal_explanation_clear(&b);
  sal_explanation_clear(&c);
}

/* Number of sal_alloc calls of one run: the smallest n for which failing the n-th allocation
 * still succeeds, minus 1 (a run fails exactly when one of its allocations fails). */
static int64_t count_allocs(sal_graph *g, sal_tensor *x, int64_t *tg, const sal_method_params *p) {
  int64_t lo = 1, hi = 4096; /* failing allocation hi is past the end (318 measured) */
  while (lo < hi) {
    int64_t mid = (lo + hi) / 2;
    sal_explanation e;
    sal_ctx_fail_alloc_after(th_ctx(), mid);
    sal_status st = sal_explain_run(th_ctx(), g, x, tg, p, &e);
    sal_ctx_fail_alloc_after(th_ctx(), 0);
    sal_explanation_clear(&e);
    if (st == SAL_STATUS_OK) hi = mid;
    else lo = mid + 1;
  }
  return lo - 1;
}

/* No allocation inside the optimisation loop: a run of 25 steps allocates as often as one of 2. */
static void test_no_loop_alloc(sal_graph *g, sal_tensor *x, int64_t *tg) {
  sal_method_params p = params();
  p.input_mask = true;
  p.iterations = 2;
  int64_t a = count_allocs(g, x, tg, &p);
  p.iterations = 25;
  int64_t b = count_allocs(g, x, tg, &p);
  printf("  allocations: %lld with 2 steps, %lld with 25\n", (long long)a, (long long)b);
  TH_CHECK(a == b && a > 10, "allocations: %lld with 2 steps, %lld with 25", (long long)a, (long long)b);
}

/* ---- errors and parameters ---- */
static void test_errors(sal_graph *g, sal_tensor *x, int64_t *tg) {
  sal_ctx *ctx = th_ctx();
  sal_method_params p = params();
  p.iterations = 2;
  sal_explanation e;
  p.layers = "/Tanh_output_0,nope";
  TH_FAILS(sal_explain_run(ctx, g, x, tg, &p, &e), SAL_STATUS_NOT_FOUND, "'nope' is not a 4-D activation");
  TH_CHECK(th_contains(sal_ctx_last_error(ctx), "/Tanh_1_output_0"), "the message lists the layers: %s",
           sal_ctx_last_error(ctx));
  p.layers = "logits";
  TH_FAILS(sal_explain_run(ctx, g, x, tg, &p, &e), SAL_STATUS_NOT_FOUND, "'logits' is not a 4-D activation");
  p.layers = "/Tanh_output_0,/Tanh_output_0";
  TH_FAILS(sal_explain_run(ctx, g, x, tg, &p, &e), SAL_STATUS_BAD_INPUT, "listed twice");
  /* a chosen layer: one level, its mask only */
  p.layers = "/Tanh_1_output_0";
  TH_OK(sal_explain_run(ctx, g, x, tg, &p, &e));
  TH_CHECK(e.n_levels == 1 && e.levels[0] && e.levels[0]->shape.d[1] == 1 && e.levels[0]->shape.d[2] == 8,
           "--layers /Tanh_1_output_0: %d levels", e.n_levels);
  sal_explanation_clear(&e);
  /* parameters from text */
  p = params();
  TH_CHECK(fabsf(p.lr - 0.05f) < 1e-9f && p.iterations == 300 && fabsf(p.lambda - 0.5f) < 1e-9f &&
               p.preserve == SAL_PRESERVE_ALL && !p.per_channel && !p.input_mask && !p.layers,
           "reliable defaults");
  TH_OK(sal_method_params_set(ctx, &p, "layers", "layer1,layer3"));
  TH_OK(sal_method_params_set(ctx, &p, "preserve", "class"));
  TH_OK(sal_method_params_set(ctx, &p, "lambda", "0.25"));
  TH_OK(sal_method_params_set(ctx, &p, "per_channel", "true"));
  TH_OK(sal_method_params_set(ctx, &p, "input_mask", "1"));
  TH_FAILS(sal_method_params_set(ctx, &p, "preserve", "most"), SAL_STATUS_BAD_INPUT, "all or class");
  TH_FAILS(sal_method_params_set(ctx, &p, "per_channel", "yes"), SAL_STATUS_BAD_INPUT, "true or false");
  TH_FAILS(sal_method_params_set(ctx, &p, "lambda", "-1"), SAL_STATUS_BAD_INPUT, "lambda='-1'");
  char buf[512];
  sal_method_params_str(&p, buf, sizeof buf);
  TH_CHECK(strstr(buf, "layers=layer1,layer3 preserve=class lambda=0.25 per_channel=true input_mask=true") != NULL,
           "params string '%s'", buf);
  TH_OK(sal_method_params_set(ctx, &p, "layers", "auto"));
  TH_CHECK(p.layers == NULL, "layers=auto");
  sal_param_info info;
  bool found = false;
  for (int i = 0; sal_method_param("reliable", i, &info); i++)
    if (strcmp(info.key, "lr") == 0) found = strcmp(info.def, "0.05") == 0;
  TH_CHECK(found, "reliable's lr default is listed as 0.05");
  /* allocation failures: an error, nothing leaks, the graph intact */
  p = params();
  p.iterations = 2;
  for (int64_t k = 1; k < 320; k += th_quick() ? 53 : 7) { /* a run makes ~318 allocations */
    sal_ctx_fail_alloc_after(ctx, k);
    sal_status st = sal_explain_run(ctx, g, x, tg, &p, &e);
    sal_ctx_fail_alloc_after(ctx, 0);
    TH_CHECK(st == SAL_STATUS_OK || st == SAL_STATUS_OUT_OF_MEMORY, "allocation %lld failing: %s", (long long)k,
             sal_status_name(st));
    sal_explanation_clear(&e);
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(void) {
  sal_ctx *ctx = th_ctx();
  double t0 = now_s();
  test_clone();
  printf("clone %.2fs\n", now_s() - t0);
  test_mask_mul();
  test_resnet_small();
  test_default_layers();
  printf("default layers %.2fs\n", now_s() - t0);
  sal_graph *g = NULL;
  TH_OK(sal_onnx_load(ctx, FIX "rel_refs/model.onnx", NULL, &g));
  sal_tensor *x = load("saliency/input.npy"), *tt = load("saliency/target.npy");
  int64_t tg[3] = {0, 0, 0};
  for (int i = 0; tt && i < 3; i++) tg[i] = (int64_t)tt->data[i];
  if (g && x && tt) {
    sal_method_params p = params();
    const char *names[SAL__REL_MAX_LEVELS];
    int n = 0;
    TH_OK(sal__reliable_levels(ctx, g, &p, names, &n));
    TH_CHECK(n == 2 && strcmp(names[0], "/Tanh_output_0") == 0 && strcmp(names[1], "/Tanh_1_output_0") == 0,
             "tiny model: automatic layers");
    test_reference(g, x, tg);
    printf("reference %.2fs\n", now_s() - t0);
    test_properties(g, x, tg);
    printf("properties %.2fs\n", now_s() - t0);
    test_errors(g, x, tg);
    if (!th_quick()) test_no_loop_alloc(g, x, tg); /* ~24 runs: too slow under the sanitisers */
    printf("errors %.2fs\n", now_s() - t0);
  }
  sal_tensor_free(x);
  sal_tensor_free(tt);
  sal_graph_free(g);
  return th_finish("test_explain_reliable");
}
