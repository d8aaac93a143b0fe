/* Adversarial-input detection (METHODS.md §F): builds clean / attacked sets with sal_attack, their
 * features (reliable's per-layer masks or gradient maps, through sal_explain_run), caches built
 * sets on disk, trains the small detector CNN with the library's optimiser (checkpointed and
 * resumable), scores it, and the exact ROC-AUC. Used by `salient detect-adv`
 * (cli/cmd_detect_adv.c) and bench/detect_adv.sh; docs/evaluation.md. */
#include "salient/detect.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/build.h"
#include "saliency/saliency.h"
#include "salient/checkpoint.h"
#include "salient/report.h"

/* Philox stream of the split and of the detector's shuffles ("dtct"). */
#define DETECT_STREAM 0x64746374u

sal_detect_opts sal_detect_opts_default(void) {
  sal_detect_opts o;
  memset(&o, 0, sizeof o);
  o.features = SAL_DETECT_HAF;
  o.attack = SAL_DETECT_FGSM;
  o.eps = 4.0f / 255.0f;
  o.iterations = 300;
  o.max_memory = SAL_EXPLAIN_DEFAULT_MEMORY;
  o.width = 16;
  o.epochs = 30;
  o.batch = 32;
  o.lr = 1e-3f;
  o.train_fraction = 0.5;
  return o;
}

void sal_detect_set_clear(sal_detect_set *s) {
  sal_tensor_free(s->features);
  sal_free(s->labels);
  sal_free(s->source);
  sal_free(s->confidence);
  sal_free(s->top1);
  for (int l = 0; l < s->n_levels; l++) sal_free(s->level_names[l]);
  memset(s, 0, sizeof *s);
}

static const char *logits_name(const sal_graph *g) {
  return sal_graph_has_value(g, "logits") ? "logits" : sal_graph_output_name(g, 0);
}

/* Runs g (input in, output out) on n items x (n, d1, d2, d3) in batches of up to 64, one plan per
 * batch size, and hands each batch's output y to visit(u, first item, batch size, y). */
typedef void (*batch_visit)(void *u, int64_t i0, int64_t b, const sal_tensor *y);
static sal_status forward_batches(sal_ctx *ctx, sal_graph *g, const char *in, const char *out, const float *x, int64_t n,
                                  const int64_t d[3], batch_visit visit, void *u) {
  const int64_t per = d[0] * d[1] * d[2];
  sal_plan *p = NULL;
  int64_t pb = 0;
  sal_status st = SAL_STATUS_OK;
  for (int64_t i0 = 0; !st && i0 < n; i0 += 64) {
    const int64_t b = n - i0 < 64 ? n - i0 : 64;
    if (b != pb) {
      sal_plan_free(p);
      p = NULL;
      sal_plan_opts po = sal_plan_opts_default();
      po.batch = b;
      st = sal_plan_new(ctx, g, &po, &p);
      if (st) break;
      pb = b;
    }
    sal_tensor xt = {{4, {b, d[0], d[1], d[2]}}, (float *)(x + i0 * per), SAL_LAYOUT_PLAIN, false};
    const sal_tensor *y = NULL;
    st = sal_plan_set_input(p, in, &xt);
    if (!st) st = sal_plan_forward(p);
    if (!st) st = sal_plan_value(p, out, &y);
    if (!st) visit(u, i0, b, y);
  }
  sal_plan_free(p);
  return st;
}

typedef struct conf_out {
  float *conf;
  int64_t *top1;
} conf_out;

/* y is (b, K) logits: top-1 and its softmax probability per item. */
static void visit_confidence(void *u, int64_t i0, int64_t b, const sal_tensor *y) {
  conf_out *o = u;
  const int64_t K = y->shape.d[1];
  for (int64_t j = 0; j < b; j++) {
    const float *z = y->data + j * K;
    int64_t best = 0;
    for (int64_t k = 1; k < K; k++)
      if (z[k] > z[best]) best = k;
    o->top1[i0 + j] = best;
    o->conf[i0 + j] = sal__softmax_at(z, K, best);
  }
}

/* Max softmax probability and top-1 of each of n images x (n, C, H, W). */
static sal_status confidences(sal_ctx *ctx, sal_graph *g, const float *x, int64_t n, float *conf, int64_t *top1) {
  const char *in = sal_graph_input_name(g, 0);
  sal_shape s;
  sal_status st = sal_graph_value_shape(g, in, &s);
  conf_out o = {conf, top1};
  if (!st) st = forward_batches(ctx, g, in, logits_name(g), x, n, (int64_t[3]){s.d[1], s.d[2], s.d[3]}, visit_confidence, &o);
  return st;
}

/* Features of n images x (n, C, H, W) into feat + item k's rows, written at items 2i + parity:
 * each map or channel-meaned level mask is resampled bilinearly to (G, G). */
