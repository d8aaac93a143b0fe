/* Whole-model check against PyTorch: the small CNN of tools/make_golden.py built with the builder
 * API, weights loaded from .npy fixtures; logits, gradients and 5 SGD steps must match PyTorch's.
 *
 * Tolerances. The fixtures are computed in float64 from float32 weights and inputs and stored as
 * float32, so they are the exact answers to within one float32 rounding (6e-8 relative); every
 * difference measured here is salient's own float32 error. Each check is a max-abs error over a
 * whole tensor, scaled by the tensor's largest magnitude (an element-wise relative check would be
 * meaningless for entries that cancel to ~0):
 *  - logits: 1e-5 x max|logit|. A logit is a chain of five reductions (conv1 27 terms, conv2 72,
 *    conv3 8, average 16, fc 16) with batch-norm and ReLU between; float32 accumulation gives a
 *    relative error of ~sqrt(n)·u per reduction (u = 6e-8), well under 1e-6 in total, and
 *    oneDNN's blocked/FMA summation orders are no worse (measured: 6e-8 ref, 1.6e-7 oneDNN
 *    AVX-512). 1e-5 leaves a >50x margin for other ISAs' summation orders, yet a wrong epsilon
 *    (1e-3 instead of 1e-5 moves outputs by ~5e-4 relative), a shifted pad or a missing bias
 *    fails it by orders of magnitude.
 *  - gradients: 2e-5 x max|g|. Backward sums over more terms (a conv weight gradient over
 *    N·H·W = 512 positions with mixed signs; batch-norm's backward subtracts means), so errors
 *    relative to the largest entry are larger, a few 1e-7 (measured <= 3.8e-7); 2e-5 keeps a
 *    >50x margin.
 *  - training: losses to 1e-5 x max loss, final weights and running statistics to 2e-5 x max|w|
 *    per tensor. Five SGD steps (lr 0.1) move weights by ~1e-1; float32 gradient errors of ~1e-7
 *    relative compound over the steps to ~1e-7 of the weights (measured <= 1.9e-7). The running
 *    variance follows PyTorch's update with the unbiased batch variance, which salient's
 *    batch-norm implements (src/kernels/ref/batchnorm.c); ONNX's population-variance update would
 *    differ by 3e-4 (bn1, n = 512) and 9e-4 (bn2, n = 128) relative here and fail.
 * tools/make_golden.py keeps every ReLU input and max-pool runner-up >= 1e-4 from its switch
 * point in all passes, so float32 noise cannot flip a kink. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden_net.h"
#include "harness.h"

#define GOLDEN "tests/fixtures/golden/"
#define N 2
#define STEPS 5
#define LR 0.1f

static const double TOL_LOGITS = 1e-5, TOL_GRAD = 2e-5, TOL_LOSS = 1e-5, TOL_TRAIN = 2e-5;

static sal_tensor *fixture(const char *rel) { return th_npy(GOLDEN, rel); }

/* Copies every parameter fixture <dir>/<name>.npy into the graph (shapes must match). */
static int load_params(sal_graph *g, const char *dir) {
  int ok = 1;
  for (int i = 0; i < GN_NPARAMS; i++) {
    char rel[128];
    snprintf(rel, sizeof rel, "%s/%s.npy", dir, gn_params[i].name);
    sal_tensor *t = fixture(rel);
    sal_tensor view;
    TH_OK(sal_graph_param(g, gn_params[i].name, &view));
    if (!t || !sal_shape_equal(&t->shape, &view.shape)) {
      TH_CHECK(0, "parameter %s: fixture missing or of another shape", gn_params[i].name);
      ok = 0;
    } else {
      memcpy(view.data, t->data, (size_t)sal_tensor_numel(t) * sizeof(float));
    }
    sal_tensor_free(t);
  }
  return ok;
}

static sal_graph *build_loaded(void) {
  sal_graph *g = NULL;
  sal_status st = gn_build(th_ctx(), &g);
  TH_CHECK(st == SAL_STATUS_OK, "building the network: %s", sal_ctx_last_error(th_ctx()));
  if (st) return NULL;
  if (!load_params(g, "model")) {
    sal_graph_free(g);
    return NULL;
  }
  return g;
}

static sal_plan *make_plan(sal_graph *g, sal_kernels kernels, bool training, bool grads) {
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = N;
  o.kernels = kernels;
  o.training = training;
  o.grad_inputs = grads && !training;
  o.grad_params = grads;
  sal_plan *p = NULL;
  TH_OK(sal_plan_new(th_ctx(), g, &o, &p));
  return p;
}

static int set_inputs(sal_plan *p, const sal_tensor *x, const sal_tensor *target) {
  sal_status a = sal_plan_set_input(p, "input", x), b = sal_plan_set_input(p, "target", target);
  TH_CHECK(!a && !b, "setting inputs: %s", sal_ctx_last_error(th_ctx()));
  return !a && !b;
}

