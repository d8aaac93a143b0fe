/* Saliency method `extremal_perturbation` (Fong, Patrick & Vedaldi 2019, TorchRay's algorithm and
 * defaults): for each target area a, a smooth mask of area ≈ a is optimised by SGD so that the image
 * blurred outside it (a blur pyramid indexed by the mask) keeps the class score z_c high:
 *   max_m  z_c(f(P(x, g(m)))) − λ_t · mean_j (sort(g(m))_j − r_a,j)²,   map = Σ_a crop(g(m_a))
 * g is the smooth-max mask generator, r_a the area's target vector (METHODS.md §A, docs/methods.md).
 * Every (image, area) mask of a batch sized to the memory budget goes through the model together. */
#include "saliency/saliency.h"

#include <math.h>
#include <string.h>

/* TorchRay's smooth-max "coldness": softmax(20 v) weights the candidates of a pixel. */
#define EP_COLD 20.0f
/* Generator work (pixels × candidates) below which its loops stay on one thread: a parallel region
 * costs more than a small mask (and the result is the same either way). */
#define EP_PAR_WORK 262144

/* Geometry of the smooth-max generator (TorchRay's MaskGenerator, for an H×W image): parameters
 * on a hin×win grid of step `s`, parameter (i, j) centred at (margin + s i, margin + s j) of the full
 * mask (hout×wout, a margin of σ around the image); each full-mask pixel u sees the kw×kw parameters
 * from ⌊u/s⌋ − pad on. The weight of a candidate depends only on (u mod s, ky, kx): table wt. */
typedef struct ep_geom {
  int64_t s, pad, rad, kw, k2, hin, win, hout, wout, m0;
  double sigma;
  float *wt; /* (s, s, kw, kw) */
} ep_geom;

/* kernel(z) = exp(−2 max(z − 1/2, 0)²), z = distance / σ (TorchRay's smooth-max kernel) */
static double ep_kernel(double z) {
  double d = z - 0.5 > 0 ? z - 0.5 : 0;
  return exp(-2.0 * d * d);
}

static void ep_weights(ep_geom *g) {
  const int64_t s = g->s, kw = g->kw;
  for (int64_t ry = 0; ry < s; ry++)
    for (int64_t rx = 0; rx < s; rx++)
      for (int64_t ky = 0; ky < kw; ky++)
        for (int64_t kx = 0; kx < kw; kx++) {
          /* pixel offset to the centre of parameter ⌊u/s⌋ + k − pad: (u mod s) − margin − s (k − pad) */
          double dy = (double)ry - g->sigma - (double)(s * (ky - g->pad));
          double dx = (double)rx - g->sigma - (double)(s * (kx - g->pad));
          g->wt[((ry * s + rx) * kw + ky) * kw + kx] = (float)ep_kernel(sqrt(dy * dy + dx * dx) / g->sigma);
        }
}

/* e^x for x in [−87, 0] to float32 rounding (relative error <= 1.1e-7, checked at every float of
 * that range): x = n ln2 + r, |r| <= ln2/2, e^r by its Taylor polynomial of degree 7 (remainder
 * < 1e-8), times 2^n built in the exponent bits. Written out, without branches or libm calls, so
 * that the generator's loops over candidates vectorise (libm's expf does not). Its arguments here
 * are 20 (v − max v) with v in [0, 1]. */
static inline float ep_exp(float x) {
  const float n = (float)(int32_t)(x * 1.44269504f - 0.5f); /* round to nearest for x <= 0 */
  const float r = (x - n * 0.693145751953125f) - n * 1.42860677e-6f; /* ln 2 split: hi exact in float */
  float q = 1.0f / 5040.0f;
  q = q * r + 1.0f / 720.0f;
  q = q * r + 1.0f / 120.0f;
  q = q * r + 1.0f / 24.0f;
  q = q * r + 1.0f / 6.0f;
  q = q * r + 0.5f;
  q = q * r + 1.0f;
  q = q * r + 1.0f;
  union {
    int32_t i;
    float f;
  } scale;
  scale.i = ((int32_t)n + 127) * (1 << 23);
  return q * scale.f;
}

/* e[k] = exp(20 (v[k] − mx)), k < n: one vectorised loop. */
static void ep_exp_n(const float *restrict v, float mx, int64_t n, float *restrict e) {
  for (int64_t k = 0; k < n; k++) e[k] = ep_exp(EP_COLD * (v[k] - mx));
}

