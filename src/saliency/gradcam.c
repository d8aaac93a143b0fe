/* Saliency method `gradcam` (Selvaraju et al. 2017): at a 4-D activation A (N, K, h, w),
 * α_k = mean_ij ∂z_c/∂A^k_ij, map = ReLU(Σ_k α_k A^k), bilinearly upsampled to the input
 * (METHODS.md §A). The layer's gradient is read from the plan (grad_values); images go through
 * the model in memory-budgeted batches. */
#include "saliency/saliency.h"

#include <stdio.h>
#include <string.h>

#include "graph/internal.h"

static bool is_layer(const sal_value *v) { return v->kind == SAL_VALUE_ACT && v->shape.ndim == 4; }

const char *sal__gradcam_default_layer(const sal_graph *g) {
  /* Values are appended in node order, so the last qualifying one is the deepest. */
  const char *best = NULL;
  for (int v = 0; v < g->n_values; v++)
    if (is_layer(&g->values[v]) && g->values[v].shape.d[2] * g->values[v].shape.d[3] > 1) best = g->values[v].name;
  return best;
}

sal_status sal__check_layer(sal_ctx *ctx, const sal_graph *g, const char *layer) {
  int v = sal__graph_find(g, layer);
  if (v >= 0 && is_layer(&g->values[v])) return SAL_STATUS_OK;
  /* List every candidate: a long list is more useful than a truncated one here. */
  size_t cap = 64, used = 0;
  for (int i = 0; i < g->n_values; i++)
    if (is_layer(&g->values[i])) cap += strlen(g->values[i].name) + 2;
  char *list = sal_alloc(ctx, cap);
  if (!list) return SAL_STATUS_OUT_OF_MEMORY;
  list[0] = '\0';
  for (int i = 0; i < g->n_values; i++)
    if (is_layer(&g->values[i]))
      used += (size_t)snprintf(list + used, cap - used, "%s%s", used ? ", " : "", g->values[i].name);
  sal_status st = sal_ctx_error(ctx, SAL_STATUS_NOT_FOUND, "gradcam: '%s' is not a 4-D activation of the model "
                                "(layers: %s)", layer, used ? list : "none");
  sal_free(list);
  return st;
}

sal_status sal__explain_gradcam(sal__xjob *job) {
  const char *layer = job->p->layer ? job->p->layer : sal__gradcam_default_layer(job->g);
  if (!layer) return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT, "the model has no 4-D activation for Grad-CAM");
  sal_status st = sal__check_layer(job->ctx, job->g, layer);
  if (st) return st;
  sal_shape as;
  st = sal_graph_value_shape(job->g, layer, &as);
  if (st) return st;
  const int64_t per = job->C * job->H * job->W, HW = job->H * job->W;
  const int64_t Kc = as.d[1], h = as.d[2], w = as.d[3];
  sal__runner r;
  st = sal__runner_init(&r, job, false, layer, job->N, 0);
  if (st) return st;
  float *z = sal_alloc(job->ctx, (size_t)(r.B * job->K) * sizeof(float));
  float *cam = sal_alloc(job->ctx, (size_t)(h * w) * sizeof(float)); /* (h, w) */
  if (!z || !cam) st = SAL_STATUS_OUT_OF_MEMORY;
  for (int64_t i0 = 0; !st && i0 < job->N; i0 += r.B) {
    int64_t b = job->N - i0 < r.B ? job->N - i0 : r.B;
    st = sal__runner_pass(&r, job->images + i0 * per, b, job->targets + i0, z, NULL);
    const sal_tensor *A = NULL, *G = NULL; /* both (b, Kc, h, w) */
    if (!st) st = sal_plan_value(r.cur, layer, &A);
    if (!st) st = sal_plan_grad(r.cur, layer, &G);
    if (st) break;
    for (int64_t j = 0; j < b; j++) {
      job->scores[i0 + j] = z[j * job->K + job->targets[i0 + j]];
      const float *a = A->data + j * Kc * h * w, *g = G->data + j * Kc * h * w;
      for (int64_t q = 0; q < h * w; q++) cam[q] = 0;
      for (int64_t k = 0; k < Kc; k++) {
        double alpha = 0;
        for (int64_t q = 0; q < h * w; q++) alpha += g[k * h * w + q];
        alpha /= (double)(h * w);
        for (int64_t q = 0; q < h * w; q++) cam[q] += (float)(alpha * a[k * h * w + q]);
      }
      for (int64_t q = 0; q < h * w; q++) cam[q] = cam[q] > 0 ? cam[q] : 0;
      sal__bilinear(cam, h, w, job->raw + (i0 + j) * HW, job->H, job->W);
    }
  }
  sal_free(z);
  sal_free(cam);
  sal__runner_free(&r);
  return st;
}
