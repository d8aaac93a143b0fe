/* Whole-graph gradient check along random directions (kann-style): for the golden CNN with random
 * weights, g·δ from one backward pass against (L(θ+εδ) − L(θ−εδ))/2ε, δ over input and weights.
 *
 * L is the mean softmax cross-entropy loss; θ = (input, every trainable parameter), D = 2597
 * numbers; δ is a random unit vector over all of θ at once, ε = 1e-3. Besides a wrong backward,
 * two things make the two sides differ:
 *  - float32 rounding of L. L ≈ 2.5 is computed in float32, so L(θ±εδ) carry errors of ~κ·u·|L|
 *    (u = 6e-8, κ a small constant) and the difference quotient one of ~κ·u·|L|/ε ≈ 1.5e-4·κ.
 *    The perturbed points are rounded to float32 too; that error is removed exactly by
 *    predicting L(θ+) − L(θ−) as g·(θ+ − θ−) with θ± the float32 points actually evaluated.
 *  - kinks. A ReLU input or max-pool runner-up within ~ε·|dz/dt| of its switch point makes L
 *    non-differentiable between the two points; at ε = 1e-3 some directions cross a few of the
 *    ~5 600 kinks (the test prints how many), each adding an error of order |∂L/∂z|·|dz/dt|·ε.
 * A random unit δ gives g·δ ≈ ‖g‖/√D ≈ ‖g‖/51, so errors are judged against ‖g‖ (the largest
 * g·δ over unit δ): |g·δ − numeric| <= TOL_DIR·‖g‖ with TOL_DIR = 5e-4, measured worst 6.6e-5
 * (ref and oneDNN, both modes): a 7x margin. A backward error e shows up as e·δ ≈ ‖e‖/51, so an
 * error of ‖e‖ ≳ 0.03·‖g‖ is caught by most directions; test_planted_error proves that an error of
 * 0.1·‖g‖ is caught. Per-op gradient checks (tests/test_ops_*.c) cover small errors of single ops;
 * this test covers their composition: gradient accumulation at the residual fan-out, batch-norm in
 * both modes, blocked layouts between oneDNN kernels, parameter-gradient plumbing.
 *
 * test_kinks handles kinks exactly instead: it reads every ReLU input and the max-pool input at
 * θ, θ+εδ and θ−εδ and shrinks ε (by 4, down to 1e-5) until no ReLU input changes sign and no
 * pool window changes its argmax. L is then smooth between the two points (ReLU and max-pool are
 * linear there, everything else is smooth), the O(ε²) truncation error is negligible, and the only
 * error left is rounding, checked against KAPPA·u·max(1,|L|)/ε with KAPPA = 4 (measured: at most
 * 0.35 of that bound). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden_net.h"
#include "harness.h"

#define N 2
#define NX (N * 3 * 16 * 16)
#define TOL_DIR 5e-4
#define EPS_DIR 1e-3
#define KAPPA 4.0
#define U32 5.96e-8 /* float32 unit roundoff, 2^-24 */
/* Kink signature: signs of bn1_out (N,8,16,16), bn2_out (N,8,8,8), conv3_out (N,16,4,4), and the
 * argmax of each of the (N,8,8,8) max-pool windows. */
static const int64_t sig_sizes[4] = {N * 8 * 16 * 16, N * 8 * 8 * 8, N * 16 * 4 * 4, N * 8 * 8 * 8};
#define SIG_LEN (N * 8 * 16 * 16 + 3 * N * 8 * 8 * 8)

typedef struct dc {
  sal_graph *g;
  sal_plan *p;
  sal_tensor *x, *target;
  float *x0;
  float *theta0[GN_NPARAMS]; /* saved trainable parameters (NULL for buffers) */
  int64_t dim;               /* NX + trainable parameter count */
  double *grad;              /* analytic gradient over θ, in input-then-parameter order */
  double gnorm, L0;
  /* kink signatures: ReLU input signs and pool argmaxes, at θ and at a perturbed point */
  unsigned char *sig0, *sig;
  int64_t nsig;
} dc;

