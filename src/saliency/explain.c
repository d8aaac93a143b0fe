/* The saliency interface: the method registry, parameters (defaults, parsing from text), targets
 * and the dispatcher sal_explain_run that validates a batch and hands it to src/saliency/<method>.c. */
#define _POSIX_C_SOURCE 200809L
#include "saliency/saliency.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "graph/internal.h"

/* Parameter keys: bit i of a method's mask says it takes key i. */
enum {
  P_SEED, P_MAX_MEMORY, P_SAMPLES, P_SIGMA, P_STEPS, P_BASELINE, P_BLUR_SIGMA, P_LAYER, P_PATCH, P_STRIDE,
  P_SCORE, P_GRID, P_P, P_MASK_SIZE, P_L1, P_TV, P_BETA, P_LR, P_ITERATIONS, P_JITTER,
  /* extremal_perturbation (P_EP_JITTER is its own reading of "jitter": a flip on even steps) */
  P_AREAS, P_VARIANT, P_MOMENTUM, P_AREA_WEIGHT, P_AREA_GROWTH, P_PYRAMID_LEVELS, P_MAX_BLUR, P_MASK_STEP, P_MASK_SIGMA,
  P_TIE_TOL, P_EP_JITTER,
  /* dm, hdm */
  P_GRIDS, P_AUX_GRIDS, P_ALPHA, P_AREA, P_GAMMA, P_PATIENCE, P_LEVELS, P_QUANTILE, P_FUSION_ITERATIONS, P_TRACE,
  /* reliable */
  P_LAYERS, P_PRESERVE, P_LAMBDA, P_PER_CHANNEL, P_INPUT_MASK, P_COUNT
};
#define B(k) ((uint64_t)1 << (k))
/* The keys of the dynamic-mask methods (dm, hdm share them; hdm adds its hierarchy's). */
#define DM_KEYS                                                                                                \
  (B(P_SEED) | B(P_MAX_MEMORY) | B(P_BASELINE) | B(P_BLUR_SIGMA) | B(P_GRIDS) | B(P_AUX_GRIDS) | B(P_ALPHA) | \
   B(P_AREA) | B(P_GAMMA) | B(P_LR) | B(P_ITERATIONS) | B(P_PATIENCE) | B(P_TRACE))

typedef struct method_def {
  const char *name, *summary;
  sal__method_fn fn;
  uint64_t params;       /* bit mask of P_* */
  bool resolves_targets; /* its own passes find top-1 and z_c: no pre-pass */
  int64_t samples;       /* default of `samples` when it takes it */
  const char *samples_help;
} method_def;

static const method_def methods[] = {
    {"gradient", "|dz_c/dx|, max over channels (Simonyan et al. 2014)", sal__explain_gradient,
     B(P_SEED) | B(P_MAX_MEMORY), true, 0, NULL},
    {"grad_input", "sum over channels of x * dz_c/dx (Shrikumar et al. 2016)", sal__explain_grad_input,
     B(P_SEED) | B(P_MAX_MEMORY), true, 0, NULL},
    {"smoothgrad", "mean gradient map over noisy copies (Smilkov et al. 2017)", sal__explain_smoothgrad,
     B(P_SEED) | B(P_MAX_MEMORY) | B(P_SAMPLES) | B(P_SIGMA), false, 50, "noisy copies averaged"},
    {"integrated_gradients", "path integral of gradients from a baseline (Sundararajan et al. 2017)",
     sal__explain_integrated_gradients, B(P_SEED) | B(P_MAX_MEMORY) | B(P_STEPS) | B(P_BASELINE) | B(P_BLUR_SIGMA),
     false, 0, NULL},
    {"gradcam", "ReLU of gradient-weighted activations of a layer (Selvaraju et al. 2017)", sal__explain_gradcam,
     B(P_SEED) | B(P_MAX_MEMORY) | B(P_LAYER), true, 0, NULL},
    {"occlusion", "score drop when a sliding patch is replaced by a baseline (Zeiler & Fergus 2014)",
     sal__explain_occlusion,
     B(P_SEED) | B(P_MAX_MEMORY) | B(P_PATCH) | B(P_STRIDE) | B(P_BASELINE) | B(P_BLUR_SIGMA) | B(P_SCORE), false, 0,
     NULL},
    {"rise", "probability-weighted sum of random masks (Petsiuk et al. 2018)", sal__explain_rise,
     B(P_SEED) | B(P_MAX_MEMORY) | B(P_SAMPLES) | B(P_GRID) | B(P_P), false, 4000, "random masks"},
    {"meaningful_perturbation", "1 - the smallest blur mask that deletes the class (Fong & Vedaldi 2017)",
     sal__explain_meaningful_perturbation,
     B(P_SEED) | B(P_MAX_MEMORY) | B(P_BASELINE) | B(P_BLUR_SIGMA) | B(P_MASK_SIZE) | B(P_L1) | B(P_TV) | B(P_BETA) |
         B(P_LR) | B(P_ITERATIONS) | B(P_JITTER),
     false, 0, NULL},
    {"extremal_perturbation", "smooth mask of a fixed area that keeps the class (Fong, Patrick & Vedaldi 2019)",
     sal__explain_extremal_perturbation,
     B(P_SEED) | B(P_MAX_MEMORY) | B(P_AREAS) | B(P_VARIANT) | B(P_ITERATIONS) | B(P_LR) | B(P_MOMENTUM) |
         B(P_AREA_WEIGHT) | B(P_AREA_GROWTH) | B(P_PYRAMID_LEVELS) | B(P_MAX_BLUR) | B(P_MASK_STEP) | B(P_MASK_SIGMA) |
         B(P_TIE_TOL) | B(P_EP_JITTER),
     false, 0, NULL},
    {"dm", "dynamic masks: benchmark grids guide fine auxiliary masks (Peng et al.)", sal__explain_dm, DM_KEYS, false,
     0, NULL},
    {"hdm", "hierarchical dynamic masks: DM levels on ever less of the image, fused (Peng et al.)", sal__explain_hdm,
     DM_KEYS | B(P_LEVELS) | B(P_QUANTILE) | B(P_FUSION_ITERATIONS), false, 0, NULL},
    {"reliable", "non-negative masks inside the network keep the output; HAF fusion (Wang et al.)",
     sal__explain_reliable,
     B(P_SEED) | B(P_MAX_MEMORY) | B(P_LAYERS) | B(P_PRESERVE) | B(P_LAMBDA) | B(P_LR) | B(P_ITERATIONS) |
         B(P_PER_CHANNEL) | B(P_INPUT_MASK),
     false, 0, NULL},
    {"masker", "mask of a trained masking model in one forward pass (Phang, Park & Geras 2020)", sal__explain_masker,
     B(P_SEED) | B(P_MAX_MEMORY), true, 0, NULL},
};
#define N_METHODS ((int)(sizeof methods / sizeof methods[0]))