static const char *kname(sal_kernels k) { return k == SAL_KERNELS_REF ? "ref" : "default"; }

/* Inference mode: logits, loss, top-1 input gradient and every parameter gradient of the loss. */
static void test_eval(sal_kernels kernels, const sal_tensor *x, const sal_tensor *target) {
  char lbl[128];
  sal_graph *g = build_loaded();
  if (!g) return;
  sal_plan *p = make_plan(g, kernels, false, true);
  sal_tensor *want_logits = fixture("eval/logits.npy"), *want_gx = fixture("eval/grad_input_top1.npy");
  sal_tensor *want_loss = fixture("eval/loss.npy"), *seed = NULL;
  if (!p || !want_logits || !want_gx || !want_loss || !set_inputs(p, x, target)) goto done;
  TH_OK(sal_plan_forward(p));
  const sal_tensor *logits = NULL, *loss = NULL, *gt = NULL;
  TH_OK(sal_plan_value(p, "logits", &logits));
  TH_OK(sal_plan_value(p, "loss", &loss));
  if (!logits || !loss) goto done;
  snprintf(lbl, sizeof lbl, "eval [%s] logits", kname(kernels));
  th_check_scaled(lbl, logits->data, &logits->shape, want_logits, TOL_LOGITS);
  snprintf(lbl, sizeof lbl, "eval [%s] loss", kname(kernels));
  th_check_scaled(lbl, loss->data, &loss->shape, want_loss, TOL_LOSS);

  /* Seed: one-hot at each sample's top-1 class (PyTorch's argmax; salient's must agree, the
   * fixture's top two logits are far apart compared with the tolerance). */
  TH_OK(sal_tensor_new(th_ctx(), 2, (int64_t[]){N, GN_CLASSES}, &seed));
  if (!seed) goto done;
  for (int n = 0; n < N; n++) {
    int best = 0, mine = 0;
    for (int c = 1; c < GN_CLASSES; c++) {
      if (want_logits->data[n * GN_CLASSES + c] > want_logits->data[n * GN_CLASSES + best]) best = c;
      if (logits->data[n * GN_CLASSES + c] > logits->data[n * GN_CLASSES + mine]) mine = c;
    }
    TH_CHECK(best == mine, "sample %d: top-1 class %d, PyTorch %d", n, mine, best);
    seed->data[n * GN_CLASSES + best] = 1;
  }
  TH_OK(sal_plan_backward(p, "logits", seed));
  TH_OK(sal_plan_grad(p, "input", &gt));
  snprintf(lbl, sizeof lbl, "eval [%s] d top1 / d input", kname(kernels));
  if (gt) th_check_scaled(lbl, gt->data, &gt->shape, want_gx, TOL_GRAD);

  /* The loss is a scalar: a NULL seed is dL/dL = 1. */
  TH_OK(sal_plan_backward(p, "loss", NULL));
  for (int i = 0; i < GN_NPARAMS; i++) {
    if (!gn_params[i].trainable) continue;
    char rel[128];
    snprintf(rel, sizeof rel, "eval/grad/%s.npy", gn_params[i].name);
    sal_tensor *want = fixture(rel);
    gt = NULL;
    TH_OK(sal_plan_grad(p, gn_params[i].name, &gt));
    snprintf(lbl, sizeof lbl, "eval [%s] dL/d %s", kname(kernels), gn_params[i].name);
    if (gt && want) th_check_scaled(lbl, gt->data, &gt->shape, want, TOL_GRAD);
    sal_tensor_free(want);
  }

  /* An inference plan without gradients may fold batch-norm and ReLU into the convolutions:
   * the logits must not change. A weight changed through sal_graph_param + params_changed must
   * then reach the folded weights: zeroing bn2's scale must give what a fresh reference plan of
   * the changed graph gives. */
  sal_plan *q = make_plan(g, kernels, false, false);
  if (q && set_inputs(q, x, target)) {
    TH_OK(sal_plan_forward(q));
    const sal_tensor *lq = NULL, *lf = NULL;
    TH_OK(sal_plan_value(q, "logits", &lq));
    int fused = 0;
    for (int i = 0; i < sal_graph_num_nodes(g); i++) fused += strcmp(sal_plan_node_kernel(q, i), "fused") == 0;
    printf("  inference plan [%s]: %d nodes fused into their producers\n", kname(kernels), fused);
    snprintf(lbl, sizeof lbl, "eval [%s] logits, inference plan", kname(kernels));
    if (lq) th_check_scaled(lbl, lq->data, &lq->shape, want_logits, TOL_LOGITS);
    sal_tensor bnw;
    float keep[8];
    TH_OK(sal_graph_param(g, "bn2.weight", &bnw));
    memcpy(keep, bnw.data, sizeof keep);
    memset(bnw.data, 0, sizeof keep);
    sal_plan_params_changed(q);
    TH_OK(sal_plan_forward(q));
    TH_OK(sal_plan_value(q, "logits", &lq));
    sal_plan *fresh = make_plan(g, SAL_KERNELS_REF, false, false);
    sal_tensor *want_changed = NULL;
    if (fresh && set_inputs(fresh, x, target) && !sal_plan_forward(fresh) &&
        !sal_plan_value(fresh, "logits", &lf) && !sal_tensor_clone(th_ctx(), lf, &want_changed) && lq) {
      snprintf(lbl, sizeof lbl, "eval [%s] logits after a weight change", kname(kernels));
      th_check_scaled(lbl, lq->data, &lq->shape, want_changed, TOL_LOGITS);
      double moved = 0;
      for (int i = 0; i < N * GN_CLASSES; i++) moved = fmax(moved, fabs(lf->data[i] - want_logits->data[i]));
      TH_CHECK(moved > 1e-3, "zeroing bn2.weight moved the logits by only %g", moved);
    } else {
      TH_CHECK(0, "reference plan of the changed graph: %s", sal_ctx_last_error(th_ctx()));
    }
    memcpy(bnw.data, keep, sizeof keep);
    sal_tensor_free(want_changed);
    sal_plan_free(fresh);
  }
  sal_plan_free(q);
done:
  sal_tensor_free(seed);
  sal_tensor_free(want_logits);
  sal_tensor_free(want_gx);
  sal_tensor_free(want_loss);
  sal_plan_free(p);
  sal_graph_free(g);
}