static sal_status features(sal_ctx *ctx, sal_graph *g, const sal_tensor *x, const sal_detect_opts *o, int64_t G,
                           int parity, sal_detect_set *set) {
  const int64_t n = x->shape.d[0], GG = G * G;
  sal_method_params mp;
  sal_status st = sal_method_params_default(ctx, o->features == SAL_DETECT_HAF ? "reliable" : "gradient", &mp);
  if (st) return st;
  mp.max_memory = o->max_memory;
  if (o->features == SAL_DETECT_HAF) mp.iterations = o->iterations;
  sal_explanation e;
  memset(&e, 0, sizeof e);
  st = sal_explain_run(ctx, g, x, NULL, &mp, &e);
  if (st) return st;
  const int64_t F = set->features->shape.d[1];
  const int L = o->features == SAL_DETECT_HAF ? e.n_levels : 1;
  if (L != F) st = sal_ctx_error(ctx, SAL_STATUS_INTERNAL, "detect: %d feature levels, %lld expected", L, (long long)F);
  int64_t maxhw = x->shape.d[2] * x->shape.d[3];
  float *avg = st ? NULL : sal_alloc(ctx, (size_t)maxhw * sizeof(float)); /* (h, w) one level of one image */
  if (!st && !avg) st = SAL_STATUS_OUT_OF_MEMORY;
  for (int l = 0; !st && l < L; l++) {
    const sal_tensor *m = o->features == SAL_DETECT_HAF ? e.levels[l] : e.raw; /* (n, Cm, h, w) */
    const int64_t Cm = m->shape.d[1], h = m->shape.d[2], w = m->shape.d[3], hw = h * w;
    for (int64_t i = 0; i < n; i++) {
      const float *mi = m->data + i * Cm * hw;
      for (int64_t q = 0; q < hw; q++) {
        double a = 0;
        for (int64_t c = 0; c < Cm; c++) a += mi[c * hw + q];
        avg[q] = (float)(a / (double)Cm);
      }
      sal__bilinear(avg, h, w, set->features->data + ((2 * i + parity) * F + l) * GG, G, G);
    }
  }
  if (!st && parity == 0 && o->features == SAL_DETECT_HAF) {
    for (int l = 0; !st && l < L; l++) {
      size_t len = strlen(e.level_names[l]) + 1;
      set->level_names[l] = sal_alloc(ctx, len);
      if (!set->level_names[l]) st = SAL_STATUS_OUT_OF_MEMORY;
      else memcpy(set->level_names[l], e.level_names[l], len), set->n_levels = l + 1;
    }
  }
  sal_free(avg);
  sal_explanation_clear(&e);
  return st;
}

/* The level count of reliable's automatic levels on g: one cheap explain of a single image with
 * one iteration. */
static sal_status level_count(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, int64_t *F) {
  sal_method_params mp;
  sal_status st = sal_method_params_default(ctx, "reliable", &mp);
  if (st) return st;
  mp.iterations = 1;
  sal_tensor one = {{4, {1, images->shape.d[1], images->shape.d[2], images->shape.d[3]}}, images->data,
                    SAL_LAYOUT_PLAIN, false};
  sal_explanation e;
  memset(&e, 0, sizeof e);
  st = sal_explain_run(ctx, g, &one, NULL, &mp, &e);
  if (!st) *F = e.n_levels;
  sal_explanation_clear(&e);
  return st;
}

sal_status sal_detect_build_set(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const int64_t *labels,
                                const sal_detect_opts *o, sal_detect_set *set) {
  memset(set, 0, sizeof *set);
  if (images->shape.ndim != 4 || images->shape.d[0] < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: images must be (N, C, H, W) with N >= 1");
  const int64_t N = images->shape.d[0], H = images->shape.d[2], W = images->shape.d[3];
  const int64_t G = o->grid ? o->grid : (H / 4 > 0 ? H / 4 : 1);
  if (!(o->eps > 0 && o->eps <= 1))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: eps %g is not in (0, 1] (pixel units, e.g. 4/255)",
                         (double)o->eps);
  if (G < 1 || G > H || G > W)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: grid %lld is not in 1..%lld", (long long)G,
                         (long long)(H < W ? H : W));
  if (o->features != SAL_DETECT_HAF && o->features != SAL_DETECT_GRADIENT)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: unknown feature kind %d", (int)o->features);
  if (o->attack != SAL_DETECT_FGSM && o->attack != SAL_DETECT_PGD)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: unknown attack %d", (int)o->attack);
  if (o->features == SAL_DETECT_HAF && o->iterations < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: iterations %lld < 1", (long long)o->iterations);
  sal_attack_opts ao = o->attack == SAL_DETECT_FGSM ? sal_attack_opts_fgsm(o->eps) : sal_attack_opts_default();
  if (o->attack == SAL_DETECT_PGD) ao.eps = o->eps, ao.step_size = o->eps / 4, ao.steps = 10;
  ao.mean = o->mean, ao.std = o->std, ao.max_memory = o->max_memory;
  sal_tensor *adv = NULL;
  sal_status st = sal_attack(ctx, g, images, labels, &ao, &adv, NULL, NULL);
  if (st) return sal_ctx_error_prefix(ctx, st, "detect: attack: ");
  int64_t F = 1;
  if (o->features == SAL_DETECT_HAF) st = level_count(ctx, g, images, &F);
  set->n = 2 * N, set->n_sources = N;
  if (!st) st = sal_tensor_new(ctx, 4, (int64_t[]){2 * N, F, G, G}, &set->features);
  if (!st) {
    set->labels = sal_alloc(ctx, (size_t)(2 * N) * sizeof(int64_t));
    set->source = sal_alloc(ctx, (size_t)(2 * N) * sizeof(int64_t));
    set->top1 = sal_alloc(ctx, (size_t)(2 * N) * sizeof(int64_t));
    set->confidence = sal_alloc(ctx, (size_t)(2 * N) * sizeof(float));
    if (!set->labels || !set->source || !set->top1 || !set->confidence) st = SAL_STATUS_OUT_OF_MEMORY;
  }
  int64_t *t1 = NULL;
  float *cf = NULL;
  if (!st) {
    t1 = sal_alloc(ctx, (size_t)N * sizeof(int64_t));
    cf = sal_alloc(ctx, (size_t)N * sizeof(float));
    if (!t1 || !cf) st = SAL_STATUS_OUT_OF_MEMORY;
  }
  for (int parity = 0; !st && parity < 2; parity++) {
    const sal_tensor *x = parity ? adv : images;
    if (!o->quiet)
      fprintf(stderr, "detect: %s features of %lld %s images\n", o->features == SAL_DETECT_HAF ? "HAF" : "gradient",
              (long long)N, parity ? "attacked" : "clean");
    st = confidences(ctx, g, x->data, N, cf, t1);
    for (int64_t i = 0; !st && i < N; i++) {
      set->labels[2 * i + parity] = parity, set->source[2 * i + parity] = i;
      set->confidence[2 * i + parity] = cf[i], set->top1[2 * i + parity] = t1[i];
    }
    if (!st) st = features(ctx, g, x, o, G, parity, set);
  }
  sal_free(t1);
  sal_free(cf);
  sal_tensor_free(adv);
  if (st) sal_detect_set_clear(set);
  return st;
}

/* ---- digests and the set cache ---- */