typedef struct key_def {
  const char *key, *def, *help;
} key_def;

/* Defaults as text, in P_* order (samples varies per method: see method_def). */
static const key_def keys[P_COUNT] = {
    {"seed", "0", "keys every random draw (Philox): same seed, same map"},
    {"max_memory", "2147483648", "bytes of activations per pass; batches are sized to it"},
    {"samples", "", ""},
    {"sigma", "0.15", "noise std as a fraction of the image's max - min"},
    {"steps", "50", "m: the path has m + 1 points, trapezoid rule"},
    {"baseline", "zero", "zero (0 in input space) or blur; dm, hdm: also mean (= zero) and noise"},
    {"blur_sigma", "0", "Gaussian blur std in pixels for baseline=blur; 0 = 10 * H / 224"},
    {"layer", "auto", "activation name; auto = the last 4-D activation before global pooling"},
    {"patch", "0", "occluding square side in pixels; 0 = 16 * H / 224"},
    {"stride", "0", "patch step in pixels; 0 = 8 * H / 224"},
    {"score", "logit", "logit (z_c) or prob (softmax_c)"},
    {"grid", "7", "s: masks are s x s binary grids, bilinearly upsampled and shifted"},
    {"p", "0.5", "probability that a grid cell is kept"},
    {"mask_size", "0", "side of the optimised mask; 0 = 28 * H / 224"},
    {"l1", "0.0001", "weight of the L1 term sum |1 - m| (sum over the mask's cells)"},
    {"tv", "0.01", "weight of the total-variation term sum |grad m|^beta"},
    {"beta", "3", "exponent of the total-variation term"},
    {"lr", "0.1", "learning rate (Adam; extremal_perturbation: SGD with momentum)"},
    {"iterations", "300", "optimisation steps (dm, hdm: at most, with early stopping)"},
    {"jitter", "-1", "largest random image shift per step in pixels; -1 = 4 * H / 224"},
    {"areas", "0.1", "target areas in (0, 1), comma-separated; optimised as one batch, the map sums their masks"},
    {"variant", "preserve", "preserve (keep the mask, blur the rest), delete or dual"},
    {"momentum", "0.9", "SGD momentum (dampening the same, as TorchRay)"},
    {"area_weight", "300", "weight of the area constraint at step 0"},
    {"area_growth", "1.0035", "the area weight is multiplied by this after every step"},
    {"levels", "8", "blur-pyramid levels (sigma from max_blur down to 0)"},
    {"max_blur", "0", "sigma of the most blurred pyramid level in pixels; 0 = 20 * H / 224"},
    {"mask_step", "0", "smooth-max mask generator step in pixels; 0 = 7 * H / 224"},
    {"mask_sigma", "0", "smooth-max mask generator kernel sigma in pixels; 0 = 21 * H / 224"},
    {"tie_tol", "1e-05", "mask values this close to the area boundary's value share its gradient evenly"},
    {"jitter", "1", "1 = flip the input horizontally on even steps (TorchRay), 0 = off"},
    {"grids", "auto", "benchmark mask sides, comma-separated; auto = 6,9,12,15 * H / 224"},
    {"aux_grids", "auto", "auxiliary mask sides, comma-separated; auto = 56,112 * H / 224"},
    {"alpha", "0.01", "weight of the activation term (z_c(composite) - z_c(x))^2"},
    {"beta", "1", "weight of the mask-area terms"},
    {"gamma", "0.01", "weight of the total variation of the superimposed mask"},
    {"patience", "50", "a mask stops after this many steps without a lower loss; 0 = never"},
    {"levels", "3", "T: the most DM levels (each explains what the previous ones left)"},
    {"quantile", "0.15", "fraction of the image's pixels each level removes (its top mask values)"},
    {"fusion_iterations", "100", "Adam steps on the level weights of the fusion"},
    {"trace", "", "directory for every stage's masks (.npy, .png) and loss curves (.csv); empty = none"},
    {"layers", "auto", "NAME[,NAME...] activations masked; auto = last activation of the 4 coarsest resolutions"},
    {"preserve", "all", "all (every logit kept, mu = 1) or class (z_c only, mu = 0)"},
    {"lambda", "0.5", "weight of the mask L1 term sum_l |m_l|_1 / sqrt(H_l W_l)"},
    {"per_channel", "false", "one mask per channel of each layer (true|false)"},
    {"input_mask", "false", "add a mask on the input image as one more level (true|false)"},
};