/* Training mode: 5 plain SGD steps on the same batch, losses and final weights. */
static void test_train(sal_kernels kernels, const sal_tensor *x, const sal_tensor *target) {
  char lbl[128];
  sal_graph *g = build_loaded();
  if (!g) return;
  sal_plan *p = make_plan(g, kernels, true, true);
  sal_tensor *want_losses = fixture("train/losses.npy");
  if (!p || !want_losses || !set_inputs(p, x, target)) goto done;
  float losses[STEPS];
  for (int s = 0; s < STEPS; s++) {
    const sal_tensor *loss = NULL;
    sal_status st = sal_plan_forward(p);
    if (!st) st = sal_plan_value(p, "loss", &loss);
    if (!st) st = sal_plan_backward(p, "loss", NULL);
    TH_CHECK(st == SAL_STATUS_OK, "step %d: %s", s, sal_ctx_last_error(th_ctx()));
    if (st) goto done;
    losses[s] = loss->data[0];
    /* w -= lr * dL/dw for every trainable parameter (torch.optim.SGD without momentum). */
    for (int i = 0; i < GN_NPARAMS; i++) {
      if (!gn_params[i].trainable) continue;
      sal_tensor w;
      const sal_tensor *gw = NULL;
      if (sal_graph_param(g, gn_params[i].name, &w) || sal_plan_grad(p, gn_params[i].name, &gw)) {
        TH_CHECK(0, "step %d: %s: %s", s, gn_params[i].name, sal_ctx_last_error(th_ctx()));
        goto done;
      }
      for (int64_t e = 0; e < sal_tensor_numel(&w); e++) w.data[e] -= LR * gw->data[e];
    }
    sal_plan_params_changed(p);
  }
  snprintf(lbl, sizeof lbl, "train [%s] losses of %d SGD steps", kname(kernels), STEPS);
  sal_shape ls;
  sal_shape_make(&ls, 1, (int64_t[]){STEPS});
  th_check_scaled(lbl, losses, &ls, want_losses, TOL_LOSS);
  for (int i = 0; i < GN_NPARAMS; i++) {
    char rel[128];
    snprintf(rel, sizeof rel, "train/final/%s.npy", gn_params[i].name);
    sal_tensor *want = fixture(rel);
    sal_tensor w;
    TH_OK(sal_graph_param(g, gn_params[i].name, &w));
    snprintf(lbl, sizeof lbl, "train [%s] final %s", kname(kernels), gn_params[i].name);
    if (want) th_check_scaled(lbl, w.data, &w.shape, want, TOL_TRAIN);
    sal_tensor_free(want);
  }
done:
  sal_tensor_free(want_losses);
  sal_plan_free(p);
  sal_graph_free(g);
}

int main(void) {
  sal_tensor *x = fixture("input.npy"), *target = fixture("target.npy");
  TH_CHECK(x && target && x->shape.ndim == 4 && x->shape.d[0] == N && target->shape.ndim == 1 &&
               target->shape.d[0] == N,
           "fixtures input.npy (2,3,16,16) and target.npy (2)");
  if (x && target) {
    const sal_kernels ks[] = {SAL_KERNELS_REF, SAL_KERNELS_AUTO};
    for (int k = 0; k < 2; k++) {
      test_eval(ks[k], x, target);
      test_train(ks[k], x, target);
    }
  }
  sal_tensor_free(x);
  sal_tensor_free(target);
  return th_finish("test_golden");
}