#define SET_KIND "detect-adv-set"
#define SET_FORMAT 1
/* Indices are stored as f32: every integer below 2^24 is exact. */
#define EXACT_F32 ((int64_t)1 << 24)
#define MAX_PARTS 8

static void hex_of(const uint8_t d[32], char hex[65]) {
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) hex[2 * i] = digits[d[i] >> 4], hex[2 * i + 1] = digits[d[i] & 15];
  hex[64] = '\0';
}

/* SHA-256 of k <= MAX_PARTS byte ranges as H(H(p_1) || … || H(p_k)) in hex: the library's SHA-256
 * is one-shot, and hashing each range first keeps the ranges' boundaries in the digest. A NULL
 * range counts as empty. */
static void digest_parts(int k, const void *const *p, const size_t *len, char hex[65]) {
  uint8_t cat[MAX_PARTS * 32], d[32];
  for (int i = 0; i < k; i++) sal_sha256(p[i] ? p[i] : "", p[i] ? len[i] : 0, cat + 32 * i);
  sal_sha256(cat, (size_t)k * 32, d);
  hex_of(d, hex);
}

void sal_detect_set_key(const char *classifier_id, const sal_tensor *images, const int64_t *labels,
                        const sal_detect_opts *o, char key[65]) {
  const sal_shape *s = &images->shape;
  const int64_t N = s->ndim == 4 ? s->d[0] : 0, C = s->ndim == 4 ? s->d[1] : 0, H = s->ndim == 4 ? s->d[2] : 0;
  const int64_t G = o->grid ? o->grid : (H / 4 > 0 ? H / 4 : 1);
  char head[1024];
  /* %a prints ε's exact bits. */
  snprintf(head, sizeof head,
           "salient %s detect-set %d|images %lld %lld %lld %lld|labels %s|features %d|attack %d|eps %a|"
           "grid %lld|iterations %lld|max_memory %lld|mean %s|std %s",
           sal_version(), SET_FORMAT, (long long)N, (long long)C, (long long)H,
           (long long)(s->ndim == 4 ? s->d[3] : 0), labels ? "given" : "top-1", (int)o->features, (int)o->attack,
           (double)o->eps, (long long)G, (long long)o->iterations, (long long)o->max_memory, o->mean ? "given" : "none",
           o->std ? "given" : "none");
  const char *id = classifier_id ? classifier_id : "";
  const void *p[6] = {head, id, images->data, labels, o->mean, o->std};
  const size_t len[6] = {strlen(head), strlen(id), (size_t)sal_tensor_numel(images) * sizeof(float),
                         labels ? (size_t)N * sizeof(int64_t) : 0, o->mean ? (size_t)C * sizeof(float) : 0,
                         o->std ? (size_t)C * sizeof(float) : 0};
  digest_parts(6, p, len, key);
}

/* The set's level names as a JSON array (NULL when out of memory). */
static cJSON *levels_json(const sal_detect_set *s) {
  cJSON *a = cJSON_CreateArray();
  for (int l = 0; a && l < s->n_levels; l++) cJSON_AddItemToArray(a, cJSON_CreateString(s->level_names[l]));
  return a;
}

/* SHA-256 of everything a set holds: shapes, features, labels, sources, confidences, top-1s and
 * level names. false when out of memory. */
static bool set_digest(const sal_detect_set *s, char hex[65]) {
  cJSON *lv = levels_json(s);
  char *names = lv ? cJSON_PrintUnformatted(lv) : NULL;
  cJSON_Delete(lv);
  if (!names) return false;
  const int64_t *d = s->features->shape.d;
  char head[256];
  snprintf(head, sizeof head, "detect-set %lld %lld features %lld %lld %lld %lld", (long long)s->n, (long long)s->n_sources,
           (long long)d[0], (long long)d[1], (long long)d[2], (long long)d[3]);
  const size_t n = (size_t)s->n;
  const void *p[7] = {head, s->features->data, s->labels, s->source, s->confidence, s->top1, names};
  const size_t len[7] = {strlen(head), (size_t)sal_tensor_numel(s->features) * sizeof(float), n * sizeof(int64_t),
                         n * sizeof(int64_t), n * sizeof(float), n * sizeof(int64_t), strlen(names)};
  digest_parts(7, p, len, hex);
  cJSON_free(names);
  return true;
}

static const char *const set_vectors[3] = {"labels", "source", "top1"};

sal_status sal_detect_set_save(sal_ctx *ctx, const char *path, const char *key, const sal_detect_set *s) {
  if (!s->features || s->features->shape.ndim != 4 || s->n < 2 || s->features->shape.d[0] != s->n)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: saving %s: not a built set", path);
  if (s->n >= EXACT_F32)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: saving %s: %lld items (at most %lld)", path, (long long)s->n,
                         (long long)EXACT_F32 - 1);
  const int64_t *iv[3] = {s->labels, s->source, s->top1};
  for (int64_t i = 0; i < s->n; i++)
    if (s->top1[i] < 0 || s->top1[i] >= EXACT_F32)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: saving %s: top-1 class %lld is not in 0..2^24", path,
                           (long long)s->top1[i]);
  sal_tensor *v[3] = {NULL, NULL, NULL};
  sal_status st = SAL_STATUS_OK;
  for (int k = 0; !st && k < 3; k++) {
    st = sal_tensor_new(ctx, 1, (int64_t[]){s->n}, &v[k]);
    for (int64_t i = 0; !st && i < s->n; i++) v[k]->data[i] = (float)iv[k][i];
  }
  char content[65];
  cJSON *m = st ? NULL : cJSON_CreateObject();
  if (!st && !set_digest(s, content)) st = SAL_STATUS_OUT_OF_MEMORY;
  char *meta = NULL;
  if (!st && m) {
    cJSON_AddStringToObject(m, "kind", SET_KIND);
    cJSON_AddNumberToObject(m, "format_version", SET_FORMAT);
    cJSON_AddStringToObject(m, "key", key);
    cJSON_AddStringToObject(m, "content_sha256", content);
    cJSON_AddNumberToObject(m, "n_sources", (double)s->n_sources);
    cJSON_AddItemToObject(m, "levels", levels_json(s));
    meta = cJSON_PrintUnformatted(m);
  }
  cJSON_Delete(m);
  if (!st && !meta) st = SAL_STATUS_OUT_OF_MEMORY;
  sal_tensor conf = {{1, {s->n}}, s->confidence, SAL_LAYOUT_PLAIN, false};
  const char *names[5] = {"features", set_vectors[0], set_vectors[1], set_vectors[2], "confidence"};
  const sal_tensor *ts[5] = {s->features, v[0], v[1], v[2], &conf};
  const char *mk[1] = {"salient"}, *mv[1] = {meta};
  if (!st) st = sal_safetensors_write(ctx, path, names, ts, 5, mk, mv, 1);
  if (meta) cJSON_free(meta);
  for (int k = 0; k < 3; k++) sal_tensor_free(v[k]);
  return st;
}

