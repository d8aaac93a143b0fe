/* Optimisers: SGD (momentum, Nesterov, weight decay), Adam and AdamW following torch.optim's update
 * rules, with parameter groups, global gradient-norm clipping and learning-rate schedules. Reads
 * parameter gradients from a plan after backward and updates the graph's parameters in place. */
#include "salient/optim.h"

#include "graph/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct opt_param {
  int value;          /* index into g->values */
  bool frozen;
  float lr_scale;
  float weight_decay;
  float *buf1, *buf2; /* SGD: momentum buffer; Adam: exp_avg, exp_avg_sq (NULL when unused) */
  const float *grad;  /* this step's gradient (the plan's buffer), found in pass 1 */
  int64_t numel;
} opt_param;

struct sal_optim {
  sal_ctx *ctx;
  sal_graph *g;
  sal_optim_opts o;
  opt_param *params;
  int n_params;
  int64_t steps;
  double last_norm;
  char name_buf[512]; /* the name sal_optim_state returns (valid until the next call) */
};

sal_optim_opts sal_optim_opts_default(sal_optim_kind kind) {
  sal_optim_opts o;
  memset(&o, 0, sizeof o);
  o.kind = kind;
  o.lr = kind == SAL_OPTIM_SGD ? 0.1f : 1e-3f;
  o.weight_decay = kind == SAL_OPTIM_ADAMW ? 1e-2f : 0.0f;
  o.beta1 = 0.9f;
  o.beta2 = 0.999f;
  o.eps = 1e-8f;
  return o;
}

static sal_status check_opts(sal_ctx *ctx, const sal_optim_opts *o) {
  if (o->kind != SAL_OPTIM_SGD && o->kind != SAL_OPTIM_ADAM && o->kind != SAL_OPTIM_ADAMW)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "optimiser: unknown kind %d", (int)o->kind);
  if (!(o->lr > 0 && isfinite(o->lr))) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "optimiser: lr %g must be > 0", (double)o->lr);
  if (!(o->weight_decay >= 0 && isfinite(o->weight_decay)))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "optimiser: weight decay %g must be >= 0", (double)o->weight_decay);
  if (!(o->clip_grad_norm >= 0 && isfinite(o->clip_grad_norm)))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "optimiser: gradient-norm clip %g must be >= 0", (double)o->clip_grad_norm);
  if (o->kind == SAL_OPTIM_SGD) {
    if (!(o->momentum >= 0 && o->momentum < 1))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "SGD: momentum %g must be in [0, 1)", (double)o->momentum);
    if (!(o->dampening >= 0 && o->dampening <= 1))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "SGD: dampening %g must be in [0, 1]", (double)o->dampening);
    if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "SGD: Nesterov momentum needs momentum > 0 and dampening 0");
  } else {
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "Adam: betas (%g, %g) must be in [0, 1)", (double)o->beta1,
                           (double)o->beta2);
    if (!(o->eps > 0)) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "Adam: eps %g must be > 0", (double)o->eps);
  }
  return SAL_STATUS_OK;
}

void sal_optim_free(sal_optim *o) {
  if (!o) return;
  for (int i = 0; i < o->n_params; i++) {
    sal_free(o->params[i].buf1);
    sal_free(o->params[i].buf2);
  }
  sal_free(o->params);
  sal_free(o);
}

