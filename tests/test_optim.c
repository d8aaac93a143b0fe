/* Optimisers against PyTorch: 10 steps of SGD with momentum, Nesterov SGD, SGD with gradient-norm
 * clipping, Adam, AdamW and grouped SGD (frozen + per-group rate) on a small CNN with batch-norm in
 * training mode (fixtures from tools/make_golden_optim.py), learning-rate schedules, and bad input.
 *
 * Tolerances (as in tests/test_golden.c, a max-abs error scaled by the tensor's largest value):
 * losses 1e-5, final weights and running statistics 5e-5. The fixtures are float64 answers stored
 * in float32; salient's float32 gradients carry ~1e-7 relative error, and ten steps compound it to
 * a few 1e-7 of the weights for SGD. Adam divides the first moment by the root of the second, so
 * a parameter whose gradient is small relative to its float32 error moves by up to lr per step in
 * a noisy direction: with lr 0.01 and gradients here ≥ 1e-4 in magnitude (errors ~1e-10) the
 * measured errors stay ≤ 9e-7 relative (all runs); 5e-5 keeps a 50x margin while a wrong bias correction, a
 * coupled/decoupled decay mix-up or a missing momentum dampening fails by > 1e-3. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "salient/optim.h"

#define FIX "tests/fixtures/golden_optim/"
#define N 4
#define STEPS 10

static const double TOL_LOSS = 1e-5, TOL_W = 5e-5;

typedef struct pdesc {
  const char *name;
  int ndim;
  int64_t dims[4];
  bool trainable;
} pdesc;

static const pdesc params[] = {
    {"conv1.weight", 4, {6, 3, 3, 3}, true}, {"bn1.weight", 1, {6}, true},
    {"bn1.bias", 1, {6}, true},              {"bn1.running_mean", 1, {6}, false}, {"bn1.running_var", 1, {6}, false},
    {"conv2.weight", 4, {8, 6, 3, 3}, true}, {"bn2.weight", 1, {8}, true},       {"bn2.bias", 1, {8}, true},
    {"bn2.running_mean", 1, {8}, false},     {"bn2.running_var", 1, {8}, false}, {"fc.weight", 2, {4, 8}, true},
    {"fc.bias", 1, {4}, true},
};
#define NP ((int)(sizeof params / sizeof params[0]))

static sal_tensor *fixture(const char *rel) { return th_npy(FIX, rel); }

static sal_status node(sal_graph *g, const char *op, const char *name, int n_in, const char *const *in, const char *out,
                       const sal_attr *a, int na) {
  return sal_graph_add_node(g, op, name, in, n_in, &out, 1, a, na);
}

/* The network of tools/make_golden_optim.py with its initial weights. */
static sal_graph *build(void) {
  sal_graph *g = NULL;
  sal_status st = sal_graph_new(th_ctx(), &g);
  const int64_t k3[2] = {3, 3}, k2[2] = {2, 2}, s1[2] = {1, 1}, pad1[4] = {1, 1, 1, 1};
  const sal_attr conv[] = {sal_attr_ints("kernel_shape", 2, k3), sal_attr_ints("pads", 4, pad1),
                           sal_attr_ints("strides", 2, s1)};
  const sal_attr bn[] = {sal_attr_float("epsilon", 1e-5f), sal_attr_float("momentum", 0.9f)};
  const sal_attr pool[] = {sal_attr_ints("kernel_shape", 2, k2), sal_attr_ints("strides", 2, k2)};
  const sal_attr flat[] = {sal_attr_int("axis", 1)}, gemm[] = {sal_attr_int("transB", 1)};
  const sal_attr ce[] = {sal_attr_string("reduction", "mean")};
  if (!st) st = sal_graph_add_input(g, "input", 4, (int64_t[]){-1, 3, 12, 12});
  if (!st) st = sal_graph_add_input(g, "target", 1, (int64_t[]){-1});
  for (int i = 0; !st && i < NP; i++) st = sal_graph_add_param(g, params[i].name, params[i].ndim, params[i].dims, NULL, params[i].trainable);
  if (!st) st = node(g, "Conv", "conv1", 2, (const char *[]){"input", "conv1.weight"}, "c1", conv, 3);
  if (!st)
    st = node(g, "BatchNormalization", "bn1", 5, (const char *[]){"c1", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"},
              "b1", bn, 2);
  if (!st) st = node(g, "Tanh", "tanh", 1, (const char *[]){"b1"}, "t1", NULL, 0);
  if (!st) st = node(g, "AveragePool", "pool", 1, (const char *[]){"t1"}, "p1", pool, 2);
  if (!st) st = node(g, "Conv", "conv2", 2, (const char *[]){"p1", "conv2.weight"}, "c2", conv, 3);
  if (!st)
    st = node(g, "BatchNormalization", "bn2", 5, (const char *[]){"c2", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"},
              "b2", bn, 2);
  if (!st) st = node(g, "Sigmoid", "sigmoid", 1, (const char *[]){"b2"}, "s2", NULL, 0);
  if (!st) st = node(g, "GlobalAveragePool", "gap", 1, (const char *[]){"s2"}, "gap", NULL, 0);
  if (!st) st = node(g, "Flatten", "flatten", 1, (const char *[]){"gap"}, "flat", flat, 1);
  if (!st) st = node(g, "Gemm", "fc", 3, (const char *[]){"flat", "fc.weight", "fc.bias"}, "logits", gemm, 1);
  if (!st) st = node(g, "SoftmaxCrossEntropyLoss", "ce", 2, (const char *[]){"logits", "target"}, "loss", ce, 1);
  if (!st) st = sal_graph_add_output(g, "loss");
  TH_CHECK(st == SAL_STATUS_OK, "building the network: %s", sal_ctx_last_error(th_ctx()));
  if (st) {
    sal_graph_free(g);
    return NULL;
  }
  for (int i = 0; i < NP; i++) {
    char rel[128];
    snprintf(rel, sizeof rel, "model/%s.npy", params[i].name);
    sal_tensor *t = fixture(rel), view;
    TH_OK(sal_graph_param(g, params[i].name, &view));
    if (t && sal_shape_equal(&t->shape, &view.shape)) memcpy(view.data, t->data, (size_t)sal_tensor_numel(t) * sizeof(float));
    else TH_CHECK(0, "fixture %s missing or of another shape", rel);
    sal_tensor_free(t);
  }
  return g;
}

/* Runs STEPS training steps with the given optimiser and compares losses and final weights with
 * fixture directory run. */
static void run(const char *label, const char *dir, const sal_optim_opts *oo, const sal_param_group *groups, int ng,
                sal_kernels kernels) {
  sal_graph *g = build();
  sal_tensor *x = fixture("input.npy"), *y = fixture("target.npy"), *want = NULL;
  sal_plan *p = NULL;
  sal_optim *opt = NULL;
  char lbl[160], rel[160];
  if (!g || !x || !y) goto done;
  sal_plan_opts po = sal_plan_opts_default();
  po.batch = N;
  po.training = true;
  po.grad_params = true;
  po.kernels = kernels;
  TH_OK(sal_plan_new(th_ctx(), g, &po, &p));
  TH_OK(sal_optim_new(th_ctx(), g, oo, groups, ng, &opt));
  if (!p || !opt) goto done;
  TH_OK(sal_plan_set_input(p, "input", x));
  TH_OK(sal_plan_set_input(p, "target", y));
  float losses[STEPS];
  for (int s = 0; s < STEPS; s++) {
    const sal_tensor *loss = NULL;
    sal_status st = sal_plan_forward(p);
    if (!st) st = sal_plan_value(p, "loss", &loss);
    if (!st) st = sal_plan_backward(p, "loss", NULL);
    if (!st) losses[s] = loss->data[0];
    if (!st) st = sal_optim_step(opt, p, oo->lr);
    TH_CHECK(st == SAL_STATUS_OK, "%s step %d: %s", label, s, sal_ctx_last_error(th_ctx()));
    if (st) goto done;
  }
  TH_CHECK(sal_optim_steps(opt) == STEPS, "%s: step count", label);
  snprintf(rel, sizeof rel, "%s/losses.npy", dir);
  want = fixture(rel);
  sal_shape ls;
  sal_shape_make(&ls, 1, (int64_t[]){STEPS});
  snprintf(lbl, sizeof lbl, "%s losses", label);
  th_check_scaled(lbl, losses, &ls, want, TOL_LOSS);
  for (int i = 0; i < NP; i++) {
    sal_tensor *w = NULL, view;
    snprintf(rel, sizeof rel, "%s/final/%s.npy", dir, params[i].name);
    w = fixture(rel);
    TH_OK(sal_graph_param(g, params[i].name, &view));
    snprintf(lbl, sizeof lbl, "%s %s", label, params[i].name);
    th_check_scaled(lbl, view.data, &view.shape, w, TOL_W);
    sal_tensor_free(w);
  }
done:
  sal_tensor_free(want);
  sal_optim_free(opt);
  sal_plan_free(p);
  sal_tensor_free(x);
  sal_tensor_free(y);
  sal_graph_free(g);
}

static void test_optimisers(sal_kernels k) {
  sal_optim_opts o = sal_optim_opts_default(SAL_OPTIM_SGD);
  o.lr = 0.05f;
  o.momentum = 0.9f;
  o.weight_decay = 5e-4f;
  run(k == SAL_KERNELS_REF ? "sgd_momentum [ref]" : "sgd_momentum", "sgd_momentum", &o, NULL, 0, k);
  if (k == SAL_KERNELS_REF) return;
  o.nesterov = true;
  o.weight_decay = 1e-3f;
  run("sgd_nesterov", "sgd_nesterov", &o, NULL, 0, k);

  sal_tensor *mn = fixture("sgd_clip/max_norm.npy");
  o = sal_optim_opts_default(SAL_OPTIM_SGD);
  o.lr = 0.1f;
  o.clip_grad_norm = mn ? mn->data[0] : 1.0f;
  run("sgd_clip", "sgd_clip", &o, NULL, 0, k);
  sal_tensor_free(mn);

  o = sal_optim_opts_default(SAL_OPTIM_ADAM);
  o.lr = 0.01f;
  o.weight_decay = 1e-3f;
  run("adam", "adam", &o, NULL, 0, k);
  o = sal_optim_opts_default(SAL_OPTIM_ADAMW);
  o.lr = 0.01f;
  o.weight_decay = 0.05f;
  run("adamw", "adamw", &o, NULL, 0, k);

  /* conv1 frozen; fc at 10x the base rate of 0.02. */
  const sal_param_group groups[] = {{"conv1.", true, 1.0f, -1.0f}, {"fc.", false, 10.0f, -1.0f}};
  o = sal_optim_opts_default(SAL_OPTIM_SGD);
  o.lr = 0.02f;
  o.momentum = 0.9f;
  run("groups", "groups", &o, groups, 2, k);
}

static void test_schedules(void) {
  static const struct {
    const char *name;
    sal_lr_schedule s;
  } cases[] = {
      {"step", {.kind = SAL_LR_STEP, .step_size = 7, .gamma = 0.5f}},
      {"cosine", {.kind = SAL_LR_COSINE, .total_steps = 30, .eta_min = 0.001f}},
      {"warmup_cosine", {.kind = SAL_LR_COSINE, .total_steps = 25, .eta_min = 0.0f, .warmup_steps = 5, .warmup_start = 0.1f}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char rel[64];
    snprintf(rel, sizeof rel, "lr/%s.npy", cases[c].name);
    sal_tensor *want = fixture(rel);
    if (!want) continue;
    float got[64];
    int64_t n = sal_tensor_numel(want);
    for (int64_t i = 0; i < n && i < 64; i++) got[i] = sal_lr_at(&cases[c].s, 0.1f, i);
    char lbl[64];
    snprintf(lbl, sizeof lbl, "schedule %s", cases[c].name);
    /* PyTorch's chainable cosine accumulates float64 rounding; 1e-6 of the base rate. */
    th_check_scaled(lbl, got, &want->shape, want, 1e-6);
    sal_tensor_free(want);
  }
  sal_lr_schedule constant = {0};
  TH_CHECK(sal_lr_at(&constant, 0.3f, 1000) == 0.3f, "constant schedule");
  sal_lr_schedule cos = {.kind = SAL_LR_COSINE, .total_steps = 10, .eta_min = 0.01f};
  TH_CHECK(sal_lr_at(&cos, 0.3f, 50) == 0.01f, "cosine holds eta_min after total_steps");
}

static void test_bad_input(void) {
  sal_graph *g = build();
  if (!g) return;
  sal_optim *o = NULL;
  sal_optim_opts bad = sal_optim_opts_default(SAL_OPTIM_SGD);
  bad.lr = -1;
  TH_FAILS(sal_optim_new(th_ctx(), g, &bad, NULL, 0, &o), SAL_STATUS_BAD_INPUT, "lr -1 must be > 0");
  bad = sal_optim_opts_default(SAL_OPTIM_SGD);
  bad.nesterov = true;
  TH_FAILS(sal_optim_new(th_ctx(), g, &bad, NULL, 0, &o), SAL_STATUS_BAD_INPUT, "Nesterov momentum needs momentum > 0");
  bad = sal_optim_opts_default(SAL_OPTIM_ADAM);
  bad.beta2 = 1.0f;
  TH_FAILS(sal_optim_new(th_ctx(), g, &bad, NULL, 0, &o), SAL_STATUS_BAD_INPUT, "betas (0.9, 1)");
  bad = sal_optim_opts_default(SAL_OPTIM_SGD);
  bad.momentum = 1.5f;
  TH_FAILS(sal_optim_new(th_ctx(), g, &bad, NULL, 0, &o), SAL_STATUS_BAD_INPUT, "momentum 1.5");
  TH_CHECK(o == NULL, "no optimiser on error");

  /* A NaN gradient is reported with the parameter's name and nothing moves. */
  sal_tensor *x = fixture("input.npy"), *y = fixture("target.npy");
  sal_plan *p = NULL;
  sal_plan_opts po = sal_plan_opts_default();
  po.batch = N;
  po.training = true;
  po.grad_params = true;
  sal_optim_opts oo = sal_optim_opts_default(SAL_OPTIM_ADAMW);
  TH_OK(sal_plan_new(th_ctx(), g, &po, &p));
  TH_OK(sal_optim_new(th_ctx(), g, &oo, NULL, 0, &o));
  if (p && o && x && y) {
    sal_tensor w;
    TH_OK(sal_graph_param(g, "fc.weight", &w));
    float keep = w.data[0];
    w.data[0] = NAN;
    sal_plan_params_changed(p);
    TH_OK(sal_plan_set_input(p, "input", x));
    TH_OK(sal_plan_set_input(p, "target", y));
    TH_OK(sal_plan_forward(p));
    TH_OK(sal_plan_backward(p, "loss", NULL));
    sal_tensor c1;
    TH_OK(sal_graph_param(g, "bn1.bias", &c1));
    float before = c1.data[0];
    TH_FAILS(sal_optim_step(o, p, 0.01f), SAL_STATUS_NUMERIC, "is not finite");
    TH_CHECK(c1.data[0] == before && sal_optim_steps(o) == 0, "a failed step changes nothing");
    w.data[0] = keep;
    /* State is exposed for checkpoints: exp_avg and exp_avg_sq per trainable parameter. */
    TH_CHECK(sal_optim_num_state(o) == 2 * 8, "AdamW state: 2 tensors x 8 trainable parameters, got %d", sal_optim_num_state(o));
    const char *nm = NULL;
    sal_tensor v;
    TH_OK(sal_optim_state(o, 1, &nm, &v));
    TH_CHECK(nm && !strcmp(nm, "conv1.weight.exp_avg_sq") && v.shape.ndim == 4 && v.shape.d[0] == 6, "state names and shapes");
    TH_FAILS(sal_optim_state(o, 16, &nm, &v), SAL_STATUS_NOT_FOUND, "state 16");
  }
  sal_optim_free(o);
  sal_plan_free(p);
  sal_tensor_free(x);
  sal_tensor_free(y);
  sal_graph_free(g);
}

int main(void) {
  test_optimisers(SAL_KERNELS_AUTO);
  test_optimisers(SAL_KERNELS_REF);
  test_schedules();
  test_bad_input();
  return th_finish("test_optim");
}
