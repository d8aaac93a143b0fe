/* Saliency method `reliable` (Wang, Su, Zhang & Hu, "Learning Reliable Visual Saliency"; METHODS.md
 * §C): non-negative masks m_l multiply activations inside the network (a Mul inserted in a copy of
 * the graph, the masks being extra graph inputs of shape (N, 1 or C_l, H_l, W_l)), optimised with
 * Adam so that the output stays the original one while the masks shrink:
 *   L = (z_c(x; m) − z_c(x))² + μ Σ_{k≠c} (z_k(x; m) − z_k(x))² / (K − 1) + λ Σ_l ‖m_l‖₁ / √(H_l W_l),
 * then fused by HAF: map = mean_l A_l, A_l = up(channel-mean of m_l) / its max. The images of a
 * batch (the memory budget) are optimised together: one forward and one backward per step. */
#include "saliency/saliency.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph/internal.h"

static bool is_4d_act(const sal_value *v) { return v->kind == SAL_VALUE_ACT && v->shape.ndim == 4; }

/* True when every path from the first graph input to the first output goes through value `cut`:
 * the rest of the network sees the input only through it. */
static bool is_cut(const sal_graph *g, int cut, bool *reach) {
  memset(reach, 0, (size_t)g->n_values * sizeof(bool));
  reach[g->inputs[0]] = true;
  for (int i = 0; i < g->n_nodes; i++) {
    const sal_node *n = &g->nodes[i];
    bool any = false;
    for (int j = 0; j < n->n_in; j++) any |= n->in[j] >= 0 && n->in[j] != cut && reach[n->in[j]];
    for (int j = 0; j < n->n_out; j++) reach[n->out[j]] = any && n->out[j] != cut;
  }
  return !reach[g->outputs[0]];
}

/* The automatic levels: among the 4-D activations that are cuts of the network, the last (deepest)
 * one at each spatial resolution with more than one position, for the 4 coarsest resolutions
 * (56, 28, 14, 7 at 224 in ResNets and VGGs: the stage outputs). */
static sal_status default_levels(sal_ctx *ctx, const sal_graph *g, const char **names, int *n) {
  bool *reach = sal_alloc(ctx, (size_t)(g->n_values ? g->n_values : 1) * sizeof(bool));
  if (!reach) return SAL_STATUS_OUT_OF_MEMORY;
  int best[4], nb = 0; /* value indices, coarsest resolutions, in increasing resolution */
  int64_t res[4];
  for (int v = 0; v < g->n_values; v++) {
    const sal_value *val = &g->values[v];
    int64_t hw = val->shape.d[2] * val->shape.d[3];
    if (!is_4d_act(val) || hw <= 1 || !is_cut(g, v, reach)) continue;
    int at = -1;
    for (int k = 0; k < nb; k++)
      if (g->values[best[k]].shape.d[2] == val->shape.d[2] && g->values[best[k]].shape.d[3] == val->shape.d[3]) at = k;
    if (at >= 0) {
      if (val->producer > g->values[best[at]].producer) best[at] = v; /* deeper at the same resolution */
      continue;
    }
    /* a new resolution: keep it if it is among the 4 coarsest seen */
    int k = nb;
    while (k > 0 && res[k - 1] > hw) k--;
    if (k == 4) continue;
    int last = nb < 4 ? nb : 3;
    for (int q = last; q > k; q--) best[q] = best[q - 1], res[q] = res[q - 1];
    best[k] = v, res[k] = hw;
    if (nb < 4) nb++;
  }
  sal_free(reach);
  /* depth order */
  for (int i = 1; i < nb; i++)
    for (int j = i; j > 0 && g->values[best[j]].producer < g->values[best[j - 1]].producer; j--) {
      int t = best[j];
      best[j] = best[j - 1], best[j - 1] = t;
    }
  for (int i = 0; i < nb; i++) names[(*n)++] = g->values[best[i]].name;
  if (nb == 0) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "the model has no 4-D activation to mask");
  return SAL_STATUS_OK;
}