/* Methods' defaults where they differ from the key table's: {key, value, ..., NULL}. */
static const struct {
  const char *method;
  const char *const *kv;
} method_defaults[] = {
    {"meaningful_perturbation", (const char *const[]){"baseline", "blur", NULL}}, /* Fong & Vedaldi (METHODS.md §A) */
    {"extremal_perturbation", (const char *const[]){"lr", "0.01", "iterations", "800", "jitter", "1", NULL}},
    {"dm", (const char *const[]){"baseline", "blur", "lr", "0.05", NULL}},
    {"hdm", (const char *const[]){"baseline", "blur", "lr", "0.05", NULL}},
    {"reliable", (const char *const[]){"lr", "0.05", NULL}}, /* METHODS.md §C */
};

static const char *const *defaults_of(int m) {
  for (size_t i = 0; i < sizeof method_defaults / sizeof method_defaults[0]; i++)
    if (strcmp(method_defaults[i].method, methods[m].name) == 0) return method_defaults[i].kv;
  return NULL;
}

/* The default of key k for method m as text. */
static const char *key_default(int m, int k) {
  for (const char *const *d = defaults_of(m); d && d[0]; d += 2)
    if (strcmp(d[0], keys[k].key) == 0) return d[1];
  return keys[k].def;
}

int sal_method_count(void) { return N_METHODS; }
const char *sal_method_name(int i) { return i >= 0 && i < N_METHODS ? methods[i].name : NULL; }
const char *sal_method_summary(int i) { return i >= 0 && i < N_METHODS ? methods[i].summary : NULL; }

int sal_method_find(const char *name) {
  for (int i = 0; name && i < N_METHODS; i++)
    if (strcmp(methods[i].name, name) == 0) return i;
  return -1;
}

static sal_status unknown_method(sal_ctx *ctx, const char *name) {
  char list[256];
  size_t used = 0;
  list[0] = '\0';
  for (int i = 0; i < N_METHODS && used < sizeof list; i++)
    used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", methods[i].name);
  return sal_ctx_error(ctx, SAL_STATUS_NOT_FOUND, "unknown method '%s' (methods: %s)", name ? name : "(null)", list);
}

sal_status sal_method_params_default(sal_ctx *ctx, const char *method, sal_method_params *out) {
  memset(out, 0, sizeof *out);
  int m = sal_method_find(method);
  if (m < 0) return unknown_method(ctx, method);
  out->method = methods[m].name;
  out->seed = 0;
  out->max_memory = SAL_EXPLAIN_DEFAULT_MEMORY;
  out->samples = methods[m].samples;
  out->sigma = 0.15f;
  out->steps = 50;
  out->baseline = SAL_BASELINE_ZERO;
  out->blur_sigma = 0;
  out->layer = NULL;
  out->patch = 0;
  out->stride = 0;
  out->score = SAL_SCORE_LOGIT;
  out->grid = 7;
  out->p = 0.5f;
  out->mask_size = 0;
  out->l1 = 1e-4f;
  out->tv = 1e-2f;
  out->beta = 3.0f;
  out->lr = 0.1f;
  out->iterations = 300;
  out->jitter = -1;
  out->areas[0] = 0.1;
  out->n_areas = 1;
  out->variant = SAL_EP_PRESERVE;
  out->momentum = 0.9f;
  out->area_weight = 300.0;
  out->area_growth = 1.0035;
  out->pyramid_levels = 8;
  out->max_blur = 0;
  out->mask_step = 0;
  out->mask_sigma = 0;
  out->tie_tol = 1e-5f;
  memset(out->grids, 0, sizeof out->grids);
  memset(out->aux_grids, 0, sizeof out->aux_grids);
  out->alpha = 1e-2f;
  out->area = 1.0f;
  out->gamma = 1e-2f;
  out->patience = 50;
  out->levels = 3;
  out->quantile = 0.15f;
  out->fusion_iterations = 100;
  out->trace_dir = NULL;
  out->trace_names = NULL;
  out->layers = NULL;
  out->preserve = SAL_PRESERVE_ALL;
  out->lambda = 0.5f;
  for (const char *const *d = defaults_of(m); d && d[0]; d += 2) {
    sal_status st = sal_method_params_set(ctx, out, d[0], d[1]);
    if (st) return st;
  }
  return SAL_STATUS_OK;
}