static const char *kname(sal_kernels k) { return k == SAL_KERNELS_REF ? "ref" : "default"; }

/* Random weights (LeCun-scaled: std 1/sqrt(fan-in), as PyTorch's default init roughly), non-trivial batch-norm statistics, a normal input. */
static void init_weights(sal_graph *g) {
  for (int i = 0; i < GN_NPARAMS; i++) {
    sal_tensor w;
    if (sal_graph_param(g, gn_params[i].name, &w)) continue;
    int64_t n = sal_tensor_numel(&w);
    const char *nm = gn_params[i].name;
    float *d = w.data;
    if (strstr(nm, "running_var") || (strstr(nm, "bn") && strstr(nm, "weight"))) {
      sal_rng_uniform(7, (uint64_t)i, 0, d, (size_t)n);
      for (int64_t e = 0; e < n; e++) d[e] = 0.5f + d[e];
    } else {
      sal_rng_normal(7, (uint64_t)i, 0, d, (size_t)n);
      /* fan-in = product of the dims after the first */
      double fan = 1;
      for (int k = 1; k < w.shape.ndim; k++) fan *= (double)w.shape.d[k];
      float scale = w.shape.ndim > 1 ? (float)sqrt(1.0 / fan) : 0.2f;
      for (int64_t e = 0; e < n; e++) d[e] *= scale;
    }
  }
}

static void dc_free(dc *c) {
  sal_plan_free(c->p);
  sal_graph_free(c->g);
  sal_tensor_free(c->x);
  sal_tensor_free(c->target);
  free(c->x0);
  for (int i = 0; i < GN_NPARAMS; i++) free(c->theta0[i]);
  free(c->grad);
  free(c->sig0);
  free(c->sig);
  memset(c, 0, sizeof *c);
}

/* Reads the kink signature of the last forward into sig. */
static int signature(dc *c, unsigned char *sig) {
  int64_t k = 0;
  for (int v = 0; v < 4; v++) {
    const sal_tensor *t = NULL;
    if (sal_plan_value(c->p, gn_kink_values[v], &t)) {
      TH_CHECK(0, "reading %s: %s", gn_kink_values[v], sal_ctx_last_error(th_ctx()));
      return 0;
    }
    int64_t n = sal_tensor_numel(t);
    if (n != (v < 3 ? sig_sizes[v] : 4 * sig_sizes[v])) {
      TH_CHECK(0, "%s has %lld elements", gn_kink_values[v], (long long)n);
      return 0;
    }
    if (v < 3) {
      for (int64_t e = 0; e < n; e++) sig[k++] = t->data[e] > 0;
    } else {
      /* relu1_out (N,8,16,16): argmax of each 2x2 pooling window */
      const float *a = t->data;
      for (int64_t nc = 0; nc < N * 8; nc++)
        for (int oh = 0; oh < 8; oh++)
          for (int ow = 0; ow < 8; ow++) {
            const float *w0 = a + nc * 256 + (2 * oh) * 16 + 2 * ow;
            float vals[4] = {w0[0], w0[1], w0[16], w0[17]};
            int best = 0;
            for (int j = 1; j < 4; j++)
              if (vals[j] > vals[best]) best = j;
            /* all-zero windows (every ReLU off) route nothing whatever they pick */
            sig[k++] = vals[best] > 0 ? (unsigned char)(2 + best) : 0;
          }
    }
  }
  c->nsig = k;
  return 1;
}

static int forward_loss(dc *c, double *L) {
  const sal_tensor *l = NULL;
  sal_status st = sal_plan_set_input(c->p, "input", c->x);
  if (!st) st = sal_plan_set_input(c->p, "target", c->target);
  if (!st) st = sal_plan_forward(c->p);
  if (!st) st = sal_plan_value(c->p, "loss", &l);
  TH_CHECK(st == SAL_STATUS_OK, "forward: %s", sal_ctx_last_error(th_ctx()));
  if (st) return 0;
  *L = l->data[0];
  return 1;
}