/* The vector called name of a set file: (n) f32, converted to int64 (integers in [0, limit)). */
static sal_status read_vector(sal_ctx *ctx, const char *path, const sal_safetensors *sf, const char *name, int64_t n,
                              int64_t limit, int64_t **out) {
  const sal_tensor *t = sal_safetensors_find(sf, name);
  if (!t || t->shape.ndim != 1 || t->shape.d[0] != n)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "set cache %s: no (%lld) tensor '%s'", path, (long long)n, name);
  *out = sal_alloc(ctx, (size_t)n * sizeof(int64_t));
  if (!*out) return SAL_STATUS_OUT_OF_MEMORY;
  for (int64_t i = 0; i < n; i++) {
    float v = t->data[i];
    if (!(v >= 0 && (double)v < (double)limit && v == floorf(v)))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "set cache %s: %s[%lld] = %g is not an index below %lld", path, name,
                           (long long)i, (double)v, (long long)limit);
    (*out)[i] = (int64_t)v;
  }
  return SAL_STATUS_OK;
}

sal_status sal_detect_set_load(sal_ctx *ctx, const char *path, const char *key, sal_detect_set *set) {
  memset(set, 0, sizeof *set);
  sal_safetensors *sf = NULL;
  sal_status st = sal_safetensors_read(ctx, path, &sf);
  if (st) return st;
  const char *txt = sal_safetensors_meta(sf, "salient");
  cJSON *m = txt ? cJSON_Parse(txt) : NULL;
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(m, "kind"), *ver = cJSON_GetObjectItemCaseSensitive(m, "format_version");
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(m, "key"), *cs = cJSON_GetObjectItemCaseSensitive(m, "content_sha256");
  const cJSON *ns = cJSON_GetObjectItemCaseSensitive(m, "n_sources"), *lv = cJSON_GetObjectItemCaseSensitive(m, "levels");
  const sal_tensor *f = sal_safetensors_find(sf, "features");
  const sal_tensor *conf = sal_safetensors_find(sf, "confidence");
  if (!cJSON_IsString(kind) || strcmp(kind->valuestring, SET_KIND) != 0 || !cJSON_IsNumber(ver) || !cJSON_IsString(k) ||
      !cJSON_IsString(cs) || !cJSON_IsNumber(ns) || !cJSON_IsArray(lv))
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "set cache %s is not a detection set written by salient", path);
  else if (ver->valuedouble != SET_FORMAT)
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "set cache %s has format %g, not %d", path, ver->valuedouble, SET_FORMAT);
  else if (strcmp(k->valuestring, key) != 0)
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                       "set cache %s was built from other inputs (classifier, images, labels or set options)", path);
  else if (!f || f->shape.ndim != 4 || f->shape.d[0] < 2 || f->shape.d[0] % 2 || f->shape.d[0] >= EXACT_F32 ||
           ns->valuedouble != (double)(f->shape.d[0] / 2) || cJSON_GetArraySize(lv) > SAL_EXPLAIN_MAX_LEVELS ||
           !conf || conf->shape.ndim != 1 || conf->shape.d[0] != f->shape.d[0])
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "set cache %s: malformed features, confidences or levels", path);
  if (!st) {
    const int64_t n = f->shape.d[0];
    set->n = n, set->n_sources = n / 2;
    st = sal_tensor_new(ctx, 4, f->shape.d, &set->features);
    if (!st) memcpy(set->features->data, f->data, (size_t)sal_tensor_numel(f) * sizeof(float));
    if (!st) st = read_vector(ctx, path, sf, "labels", n, 2, &set->labels);
    if (!st) st = read_vector(ctx, path, sf, "source", n, set->n_sources, &set->source);
    if (!st) st = read_vector(ctx, path, sf, "top1", n, EXACT_F32, &set->top1);
    if (!st && !(set->confidence = sal_alloc(ctx, (size_t)n * sizeof(float)))) st = SAL_STATUS_OUT_OF_MEMORY;
    if (!st) memcpy(set->confidence, conf->data, (size_t)n * sizeof(float));
    for (const cJSON *e = lv->child; !st && e; e = e->next) {
      if (!cJSON_IsString(e)) {
        st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "set cache %s: a level name is not a string", path);
        break;
      }
      size_t len = strlen(e->valuestring) + 1;
      char *name = sal_alloc(ctx, len);
      if (!name) st = SAL_STATUS_OUT_OF_MEMORY;
      else memcpy(name, e->valuestring, len), set->level_names[set->n_levels++] = name;
    }
  }
  char content[65];
  if (!st && !set_digest(set, content)) st = SAL_STATUS_OUT_OF_MEMORY;
  if (!st && strcmp(content, cs->valuestring) != 0)
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "set cache %s: its contents do not match their SHA-256 (corrupted)", path);
  cJSON_Delete(m);
  sal_safetensors_free(sf);
  if (st) sal_detect_set_clear(set);
  return st;
}

/* Uniform integer in [0, n) from Philox (seed, stream, counter). */
static int64_t draw(uint64_t seed, uint64_t counter, int64_t n) {
  uint32_t r[4];
  sal_philox(seed, DETECT_STREAM, counter, r);
  uint64_t u = ((uint64_t)r[0] << 32) | r[1];
  return (int64_t)(u % (uint64_t)n);
}

