/* attack_sensitivity (METHODS.md §G): a PGD perturbation of each image that keeps its predicted
 * class, then the maps of a saliency method on x and on x + δ compared by Spearman and SSIM. The
 * attack is the one PGD of the code base (sal_attack, src/train/attack.c). */
#include <math.h>
#include <string.h>

#include "salient/eval.h"

#include "core/internal.h"

sal_status sal_pgd_keep_class(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const sal_attack_opts *o,
                              sal_tensor **adv, int64_t *cls, int64_t *steps) {
  if (!o) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: no options");
  sal_attack_opts k = *o;
  k.keep_class = true;
  k.loss = SAL_ATTACK_CE;
  return sal_attack(ctx, g, images, NULL, &k, adv, cls, steps);
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