static int dc_make(dc *c, sal_kernels kernels, bool training) {
  sal_ctx *ctx = th_ctx();
  memset(c, 0, sizeof *c);
  sal_status st = gn_build(ctx, &c->g);
  TH_CHECK(st == SAL_STATUS_OK, "building the network: %s", sal_ctx_last_error(ctx));
  if (st) return 0;
  init_weights(c->g);
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = N;
  o.kernels = kernels;
  o.training = training;
  o.grad_inputs = true;
  o.grad_params = true;
  o.keep_values = gn_kink_values;
  o.n_keep_values = 4;
  TH_OK(sal_plan_new(ctx, c->g, &o, &c->p));
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){N, 3, 16, 16}, &c->x));
  TH_OK(sal_tensor_new(ctx, 1, (int64_t[]){N}, &c->target));
  if (!c->p || !c->x || !c->target) return 0;
  sal_rng_normal(11, 0, 0, c->x->data, NX);
  c->target->data[0] = 1;
  c->target->data[1] = 3;
  c->x0 = malloc(NX * sizeof(float));
  memcpy(c->x0, c->x->data, NX * sizeof(float));
  c->dim = NX;
  for (int i = 0; i < GN_NPARAMS; i++) {
    if (!gn_params[i].trainable) continue;
    sal_tensor w;
    TH_OK(sal_graph_param(c->g, gn_params[i].name, &w));
    size_t n = (size_t)sal_tensor_numel(&w);
    c->theta0[i] = malloc(n * sizeof(float));
    memcpy(c->theta0[i], w.data, n * sizeof(float));
    c->dim += (int64_t)n;
  }
  /* Analytic gradient at θ. */
  if (!forward_loss(c, &c->L0)) return 0;
  c->sig0 = malloc(SIG_LEN);
  c->sig = malloc(SIG_LEN);
  if (!signature(c, c->sig0)) return 0;
  TH_OK(sal_plan_backward(c->p, "loss", NULL));
  c->grad = calloc((size_t)c->dim, sizeof(double));
  const sal_tensor *gt = NULL;
  TH_OK(sal_plan_grad(c->p, "input", &gt));
  if (!gt) return 0;
  for (int64_t e = 0; e < NX; e++) c->grad[e] = gt->data[e];
  int64_t off = NX;
  for (int i = 0; i < GN_NPARAMS; i++) {
    if (!gn_params[i].trainable) continue;
    gt = NULL;
    TH_OK(sal_plan_grad(c->p, gn_params[i].name, &gt));
    if (!gt) return 0;
    for (int64_t e = 0; e < sal_tensor_numel(gt); e++) c->grad[off + e] = gt->data[e];
    off += sal_tensor_numel(gt);
  }
  double s = 0;
  for (int64_t e = 0; e < c->dim; e++) s += c->grad[e] * c->grad[e];
  c->gnorm = sqrt(s);
  return 1;
}

/* Evaluates L at θ + s·ε·δ (float32-rounded point, written into the input and the parameters);
 * stores the point's offset from θ in off_out (double, exact) and the kink signature in c->sig. */