/* NOT_FOUND for `len` bytes of `name`, listing every 4-D activation. */
static sal_status unknown_layer(sal_ctx *ctx, const sal_graph *g, const char *name, size_t len) {
  size_t cap = 64, used = 0;
  for (int i = 0; i < g->n_values; i++)
    if (is_4d_act(&g->values[i])) cap += strlen(g->values[i].name) + 2;
  char *list = sal_alloc(ctx, cap);
  if (!list) return SAL_STATUS_OUT_OF_MEMORY;
  list[0] = '\0';
  for (int i = 0; i < g->n_values; i++)
    if (is_4d_act(&g->values[i]))
      used += (size_t)snprintf(list + used, cap - used, "%s%s", used ? ", " : "", g->values[i].name);
  sal_status st = sal_ctx_error(ctx, SAL_STATUS_NOT_FOUND, "'%.*s' is not a 4-D activation of the model (layers: %s)",
                                (int)len, name, used ? list : "none");
  sal_free(list);
  return st;
}

sal_status sal__reliable_levels(sal_ctx *ctx, const sal_graph *g, const sal_method_params *p, const char **names,
                                int *n) {
  *n = 0;
  if (g->n_inputs < 1 || g->n_outputs < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "the model needs an input and an output");
  if (p->input_mask) names[(*n)++] = g->values[g->inputs[0]].name;
  if (!p->layers) return default_levels(ctx, g, names, n);
  for (const char *s = p->layers; *s;) {
    size_t len = strcspn(s, ",");
    int v = -1;
    for (int i = 0; i < g->n_values && v < 0; i++)
      if (strlen(g->values[i].name) == len && strncmp(g->values[i].name, s, len) == 0) v = i;
    if (v < 0 || !is_4d_act(&g->values[v])) return unknown_layer(ctx, g, s, len);
    for (int i = 0; i < *n; i++)
      if (names[i] == g->values[v].name)
        return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "layer '%s' is listed twice", names[i]);
    if (*n == SAL__REL_MAX_LEVELS)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "at most %d levels", SAL__REL_MAX_LEVELS);
    names[(*n)++] = g->values[v].name;
    s += len;
    if (*s == ',') s++;
  }
  if (*n == 0) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "layers: no layer given");
  return SAL_STATUS_OK;
}

/* One masked level: its mask input and the optimiser's state, all (B, Cm, h, w). */
typedef struct level {
  char mask_name[64];
  int64_t Cm, h, w, per; /* per = Cm·h·w: one image's mask */
  float *m, *a1, *a2;
  double l1w;            /* λ / (√(h w) · Cm): the L1 term's weight per element */
} level;