/* The zero-padded parameter grid ((hin + 2 pad) × (win + 2 pad)) of pm (hin, win): pixel u's
 * candidate (ky, kx) is padded cell (⌊uy/s⌋ + ky, ⌊ux/s⌋ + kx). */
static void ep_pad(const ep_geom *g, const float *pm, float *pp) {
  const int64_t wp = g->win + 2 * g->pad;
  memset(pp, 0, (size_t)((g->hin + 2 * g->pad) * wp) * sizeof(float));
  for (int64_t iy = 0; iy < g->hin; iy++)
    memcpy(pp + (iy + g->pad) * wp + g->pad, pm + iy * g->win, (size_t)g->win * sizeof(float));
}

/* Forward of the generator for one mask: pp (its padded parameters) -> full (hout, wout) =
 * clamp(out, 0, 1) with out = Σ_k v_k softmax(20 v)_k, v_k = wt_k · candidate k; keeps out, the max
 * v and 1/Σ exp(20 (v − max)) per pixel for the backward. */
static void ep_generate(const ep_geom *g, const float *pp, float *full, float *out, float *vmax, float *inv) {
  const int64_t s = g->s, kw = g->kw, k2 = g->k2, wout = g->wout, wp = g->win + 2 * g->pad;
#pragma omp parallel for schedule(static) if (g->hout * wout * k2 > EP_PAR_WORK)
  for (int64_t uy = 0; uy < g->hout; uy++) {
    float v[1024], e[1024]; /* k2 <= 1024 is checked by make_geom */
    for (int64_t ux = 0; ux < wout; ux++) {
      const float *w = g->wt + ((uy % s) * s + ux % s) * k2, *src = pp + (uy / s) * wp + ux / s;
      for (int64_t ky = 0; ky < kw; ky++)
        for (int64_t kx = 0; kx < kw; kx++) v[ky * kw + kx] = w[ky * kw + kx] * src[ky * wp + kx];
      float mx = 0; /* every v >= 0 */
#pragma omp simd reduction(max : mx)
      for (int64_t k = 0; k < k2; k++) mx = v[k] > mx ? v[k] : mx;
      ep_exp_n(v, mx, k2, e);
      /* vector partial sums: a fixed order for a given build, whatever the threads */
      double S = 0, acc = 0;
#pragma omp simd reduction(+ : S, acc)
      for (int64_t k = 0; k < k2; k++) {
        S += e[k];
        acc += (double)v[k] * e[k];
      }
      const int64_t u = uy * wout + ux;
      const float o = (float)(acc / S);
      out[u] = o;
      vmax[u] = mx;
      inv[u] = (float)(1.0 / S);
      full[u] = o < 0 ? 0 : o > 1 ? 1 : o;
    }
  }
}

/* Backward of the generator: gfull (hout, wout) -> gpm (hin, win). ∂out/∂v_k = p_k (1 + 20 (v_k −
 * out)), p_k = softmax(20 v)_k, ∂v_k/∂(candidate) = wt_k; the clamp passes the gradient where
 * 0 <= out <= 1 (PyTorch's clamp). Pixels scatter into the padded grid; the pixels of one cell row
 * (⌊uy/s⌋ = cy) write only padded rows cy..cy + kw − 1, into their own partial buffer part
 * (hmid, kw, wp), summed afterwards in cell-row order: the result does not depend on the threads. */