/* The i-th key a method takes, as P_* index; -1 past the end. */
static int nth_key(int m, int i) {
  for (int k = 0; k < P_COUNT; k++)
    if (methods[m].params & B(k)) {
      if (i == 0) return k;
      i--;
    }
  return -1;
}

int sal_method_param_count(const char *method) {
  int m = sal_method_find(method), n = 0;
  if (m < 0) return 0;
  for (int k = 0; k < P_COUNT; k++) n += (methods[m].params & B(k)) != 0;
  return n;
}

bool sal_method_param(const char *method, int i, sal_param_info *out) {
  int m = sal_method_find(method);
  int k = m < 0 || i < 0 ? -1 : nth_key(m, i);
  if (k < 0) return false;
  out->key = keys[k].key;
  out->def = key_default(m, k);
  out->help = keys[k].help;
  if (k == P_SAMPLES) {
    out->def = methods[m].samples == 50 ? "50" : "4000";
    out->help = methods[m].samples_help;
  }
  return true;
}

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

/* "0.05,0.1,0.2": 1..SAL_EP_MAX_AREAS values in (0, 1), kept as double (the area constraint's
 * index floor(n (1 - a)) is computed in double, as TorchRay does). p is unchanged on failure. */
static bool parse_areas(const char *s, sal_method_params *p) {
  double a[SAL_EP_MAX_AREAS];
  int64_t n = 0;
  for (;;) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v > 0 && v < 1) || n == SAL_EP_MAX_AREAS) return false;
    a[n++] = v;
    if (*end == '\0') break;
    if (*end != ',') return false;
    s = end + 1;
  }
  memcpy(p->areas, a, (size_t)n * sizeof a[0]);
  p->n_areas = n;
  return true;
}

static bool parse_bool(const char *s, bool *out) {
  if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0) *out = true;
  else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) *out = false;
  else return false;
  return true;
}

static bool parse_f64(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return false;
  *out = v;
  return true;
}

/* A comma-separated list of 1..SAL_MAX_GRIDS sides in 1..4096 (0-terminated in out), or "auto" ({0}). */
static bool parse_grids(const char *s, int64_t *out) {
  int64_t v[SAL_MAX_GRIDS] = {0};
  if (strcmp(s, "auto") != 0) {
    int n = 0;
    for (const char *c = s;; c++) {
      char *end;
      errno = 0;
      long long g = strtoll(c, &end, 10);
      if (errno || end == c || g < 1 || g > 4096 || n == SAL_MAX_GRIDS || (*end != ',' && *end)) return false;
      v[n++] = g;
      c = end;
      if (!*end) break;
    }
  }
  memcpy(out, v, sizeof v);
  return true;
}

static bool parse_f32(const char *s, double lo, double hi, float *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return false;
  *out = (float)v;
  return true;
}

