/* attack_sensitivity (METHODS.md §G): a PGD perturbation of each image that keeps its predicted
 * class, then the maps of a saliency method on x and on x + δ compared by Spearman and SSIM. The
 * attack's passes go through the saliency runner (src/saliency/runner.c), batched to the budget. */
#include <math.h>
#include <string.h>

#include "salient/eval.h"
#include "saliency/saliency.h"

sal_attack_opts sal_attack_opts_default(void) {
  sal_attack_opts o;
  memset(&o, 0, sizeof o);
  o.eps = 2.0f / 255.0f;
  o.steps = 10;
  o.step_size = o.eps / 4.0f;
  o.clamp = true;
  o.max_memory = SAL_EXPLAIN_DEFAULT_MEMORY;
  return o;
}

static int64_t argmax(const float *z, int64_t K) {
  int64_t k = 0;
  for (int64_t c = 1; c < K; c++)
    if (z[c] > z[k]) k = c;
  return k;
}

/* Fills the job fields the runner reads from g and the images; BAD_INPUT when they do not fit. */
static sal_status setup(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const sal_method_params *p,
                        sal__xjob *job) {
  memset(job, 0, sizeof *job);
  if (sal_graph_num_inputs(g) < 1 || sal_graph_num_outputs(g) < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: the model needs an input and an output");
  job->ctx = ctx;
  job->g = g;
  job->p = p;
  job->in = sal_graph_input_name(g, 0);
  job->out = sal_graph_output_name(g, 0);
  sal_shape xs, ys;
  sal_status st = sal_graph_value_shape(g, job->in, &xs);
  if (!st) st = sal_graph_value_shape(g, job->out, &ys);
  if (st) return st;
  const sal_shape *is = &images->shape;
  char a[96], b[96];
  if (xs.ndim != 4 || ys.ndim != 2 || is->ndim != 4 || is->d[0] < 1 || is->d[1] != xs.d[1] || is->d[2] != xs.d[2] ||
      is->d[3] != xs.d[3])
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: images %s do not fit the model's input %s (and logits "
                         "(N, K) are needed)", sal_shape_str(is, a, sizeof a), sal_shape_str(&xs, b, sizeof b));
  job->N = is->d[0], job->C = is->d[1], job->H = is->d[2], job->W = is->d[3], job->K = ys.d[1];
  job->images = images->data;
  return SAL_STATUS_OK;
}

sal_status sal_pgd_keep_class(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const sal_attack_opts *o,
                              sal_tensor **adv, int64_t *cls, int64_t *steps) {
  *adv = NULL;
  if (!(o->eps >= 0) || !(o->step_size >= 0) || o->steps < 0 || o->steps > 100000)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: eps >= 0, step_size >= 0 and steps in 0..100000 needed");
  sal_method_params p;
  memset(&p, 0, sizeof p);
  p.max_memory = o->max_memory;
  sal__xjob job;
  sal_status st = setup(ctx, g, images, &p, &job);
  if (st) return st;
  const int64_t N = job.N, C = job.C, HW = job.H * job.W, per = C * HW, K = job.K;
  for (int64_t c = 0; o->std && c < C; c++)
    if (!(o->std[c] > 0)) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: std[%lld] must be > 0", (long long)c);
  sal__runner r;
  /* extra per item: the previous point and the input gradient */
  st = sal__runner_init(&r, &job, true, NULL, N, 2 * per * (int64_t)sizeof(float));
  if (st) return st;
  const int64_t B = r.B;
  st = sal_tensor_clone(ctx, images, adv);
  float *prev = sal_alloc(ctx, (size_t)(B * per) * sizeof(float)); /* (B, C, H, W) last accepted point */
  float *gx = sal_alloc(ctx, (size_t)(B * per) * sizeof(float));   /* (B, C, H, W) */
  float *z = sal_alloc(ctx, (size_t)(B * K) * sizeof(float));
  float *seed = sal_alloc(ctx, (size_t)(B * K) * sizeof(float));
  int64_t *c_of = sal_alloc(ctx, (size_t)B * sizeof(int64_t)), *kept = sal_alloc(ctx, (size_t)B * sizeof(int64_t));
  bool *done = sal_alloc(ctx, (size_t)B * sizeof(bool));
  if (!st && (!prev || !gx || !z || !seed || !c_of || !kept || !done)) st = SAL_STATUS_OUT_OF_MEMORY;
  for (int64_t i0 = 0; !st && i0 < N; i0 += B) {
    const int64_t b = N - i0 < B ? N - i0 : B;
    float *xa = (*adv)->data + i0 * per; /* (b, C, H, W) the current points */
    const float *x0 = images->data + i0 * per;
    memset(done, 0, (size_t)b * sizeof(bool));
    memset(kept, 0, (size_t)b * sizeof(int64_t));
    /* t-th forward: checks the point of step t (undoing it if the class changed), then steps */
    for (int64_t t = 0; !st && t <= o->steps; t++) {
      st = sal__runner_forward(&r, xa, b, z);
      if (st) break;
      for (int64_t j = 0; j < b; j++) {
        if (t == 0) c_of[j] = argmax(z + j * K, K);
        if (!done[j] && argmax(z + j * K, K) != c_of[j]) {
          memcpy(xa + j * per, prev + j * per, (size_t)per * sizeof(float));
          done[j] = true;
          kept[j]--;
        }
      }
      if (t == o->steps) break;
      /* ascent on CE(z, c): ∂/∂z = softmax(z) − onehot(c); images already done get a zero seed */
      for (int64_t j = 0; j < b; j++)
        for (int64_t k = 0; k < K; k++)
          seed[j * K + k] = done[j] ? 0.0f : sal__softmax_at(z + j * K, K, k) - (k == c_of[j] ? 1.0f : 0.0f);
      st = sal__runner_backward(&r, b, seed, gx);
      for (int64_t j = 0; !st && j < b; j++) {
        if (done[j]) continue;
        memcpy(prev + j * per, xa + j * per, (size_t)per * sizeof(float));
        kept[j]++;
        for (int64_t c = 0; c < C; c++) {
          /* pixel = x · std + mean: a pixel step s is s / std in the model's input */
          double sd = o->std ? o->std[c] : 1.0, mn = o->mean ? o->mean[c] : 0.0;
          double step = o->step_size / sd, rad = o->eps / sd, lo = (0.0 - mn) / sd, hi = (1.0 - mn) / sd;
          for (int64_t q = c * HW; q < (c + 1) * HW; q++) {
            float gq = gx[j * per + q];
            double v = xa[j * per + q] + (gq > 0 ? step : gq < 0 ? -step : 0.0);
            double base = x0[j * per + q];
            v = v < base - rad ? base - rad : v > base + rad ? base + rad : v;
            /* [0, 1] in pixels, without pushing a pixel already outside further out */
            if (o->clamp) {
              double l = base < lo ? base : lo, h = base > hi ? base : hi;
              v = v < l ? l : v > h ? h : v;
            }
            xa[j * per + q] = (float)v;
          }
        }
      }
    }
    for (int64_t j = 0; !st && j < b; j++) {
      if (cls) cls[i0 + j] = c_of[j];
      if (steps) steps[i0 + j] = kept[j];
    }
  }
  sal_free(prev);
  sal_free(gx);
  sal_free(z);
  sal_free(seed);
  sal_free(c_of);
  sal_free(kept);
  sal_free(done);
  sal__runner_free(&r);
  if (st) {
    sal_tensor_free(*adv);
    *adv = NULL;
  }
  return st;
}