/* Fisher–Yates shuffle of idx[n] keyed by (seed, base + k). */
static void shuffle(int64_t *idx, int64_t n, uint64_t seed, uint64_t base) {
  for (int64_t k = n - 1; k > 0; k--) {
    int64_t j = draw(seed, base + (uint64_t)k, k + 1), t = idx[k];
    idx[k] = idx[j], idx[j] = t;
  }
}

sal_status sal_detect_split(sal_ctx *ctx, int64_t n_sources, double train_fraction, uint64_t seed, bool *train_source) {
  if (n_sources < 2) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: a split needs at least 2 source images");
  if (!(train_fraction > 0 && train_fraction < 1))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: train fraction %g is not in (0, 1)", train_fraction);
  int64_t *idx = sal_alloc(ctx, (size_t)n_sources * sizeof(int64_t));
  if (!idx) return SAL_STATUS_OUT_OF_MEMORY;
  for (int64_t i = 0; i < n_sources; i++) idx[i] = i, train_source[i] = false;
  shuffle(idx, n_sources, seed, 0);
  int64_t nt = (int64_t)llround(train_fraction * (double)n_sources);
  nt = nt < 1 ? 1 : nt > n_sources - 1 ? n_sources - 1 : nt;
  for (int64_t k = 0; k < nt; k++) train_source[idx[k]] = true;
  sal_free(idx);
  return SAL_STATUS_OK;
}

sal_status sal_detect_model(sal_ctx *ctx, int64_t F, int64_t G, int64_t width, uint64_t seed, sal_graph **out) {
  *out = NULL;
  if (F < 1 || F > 4096 || G < 2 || G > 4096 || width < 1 || width > 1024)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: model (F %lld, G %lld, width %lld) out of range", (long long)F,
                         (long long)G, (long long)width);
  sal_graph *g = NULL;
  sal_status st = sal_graph_new(ctx, &g);
  sal__mb b = {ctx, g, seed};
  int64_t pd[4] = {1, F, 1, 1};
  float *one = st ? NULL : sal_alloc(ctx, (size_t)F * sizeof(float));
  if (!st && !one) st = SAL_STATUS_OUT_OF_MEMORY;
  for (int64_t f = 0; !st && f < F; f++) one[f] = 1.0f;
  if (!st) st = sal_graph_add_input(g, "features", 4, (int64_t[]){-1, F, G, G});
  if (!st) st = sal_graph_add_param(g, "norm.mean", 4, pd, NULL, false);
  if (!st) st = sal_graph_add_param(g, "norm.scale", 4, pd, one, false);
  if (!st) st = sal_graph_add_node(g, "Sub", "norm.sub", (const char *[]){"features", "norm.mean"}, 2,
                                   (const char *[]){"centred"}, 1, NULL, 0);
  if (!st) st = sal_graph_add_node(g, "Mul", "norm.mul", (const char *[]){"centred", "norm.scale"}, 2,
                                   (const char *[]){"std"}, 1, NULL, 0);
  if (!st) st = sal__mb_conv(&b, "std", "conv1", F, width, 3, 1, 1, true);
  if (!st) st = sal__mb_relu(&b, "conv1", "relu1");
  if (!st) st = sal__mb_maxpool(&b, "relu1", "pool1", 2, 2, 0);
  if (!st) st = sal__mb_conv(&b, "pool1", "conv2", width, width, 3, 1, 1, true);
  if (!st) st = sal__mb_relu(&b, "conv2", "relu2");
  if (!st) st = sal__mb_unary(&b, "GlobalAveragePool", "relu2", "pool2");
  if (!st) st = sal__mb_flatten(&b, "pool2", "flatten");
  if (!st) st = sal__mb_linear(&b, "flatten", "fc", "logits", width, 2, 0);
  if (!st) st = sal_graph_add_output(g, "logits");
  sal_free(one);
  if (st) sal_graph_free(g);
  else *out = g;
  return st;
}

/* The detector's parameters, copied between the training clone and the caller's graph. */
static const char *const det_params[] = {"norm.mean", "norm.scale", "conv1.weight", "conv1.bias", "conv2.weight",
                                         "conv2.bias", "fc.weight", "fc.bias"};

static sal_status copy_params(sal_graph *dst, sal_graph *src) {
  for (size_t i = 0; i < sizeof det_params / sizeof det_params[0]; i++) {
    sal_tensor a, b;
    sal_status st = sal_graph_param(dst, det_params[i], &a);
    if (!st) st = sal_graph_param(src, det_params[i], &b);
    if (st) return st;
    memcpy(a.data, b.data, (size_t)sal_tensor_numel(&a) * sizeof(float));
  }
  return SAL_STATUS_OK;
}

/* Checks features against det's input (·, F, G, G). */
static sal_status check_fit(sal_ctx *ctx, sal_graph *det, const sal_tensor *features) {
  sal_shape s;
  sal_status st = sal_graph_value_shape(det, "features", &s);
  if (st) return sal_ctx_error(ctx, st, "detect: the detector has no input 'features'");
  if (features->shape.ndim != 4 || features->shape.d[1] != s.d[1] || features->shape.d[2] != s.d[2] ||
      features->shape.d[3] != s.d[3])
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                         "detect: features (%lld, %lld, %lld) do not fit the detector's (%lld, %lld, %lld): "
                         "other feature kind or grid",
                         (long long)features->shape.d[1], (long long)features->shape.d[2],
                         (long long)features->shape.d[3], (long long)s.d[1], (long long)s.d[2], (long long)s.d[3]);
  return SAL_STATUS_OK;
}

/* ---- checkpoints of the detector's training ---- */

/* The caller's checkpoint metadata as a JSON object (NULL text: {}); its "config", if any, an
 * object. */
static sal_status caller_meta(sal_ctx *ctx, const char *json, cJSON **out) {
  *out = json ? cJSON_Parse(json) : cJSON_CreateObject();
  const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(*out, "config");
  if (*out && cJSON_IsObject(*out) && (!cfg || cJSON_IsObject(cfg))) return SAL_STATUS_OK;
  cJSON_Delete(*out);
  *out = NULL;
  return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: the checkpoint metadata is not a JSON object with an object \"config\"");
}