sal_status sal_optim_new(sal_ctx *ctx, sal_graph *g, const sal_optim_opts *opts, const sal_param_group *groups,
                         int n_groups, sal_optim **out) {
  *out = NULL;
  if (!g || !opts || n_groups < 0 || (n_groups > 0 && !groups))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_optim_new: NULL graph, options or groups");
  sal_status st = check_opts(ctx, opts);
  if (st) return st;
  for (int k = 0; k < n_groups; k++)
    if (!groups[k].prefix || !(groups[k].lr_scale >= 0) || !isfinite(groups[k].weight_decay))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "parameter group %d: needs a prefix, lr_scale >= 0 and a finite weight decay", k);
  sal_optim *o = sal_calloc(ctx, 1, sizeof *o);
  if (!o) return SAL_STATUS_OUT_OF_MEMORY;
  o->ctx = ctx;
  o->g = g;
  o->o = *opts;
  int n = 0;
  for (int v = 0; v < g->n_values; v++) n += g->values[v].kind == SAL_VALUE_PARAM && g->values[v].trainable;
  o->params = sal_calloc(ctx, (size_t)(n ? n : 1), sizeof *o->params);
  if (!o->params) goto oom;
  bool sgd_momentum = opts->kind == SAL_OPTIM_SGD && opts->momentum > 0;
  bool adam = opts->kind != SAL_OPTIM_SGD;
  for (int v = 0; v < g->n_values; v++) {
    const sal_value *val = &g->values[v];
    if (val->kind != SAL_VALUE_PARAM || !val->trainable) continue;
    opt_param *q = &o->params[o->n_params++];
    q->value = v;
    q->numel = sal_shape_numel(&val->shape);
    q->lr_scale = 1.0f;
    q->weight_decay = opts->weight_decay;
    for (int k = 0; k < n_groups; k++) {
      if (strncmp(val->name, groups[k].prefix, strlen(groups[k].prefix)) != 0) continue;
      q->frozen = groups[k].frozen;
      q->lr_scale = groups[k].lr_scale > 0 ? groups[k].lr_scale : 1.0f;
      if (groups[k].weight_decay >= 0) q->weight_decay = groups[k].weight_decay;
      break;
    }
    if (q->frozen) continue;
    if (sgd_momentum || adam) {
      q->buf1 = sal_calloc(ctx, (size_t)q->numel, sizeof(float));
      if (!q->buf1) goto oom;
    }
    if (adam) {
      q->buf2 = sal_calloc(ctx, (size_t)q->numel, sizeof(float));
      if (!q->buf2) goto oom;
    }
  }
  *out = o;
  return SAL_STATUS_OK;
oom:
  sal_optim_free(o);
  return SAL_STATUS_OUT_OF_MEMORY;
}

/* The gradient of parameter q from plan p, checked for NaN / infinity. */
static sal_status param_grad(sal_optim *o, sal_plan *p, const opt_param *q, const float **grad, double *sumsq) {
  const sal_value *val = &o->g->values[q->value];
  const sal_tensor *gt = NULL;
  sal_status st = sal_plan_grad(p, val->name, &gt);
  if (st) return sal_ctx_error_prefix(o->ctx, st, "optimiser step: ");
  if (sal_tensor_numel(gt) != q->numel)
    return sal_ctx_error(o->ctx, SAL_STATUS_BAD_INPUT, "optimiser step: gradient of '%s' has %lld elements, the parameter %lld",
                         val->name, (long long)sal_tensor_numel(gt), (long long)q->numel);
  double s = 0;
  for (int64_t i = 0; i < q->numel; i++) s += (double)gt->data[i] * gt->data[i];
  if (!isfinite(s))
    return sal_ctx_error(o->ctx, SAL_STATUS_NUMERIC, "optimiser step: the gradient of '%s' is not finite (NaN or infinity)",
                         val->name);
  *grad = gt->data;
  *sumsq = s;
  return SAL_STATUS_OK;
}