sal_status sal_method_params_set(sal_ctx *ctx, sal_method_params *p, const char *key, const char *value) {
  int m = sal_method_find(p->method);
  if (m < 0) return unknown_method(ctx, p->method);
  int k = -1;
  for (int i = 0; i < P_COUNT; i++)
    if (strcmp(keys[i].key, key) == 0 && (methods[m].params & B(i))) k = i;
  if (k < 0) {
    char list[256];
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0, j; (j = nth_key(m, i)) >= 0 && used < sizeof list; i++)
      used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", keys[j].key);
    return sal_ctx_error(ctx, SAL_STATUS_NOT_FOUND, "method %s has no parameter '%s' (parameters: %s)", p->method,
                         key, list);
  }
  bool ok = true;
  int64_t v = 0;
  const char *range = "";
  switch (k) {
  case P_SEED:
    ok = parse_i64(value, 0, INT64_MAX, &v);
    p->seed = (uint64_t)v;
    range = "an integer >= 0";
    break;
  case P_MAX_MEMORY:
    ok = parse_i64(value, 1, INT64_MAX, &p->max_memory);
    range = "a byte count >= 1";
    break;
  case P_SAMPLES:
    ok = parse_i64(value, 1, 1000000, &p->samples);
    range = "in 1..1000000";
    break;
  case P_SIGMA:
    ok = parse_f32(value, 0, 100, &p->sigma);
    range = "in [0, 100]";
    break;
  case P_STEPS:
    ok = parse_i64(value, 1, 100000, &p->steps);
    range = "in 1..100000";
    break;
  case P_BASELINE:
    /* the dynamic masks also take METHODS.md's `mean` (= zero: 0 in normalised space) and `noise` */
    if (strcmp(value, "zero") == 0) p->baseline = SAL_BASELINE_ZERO;
    else if (strcmp(value, "blur") == 0) p->baseline = SAL_BASELINE_BLUR;
    else if (strcmp(value, "mean") == 0 && (methods[m].params & B(P_ALPHA))) p->baseline = SAL_BASELINE_ZERO;
    else if (strcmp(value, "noise") == 0 && (methods[m].params & B(P_ALPHA))) p->baseline = SAL_BASELINE_NOISE;
    else ok = false;
    range = methods[m].params & B(P_ALPHA) ? "zero, mean, blur or noise" : "zero or blur";
    break;
  case P_BLUR_SIGMA:
    ok = parse_f32(value, 0, 1000, &p->blur_sigma);
    range = "in [0, 1000] pixels";
    break;
  case P_LAYER:
    p->layer = strcmp(value, "auto") == 0 ? NULL : value;
    break;
  case P_PATCH:
    ok = parse_i64(value, 0, 65536, &p->patch);
    range = "in 0..65536 (0 = scaled default)";
    break;
  case P_STRIDE:
    ok = parse_i64(value, 0, 65536, &p->stride);
    range = "in 0..65536 (0 = scaled default)";
    break;
  case P_SCORE:
    if (strcmp(value, "logit") == 0) p->score = SAL_SCORE_LOGIT;
    else if (strcmp(value, "prob") == 0) p->score = SAL_SCORE_PROB;
    else ok = false;
    range = "logit or prob";
    break;
  case P_GRID:
    ok = parse_i64(value, 1, 4096, &p->grid);
    range = "in 1..4096";
    break;
  case P_P:
    ok = parse_f32(value, 1e-6, 1, &p->p) && p->p > 0;
    range = "in (0, 1]";
    break;
  case P_MASK_SIZE:
    ok = parse_i64(value, 0, 4096, &p->mask_size);
    range = "in 0..4096 (0 = scaled default)";
    break;
  case P_L1:
    ok = parse_f32(value, 0, 1e6, &p->l1);
    range = "in [0, 1e6]";
    break;
  case P_TV:
    ok = parse_f32(value, 0, 1e6, &p->tv);
    range = "in [0, 1e6]";
    break;
  case P_BETA:
    ok = parse_f32(value, 1, 16, &p->beta);
    range = "in [1, 16]";
    break;
  case P_LR:
    ok = parse_f32(value, 1e-9, 100, &p->lr);
    range = "in (0, 100]";
    break;
  case P_ITERATIONS:
    ok = parse_i64(value, 1, 1000000, &p->iterations);
    range = "in 1..1000000";
    break;
  case P_JITTER:
    ok = parse_i64(value, -1, 4096, &p->jitter);
    range = "in -1..4096 (-1 = scaled default)";
    break;
  case P_EP_JITTER:
    ok = parse_i64(value, 0, 1, &p->jitter);
    range = "0 or 1";
    break;
  case P_AREAS:
    ok = parse_areas(value, p);
    range = "a comma-separated list of 1 to 16 areas, each in (0, 1)";
    break;
  case P_VARIANT:
    if (strcmp(value, "preserve") == 0) p->variant = SAL_EP_PRESERVE;
    else if (strcmp(value, "delete") == 0) p->variant = SAL_EP_DELETE;
    else if (strcmp(value, "dual") == 0) p->variant = SAL_EP_DUAL;
    else ok = false;
    range = "preserve, delete or dual";
    break;
  case P_MOMENTUM:
    ok = parse_f32(value, 0, 0.999999, &p->momentum);
    range = "in [0, 1)";
    break;
  case P_AREA_WEIGHT:
    ok = parse_f64(value, 0, 1e9, &p->area_weight);
    range = "in [0, 1e9]";
    break;
  case P_AREA_GROWTH:
    ok = parse_f64(value, 0.5, 2, &p->area_growth);
    range = "in [0.5, 2]";
    break;
  case P_PYRAMID_LEVELS:
    ok = parse_i64(value, 2, 256, &p->pyramid_levels);
    range = "in 2..256";
    break;
  case P_MAX_BLUR:
    ok = parse_f32(value, 0, 1000, &p->max_blur);
    range = "in [0, 1000] pixels (0 = scaled default)";
    break;
  case P_MASK_STEP:
    ok = parse_i64(value, 0, 1024, &p->mask_step);
    range = "in 0..1024 (0 = scaled default)";
    break;
  case P_MASK_SIGMA:
    ok = parse_f32(value, 0, 1000, &p->mask_sigma);
    range = "in [0, 1000] pixels (0 = scaled default)";
    break;
  case P_TIE_TOL:
    ok = parse_f32(value, 0, 1, &p->tie_tol);
    range = "in [0, 1]";
    break;
  case P_GRIDS:
  case P_AUX_GRIDS:
    ok = parse_grids(value, k == P_GRIDS ? p->grids : p->aux_grids);
    range = "auto or 1 to 8 comma-separated sides in 1..4096";
    break;
  case P_ALPHA:
    ok = parse_f32(value, 0, 1e6, &p->alpha);
    range = "in [0, 1e6]";
    break;
  case P_AREA:
    ok = parse_f32(value, 0, 1e6, &p->area);
    range = "in [0, 1e6]";
    break;
  case P_GAMMA:
    ok = parse_f32(value, 0, 1e6, &p->gamma);
    range = "in [0, 1e6]";
    break;
  case P_PATIENCE:
    ok = parse_i64(value, 0, 1000000, &p->patience);
    range = "in 0..1000000 (0 = never stop early)";
    break;
  case P_LEVELS:
    ok = parse_i64(value, 1, 64, &p->levels);
    range = "in 1..64";
    break;
  case P_QUANTILE:
    ok = parse_f32(value, 1e-6, 1, &p->quantile) && p->quantile > 0 && p->quantile < 1;
    range = "in (0, 1)";
    break;
  case P_FUSION_ITERATIONS:
    ok = parse_i64(value, 0, 1000000, &p->fusion_iterations);
    range = "in 0..1000000";
    break;
  case P_TRACE:
    p->trace_dir = *value ? value : NULL;
    break;
  case P_LAYERS:
    p->layers = strcmp(value, "auto") == 0 ? NULL : value;
    break;
  case P_PRESERVE:
    if (strcmp(value, "all") == 0) p->preserve = SAL_PRESERVE_ALL;
    else if (strcmp(value, "class") == 0) p->preserve = SAL_PRESERVE_CLASS;
    else ok = false;
    range = "all or class";
    break;
  case P_LAMBDA:
    ok = parse_f32(value, 0, 1e6, &p->lambda);
    range = "in [0, 1e6]";
    break;
  case P_PER_CHANNEL:
    ok = parse_bool(value, &p->per_channel);
    range = "true or false";
    break;
  case P_INPUT_MASK:
    ok = parse_bool(value, &p->input_mask);
    range = "true or false";
    break;
  default:
    break;
  }
  if (!ok)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "method %s: parameter %s='%s' must be %s", p->method, key, value,
                         range);
  return SAL_STATUS_OK;
}