static void ep_generate_backward(const ep_geom *g, const float *pp, const float *gfull, const float *out,
                                 const float *vmax, const float *inv, float *part, float *gpm) {
  const int64_t s = g->s, kw = g->kw, k2 = g->k2, wout = g->wout, wp = g->win + 2 * g->pad;
  const int64_t hmid = (g->hout + s - 1) / s;
#pragma omp parallel for schedule(static) if (g->hout * wout * k2 > EP_PAR_WORK)
  for (int64_t cy = 0; cy < hmid; cy++) {
    float v[1024], c[1024];
    float *pc = part + cy * kw * wp;
    memset(pc, 0, (size_t)(kw * wp) * sizeof(float));
    for (int64_t uy = cy * s; uy < cy * s + s && uy < g->hout; uy++)
      for (int64_t ux = 0; ux < wout; ux++) {
        const int64_t u = uy * wout + ux;
        const float o = out[u], gf = gfull[u], mx = vmax[u], iv = inv[u];
        if (gf == 0 || !(o >= 0 && o <= 1)) continue;
        const float *w = g->wt + ((uy % s) * s + ux % s) * k2, *src = pp + cy * wp + ux / s;
        for (int64_t ky = 0; ky < kw; ky++)
          for (int64_t kx = 0; kx < kw; kx++) v[ky * kw + kx] = w[ky * kw + kx] * src[ky * wp + kx];
        ep_exp_n(v, mx, k2, c);
        for (int64_t k = 0; k < k2; k++) c[k] *= gf * iv * (1.0f + EP_COLD * (v[k] - o)) * w[k];
        float *dst = pc + ux / s;
        for (int64_t ky = 0; ky < kw; ky++)
          for (int64_t kx = 0; kx < kw; kx++) dst[ky * wp + kx] += c[ky * kw + kx];
      }
  }
  for (int64_t iy = 0; iy < g->hin; iy++) {
    const int64_t r = iy + g->pad; /* padded row: partial row r − cy of cell rows cy = r − kw + 1 .. r */
    float *dst = gpm + iy * g->win;
    memset(dst, 0, (size_t)g->win * sizeof(float));
    for (int64_t cy = r - kw + 1 < 0 ? 0 : r - kw + 1; cy <= r && cy < hmid; cy++) {
      const float *src = part + (cy * kw + (r - cy)) * wp + g->pad;
      for (int64_t ix = 0; ix < g->win; ix++) dst[ix] += src[ix];
    }
  }
}

static void swapf(float *a, float *b) {
  float t = *a;
  *a = *b;
  *b = t;
}

/* The value of rank k (0-based) of a[0..n), reordering a: quickselect with a three-way partition
 * (masks hold long runs of equal values) and a median-of-three pivot. */
static float select_rank(float *a, int64_t n, int64_t k) {
  int64_t lo = 0, hi = n - 1;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (a[mid] < a[lo]) swapf(&a[mid], &a[lo]);
    if (a[hi] < a[lo]) swapf(&a[hi], &a[lo]);
    if (a[hi] < a[mid]) swapf(&a[hi], &a[mid]);
    const float piv = a[mid];
    int64_t lt = lo, i = lo, gt = hi; /* a[lo..lt) < piv, a[lt..i) == piv, a(gt..hi] > piv */
    while (i <= gt) {
      if (a[i] < piv) swapf(&a[lt++], &a[i++]);
      else if (a[i] > piv) swapf(&a[i], &a[gt--]);
      else i++;
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return piv;
  }
  return a[lo];
}

/* The area constraint λ mean_j (sort(M)_j − r_j)², r_j = 0 for the j0 = ⌊n (1 − a)⌋ smallest values
 * and 1 for the rest: its gradient 2λ (M_e − r_e) / n, r_e the target value at e's rank, is added to
 * g. Only which elements rank below j0 matters, so a selection replaces the sort. Values within
 * `tol` of the rank-j0 value thr form one tie group sharing r_e = the fraction of the group's ranks
 * that are >= j0 (the mean over every order of the ties; TorchRay's unstable sort picks one order).
 * sc: n floats of scratch. */
static void ep_area_grad(const float *M, int64_t n, double area, double lambda, double tol, float *sc, float *g) {
  int64_t j0 = (int64_t)floor((double)n * (1.0 - area));
  if (j0 > n) j0 = n;
  double lo = INFINITY, hi = INFINITY, frac = 1;
  if (j0 < n) {
    memcpy(sc, M, (size_t)n * sizeof(float));
    const double thr = select_rank(sc, n, j0);
    lo = thr - tol;
    hi = thr + tol;
    int64_t less = 0, grp = 0;
    for (int64_t e = 0; e < n; e++) {
      less += M[e] < lo;
      grp += M[e] >= lo && M[e] <= hi;
    }
    frac = (double)(less + grp - j0) / (double)grp; /* thr is in the group: grp >= 1 */
  }
  const double c = 2.0 * lambda / (double)n;
  for (int64_t e = 0; e < n; e++) {
    double r = M[e] < lo ? 0.0 : M[e] > hi ? 1.0 : frac;
    g[e] += (float)(c * ((double)M[e] - r));
  }
}