void sal_attack_result_clear(sal_attack_result *r) {
  if (!r) return;
  sal_free(r->spearman);
  sal_free(r->ssim);
  sal_free(r->cls);
  sal_free(r->steps);
  sal_free(r->linf);
  sal_free(r->drop);
  memset(r, 0, sizeof *r);
}

sal_status sal_attack_sensitivity(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const sal_method_params *p,
                                  const sal_attack_opts *o, sal_attack_result *out) {
  memset(out, 0, sizeof *out);
  if (!p || !o) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack_sensitivity: no method or attack options");
  if (images->shape.ndim != 4 || images->shape.d[0] < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack_sensitivity: images must be (N, C, H, W)");
  const int64_t N = images->shape.d[0], C = images->shape.d[1], HW = images->shape.d[2] * images->shape.d[3];
  out->n = N;
  out->spearman = sal_alloc(ctx, (size_t)N * sizeof(double));
  out->ssim = sal_alloc(ctx, (size_t)N * sizeof(double));
  out->cls = sal_alloc(ctx, (size_t)N * sizeof(int64_t));
  out->steps = sal_alloc(ctx, (size_t)N * sizeof(int64_t));
  out->linf = sal_alloc(ctx, (size_t)N * sizeof(float));
  out->drop = sal_alloc(ctx, (size_t)N * sizeof(float));
  sal_status st = SAL_STATUS_OK;
  if (!out->spearman || !out->ssim || !out->cls || !out->steps || !out->linf || !out->drop) st = SAL_STATUS_OUT_OF_MEMORY;
  sal_tensor *adv = NULL;
  sal_explanation e0, e1;
  memset(&e0, 0, sizeof e0);
  memset(&e1, 0, sizeof e1);
  if (!st) st = sal_pgd_keep_class(ctx, g, images, o, &adv, out->cls, out->steps);
  if (!st) st = sal_explain_run(ctx, g, images, out->cls, p, &e0);
  if (!st) st = sal_explain_run(ctx, g, adv, out->cls, p, &e1);
  double ssp = 0, sss = 0;
  int64_t nsp = 0, nss = 0;
  for (int64_t i = 0; !st && i < N; i++) {
    const float *a = e0.norm->data + i * HW, *b = e1.norm->data + i * HW;
    st = sal_spearman(ctx, a, b, HW, &out->spearman[i]);
    if (!st) st = sal_ssim(ctx, a, b, images->shape.d[2], images->shape.d[3], 1.0, &out->ssim[i]);
    if (st) break;
    if (!isnan(out->spearman[i])) ssp += out->spearman[i], nsp++;
    if (!isnan(out->ssim[i])) sss += out->ssim[i], nss++;
    double mx = 0;
    for (int64_t c = 0; c < C; c++)
      for (int64_t q = 0; q < HW; q++) {
        int64_t k = (i * C + c) * HW + q;
        double d = fabs((double)adv->data[k] - images->data[k]) * (o->std ? o->std[c] : 1.0);
        mx = d > mx ? d : mx;
      }
    out->linf[i] = (float)mx;
    out->drop[i] = e0.scores[i] - e1.scores[i];
  }
  out->mean_spearman = nsp ? ssp / (double)nsp : NAN;
  out->mean_ssim = nss ? sss / (double)nss : NAN;
  sal_tensor_free(adv);
  sal_explanation_clear(&e0);
  sal_explanation_clear(&e1);
  if (st) {
    sal_ctx_error_prefix(ctx, st, "attack_sensitivity: ");
    sal_attack_result_clear(out);
  }
  return st;
}
