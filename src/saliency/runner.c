/* The saliency runner: pushes batches of inputs (noisy copies, path points, masked images) through
 * plans sized to the memory budget, seeds backward with one-hot targets; plus shared helpers.
 * Sits between every src/saliency/<method>.c and the plan (src/graph/plan.c). */
#include "saliency/saliency.h"

#include <math.h>
#include <string.h>

#include "graph/internal.h"

/* Bytes one batch item costs a plan: every activation (and its gradient when backward runs) at
 * batch 1. The plan reuses memory by liveness, so this overestimates: the budget is an upper
 * bound, never exceeded by the estimate's error. */
static int64_t item_bytes(const sal_graph *g, bool grads) {
  double total = 0;
  for (int v = 0; v < g->n_values; v++) {
    const sal_value *val = &g->values[v];
    if (val->kind == SAL_VALUE_PARAM) continue;
    sal_shape s = val->shape;
    if (s.ndim > 0 && s.d[0] < 0) s.d[0] = 1;
    int64_t n = sal_shape_numel(&s);
    if (n > 0) total += (double)n * sizeof(float);
  }
  if (grads) total *= 2;
  return total > 1e15 ? (int64_t)1e15 : (int64_t)total;
}

int64_t sal__runner_batch(const sal_graph *g, int64_t budget, bool grads, int64_t extra_bytes, int64_t max_items) {
  int64_t per_item = item_bytes(g, grads) + extra_bytes;
  if (budget <= 0) budget = SAL_EXPLAIN_DEFAULT_MEMORY;
  int64_t B = per_item > 0 ? budget / per_item : max_items;
  if (B < 1) B = 1; /* one item must run whatever the budget: the smallest possible pass */
  if (B > max_items) B = max_items;
  return B > 65536 ? 65536 : B;
}

sal_status sal__runner_init(sal__runner *r, const sal__xjob *job, bool grad_input, const char *grad_value,
                            int64_t max_items, int64_t extra_bytes) {
  memset(r, 0, sizeof *r);
  r->ctx = job->ctx;
  r->g = job->g;
  r->in = job->in;
  r->out = job->out;
  r->grad_input = grad_input;
  r->grad_value = grad_value;
  r->C = job->C;
  r->H = job->H;
  r->W = job->W;
  r->K = job->K;
  r->per = job->C * job->H * job->W;
  r->B = sal__runner_batch(job->g, job->p->max_memory, grad_input || grad_value, extra_bytes, max_items);
  const int64_t B = r->B;
  r->seed = sal_alloc(r->ctx, (size_t)(B * r->K) * sizeof(float));
  return r->seed ? SAL_STATUS_OK : SAL_STATUS_OUT_OF_MEMORY;
}

void sal__runner_free(sal__runner *r) {
  for (int i = 0; i < SAL__RUNNER_PLANS; i++) sal_plan_free(r->plans[i]);
  sal_free(r->seed);
  memset(r, 0, sizeof *r);
}

/* The plan for batch b: cached; when all slots are taken the least recently built is replaced
 * (methods use at most two sizes: B and the remainder, plus 1 for the target pre-pass). */
static sal_status plan_for(sal__runner *r, int64_t b, sal_plan **out) {
  for (int i = 0; i < SAL__RUNNER_PLANS; i++)
    if (r->plans[i] && r->plan_b[i] == b) {
      *out = r->plans[i];
      return SAL_STATUS_OK;
    }
  int slot = 0;
  while (slot < SAL__RUNNER_PLANS && r->plans[slot]) slot++;
  if (slot == SAL__RUNNER_PLANS) {
    sal_plan_free(r->plans[0]);
    memmove(r->plans, r->plans + 1, (SAL__RUNNER_PLANS - 1) * sizeof r->plans[0]);
    memmove(r->plan_b, r->plan_b + 1, (SAL__RUNNER_PLANS - 1) * sizeof r->plan_b[0]);
    slot = SAL__RUNNER_PLANS - 1;
    r->plans[slot] = NULL;
  }
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = b;
  o.grad_inputs = r->grad_input;
  const char *gv[1] = {r->grad_value};
  if (r->grad_value) {
    o.grad_values = gv;
    o.n_grad_values = 1;
  }
  sal_status st = sal_plan_new(r->ctx, r->g, &o, &r->plans[slot]);
  if (st) return st;
  r->plan_b[slot] = b;
  *out = r->plans[slot];
  return SAL_STATUS_OK;
}