/* Gaussian blur of (C, H, W) planes with zero padding (TorchRay's imsmooth): kernel ∝ exp(−i²/2σ²),
 * i in [−⌈4σ⌉, ⌈4σ⌉], normalised to sum 1; σ = 0 copies. k: 2⌈4σ⌉ + 1 floats, tmp: H·W floats. */
static void blur_zero(const float *x, int64_t C, int64_t H, int64_t W, double sigma, float *k, float *tmp, float *out) {
  if (!(sigma > 0)) {
    memcpy(out, x, (size_t)(C * H * W) * sizeof(float));
    return;
  }
  const int64_t rad = (int64_t)ceil(4.0 * sigma);
  double sum = 0;
  for (int64_t i = -rad; i <= rad; i++) sum += exp(-0.5 * (double)(i * i) / (sigma * sigma));
  for (int64_t i = -rad; i <= rad; i++) k[i + rad] = (float)(exp(-0.5 * (double)(i * i) / (sigma * sigma)) / sum);
  for (int64_t c = 0; c < C; c++) {
    const float *src = x + c * H * W;
    float *dst = out + c * H * W;
    /* vertical pass into tmp, horizontal pass into dst; both (H, W) */
    for (int64_t y = 0; y < H; y++)
      for (int64_t xx = 0; xx < W; xx++) {
        double a = 0;
        for (int64_t i = y - rad < 0 ? -y : -rad; i <= rad && y + i < H; i++) a += (double)k[i + rad] * src[(y + i) * W + xx];
        tmp[y * W + xx] = (float)a;
      }
    for (int64_t y = 0; y < H; y++)
      for (int64_t xx = 0; xx < W; xx++) {
        double a = 0;
        for (int64_t i = xx - rad < 0 ? -xx : -rad; i <= rad && xx + i < W; i++) a += (double)k[i + rad] * tmp[y * W + xx + i];
        dst[y * W + xx] = (float)a;
      }
  }
}

static sal_status bad(sal__xjob *job, const char *what) {
  return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT, "%s", what);
}

static sal_status check_params(sal__xjob *job) {
  const sal_method_params *p = job->p;
  if (p->n_areas < 1 || p->n_areas > SAL_EP_MAX_AREAS)
    return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT, "areas: %lld areas given, 1..%d are needed",
                         (long long)p->n_areas, SAL_EP_MAX_AREAS);
  for (int64_t a = 0; a < p->n_areas; a++)
    if (!(p->areas[a] > 0 && p->areas[a] < 1))
      return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT, "areas: area %lld is %g, outside (0, 1)", (long long)a,
                           p->areas[a]);
  if (p->iterations < 1) return bad(job, "iterations must be >= 1");
  if (!(p->lr > 0) || !isfinite(p->lr)) return bad(job, "lr must be > 0");
  if (!(p->momentum >= 0 && p->momentum < 1)) return bad(job, "momentum must be in [0, 1)");
  if (!(p->area_weight >= 0) || !isfinite(p->area_weight)) return bad(job, "area_weight must be >= 0");
  if (!(p->area_growth > 0) || !isfinite(p->area_growth)) return bad(job, "area_growth must be > 0");
  if (p->levels < 2 || p->levels > 256) return bad(job, "levels must be in 2..256");
  if (!(p->max_blur >= 0) || !isfinite(p->max_blur)) return bad(job, "max_blur must be >= 0");
  if (p->mask_step < 0 || p->mask_step > 1024) return bad(job, "mask_step must be in 0..1024");
  if (!(p->mask_sigma >= 0) || !isfinite(p->mask_sigma) || p->mask_sigma > 1000)
    return bad(job, "mask_sigma must be in [0, 1000]");
  if (!(p->tie_tol >= 0 && p->tie_tol <= 1)) return bad(job, "tie_tol must be in [0, 1]");
  if (p->variant != SAL_EP_PRESERVE && p->variant != SAL_EP_DELETE && p->variant != SAL_EP_DUAL)
    return bad(job, "variant must be preserve, delete or dual");
  return SAL_STATUS_OK;
}