static int eval_at(dc *c, const double *delta, double eps, double s, double *off_out, double *L) {
  for (int64_t e = 0; e < NX; e++) {
    c->x->data[e] = (float)((double)c->x0[e] + s * eps * delta[e]);
    off_out[e] = (double)c->x->data[e] - (double)c->x0[e];
  }
  int64_t off = NX;
  for (int i = 0; i < GN_NPARAMS; i++) {
    if (!gn_params[i].trainable) continue;
    sal_tensor w;
    sal_graph_param(c->g, gn_params[i].name, &w);
    for (int64_t e = 0; e < sal_tensor_numel(&w); e++) {
      w.data[e] = (float)((double)c->theta0[i][e] + s * eps * delta[off + e]);
      off_out[off + e] = (double)w.data[e] - (double)c->theta0[i][e];
    }
    off += sal_tensor_numel(&w);
  }
  sal_plan_params_changed(c->p);
  int ok = forward_loss(c, L) && signature(c, c->sig);
  /* restore θ */
  memcpy(c->x->data, c->x0, NX * sizeof(float));
  for (int i = 0; i < GN_NPARAMS; i++) {
    if (!c->theta0[i]) continue;
    sal_tensor w;
    sal_graph_param(c->g, gn_params[i].name, &w);
    memcpy(w.data, c->theta0[i], (size_t)sal_tensor_numel(&w) * sizeof(float));
  }
  sal_plan_params_changed(c->p);
  return ok;
}

static int64_t kinks_crossed(const dc *c) {
  int64_t n = 0;
  for (int64_t e = 0; e < c->nsig; e++) n += c->sig[e] != c->sig0[e];
  return n;
}

/* One direction: numeric vs analytic directional derivative. Returns the error |a − num|, or -1
 * on failure; *crossed counts kinks crossed by either point. */
static double direction(dc *c, const double *grad, const double *delta, double eps, double *ana, double *num,
                        int64_t *crossed) {
  double *dp = malloc((size_t)c->dim * sizeof(double)), *dm = malloc((size_t)c->dim * sizeof(double));
  double Lp, Lm, err = -1;
  *crossed = 0;
  if (eval_at(c, delta, eps, 1, dp, &Lp)) {
    *crossed += kinks_crossed(c);
    if (eval_at(c, delta, eps, -1, dm, &Lm)) {
      *crossed += kinks_crossed(c);
      double pred = 0;
      for (int64_t e = 0; e < c->dim; e++) pred += grad[e] * (dp[e] - dm[e]);
      *ana = pred / (2 * eps);
      *num = (Lp - Lm) / (2 * eps);
      err = fabs(*ana - *num);
    }
  }
  free(dp);
  free(dm);
  return err;
}

static void random_direction(double *delta, int64_t dim, uint64_t k) {
  float *tmp = malloc((size_t)dim * sizeof(float));
  sal_rng_normal(2024, k, 0, tmp, (size_t)dim);
  double s = 0;
  for (int64_t e = 0; e < dim; e++) s += (double)tmp[e] * tmp[e];
  s = 1 / sqrt(s);
  for (int64_t e = 0; e < dim; e++) delta[e] = tmp[e] * s;
  free(tmp);
}

/* The kann-style check: several random unit directions over the input and all parameters. */
static void test_directions(sal_kernels kernels, bool training) {
  dc c;
  if (!dc_make(&c, kernels, training)) {
    dc_free(&c);
    return;
  }
  int ndir = th_quick() ? 3 : 8;
  double *delta = malloc((size_t)c.dim * sizeof(double)), worst = 0;
  int64_t crossings = 0;
  for (int k = 0; k < ndir; k++) {
    random_direction(delta, c.dim, (uint64_t)k);
    double ana = 0, num = 0;
    int64_t crossed;
    double err = direction(&c, c.grad, delta, EPS_DIR, &ana, &num, &crossed);
    if (err < 0) break;
    crossings += crossed;
    worst = fmax(worst, err / c.gnorm);
    TH_CHECK(err <= TOL_DIR * c.gnorm, "%s [%s] direction %d: g.d = %.6g, numeric %.6g, error %.2e > %.0e x |g| (%.3g); %lld kinks crossed",
             training ? "train" : "eval", kname(kernels), k, ana, num, err, TOL_DIR, c.gnorm, (long long)crossed);
  }
  printf("  %s [%s]: L %.4f, |g| %.3f, %d directions, worst error %.2e x |g| (tol %.0e), %lld kinks crossed\n",
         training ? "train" : "eval ", kname(kernels), c.L0, c.gnorm, ndir, worst, TOL_DIR, (long long)crossings);
  free(delta);
  dc_free(&c);
}