sal_status sal__runner_forward(sal__runner *r, const float *x, int64_t b, float *logits) {
  if (b < 1 || b > r->B) return sal_ctx_error(r->ctx, SAL_STATUS_INTERNAL, "saliency: pass of %lld items (max %lld)",
                                              (long long)b, (long long)r->B);
  sal_plan *p = NULL;
  sal_status st = plan_for(r, b, &p);
  if (st) return st;
  r->cur = p;
  /* x is borrowed: the plan copies it into its own input buffer. */
  sal_tensor xt = {{4, {b, r->C, r->H, r->W}}, (float *)x, SAL_LAYOUT_PLAIN, false};
  st = sal_plan_set_input(p, r->in, &xt);
  if (!st) st = sal_plan_forward(p);
  const sal_tensor *y = NULL;
  if (!st) st = sal_plan_value(p, r->out, &y);
  if (!st && logits) memcpy(logits, y->data, (size_t)(b * r->K) * sizeof(float)); /* y is (b, K) */
  return st;
}

sal_status sal__runner_backward(sal__runner *r, int64_t b, const float *seed, float *gx) {
  sal_tensor s = {{2, {b, r->K}}, (float *)seed, SAL_LAYOUT_PLAIN, false};
  sal_status st = sal_plan_backward(r->cur, r->out, &s);
  if (st || !gx) return st;
  const sal_tensor *g = NULL;
  st = sal_plan_grad(r->cur, r->in, &g);
  if (!st) memcpy(gx, g->data, (size_t)(b * r->per) * sizeof(float));
  return st;
}

sal_status sal__runner_pass(sal__runner *r, const float *x, int64_t b, int64_t *cls, float *logits, float *gx) {
  sal_status st = sal__runner_forward(r, x, b, NULL);
  const sal_tensor *y = NULL;
  if (!st) st = sal_plan_value(r->cur, r->out, &y);
  if (st) return st;
  const int64_t K = r->K;
  /* y is (b, K) */
  if (cls)
    for (int64_t i = 0; i < b; i++)
      if (cls[i] == SAL_TARGET_TOP1) {
        int64_t k = 0;
        for (int64_t c = 1; c < K; c++)
          if (y->data[i * K + c] > y->data[i * K + k]) k = c;
        cls[i] = k;
      }
  if (logits) memcpy(logits, y->data, (size_t)(b * K) * sizeof(float));
  if (!r->grad_input && !r->grad_value) return SAL_STATUS_OK;
  memset(r->seed, 0, (size_t)(b * K) * sizeof(float));
  for (int64_t i = 0; i < b; i++) r->seed[i * K + cls[i]] = 1.0f;
  return sal__runner_backward(r, b, r->seed, gx);
}

float sal__softmax_at(const float *z, int64_t K, int64_t c) {
  double m = z[0];
  for (int64_t k = 1; k < K; k++)
    if (z[k] > m) m = z[k];
  double s = 0;
  for (int64_t k = 0; k < K; k++) s += exp((double)z[k] - m);
  return (float)(exp((double)z[c] - m) / s);
}