char *sal_method_params_str(const sal_method_params *p, char *buf, size_t n) {
  int m = sal_method_find(p->method);
  size_t used = 0;
  if (n) buf[0] = '\0';
  for (int i = 0, k; m >= 0 && (k = nth_key(m, i)) >= 0 && used < n; i++) {
    char v[256];
    switch (k) {
    case P_SEED: snprintf(v, sizeof v, "%llu", (unsigned long long)p->seed); break;
    case P_MAX_MEMORY: snprintf(v, sizeof v, "%lld", (long long)p->max_memory); break;
    case P_SAMPLES: snprintf(v, sizeof v, "%lld", (long long)p->samples); break;
    case P_SIGMA: snprintf(v, sizeof v, "%g", (double)p->sigma); break;
    case P_STEPS: snprintf(v, sizeof v, "%lld", (long long)p->steps); break;
    case P_BASELINE:
      snprintf(v, sizeof v, "%s",
               p->baseline == SAL_BASELINE_BLUR ? "blur" : p->baseline == SAL_BASELINE_NOISE ? "noise" : "zero");
      break;
    case P_BLUR_SIGMA: snprintf(v, sizeof v, "%g", (double)p->blur_sigma); break;
    case P_LAYER: snprintf(v, sizeof v, "%.60s", p->layer ? p->layer : "auto"); break;
    case P_PATCH: snprintf(v, sizeof v, "%lld", (long long)p->patch); break;
    case P_STRIDE: snprintf(v, sizeof v, "%lld", (long long)p->stride); break;
    case P_SCORE: snprintf(v, sizeof v, "%s", p->score == SAL_SCORE_PROB ? "prob" : "logit"); break;
    case P_GRID: snprintf(v, sizeof v, "%lld", (long long)p->grid); break;
    case P_MASK_SIZE: snprintf(v, sizeof v, "%lld", (long long)p->mask_size); break;
    case P_L1: snprintf(v, sizeof v, "%g", (double)p->l1); break;
    case P_TV: snprintf(v, sizeof v, "%g", (double)p->tv); break;
    case P_BETA: snprintf(v, sizeof v, "%g", (double)p->beta); break;
    case P_LR: snprintf(v, sizeof v, "%g", (double)p->lr); break;
    case P_ITERATIONS: snprintf(v, sizeof v, "%lld", (long long)p->iterations); break;
    case P_JITTER:
    case P_EP_JITTER: snprintf(v, sizeof v, "%lld", (long long)p->jitter); break;
    case P_AREAS:
      v[0] = '\0';
      for (int64_t a = 0, u = 0; a < p->n_areas && a < SAL_EP_MAX_AREAS && u < (int64_t)sizeof v; a++)
        u += snprintf(v + u, sizeof v - (size_t)u, "%s%.15g", a ? "," : "", p->areas[a]);
      break;
    case P_VARIANT:
      snprintf(v, sizeof v, "%s", p->variant == SAL_EP_DUAL ? "dual" : p->variant == SAL_EP_DELETE ? "delete" : "preserve");
      break;
    case P_MOMENTUM: snprintf(v, sizeof v, "%g", (double)p->momentum); break;
    case P_AREA_WEIGHT: snprintf(v, sizeof v, "%.15g", p->area_weight); break;
    case P_AREA_GROWTH: snprintf(v, sizeof v, "%.15g", p->area_growth); break;
    case P_PYRAMID_LEVELS: snprintf(v, sizeof v, "%lld", (long long)p->pyramid_levels); break;
    case P_MAX_BLUR: snprintf(v, sizeof v, "%g", (double)p->max_blur); break;
    case P_MASK_STEP: snprintf(v, sizeof v, "%lld", (long long)p->mask_step); break;
    case P_MASK_SIGMA: snprintf(v, sizeof v, "%g", (double)p->mask_sigma); break;
    case P_TIE_TOL: snprintf(v, sizeof v, "%g", (double)p->tie_tol); break;
    case P_GRIDS:
    case P_AUX_GRIDS: {
      const int64_t *g = k == P_GRIDS ? p->grids : p->aux_grids;
      size_t u = (size_t)snprintf(v, sizeof v, "%s", g[0] ? "" : "auto");
      for (int i2 = 0; i2 < SAL_MAX_GRIDS && g[i2] && u < sizeof v; i2++)
        u += (size_t)snprintf(v + u, sizeof v - u, "%s%lld", i2 ? "," : "", (long long)g[i2]);
      break;
    }
    case P_ALPHA: snprintf(v, sizeof v, "%g", (double)p->alpha); break;
    case P_AREA: snprintf(v, sizeof v, "%g", (double)p->area); break;
    case P_GAMMA: snprintf(v, sizeof v, "%g", (double)p->gamma); break;
    case P_PATIENCE: snprintf(v, sizeof v, "%lld", (long long)p->patience); break;
    case P_LEVELS: snprintf(v, sizeof v, "%lld", (long long)p->levels); break;
    case P_QUANTILE: snprintf(v, sizeof v, "%g", (double)p->quantile); break;
    case P_FUSION_ITERATIONS: snprintf(v, sizeof v, "%lld", (long long)p->fusion_iterations); break;
    case P_TRACE: snprintf(v, sizeof v, "%.60s", p->trace_dir ? p->trace_dir : ""); break;
    case P_LAYERS: snprintf(v, sizeof v, "%.60s", p->layers ? p->layers : "auto"); break;
    case P_PRESERVE: snprintf(v, sizeof v, "%s", p->preserve == SAL_PRESERVE_CLASS ? "class" : "all"); break;
    case P_LAMBDA: snprintf(v, sizeof v, "%g", (double)p->lambda); break;
    case P_PER_CHANNEL: snprintf(v, sizeof v, "%s", p->per_channel ? "true" : "false"); break;
    case P_INPUT_MASK: snprintf(v, sizeof v, "%s", p->input_mask ? "true" : "false"); break;
    default: snprintf(v, sizeof v, "%g", (double)p->p); break;
    }
    used += (size_t)snprintf(buf + used, n - used, "%s%s=%s", i ? " " : "", keys[k].key, v);
  }
  return buf;
}