/* TorchRay's sizes: hin = ⌈H/s⌉ parameters, pad = 1 + ⌈2σ/s⌉ (margin σ plus the kernel's reach σ),
 * rad = 1 + ⌈σ/s⌉, hout = s (hin + 2 pad − 2 rad) − s + 1; the image is the full mask's window at
 * (m0, m0), m0 = round(σ). */
static sal_status make_geom(sal__xjob *job, ep_geom *g) {
  const sal_method_params *p = job->p;
  g->s = p->mask_step > 0 ? p->mask_step : sal__scaled(7, job->H);
  g->sigma = p->mask_sigma > 0 ? (double)p->mask_sigma : (double)sal__scaled(21, job->H);
  g->pad = 1 + (int64_t)ceil(2.0 * g->sigma / (double)g->s);
  g->rad = 1 + (int64_t)ceil(g->sigma / (double)g->s);
  g->kw = 2 * g->rad + 1;
  g->k2 = g->kw * g->kw;
  g->hin = (job->H + g->s - 1) / g->s;
  g->win = (job->W + g->s - 1) / g->s;
  g->hout = g->s * (g->hin + 2 * g->pad - 2 * g->rad) - g->s + 1;
  g->wout = g->s * (g->win + 2 * g->pad - 2 * g->rad) - g->s + 1;
  g->m0 = (int64_t)nearbyint(g->sigma); /* Python's round: half to even */
  if (g->s > job->H || g->s > job->W)
    return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT, "mask_step %lld exceeds the image (%lld x %lld)",
                         (long long)g->s, (long long)job->H, (long long)job->W);
  if (g->k2 > 1024)
    return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT,
                         "mask_sigma %g is too large for mask_step %lld: %lld candidates per pixel (at most 1024)",
                         g->sigma, (long long)g->s, (long long)g->k2);
  if (g->hout < g->m0 + job->H || g->wout < g->m0 + job->W)
    return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT,
                         "mask_sigma %g is too small for mask_step %lld: the mask (%lld x %lld with its margin) does "
                         "not cover the image (mask_sigma >= 3 mask_step always does)",
                         g->sigma, (long long)g->s, (long long)g->hout, (long long)g->wout);
  return SAL_STATUS_OK;
}

