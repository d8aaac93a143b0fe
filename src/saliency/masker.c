/* Saliency method `masker` (Phang, Park & Geras 2020; METHODS.md §D): the map is the mask a trained
 * masking model predicts from the classifier's activations, in one batched forward pass of the
 * classifier with the masker attached (sal_masker_combine). The mask does not depend on the target
 * class: the masker is trained to keep the evidence for the true class, whatever it is, and the
 * target only selects the reported score. */
#include "saliency/saliency.h"

#include <string.h>

#include "salient/masker.h"

sal_status sal__explain_masker(sal__xjob *job) {
  sal_ctx *ctx = job->ctx;
  sal_graph *cg = NULL, *g = job->g;
  sal_status st = SAL_STATUS_OK;
  if (job->p->masker) {
    st = sal_masker_combine(ctx, job->p->masker, job->g, &cg);
    if (st) return st;
    g = cg;
  } else {
    bool has = false;
    for (int i = 0; i < sal_graph_num_outputs(g); i++) has = has || strcmp(sal_graph_output_name(g, i), "mask") == 0;
    if (!has)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "no trained masker given (salient explain --masker FILE, "
                           "sal_method_params.masker) and the model has no 'mask' output");
  }
  sal_shape ms;
  st = sal_graph_value_shape(g, "mask", &ms);
  if (!st && (ms.ndim != 4 || ms.d[1] != 1 || ms.d[2] != job->H || ms.d[3] != job->W))
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "the model's 'mask' output is not (N, 1, %lld, %lld)", (long long)job->H,
                       (long long)job->W);
  const int64_t per = job->C * job->H * job->W, HW = job->H * job->W, K = job->K;
  int64_t B = st ? 1 : sal__runner_batch(g, job->p->max_memory, false, 0, job->N);
  sal_plan *p = NULL;
  sal_tensor *x = NULL;
  const char *keep[1] = {"mask"};
  sal_plan_opts po = sal_plan_opts_default();
  po.batch = B;
  po.keep_values = keep;
  po.n_keep_values = 1;
  if (!st) st = sal_plan_new(ctx, g, &po, &p);
  if (!st) st = sal_tensor_new(ctx, 4, (int64_t[]){B, job->C, job->H, job->W}, &x);
  for (int64_t i0 = 0; !st && i0 < job->N; i0 += B) {
    int64_t b = job->N - i0 < B ? job->N - i0 : B;
    /* Inference is per image: a short last batch is padded with zeros and the padding ignored. */
    memset(x->data, 0, (size_t)(B * per) * sizeof(float));
    memcpy(x->data, job->images + i0 * per, (size_t)(b * per) * sizeof(float));
    const sal_tensor *z = NULL, *m = NULL;
    st = sal_plan_set_input(p, job->in, x);
    if (!st) st = sal_plan_forward(p);
    if (!st) st = sal_plan_value(p, job->out, &z);
    if (!st) st = sal_plan_value(p, "mask", &m);
    for (int64_t j = 0; !st && j < b; j++) {
      const float *row = z->data + j * K;
      int64_t *t = &job->targets[i0 + j];
      if (*t == SAL_TARGET_TOP1) {
        int64_t best = 0;
        for (int64_t k = 1; k < K; k++)
          if (row[k] > row[best]) best = k;
        *t = best;
      }
      job->scores[i0 + j] = row[*t];
      memcpy(job->raw + (i0 + j) * HW, m->data + j * HW, (size_t)HW * sizeof(float));
    }
  }
  sal_tensor_free(x);
  sal_plan_free(p);
  sal_graph_free(cg);
  return st;
}