/* The error for config key `key`, have (the checkpoint's, NULL = absent) against want (this run's,
 * NULL = absent). Digests are shown shortened: they only say "other inputs". */
static sal_status config_mismatch(sal_ctx *ctx, const char *path, const char *key, const cJSON *have, const cJSON *want) {
  size_t kl = strlen(key);
  if (kl > 7 && strcmp(key + kl - 7, "_sha256") == 0 && cJSON_IsString(have) && cJSON_IsString(want))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                         "resume: %s was trained on other inputs (%s %.12s..., this run %.12s...): another classifier, data, "
                         "split or set option",
                         path, key, have->valuestring, want->valuestring);
  char *a = have ? cJSON_PrintUnformatted(have) : NULL, *b = want ? cJSON_PrintUnformatted(want) : NULL;
  sal_status st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resume: %s was trained with %s = %s, this run has %s", path, key,
                                a ? a : "(none)", b ? b : "(none)");
  cJSON_free(a);
  cJSON_free(b);
  return st;
}

/* Every key of want equal in have; with both_ways also no key of have missing from want. */
static sal_status compare_config(sal_ctx *ctx, const char *path, const cJSON *have, const cJSON *want, bool both_ways) {
  for (const cJSON *w = want ? want->child : NULL; w; w = w->next) {
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(have, w->string);
    if (!h || !cJSON_Compare(h, w, true)) return config_mismatch(ctx, path, w->string, h, w);
  }
  for (const cJSON *h = both_ways && have ? have->child : NULL; h; h = h->next)
    if (!cJSON_GetObjectItemCaseSensitive(want, h->string)) return config_mismatch(ctx, path, h->string, h, NULL);
  return SAL_STATUS_OK;
}

/* The metadata of a checkpoint at path: *m (owned) with its "config" object and "epoch". */
static sal_status checkpoint_config(sal_ctx *ctx, const char *path, const char *txt, cJSON **m, const cJSON **cfg,
                                    int64_t *epoch) {
  *m = txt ? cJSON_Parse(txt) : NULL;
  *cfg = cJSON_GetObjectItemCaseSensitive(*m, "config");
  const cJSON *ep = cJSON_GetObjectItemCaseSensitive(*m, "epoch");
  if (cJSON_IsObject(*cfg) && cJSON_IsNumber(ep) && ep->valuedouble >= 0 && ep->valuedouble < 1e9) {
    *epoch = (int64_t)ep->valuedouble;
    return SAL_STATUS_OK;
  }
  return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resume: %s has no detector training metadata (config and epoch)", path);
}

sal_status sal_detect_resume_check(sal_ctx *ctx, const char *path, const char *checkpoint_meta) {
  cJSON *mine = NULL, *m = NULL;
  sal_safetensors *sf = NULL;
  sal_status st = caller_meta(ctx, checkpoint_meta, &mine);
  if (!st && (st = sal_safetensors_read(ctx, path, &sf))) sal_ctx_error_prefix(ctx, st, "resume: ");
  const cJSON *cfg = NULL;
  int64_t epoch = 0;
  if (!st) st = checkpoint_config(ctx, path, sal_safetensors_meta(sf, "salient"), &m, &cfg, &epoch);
  if (!st) st = compare_config(ctx, path, cfg, cJSON_GetObjectItemCaseSensitive(mine, "config"), false);
  cJSON_Delete(m);
  cJSON_Delete(mine);
  sal_safetensors_free(sf);
  return st;
}

/* Loads the checkpoint into the training graph tg and Adam opt and checks it against config (this
 * run's, in full) and the step count; *epoch gets the epochs it has done. */
static sal_status resume_from(sal_ctx *ctx, const char *path, sal_graph *tg, sal_optim *opt, const cJSON *config,
                              int64_t steps_per_epoch, int64_t epochs, int64_t *epoch) {
  char *txt = NULL;
  sal_status st = sal_checkpoint_load(ctx, path, tg, opt, &txt);
  if (st) return sal_ctx_error_prefix(ctx, st, "resume: ");
  cJSON *m = NULL;
  const cJSON *cfg = NULL;
  st = checkpoint_config(ctx, path, txt, &m, &cfg, epoch);
  sal_free(txt);
  if (!st) st = compare_config(ctx, path, cfg, config, true);
  if (!st && *epoch > epochs)
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resume: %s is at epoch %lld, beyond this run's %lld epochs", path,
                       (long long)*epoch, (long long)epochs);
  if (!st && sal_optim_steps(opt) != *epoch * steps_per_epoch)
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                       "resume: %s is at epoch %lld, step %lld, which this run (%lld steps per epoch) cannot continue", path,
                       (long long)*epoch, (long long)sal_optim_steps(opt), (long long)steps_per_epoch);
  cJSON_Delete(m);
  return st;
}

/* The metadata written after an epoch: the caller's object with "config" replaced by the full one
 * and the progress. NULL when out of memory. */
static char *checkpoint_meta(const cJSON *base, const cJSON *config, int64_t epoch, int64_t epochs, int64_t steps,
                             double loss) {
  cJSON *m = cJSON_Duplicate(base, true);
  if (!m) return NULL;
  static const char *const ours[] = {"config", "epoch", "epochs", "steps", "train_loss"};
  for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) cJSON_DeleteItemFromObjectCaseSensitive(m, ours[i]);
  cJSON_AddItemToObject(m, "config", cJSON_Duplicate(config, true));
  cJSON_AddNumberToObject(m, "epoch", (double)epoch);
  cJSON_AddNumberToObject(m, "epochs", (double)epochs);
  cJSON_AddNumberToObject(m, "steps", (double)steps);
  cJSON_AddNumberToObject(m, "train_loss", loss);
  char *s = cJSON_PrintUnformatted(m);
  cJSON_Delete(m);
  return s;
}

/* Everything a resumed training must agree on: the caller's config and the training's own keys,
 * data_sha256 covering the features, labels and which items are used. NULL when out of memory. */