/* A test that cannot fail is a defect: plant an error of norm 0.1·‖g‖ in the analytic gradient
 * (a random vector, as a wrong backward would add) and check that the same directions see it. */
static void test_planted_error(void) {
  dc c;
  if (!dc_make(&c, SAL_KERNELS_REF, false)) {
    dc_free(&c);
    return;
  }
  double *bad = malloc((size_t)c.dim * sizeof(double)), *delta = malloc((size_t)c.dim * sizeof(double));
  random_direction(bad, c.dim, 999);
  for (int64_t e = 0; e < c.dim; e++) bad[e] = c.grad[e] + 0.1 * c.gnorm * bad[e];
  int caught = 0, ndir = th_quick() ? 3 : 8;
  for (int k = 0; k < ndir; k++) {
    random_direction(delta, c.dim, (uint64_t)k);
    double ana, num;
    int64_t crossed;
    double err = direction(&c, bad, delta, EPS_DIR, &ana, &num, &crossed);
    caught += err > TOL_DIR * c.gnorm;
  }
  TH_CHECK(caught > 0, "a planted gradient error of 0.1 x |g| passed all %d directions", ndir);
  printf("  planted error of 0.1 x |g|: flagged by %d of %d directions\n", caught, ndir);
  free(bad);
  free(delta);
  dc_free(&c);
}

/* Kinks handled exactly: shrink ε until neither point crosses a ReLU or max-pool switch, then
 * only float32 rounding remains. */
static int test_kinks(sal_kernels kernels, bool training) {
  dc c;
  if (!dc_make(&c, kernels, training)) {
    dc_free(&c);
    return 0;
  }
  int ndir = th_quick() ? 3 : 8, checked = 0, shrunk = 0;
  double worst = 0;
  double *delta = malloc((size_t)c.dim * sizeof(double));
  for (int k = 0; k < ndir; k++) {
    random_direction(delta, c.dim, 100 + (uint64_t)k);
    double eps = EPS_DIR, ana = 0, num = 0, err;
    int64_t crossed;
    for (;;) {
      err = direction(&c, c.grad, delta, eps, &ana, &num, &crossed);
      if (err < 0 || crossed == 0 || eps < 1e-5) break;
      eps /= 4;
      shrunk++;
    }
    if (err < 0) break;
    if (crossed) continue; /* still crossing at ε = 1e-5: skipped (never seen for this net) */
    checked++;
    double tol = KAPPA * U32 * fmax(1.0, fabs(c.L0)) / eps;
    worst = fmax(worst, err / tol);
    TH_CHECK(err <= tol, "%s [%s] kink-free direction %d (eps %.1e): g.d = %.6g, numeric %.6g, error %.2e > %.2e",
             training ? "train" : "eval", kname(kernels), k, eps, ana, num, err, tol);
  }
  /* Most directions must get checked. */
  TH_CHECK(checked >= ndir - 1, "only %d of %d directions could be made kink-free", checked, ndir);
  printf("  kinks %s [%s]: %d of %d directions checked kink-free, %d step shrinks, worst error %.2f x tol\n",
         training ? "train" : "eval ", kname(kernels), checked, ndir, shrunk, worst);
  free(delta);
  dc_free(&c);
  return shrunk;
}

int main(void) {
  const sal_kernels ks[] = {SAL_KERNELS_REF, SAL_KERNELS_AUTO};
  for (int k = 0; k < 2; k++)
    for (int t = 0; t < 2; t++) test_directions(ks[k], t == 1);
  test_planted_error();
  int shrunk = 0;
  for (int t = 0; t < 2; t++) shrunk += test_kinks(SAL_KERNELS_REF, t == 1);
  /* The detector must have had something to do in at least one mode. */
  TH_CHECK(shrunk > 0, "no direction crossed a kink at eps %.0e: the kink detector was not exercised", EPS_DIR);
  return th_finish("test_dircheck");
}