sal_status sal__explain_extremal_perturbation(sal__xjob *job) {
  sal_status st = check_params(job);
  if (st) return st;
  const sal_method_params *p = job->p;
  ep_geom g = {0};
  st = make_geom(job, &g);
  if (st) return st;
  const int64_t C = job->C, H = job->H, W = job->W, per = C * H * W, HW = H * W, K = job->K, L = p->levels;
  const int64_t A = p->n_areas, T = job->N * A, u = p->variant == SAL_EP_DUAL ? 2 : 1;
  const int64_t nout = g.hout * g.wout, nin = g.hin * g.win, npad = (g.hin + 2 * g.pad) * (g.win + 2 * g.pad);
  const int64_t npart = ((g.hout + g.s - 1) / g.s) * g.kw * (g.win + 2 * g.pad);
  const double max_blur = p->max_blur > 0 ? (double)p->max_blur : 20.0 * (double)H / 224.0;
  sal__runner r;
  /* extra per item: its input and gradient, its task's pyramid level share, masks and generator state */
  const int64_t extra = ((2 + L) * per + 6 * nout + 3 * nin + npad) * (int64_t)sizeof(float);
  st = sal__runner_init(&r, job, true, NULL, T * u, extra);
  if (st) return st;
  const int64_t B = r.B, G = B / u > 0 ? B / u : 1; /* tasks (image, area) optimised together */
  const int64_t krad = (int64_t)ceil(4.0 * max_blur);
  float *pyr = sal_alloc(job->ctx, (size_t)(G * L * per) * sizeof(float)); /* (G, L, C, H, W), level L−1 = x */
  float *xin = sal_alloc(job->ctx, (size_t)(G * u * per) * sizeof(float)); /* (G·u, C, H, W) model inputs */
  float *gx = sal_alloc(job->ctx, (size_t)(G * u * per) * sizeof(float));  /* their gradients */
  float *seed = sal_alloc(job->ctx, (size_t)(G * u * K) * sizeof(float));
  float *pm = sal_alloc(job->ctx, (size_t)(G * nin) * sizeof(float));      /* (G, hin, win) parameters */
  float *gpm = sal_alloc(job->ctx, (size_t)(G * nin) * sizeof(float));
  float *buf = sal_alloc(job->ctx, (size_t)(G * nin) * sizeof(float));     /* SGD momentum */
  float *pp = sal_alloc(job->ctx, (size_t)(G * npad) * sizeof(float));     /* padded parameters */
  float *part = sal_alloc(job->ctx, (size_t)npart * sizeof(float));        /* generator backward */
  float *full = sal_alloc(job->ctx, (size_t)(G * nout) * sizeof(float));   /* (G, hout, wout) masks */
  float *gfull = sal_alloc(job->ctx, (size_t)(G * nout) * sizeof(float));
  float *out = sal_alloc(job->ctx, (size_t)(G * nout) * sizeof(float));    /* unclamped, vmax, 1/S */
  float *vmax = sal_alloc(job->ctx, (size_t)(G * nout) * sizeof(float));
  float *inv = sal_alloc(job->ctx, (size_t)(G * nout) * sizeof(float));
  float *sc = sal_alloc(job->ctx, (size_t)nout * sizeof(float));
  float *kern = sal_alloc(job->ctx, (size_t)(2 * krad + 1) * sizeof(float));
  float *tmp = sal_alloc(job->ctx, (size_t)HW * sizeof(float));
  g.wt = sal_alloc(job->ctx, (size_t)(g.s * g.s * g.k2) * sizeof(float));
  if (!pyr || !xin || !gx || !seed || !pm || !gpm || !buf || !pp || !part || !full || !gfull || !out || !vmax || !inv || !sc ||
      !kern || !tmp || !g.wt)
    st = SAL_STATUS_OUT_OF_MEMORY;
  if (!st) {
    ep_weights(&g);
    memset(job->raw, 0, (size_t)(job->N * HW) * sizeof(float));
  }
  for (int64_t t0 = 0; !st && t0 < T; t0 += G) {
    const int64_t gt = T - t0 < G ? T - t0 : G, nitems = gt * u;
    /* task t0 + j is area (t0 + j) % A of image (t0 + j) / A */
    for (int64_t j = 0; j < gt; j++) {
      const int64_t img = (t0 + j) / A;
      float *py = pyr + j * L * per;
      if (j > 0 && (t0 + j - 1) / A == img) {
        memcpy(py, py - L * per, (size_t)(L * per) * sizeof(float));
      } else {
        /* level l has σ_l = max_blur (1 − l/(L−1)): level 0 the most blurred, level L−1 the image */
        for (int64_t l = 0; l < L; l++)
          blur_zero(job->images + img * per, C, H, W, max_blur * (1.0 - (double)l / (double)(L - 1)), kern, tmp,
                    py + l * per);
      }
      for (int64_t q = 0; q < nin; q++) pm[j * nin + q] = 1.0f; /* TorchRay starts from the full mask */
    }
    double lambda = p->area_weight;
    /* iterations − 1 SGD steps: the map is the mask TorchRay's last iteration evaluates */
    for (int64_t t = 0; !st && t + 1 < p->iterations; t++) {
      const bool flip = p->jitter != 0 && t % 2 == 0;
      for (int64_t j = 0; j < gt; j++) {
        ep_pad(&g, pm + j * nin, pp + j * npad);
        ep_generate(&g, pp + j * npad, full + j * nout, out + j * nout, vmax + j * nout, inv + j * nout);
      }
      /* items: task j's preserve (or delete) composite at j·u, the delete one of dual at j·u + 1 */
      for (int64_t it = 0; it < nitems; it++) {
        const int64_t j = it / u;
        const bool del = p->variant == SAL_EP_DELETE || (p->variant == SAL_EP_DUAL && it % u == 1);
        const float *M = full + j * nout, *py = pyr + j * L * per;
        float *dst = xin + it * per;
        for (int64_t y = 0; y < H; y++)
          for (int64_t x = 0; x < W; x++) {
            const float m = M[(y + g.m0) * g.wout + x + g.m0], q = del ? 1.0f - m : m;
            /* linear interpolation between pyramid levels k and k + 1 at q (L − 1) */
            const float w = q * (float)(L - 1), kf = floorf(w), f = w - kf;
            const int64_t k = (int64_t)kf < L - 1 ? (int64_t)kf : L - 1, k1 = k + 1 < L ? k + 1 : L - 1;
            const int64_t xo = flip ? W - 1 - x : x;
            for (int64_t c = 0; c < C; c++)
              dst[c * HW + y * W + xo] = (1.0f - f) * py[k * per + c * HW + y * W + x] + f * py[k1 * per + c * HW + y * W + x];
          }
        /* the loss is −reward: −z_c for a preserved composite, +z_c for a deleted one */
        memset(seed + it * K, 0, (size_t)K * sizeof(float));
        seed[it * K + job->targets[(t0 + j) / A]] = del ? 1.0f : -1.0f;
      }
      for (int64_t c0 = 0; !st && c0 < nitems; c0 += B) {
        const int64_t b = nitems - c0 < B ? nitems - c0 : B;
        st = sal__runner_forward(&r, xin + c0 * per, b, NULL);
        if (!st) st = sal__runner_backward(&r, b, seed + c0 * K, gx + c0 * per);
      }
      if (st) break;
      for (int64_t j = 0; j < gt; j++) {
        const float *M = full + j * nout, *py = pyr + j * L * per;
        float *gM = gfull + j * nout;
        memset(gM, 0, (size_t)nout * sizeof(float));
        /* ∂loss/∂M through the composites: Σ_c g_in · (L − 1)(P_k1 − P_k), sign flipped for 1 − M */
        for (int64_t h = 0; h < u; h++) {
          const int64_t it = j * u + h;
          const bool del = p->variant == SAL_EP_DELETE || (p->variant == SAL_EP_DUAL && h == 1);
          const float *gi = gx + it * per;
          for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++) {
              const int64_t e = (y + g.m0) * g.wout + x + g.m0;
              const float m = M[e], q = del ? 1.0f - m : m;
              const float w = q * (float)(L - 1), kf = floorf(w);
              const int64_t k = (int64_t)kf < L - 1 ? (int64_t)kf : L - 1, k1 = k + 1 < L ? k + 1 : L - 1;
              const int64_t xo = flip ? W - 1 - x : x;
              double a = 0;
              for (int64_t c = 0; c < C; c++)
                a += (double)gi[c * HW + y * W + xo] *
                     ((double)py[k1 * per + c * HW + y * W + x] - py[k * per + c * HW + y * W + x]);
              a *= (double)(L - 1);
              gM[e] += (float)(del ? -a : a);
            }
        }
        ep_area_grad(M, nout, p->areas[(t0 + j) % A], lambda, p->tie_tol, sc, gM);
        ep_generate_backward(&g, pp + j * npad, gM, out + j * nout, vmax + j * nout, inv + j * nout, part,
                             gpm + j * nin);
        /* SGD, PyTorch's form with dampening = momentum: b ← g at the first step, then
         * b ← μ b + (1 − μ) g; m ← clamp(m − lr b, 0, 1) */
        float *pj = pm + j * nin, *gj = gpm + j * nin, *bj = buf + j * nin;
        for (int64_t q = 0; q < nin; q++) {
          bj[q] = t == 0 ? gj[q] : p->momentum * bj[q] + (1.0f - p->momentum) * gj[q];
          float v = pj[q] - p->lr * bj[q];
          pj[q] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
      }
      lambda *= p->area_growth;
    }
    /* map = Σ over the image's areas of the cropped mask */
    for (int64_t j = 0; !st && j < gt; j++) {
      ep_pad(&g, pm + j * nin, pp + j * npad);
      ep_generate(&g, pp + j * npad, full + j * nout, out + j * nout, vmax + j * nout, inv + j * nout);
      float *dst = job->raw + ((t0 + j) / A) * HW;
      for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) dst[y * W + x] += full[j * nout + (y + g.m0) * g.wout + x + g.m0];
    }
  }
  sal_free(pyr);
  sal_free(xin);
  sal_free(gx);
  sal_free(seed);
  sal_free(pm);
  sal_free(gpm);
  sal_free(buf);
  sal_free(pp);
  sal_free(part);
  sal_free(full);
  sal_free(gfull);
  sal_free(out);
  sal_free(vmax);
  sal_free(inv);
  sal_free(sc);
  sal_free(kern);
  sal_free(tmp);
  sal_free(g.wt);
  sal__runner_free(&r);
  return st;
}