static cJSON *train_config(const cJSON *base, sal_graph *det, const sal_tensor *features, const int64_t *labels,
                           const bool *use, int64_t B, int64_t m, int64_t pos, const sal_detect_opts *o) {
  const cJSON *cc = cJSON_GetObjectItemCaseSensitive(base, "config");
  cJSON *c = cc ? cJSON_Duplicate(cc, true) : cJSON_CreateObject();
  if (!c) return NULL;
  const int64_t *d = features->shape.d, n = d[0];
  sal_tensor w;
  int64_t width = sal_graph_param(det, "conv1.weight", &w) ? 0 : w.shape.d[0];
  char head[128], hex[65];
  snprintf(head, sizeof head, "detect-train %lld %lld %lld %lld use %s", (long long)d[0], (long long)d[1], (long long)d[2],
           (long long)d[3], use ? "given" : "all");
  const void *p[4] = {head, features->data, labels, use};
  const size_t len[4] = {strlen(head), (size_t)sal_tensor_numel(features) * sizeof(float), (size_t)n * sizeof(int64_t),
                         use ? (size_t)n * sizeof(bool) : 0};
  digest_parts(4, p, len, hex);
  static const char *const ours[] = {"channels", "grid", "width", "batch", "lr", "seed", "items", "attacked", "data_sha256"};
  for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) cJSON_DeleteItemFromObjectCaseSensitive(c, ours[i]);
  cJSON_AddNumberToObject(c, "channels", (double)d[1]);
  cJSON_AddNumberToObject(c, "grid", (double)d[2]);
  cJSON_AddNumberToObject(c, "width", (double)width);
  cJSON_AddNumberToObject(c, "batch", (double)B);
  cJSON_AddNumberToObject(c, "lr", (double)o->lr);
  /* The seed as text: a JSON number (double) cannot hold every uint64. */
  char seed[24];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
  cJSON_AddStringToObject(c, "seed", seed);
  cJSON_AddNumberToObject(c, "items", (double)m);
  cJSON_AddNumberToObject(c, "attacked", (double)pos);
  cJSON_AddStringToObject(c, "data_sha256", hex);
  return c;
}

sal_status sal_detect_train(sal_ctx *ctx, sal_graph *det, const sal_tensor *features, const int64_t *labels,
                            const bool *use, const sal_detect_opts *o) {
  sal_status st = check_fit(ctx, det, features);
  if (st) return st;
  if (o->epochs < 1 || o->batch < 1 || !(o->lr > 0))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: epochs >= 1, batch >= 1 and lr > 0 are needed");
  if (o->stop_after < 0)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: stop_after %lld is negative", (long long)o->stop_after);
  if (o->resume && !o->checkpoint) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: resume needs a checkpoint path");
  cJSON *base = NULL, *config = NULL;
  if (o->checkpoint && (st = caller_meta(ctx, o->checkpoint_meta, &base))) return st;
  const int64_t n = features->shape.d[0], F = features->shape.d[1], GG = features->shape.d[2] * features->shape.d[3];
  const int64_t per = F * GG;
  int64_t *idx = sal_alloc(ctx, (size_t)(n ? n : 1) * sizeof(int64_t)), m = 0, pos = 0;
  if (!idx) {
    cJSON_Delete(base);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  for (int64_t i = 0; !st && i < n; i++)
    if (!use || use[i]) {
      if (labels[i] != 0 && labels[i] != 1)
        st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: label %lld of item %lld is not 0 or 1", (long long)labels[i],
                           (long long)i);
      idx[m++] = i, pos += labels[i];
    }
  if (!st && (pos == 0 || pos == m))
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "detect: training needs clean and attacked items (%lld of %lld attacked)",
                       (long long)pos, (long long)m);
  /* Per-channel standardisation from the training items, in double. */
  sal_tensor mv, sv;
  if (!st) st = sal_graph_param(det, "norm.mean", &mv);
  if (!st) st = sal_graph_param(det, "norm.scale", &sv);
  for (int64_t f = 0; !st && f < F; f++) {
    double s1 = 0, s2 = 0;
    for (int64_t k = 0; k < m; k++) {
      const float *x = features->data + idx[k] * per + f * GG;
      for (int64_t q = 0; q < GG; q++) s1 += x[q], s2 += (double)x[q] * x[q];
    }
    double cnt = (double)(m * GG), mu = s1 / cnt, var = s2 / cnt - mu * mu;
    mv.data[f] = (float)mu;
    sv.data[f] = (float)(var > 1e-24 ? 1.0 / sqrt(var) : 1.0); /* a constant channel stays as it is */
  }
  const int64_t B = o->batch < m ? o->batch : m, steps_per_epoch = B > 0 ? m / B : 0;
  if (!st && base && !(config = train_config(base, det, features, labels, use, B, m, pos, o))) st = SAL_STATUS_OUT_OF_MEMORY;
  sal_graph *tg = NULL;
  sal_plan *p = NULL;
  sal_optim *opt = NULL;
  sal_tensor *xb = NULL, *tb = NULL;
  int64_t ep0 = 0;
  if (!st) st = sal_graph_clone(det, &tg);
  if (!st) st = sal_graph_add_input(tg, "target", 1, (int64_t[]){-1});
  if (!st)
    st = sal_graph_add_node(tg, "SoftmaxCrossEntropyLoss", "loss", (const char *[]){"logits", "target"}, 2,
                            (const char *[]){"loss"}, 1, NULL, 0);
  if (!st) st = sal_graph_add_output(tg, "loss");
  if (!st) {
    sal_optim_opts oo = sal_optim_opts_default(SAL_OPTIM_ADAM);
    oo.lr = o->lr;
    st = sal_optim_new(ctx, tg, &oo, NULL, 0, &opt);
  }
  /* Weights and Adam's moments before the plan is made, which then reads them as loaded. */
  if (!st && o->resume) {
    st = resume_from(ctx, o->checkpoint, tg, opt, config, steps_per_epoch, o->epochs, &ep0);
    if (!st && !o->quiet)
      fprintf(stderr, "detect: resuming %s at epoch %lld/%lld\n", o->checkpoint, (long long)ep0, (long long)o->epochs);
  }
  if (!st) {
    sal_plan_opts po = sal_plan_opts_default();
    po.batch = B;
    po.training = true;
    po.grad_params = true;
    st = sal_plan_new(ctx, tg, &po, &p);
  }
  if (!st) st = sal_tensor_new(ctx, 4, (int64_t[]){B, F, features->shape.d[2], features->shape.d[3]}, &xb);
  if (!st) st = sal_tensor_new(ctx, 1, (int64_t[]){B}, &tb);
  /* Epochs of shuffled full batches (a short last batch is dropped, as in sal_train). Epoch ep
   * shuffles the previous epoch's order with the draws keyed by (seed, ep): a resumed run replays
   * the shuffles of the epochs done (m draws each) and continues with the same orders. */
  for (int64_t ep = 0; !st && ep < ep0; ep++) shuffle(idx, m, o->seed, (uint64_t)(ep + 1) << 32);
  for (int64_t ep = ep0; !st && ep < o->epochs && !(o->stop_after && ep >= o->stop_after); ep++) {
    shuffle(idx, m, o->seed, (uint64_t)(ep + 1) << 32);
    double loss_sum = 0;
    int64_t steps = 0;
    for (int64_t k0 = 0; !st && k0 + B <= m; k0 += B, steps++) {
      for (int64_t j = 0; j < B; j++) {
        memcpy(xb->data + j * per, features->data + idx[k0 + j] * per, (size_t)per * sizeof(float));
        tb->data[j] = (float)labels[idx[k0 + j]];
      }
      const sal_tensor *loss = NULL;
      st = sal_plan_set_input(p, "features", xb);
      if (!st) st = sal_plan_set_input(p, "target", tb);
      if (!st) st = sal_plan_forward(p);
      if (!st) st = sal_plan_value(p, "loss", &loss);
      if (!st && !isfinite(loss->data[0]))
        st = sal_ctx_error(ctx, SAL_STATUS_NUMERIC, "detect: the detector's loss is %g at epoch %lld",
                           (double)loss->data[0], (long long)(ep + 1));
      if (st) break;
      loss_sum += loss->data[0];
      st = sal_plan_backward(p, "loss", NULL);
      if (!st) st = sal_optim_step(opt, p, o->lr);
    }
    const double mean_loss = steps ? loss_sum / (double)steps : 0.0;
    if (!st && !o->quiet && (ep == 0 || ep + 1 == o->epochs || (ep + 1) % 10 == 0))
      fprintf(stderr, "detect: epoch %lld/%lld: loss %.4f\n", (long long)(ep + 1), (long long)o->epochs, mean_loss);
    if (!st && o->checkpoint) {
      char *meta = checkpoint_meta(base, config, ep + 1, o->epochs, sal_optim_steps(opt), mean_loss);
      st = meta ? sal_checkpoint_save(ctx, o->checkpoint, tg, opt, meta) : SAL_STATUS_OUT_OF_MEMORY;
      if (meta) cJSON_free(meta);
      if (st) sal_ctx_error_prefix(ctx, st, "detect: saving the checkpoint %s: ", o->checkpoint);
    }
  }
  if (!st) st = copy_params(det, tg);
  sal_tensor_free(xb);
  sal_tensor_free(tb);
  sal_optim_free(opt);
  sal_plan_free(p);
  sal_graph_free(tg);
  sal_free(idx);
  cJSON_Delete(config);
  cJSON_Delete(base);
  return st;
}