sal_status sal_target_parse(sal_ctx *ctx, const char *s, const char *const *names, int64_t n_classes, int64_t *out) {
  if (!s || !*s) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "empty target (top1, a class index or a class name)");
  if (strcmp(s, "top1") == 0) {
    *out = SAL_TARGET_TOP1;
    return SAL_STATUS_OK;
  }
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (!errno && end != s && !*end) {
    if (v < 0 || v >= n_classes)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "target %lld is out of range: the model has %lld classes (0..%lld)",
                           v, (long long)n_classes, (long long)n_classes - 1);
    *out = v;
    return SAL_STATUS_OK;
  }
  for (int64_t i = 0; names && i < n_classes; i++)
    if (names[i] && strcmp(names[i], s) == 0) {
      *out = i;
      return SAL_STATUS_OK;
    }
  if (!names)
    return sal_ctx_error(ctx, SAL_STATUS_NOT_FOUND,
                         "unknown target '%s': the model has no class names, use top1 or an index 0..%lld", s,
                         (long long)n_classes - 1);
  char list[1024];
  size_t used = 0;
  list[0] = '\0';
  for (int64_t i = 0; i < n_classes && i < 20 && used < sizeof list; i++)
    used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
  if (n_classes > 20 && used < sizeof list)
    snprintf(list + used, sizeof list - used, ", ... (%lld in all)", (long long)n_classes);
  return sal_ctx_error(ctx, SAL_STATUS_NOT_FOUND, "unknown class name '%s' (top1, an index, or one of: %s)", s, list);
}

void sal_map_normalize(const float *map, int64_t n, float *out) {
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    if (map[i] < lo) lo = map[i];
    if (map[i] > hi) hi = map[i];
  }
  double span = (double)hi - (double)lo;
  for (int64_t i = 0; i < n; i++) out[i] = span > 0 ? (float)(((double)map[i] - lo) / span) : 0.0f;
}