sal_status sal__explain_reliable(sal__xjob *job) {
  sal_ctx *ctx = job->ctx;
  sal_tensor **masks = job->levels; /* NULL when the caller does not want them */
  int *n_masks = job->n_levels;
  const sal_method_params *p = job->p;
  const int64_t C = job->C, H = job->H, W = job->W, per = C * H * W, HW = H * W, K = job->K, N = job->N;
  if (n_masks) *n_masks = 0;
  if (p->iterations < 1 || !(p->lr > 0) || !(p->lambda >= 0))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "iterations >= 1, lr > 0 and lambda >= 0 are needed");
  const char *names[SAL__REL_MAX_LEVELS];
  int L = 0;
  sal_status st = sal__reliable_levels(ctx, job->g, p, names, &L);
  if (st) return st;
  level lv[SAL__REL_MAX_LEVELS];
  memset(lv, 0, sizeof lv);
  const char *mask_names[SAL__REL_MAX_LEVELS];
  /* The caller's graph stays as it is: masks go into a copy. */
  sal_graph *g = NULL;
  sal_plan *plan = NULL;
  int64_t plan_b = 0;
  float *z0 = NULL, *seed = NULL, *avg = NULL, *up = NULL;
  int64_t max_hw = 1;
  st = sal_graph_clone(job->g, &g);
  int64_t extra = 0; /* per image: each level's m, two Adam moments and the plan's mask gradient */
  for (int l = 0; !st && l < L; l++) {
    level *v = &lv[l];
    sal_shape s;
    st = sal_graph_value_shape(g, names[l], &s);
    if (st) break;
    v->Cm = p->per_channel ? s.d[1] : 1, v->h = s.d[2], v->w = s.d[3], v->per = v->Cm * v->h * v->w;
    v->l1w = p->lambda / (sqrt((double)(v->h * v->w)) * (double)v->Cm);
    snprintf(v->mask_name, sizeof v->mask_name, "reliable.mask%d", l);
    char mul[64], out[64];
    snprintf(mul, sizeof mul, "reliable.mul%d", l);
    snprintf(out, sizeof out, "reliable.masked%d", l);
    const char *extra_in[1] = {v->mask_name};
    st = sal_graph_add_input(g, v->mask_name, 4, (int64_t[]){-1, v->Cm, v->h, v->w});
    if (!st) st = sal_graph_insert_after(g, names[l], "Mul", mul, extra_in, 1, out, NULL, 0);
    mask_names[l] = v->mask_name;
    extra += 4 * v->per * (int64_t)sizeof(float);
    max_hw = v->h * v->w > max_hw ? v->h * v->w : max_hw;
  }
  const int64_t B = st ? 0 : sal__runner_batch(g, p->max_memory, true, extra, N);
  for (int l = 0; !st && l < L; l++) {
    level *v = &lv[l];
    v->m = sal_alloc(ctx, (size_t)(B * v->per) * sizeof(float));
    v->a1 = sal_alloc(ctx, (size_t)(B * v->per) * sizeof(float));
    v->a2 = sal_alloc(ctx, (size_t)(B * v->per) * sizeof(float));
    if (!v->m || !v->a1 || !v->a2) st = SAL_STATUS_OUT_OF_MEMORY;
  }
  if (!st) {
    z0 = sal_alloc(ctx, (size_t)(B * K) * sizeof(float));   /* (B, K) z(x) */
    seed = sal_alloc(ctx, (size_t)(B * K) * sizeof(float)); /* (B, K) ∂L/∂z */
    avg = sal_alloc(ctx, (size_t)max_hw * sizeof(float));   /* (h, w) one level's A */
    up = sal_alloc(ctx, (size_t)HW * sizeof(float));        /* (H, W) up(A) */
    if (!z0 || !seed || !avg || !up) st = SAL_STATUS_OUT_OF_MEMORY;
  }
  for (int l = 0; !st && masks && l < L; l++) {
    st = sal_tensor_new(ctx, 4, (int64_t[]){N, lv[l].Cm, lv[l].h, lv[l].w}, &masks[l]);
    if (!st) *n_masks = l + 1;
    if (job->level_names) job->level_names[l] = names[l];
  }
  const double mu = p->preserve == SAL_PRESERVE_ALL && K > 1 ? 1.0 / (double)(K - 1) : 0.0;
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  for (int64_t i0 = 0; !st && i0 < N; i0 += B) {
    const int64_t b = N - i0 < B ? N - i0 : B;
    if (b != plan_b) { /* at most two plans per call: B and the remainder */
      sal_plan_free(plan);
      plan = NULL;
      sal_plan_opts o = sal_plan_opts_default();
      o.batch = b;
      o.grad_values = mask_names;
      o.n_grad_values = L;
      st = sal_plan_new(ctx, g, &o, &plan);
      if (st) break;
      plan_b = b;
    }
    /* x is (b, C, H, W); the plan keeps its copy across passes */
    sal_tensor xt = {{4, {b, C, H, W}}, (float *)(job->images + i0 * per), SAL_LAYOUT_PLAIN, false};
    st = sal_plan_set_input(plan, job->in, &xt);
    for (int l = 0; l < L; l++)
      for (int64_t q = 0; q < b * lv[l].per; q++) lv[l].m[q] = 1.0f, lv[l].a1[q] = 0.0f, lv[l].a2[q] = 0.0f;
    /* t = -1: the unmasked output z(x) (m = 1 multiplies exactly) */
    for (int64_t t = -1; !st && t < p->iterations; t++) {
      for (int l = 0; !st && l < L; l++) {
        sal_tensor mt = {{4, {b, lv[l].Cm, lv[l].h, lv[l].w}}, lv[l].m, SAL_LAYOUT_PLAIN, false};
        st = sal_plan_set_input(plan, lv[l].mask_name, &mt);
      }
      if (!st) st = sal_plan_forward(plan);
      const sal_tensor *y = NULL; /* (b, K) */
      if (!st) st = sal_plan_value(plan, job->out, &y);
      if (st) break;
      if (t < 0) {
        memcpy(z0, y->data, (size_t)(b * K) * sizeof(float));
        continue;
      }
      /* ∂L/∂z_c = 2 (z_c − z0_c), ∂L/∂z_k = 2 μ' (z_k − z0_k) for k ≠ c, μ' = μ / (K − 1) */
      for (int64_t j = 0; j < b; j++) {
        int64_t c = job->targets[i0 + j];
        for (int64_t k = 0; k < K; k++) {
          double d = (double)y->data[j * K + k] - z0[j * K + k];
          seed[j * K + k] = (float)(2.0 * d * (k == c ? 1.0 : mu));
        }
      }
      sal_tensor s = {{2, {b, K}}, seed, SAL_LAYOUT_PLAIN, false};
      st = sal_plan_backward(plan, job->out, &s);
      /* Adam (Kingma & Ba 2015) with bias correction, then the projection m >= 0 */
      const double c1 = 1.0 - pow(b1, (double)(t + 1)), c2 = 1.0 - pow(b2, (double)(t + 1));
      for (int l = 0; !st && l < L; l++) {
        const sal_tensor *gm = NULL; /* (b, Cm, h, w) */
        st = sal_plan_grad(plan, lv[l].mask_name, &gm);
        if (st) break;
        level *v = &lv[l];
        for (int64_t q = 0; q < b * v->per; q++) {
          /* d|m|/dm = sign(m): 0 at m = 0, as autograd's abs */
          double gq = (double)gm->data[q] + (v->m[q] > 0 ? v->l1w : 0.0);
          v->a1[q] = (float)(b1 * v->a1[q] + (1 - b1) * gq);
          v->a2[q] = (float)(b2 * v->a2[q] + (1 - b2) * gq * gq);
          double nv = v->m[q] - p->lr * (v->a1[q] / c1) / (sqrt(v->a2[q] / c2) + eps);
          v->m[q] = nv > 0 ? (float)nv : 0.0f;
        }
      }
    }
    /* HAF: map = mean_l up(A_l) / max(A_l), A_l the channel-mean of m_l; bilinear upsampling
     * stays within [min, max] of its input, so max(up(A_l)) = max(A_l). */
    for (int64_t j = 0; !st && j < b; j++) {
      float *map = job->raw + (i0 + j) * HW;
      memset(map, 0, (size_t)HW * sizeof(float));
      for (int l = 0; l < L; l++) {
        const level *v = &lv[l];
        const int64_t hw = v->h * v->w;
        const float *mj = v->m + j * v->per;
        if (masks) memcpy(masks[l]->data + (i0 + j) * v->per, mj, (size_t)v->per * sizeof(float));
        float mx = 0;
        for (int64_t q = 0; q < hw; q++) {
          double a = 0;
          for (int64_t ch = 0; ch < v->Cm; ch++) a += mj[ch * hw + q];
          avg[q] = (float)(a / (double)v->Cm);
          mx = avg[q] > mx ? avg[q] : mx;
        }
        if (!(mx > 0)) continue; /* a level masked out entirely contributes 0 */
        sal__bilinear(avg, v->h, v->w, up, H, W);
        for (int64_t q = 0; q < HW; q++) map[q] += (float)((double)up[q] / mx / L);
      }
    }
  }
  sal_plan_free(plan);
  sal_graph_free(g);
  for (int l = 0; l < L; l++) {
    sal_free(lv[l].m);
    sal_free(lv[l].a1);
    sal_free(lv[l].a2);
  }
  sal_free(z0);
  sal_free(seed);
  sal_free(avg);
  sal_free(up);
  if (st && masks && n_masks) {
    for (int l = 0; l < *n_masks; l++) sal_tensor_free(masks[l]), masks[l] = NULL;
    *n_masks = 0;
  }
  return st;
}