/* y is (b, 2) detector logits: the probability of "attacked" per item. */
static void visit_score(void *u, int64_t i0, int64_t b, const sal_tensor *y) {
  float *score = u;
  for (int64_t j = 0; j < b; j++) score[i0 + j] = sal__softmax_at(y->data + 2 * j, 2, 1);
}

sal_status sal_detect_score(sal_ctx *ctx, sal_graph *det, const sal_tensor *features, float *score) {
  sal_status st = check_fit(ctx, det, features);
  if (st) return st;
  const int64_t *d = features->shape.d;
  return forward_batches(ctx, det, "features", "logits", features->data, d[0], (int64_t[3]){d[1], d[2], d[3]}, visit_score,
                         score);
}

typedef struct scored {
  float s;
  int64_t y;
} scored;

static int by_score(const void *a, const void *b) {
  float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
  return (x > y) - (x < y);
}

sal_status sal_roc_auc(sal_ctx *ctx, const float *score, const int64_t *labels, const bool *use, int64_t n, double *auc) {
  *auc = 0;
  if (n < 0) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "roc_auc: %lld items", (long long)n);
  scored *v = sal_alloc(ctx, (size_t)(n ? n : 1) * sizeof(scored));
  if (!v) return SAL_STATUS_OUT_OF_MEMORY;
  int64_t m = 0, P = 0;
  for (int64_t i = 0; i < n; i++) {
    if (use && !use[i]) continue;
    if ((labels[i] != 0 && labels[i] != 1) || isnan(score[i])) {
      sal_free(v);
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "roc_auc: item %lld has label %lld and score %g (labels 0/1, no NaN)",
                           (long long)i, (long long)labels[i], (double)score[i]);
    }
    v[m].s = score[i], v[m].y = labels[i], P += labels[i], m++;
  }
  const int64_t Nn = m - P;
  if (P == 0 || Nn == 0) {
    sal_free(v);
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "roc_auc: %lld positives and %lld negatives: both are needed",
                         (long long)P, (long long)Nn);
  }
  /* Mann–Whitney U from mid-ranks: a tie group spanning ranks r+1..r+t gets rank r + (t+1)/2 for
   * each member, which counts every tied positive–negative pair as ½. */
  qsort(v, (size_t)m, sizeof *v, by_score);
  double rank_sum = 0;
  for (int64_t i = 0; i < m;) {
    int64_t j = i, pos = 0;
    while (j < m && v[j].s == v[i].s) pos += v[j].y, j++;
    rank_sum += (double)pos * ((double)(i + 1 + j) / 2.0);
    i = j;
  }
  *auc = (rank_sum - (double)P * (double)(P + 1) / 2.0) / ((double)P * (double)Nn);
  sal_free(v);
  return SAL_STATUS_OK;
}