void sal_explanation_clear(sal_explanation *e) {
  if (!e) return;
  sal_tensor_free(e->raw);
  sal_tensor_free(e->norm);
  sal_free(e->targets);
  sal_free(e->scores);
  for (int l = 0; l < e->n_levels; l++) sal_tensor_free(e->levels[l]);
  memset(e, 0, sizeof *e);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

/* Forward pre-pass over the images: resolves top-1 targets and records z_c. */
static sal_status prepass(sal__xjob *job) {
  sal__runner r;
  int64_t per = job->C * job->H * job->W;
  sal_status st = sal__runner_init(&r, job, false, NULL, job->N, per * (int64_t)sizeof(float));
  float *logits = st ? NULL : sal_alloc(job->ctx, (size_t)(r.B * job->K) * sizeof(float));
  if (!st && !logits) st = SAL_STATUS_OUT_OF_MEMORY;
  for (int64_t i = 0; !st && i < job->N; i += r.B) {
    int64_t b = job->N - i < r.B ? job->N - i : r.B;
    st = sal__runner_pass(&r, job->images + i * per, b, job->targets + i, logits, NULL);
    for (int64_t j = 0; !st && j < b; j++) job->scores[i + j] = logits[j * job->K + job->targets[i + j]];
  }
  sal_free(logits);
  sal__runner_free(&r);
  return st;
}

sal_status sal_explain_run(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const int64_t *targets,
                           const sal_method_params *params, sal_explanation *out) {
  memset(out, 0, sizeof *out);
  double t0 = now_ms();
  if (!params) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "explain: no method parameters");
  int m = sal_method_find(params->method);
  if (m < 0) return unknown_method(ctx, params->method);
  if (sal_graph_num_inputs(g) < 1 || sal_graph_num_outputs(g) < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "explain: the model needs an input and an output");
  sal__xjob job = {0};
  job.ctx = ctx;
  job.g = g;
  job.p = params;
  job.in = sal_graph_input_name(g, 0);
  job.out = sal_graph_output_name(g, 0);
  sal_shape xs, ys;
  sal_status st = sal_graph_value_shape(g, job.in, &xs);
  if (!st) st = sal_graph_value_shape(g, job.out, &ys);
  if (st) return st;
  char a[96], b[96];
  if (ys.ndim != 2 || xs.ndim != 4)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "explain: the model maps %s to %s; (N, C, H, W) images to (N, K) "
                         "logits are needed", sal_shape_str(&xs, a, sizeof a), sal_shape_str(&ys, b, sizeof b));
  const sal_shape *is = &images->shape;
  if (is->ndim != 4 || is->d[0] < 1 || is->d[1] != xs.d[1] || is->d[2] != xs.d[2] || is->d[3] != xs.d[3])
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "explain: images have shape %s, the model's input '%s' is %s "
                         "(N >= 1)", sal_shape_str(is, a, sizeof a), job.in, sal_shape_str(&xs, b, sizeof b));
  job.N = is->d[0];
  job.C = is->d[1];
  job.H = is->d[2];
  job.W = is->d[3];
  job.K = ys.d[1];
  job.images = images->data;
  int64_t n = sal_tensor_numel(images), per = job.C * job.H * job.W;
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(images->data[i]))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "explain: image %lld holds %s (flat index %lld)",
                           (long long)(i / per), isnan(images->data[i]) ? "NaN" : "an infinity", (long long)i);
  for (int64_t i = 0; targets && i < job.N; i++)
    if (targets[i] != SAL_TARGET_TOP1 && (targets[i] < 0 || targets[i] >= job.K))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                           "explain: target %lld of image %lld is out of range: the model has %lld classes (0..%lld)",
                           (long long)targets[i], (long long)i, (long long)job.K, (long long)job.K - 1);
  if (params->layer && m == sal_method_find("gradcam")) {
    st = sal__check_layer(ctx, g, params->layer);
    if (st) return st;
  }
  int64_t dims[4] = {job.N, 1, job.H, job.W};
  st = sal_tensor_new(ctx, 4, dims, &out->raw);
  if (!st) st = sal_tensor_new(ctx, 4, dims, &out->norm);
  if (st) goto fail;
  out->targets = sal_alloc(ctx, (size_t)job.N * sizeof(int64_t));
  out->scores = sal_calloc(ctx, (size_t)job.N, sizeof(float));
  if (!out->targets || !out->scores) {
    st = SAL_STATUS_OUT_OF_MEMORY;
    goto fail;
  }
  for (int64_t i = 0; i < job.N; i++) out->targets[i] = targets ? targets[i] : SAL_TARGET_TOP1;
  job.targets = out->targets;
  job.scores = out->scores;
  job.raw = out->raw->data;
  job.levels = out->levels;
  job.level_names = out->level_names;
  job.n_levels = &out->n_levels;
  if (!methods[m].resolves_targets) {
    st = prepass(&job);
    if (st) goto fail;
  }
  st = methods[m].fn(&job);
  if (st) goto fail;
  for (int64_t i = 0; i < job.N; i++)
    sal_map_normalize(out->raw->data + i * job.H * job.W, job.H * job.W, out->norm->data + i * job.H * job.W);
  out->ms = now_ms() - t0;
  return SAL_STATUS_OK;
fail:
  sal_ctx_error_prefix(ctx, st, "%s: ", methods[m].name);
  sal_explanation_clear(out);
  return st;
}

sal_status sal_explain(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const int64_t *targets,
                       const sal_method_params *params, sal_tensor **maps_out) {
  *maps_out = NULL;
  sal_explanation e;
  sal_status st = sal_explain_run(ctx, g, images, targets, params, &e);
  if (st) return st;
  *maps_out = e.raw;
  e.raw = NULL;
  sal_explanation_clear(&e);
  return SAL_STATUS_OK;
}