/* Mirror index into [0, n) without repeating the edge (… 2 1 | 0 1 2 … n-1 | n-2 …). */
static int64_t mirror(int64_t i, int64_t n) {
  if (n == 1) return 0;
  int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

sal_status sal__gauss_blur(sal_ctx *ctx, const float *x, int64_t C, int64_t H, int64_t W, float sigma, float *out) {
  if (!(sigma > 0)) {
    memcpy(out, x, (size_t)(C * H * W) * sizeof(float));
    return SAL_STATUS_OK;
  }
  int64_t rad = (int64_t)ceil(4.0 * sigma);
  int64_t side = H > W ? H : W;
  if (rad > 4 * side) rad = 4 * side; /* mirrored indices wrap: bound the work, not the result */
  float *k = sal_alloc(ctx, (size_t)(2 * rad + 1) * sizeof(float));
  float *tmp = sal_alloc(ctx, (size_t)(H * W) * sizeof(float));
  if (!k || !tmp) {
    sal_free(k);
    sal_free(tmp);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  double sum = 0;
  for (int64_t i = -rad; i <= rad; i++) sum += exp(-0.5 * (double)(i * i) / ((double)sigma * sigma));
  for (int64_t i = -rad; i <= rad; i++)
    k[i + rad] = (float)(exp(-0.5 * (double)(i * i) / ((double)sigma * sigma)) / sum);
  for (int64_t c = 0; c < C; c++) {
    const float *src = x + c * H * W;
    float *dst = out + c * H * W;
    /* horizontal pass into tmp, vertical pass into dst; both (H, W) */
    for (int64_t y = 0; y < H; y++)
      for (int64_t xx = 0; xx < W; xx++) {
        double a = 0;
        for (int64_t i = -rad; i <= rad; i++) a += (double)k[i + rad] * src[y * W + mirror(xx + i, W)];
        tmp[y * W + xx] = (float)a;
      }
    for (int64_t y = 0; y < H; y++)
      for (int64_t xx = 0; xx < W; xx++) {
        double a = 0;
        for (int64_t i = -rad; i <= rad; i++) a += (double)k[i + rad] * tmp[mirror(y + i, H) * W + xx];
        dst[y * W + xx] = (float)a;
      }
  }
  sal_free(k);
  sal_free(tmp);
  return SAL_STATUS_OK;
}

/* Source index pair and weight of output coordinate o for a resize of n inputs to N outputs
 * (align_corners = false, clamped at the edges). */
static void bl_coord(int64_t o, int64_t n, int64_t N, int64_t *i0, int64_t *i1, double *l) {
  double f = ((double)o + 0.5) * (double)n / (double)N - 0.5;
  if (f < 0) f = 0;
  int64_t a = (int64_t)f;
  if (a > n - 1) a = n - 1;
  *i0 = a;
  *i1 = a + 1 < n ? a + 1 : n - 1;
  *l = f - (double)a;
}

void sal__bilinear(const float *src, int64_t h, int64_t w, float *dst, int64_t H, int64_t W) {
  for (int64_t y = 0; y < H; y++) {
    int64_t y0, y1, x0, x1;
    double ly, lx;
    bl_coord(y, h, H, &y0, &y1, &ly);
    for (int64_t x = 0; x < W; x++) {
      bl_coord(x, w, W, &x0, &x1, &lx);
      double top = (1 - lx) * src[y0 * w + x0] + lx * src[y0 * w + x1];
      double bot = (1 - lx) * src[y1 * w + x0] + lx * src[y1 * w + x1];
      dst[y * W + x] = (float)((1 - ly) * top + ly * bot);
    }
  }
}

void sal__bilinear_adjoint(const float *gdst, int64_t H, int64_t W, float *gsrc, int64_t h, int64_t w) {
  for (int64_t y = 0; y < H; y++) {
    int64_t y0, y1, x0, x1;
    double ly, lx;
    bl_coord(y, h, H, &y0, &y1, &ly);
    for (int64_t x = 0; x < W; x++) {
      bl_coord(x, w, W, &x0, &x1, &lx);
      double g = gdst[y * W + x];
      gsrc[y0 * w + x0] += (float)((1 - ly) * (1 - lx) * g);
      gsrc[y0 * w + x1] += (float)((1 - ly) * lx * g);
      gsrc[y1 * w + x0] += (float)(ly * (1 - lx) * g);
      gsrc[y1 * w + x1] += (float)(ly * lx * g);
    }
  }
}

int64_t sal__scaled(int64_t base, int64_t H) {
  int64_t v = (base * H + 112) / 224;
  return v < 1 ? 1 : v;
}

uint64_t sal__stream(const char *method, uint64_t purpose) {
  /* FNV-1a of the name, then the purpose mixed in: a fixed, documented stream id. */
  uint64_t h = 0xcbf29ce484222325ull;
  for (const char *c = method; *c; c++) h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
  return h ^ (purpose * 0x9E3779B97F4A7C15ull);
}

sal_status sal__explain_input_gradient(sal__xjob *job, sal__grad_reduce_fn reduce) {
  sal__runner r;
  const int64_t per = job->C * job->H * job->W, HW = job->H * job->W;
  /* extra per item: the gradient copy (per floats) */
  sal_status st = sal__runner_init(&r, job, true, NULL, job->N, per * (int64_t)sizeof(float));
  float *gx = st ? NULL : sal_alloc(job->ctx, (size_t)(r.B * per) * sizeof(float));
  float *z = st ? NULL : sal_alloc(job->ctx, (size_t)(r.B * job->K) * sizeof(float));
  if (!st && (!gx || !z)) st = SAL_STATUS_OUT_OF_MEMORY;
  for (int64_t i0 = 0; !st && i0 < job->N; i0 += r.B) {
    int64_t b = job->N - i0 < r.B ? job->N - i0 : r.B;
    st = sal__runner_pass(&r, job->images + i0 * per, b, job->targets + i0, z, gx);
    for (int64_t j = 0; !st && j < b; j++) {
      job->scores[i0 + j] = z[j * job->K + job->targets[i0 + j]];
      reduce(job, gx + j * per, job->images + (i0 + j) * per, job->raw + (i0 + j) * HW);
    }
  }
  sal_free(gx);
  sal_free(z);
  sal__runner_free(&r);
  return st;
}