sal_status sal_optim_step(sal_optim *o, sal_plan *p, float lr) {
  if (!p) return sal_ctx_error(o->ctx, SAL_STATUS_BAD_INPUT, "optimiser step: NULL plan");
  if (!(lr >= 0 && isfinite(lr))) return sal_ctx_error(o->ctx, SAL_STATUS_BAD_INPUT, "optimiser step: lr %g", (double)lr);
  /* Pass 1: every gradient is finite, and their global norm (torch.nn.utils.clip_grad_norm_). */
  double total = 0;
  for (int i = 0; i < o->n_params; i++) {
    if (o->params[i].frozen) continue;
    double s = 0;
    sal_status st = param_grad(o, p, &o->params[i], &o->params[i].grad, &s);
    if (st) return st;
    total += s;
  }
  o->last_norm = sqrt(total);
  float clip = 1.0f;
  if (o->o.clip_grad_norm > 0) {
    double c = o->o.clip_grad_norm / (o->last_norm + 1e-6);
    if (c < 1) clip = (float)c;
  }
  /* Pass 2: the update. */
  const sal_optim_opts *op = &o->o;
  int64_t t = o->steps + 1;
  double bc1 = 1.0 - pow(op->beta1, (double)t), bc2 = 1.0 - pow(op->beta2, (double)t);
  for (int i = 0; i < o->n_params; i++) {
    opt_param *q = &o->params[i];
    if (q->frozen) continue;
    const float *gr = q->grad;
    float *w = o->g->values[q->value].data;
    float plr = lr * q->lr_scale, wd = q->weight_decay;
    if (op->kind == SAL_OPTIM_SGD) {
      /* d = g + wd·w; buf = d (first step) or momentum·buf + (1 − dampening)·d;
       * step along d + momentum·buf (Nesterov) or buf. */
      for (int64_t e = 0; e < q->numel; e++) {
        float d = gr[e] * clip + wd * w[e];
        if (q->buf1) {
          float b = o->steps == 0 ? d : op->momentum * q->buf1[e] + (1.0f - op->dampening) * d;
          q->buf1[e] = b;
          d = op->nesterov ? d + op->momentum * b : b;
        }
        w[e] -= plr * d;
      }
    } else {
      /* Adam: d = g + wd·w (L2); AdamW: w *= 1 − lr·wd first (decoupled). Then
       * m = β1·m + (1 − β1)·d, v = β2·v + (1 − β2)·d², w -= lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps). */
      bool decoupled = op->kind == SAL_OPTIM_ADAMW;
      float step_size = (float)(plr / bc1), bc2s = (float)sqrt(bc2);
      for (int64_t e = 0; e < q->numel; e++) {
        float d = gr[e] * clip;
        if (decoupled) w[e] *= 1.0f - plr * wd;
        else d += wd * w[e];
        float m = op->beta1 * q->buf1[e] + (1.0f - op->beta1) * d;
        float v = op->beta2 * q->buf2[e] + (1.0f - op->beta2) * d * d;
        q->buf1[e] = m;
        q->buf2[e] = v;
        w[e] -= step_size * m / (sqrtf(v) / bc2s + op->eps);
      }
    }
  }
  o->steps = t;
  sal_plan_params_changed(p);
  return SAL_STATUS_OK;
}

double sal_optim_last_grad_norm(const sal_optim *o) { return o->last_norm; }
int64_t sal_optim_steps(const sal_optim *o) { return o->steps; }
void sal_optim_set_steps(sal_optim *o, int64_t steps) { o->steps = steps < 0 ? 0 : steps; }

int sal_optim_num_state(const sal_optim *o) {
  int n = 0;
  for (int i = 0; i < o->n_params; i++) n += (o->params[i].buf1 != NULL) + (o->params[i].buf2 != NULL);
  return n;
}

sal_status sal_optim_state(sal_optim *o, int i, const char **name, sal_tensor *view_out) {
  const int want = i;
  for (int k = 0; k < o->n_params; k++) {
    opt_param *q = &o->params[k];
    float *bufs[2] = {q->buf1, q->buf2};
    for (int b = 0; b < 2; b++) {
      if (!bufs[b] || i-- != 0) continue;
      const sal_value *v = &o->g->values[q->value];
      const char *suffix = o->o.kind == SAL_OPTIM_SGD ? "momentum_buffer" : b == 0 ? "exp_avg" : "exp_avg_sq";
      snprintf(o->name_buf, sizeof o->name_buf, "%s.%s", v->name, suffix);
      *name = o->name_buf;
      memset(view_out, 0, sizeof *view_out);
      view_out->shape = v->shape;
      view_out->data = bufs[b];
      view_out->layout = SAL_LAYOUT_PLAIN;
      return SAL_STATUS_OK;
    }
  }
  return sal_ctx_error(o->ctx, SAL_STATUS_NOT_FOUND, "optimiser state %d does not exist", want);
}

float sal_lr_at(const sal_lr_schedule *s, float lr, int64_t step) {
  if (step < 0) step = 0;
  if (s->warmup_steps > 0 && step < s->warmup_steps) {
    /* LinearLR: factor goes from start to 1 over warmup_steps. */
    double f = s->warmup_start + (1.0 - s->warmup_start) * (double)step / (double)s->warmup_steps;
    return (float)(lr * f);
  }
  int64_t t = step - (s->warmup_steps > 0 ? s->warmup_steps : 0);
  switch (s->kind) {
  case SAL_LR_STEP:
    return s->step_size > 0 ? (float)(lr * pow(s->gamma, (double)(t / s->step_size))) : lr;
  case SAL_LR_COSINE: {
    /* CosineAnnealingLR's closed form, held at eta_min after total_steps. */
    if (s->total_steps <= 0 || t >= s->total_steps) return s->total_steps <= 0 ? lr : s->eta_min;
    double c = 0.5 * (1.0 + cos(3.14159265358979323846 * (double)t / (double)s->total_steps));
    return (float)(s->eta_min + (lr - s->eta_min) * c);
  }
  default:
    return lr;
  }
}
