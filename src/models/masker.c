/* The masking model's architecture (Phang, Park & Geras 2020; METHODS.md §D): tap selection, the
 * masker built onto a classifier graph or alone, and trained maskers loaded from their checkpoints
 * and attached to their classifier. Training is in src/train/masker.c; method `masker` of
 * sal_explain (src/saliency/masker.c) runs the combined graph. */
#include "salient/masker.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/internal.h"
#include "models/build.h"
#include "salient/checkpoint.h"

static bool is_act4(const sal_value *v) { return v->kind != SAL_VALUE_PARAM && v->shape.ndim == 4; }

/* NOT_FOUND listing every 4-D activation of g. */
static sal_status unknown_tap(sal_ctx *ctx, const sal_graph *g, const char *name) {
  char list[2048];
  size_t used = 0;
  list[0] = '\0';
  for (int v = 0; v < g->n_values && used < sizeof list; v++)
    if (g->values[v].kind == SAL_VALUE_ACT && g->values[v].shape.ndim == 4)
      used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", g->values[v].name);
  return sal_ctx_error(ctx, SAL_STATUS_NOT_FOUND, "masker: '%s' is not a 4-D activation of the classifier (layers: %s)",
                       name, used ? list : "none");
}

sal_status sal_masker_taps(sal_ctx *ctx, const sal_graph *g, const char *layers, char taps[2][SAL_MASKER_NAME]) {
  taps[0][0] = taps[1][0] = '\0';
  if (layers) {
    const char *comma = strchr(layers, ',');
    size_t n0 = comma ? (size_t)(comma - layers) : 0;
    if (!comma || strchr(comma + 1, ',') || n0 == 0 || !comma[1] || n0 >= SAL_MASKER_NAME ||
        strlen(comma + 1) >= SAL_MASKER_NAME)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "masker: layers '%s' must be two names 'a,b' (shallower first)", layers);
    memcpy(taps[0], layers, n0);
    taps[0][n0] = '\0';
    snprintf(taps[1], SAL_MASKER_NAME, "%s", comma + 1);
  } else if (sal__graph_find(g, "block3") >= 0 && sal__graph_find(g, "block4") >= 0) {
    /* simple_cnn: the pooled outputs of its last two conv blocks. */
    snprintf(taps[0], SAL_MASKER_NAME, "block3");
    snprintf(taps[1], SAL_MASKER_NAME, "block4");
  } else if (sal__graph_find(g, "layer4") >= 0 && sal__graph_find(g, "layer3") >= 0) {
    snprintf(taps[0], SAL_MASKER_NAME, "layer3");
    snprintf(taps[1], SAL_MASKER_NAME, "layer4");
  } else if (sal__graph_find(g, "layer3") >= 0 && sal__graph_find(g, "layer2") >= 0) {
    snprintf(taps[0], SAL_MASKER_NAME, "layer2");
    snprintf(taps[1], SAL_MASKER_NAME, "layer3");
  } else {
    /* The deepest 4-D activation at each of the two coarsest resolutions above 1x1. Values are
     * appended in node order, so a later one is deeper. */
    int64_t a1 = 0, a0 = 0; /* the smallest and second smallest areas above 1 */
    for (int v = 0; v < g->n_values; v++) {
      const sal_value *x = &g->values[v];
      int64_t a = x->kind == SAL_VALUE_ACT && x->shape.ndim == 4 ? x->shape.d[2] * x->shape.d[3] : 0;
      if (a <= 1 || a == a1 || a == a0) continue;
      if (!a1 || a < a1) a0 = a1, a1 = a;
      else if (!a0 || a < a0) a0 = a;
    }
    int best[2] = {-1, -1};
    for (int v = 0; v < g->n_values; v++) {
      const sal_value *x = &g->values[v];
      int64_t a = x->kind == SAL_VALUE_ACT && x->shape.ndim == 4 ? x->shape.d[2] * x->shape.d[3] : 0;
      if (a > 1 && a == a0) best[0] = v;
      if (a > 1 && a == a1) best[1] = v;
    }
    if (best[0] < 0 || best[1] < 0)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                           "masker: the classifier has no two 4-D activations at different resolutions; give --layers a,b");
    snprintf(taps[0], SAL_MASKER_NAME, "%s", g->values[best[0]].name);
    snprintf(taps[1], SAL_MASKER_NAME, "%s", g->values[best[1]].name);
  }
  for (int i = 0; i < 2; i++) {
    int v = sal__graph_find(g, taps[i]);
    if (v < 0 || !is_act4(&g->values[v]) || g->values[v].kind == SAL_VALUE_INPUT) return unknown_tap(ctx, g, taps[i]);
  }
  if (strcmp(taps[0], taps[1]) == 0)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "masker: the two layers are both '%s'", taps[0]);
  return SAL_STATUS_OK;
}

/* A constant (non-trainable) parameter holding n floats. */
static sal_status const_floats(sal_graph *g, const char *name, int64_t n, const float *v) {
  return sal_graph_add_param(g, name, 1, &n, v, false);
}

sal_status sal_masker_attach(sal_ctx *ctx, sal_graph *g, const char *const taps[2], int64_t H, int64_t W, uint64_t seed) {
  if (H < 4 || W < 4 || H % 4 || W % 4)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "masker: the input %lldx%lld must have sides that are multiples of 4",
                         (long long)H, (long long)W);
  const int64_t h4 = H / 4, w4 = W / 4, F = SAL_MASKER_CHANNELS;
  sal__mb b = {ctx, g, seed};
  char conv[SAL__MB_NAME], bn[SAL__MB_NAME], relu[SAL__MB_NAME], up[SAL__MB_NAME], scales[SAL__MB_NAME];
  char ups[2][SAL__MB_NAME];
  sal_status st = SAL_STATUS_OK;
  for (int i = 0; i < 2 && !st; i++) {
    sal_shape s;
    st = sal_graph_value_shape(g, taps[i], &s);
    if (st) return sal_ctx_error_prefix(ctx, st, "masker: tap %d: ", i);
    if (s.ndim != 4) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "masker: tap '%s' is not 4-D", taps[i]);
    /* Resize's output side is floor(side * scale): the scale must give exactly H/4. */
    float sy = (float)h4 / (float)s.d[2], sx = (float)w4 / (float)s.d[3];
    if ((int64_t)((double)s.d[2] * (double)sy) != h4 || (int64_t)((double)s.d[3] * (double)sx) != w4)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "masker: tap '%s' (%lldx%lld) does not resize exactly to %lldx%lld",
                           taps[i], (long long)s.d[2], (long long)s.d[3], (long long)h4, (long long)w4);
    sal__mb_name(conv, "masker.tap%d.conv", i), sal__mb_name(bn, "masker.tap%d.bn", i);
    sal__mb_name(relu, "masker.tap%d.relu", i), sal__mb_name(up, "masker.tap%d.up", i);
    sal__mb_name(scales, "masker.tap%d.scales", i);
    st = sal__mb_conv_bn(&b, taps[i], conv, bn, relu, s.d[1], F, 1, 1, 0);
    if (!st) st = const_floats(g, scales, 4, (const float[]){1, 1, sy, sx});
    /* F.interpolate(mode='bilinear', align_corners=False) is ONNX half_pixel linear. */
    const sal_attr ra[] = {sal_attr_string("mode", "linear"), sal_attr_string("coordinate_transformation_mode", "half_pixel")};
    if (!st)
      st = sal_graph_add_node(g, "Resize", up, (const char *[]){relu, "", scales}, 3, (const char *[]){up}, 1, ra, 2);
    snprintf(ups[i], sizeof ups[i], "%s", up);
  }
  const sal_attr axis = sal_attr_int("axis", 1);
  if (!st)
    st = sal_graph_add_node(g, "Concat", "masker.cat", (const char *[]){ups[0], ups[1]}, 2, (const char *[]){"masker.cat"}, 1,
                            &axis, 1);
  if (!st) st = sal__mb_conv(&b, "masker.cat", "masker.out", 2 * F, 1, 3, 1, 1, true);
  if (!st) st = const_floats(g, "masker.up.scales", 4, (const float[]){1, 1, 4, 4});
  /* PyTorch's nearest upsampling: asymmetric coordinates, floor. The sigmoid comes after it (the
   * same values: nearest upsampling copies), which keeps oneDNN's eltwise off a 1-channel blocked
   * layout it only has a slow reference kernel for. */
  const sal_attr na[] = {sal_attr_string("mode", "nearest"), sal_attr_string("coordinate_transformation_mode", "asymmetric"),
                         sal_attr_string("nearest_mode", "floor")};
  if (!st)
    st = sal_graph_add_node(g, "Resize", "masker.up", (const char *[]){"masker.out", "", "masker.up.scales"}, 3,
                            (const char *[]){"masker.up"}, 1, na, 3);
  if (!st) st = sal__mb_unary(&b, "Sigmoid", "masker.up", "mask");
  if (!st) st = sal_graph_add_output(g, "mask");
  if (st) return sal_ctx_error_prefix(ctx, st, "building the masker: ");
  return SAL_STATUS_OK;
}

sal_status sal_masker_build(sal_ctx *ctx, const sal_graph *classifier, const char *const taps[2], uint64_t seed,
                            sal_graph **out) {
  *out = NULL;
  sal_shape xs;
  if (sal_graph_num_inputs(classifier) < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "masker: the classifier has no input");
  sal_status st = sal_graph_value_shape(classifier, sal_graph_input_name(classifier, 0), &xs);
  if (st) return st;
  if (xs.ndim != 4) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "masker: the classifier's input is not (N, C, H, W)");
  sal_graph *g = NULL;
  st = sal_graph_new(ctx, &g);
  for (int i = 0; i < 2 && !st; i++) {
    int v = sal__graph_find(classifier, taps[i]);
    if (v < 0 || !is_act4(&classifier->values[v])) {
      st = unknown_tap(ctx, classifier, taps[i]);
      break;
    }
    sal_shape s = classifier->values[v].shape;
    s.d[0] = -1;
    st = sal_graph_add_input(g, taps[i], 4, s.d);
  }
  if (!st) st = sal_masker_attach(ctx, g, taps, xs.d[2], xs.d[3], seed);
  if (st) {
    sal_graph_free(g);
    return st;
  }
  *out = g;
  return SAL_STATUS_OK;
}

static bool is_masker_name(const char *s) { return strncmp(s, "masker.", 7) == 0; }

static int cmp_value_name(const void *a, const void *b) {
  const sal_value *const *x = a, *const *y = b;
  return strcmp((*x)->name, (*y)->name);
}

uint64_t sal_masker_fingerprint(const sal_graph *g) {
  uint64_t h = 0xcbf29ce484222325ull;
  int n = 0;
  for (int v = 0; v < g->n_values; v++) n += g->values[v].kind == SAL_VALUE_PARAM && !is_masker_name(g->values[v].name);
  const sal_value **vs = malloc((size_t)(n ? n : 1) * sizeof *vs);
  if (!vs) return 0;
  n = 0;
  for (int v = 0; v < g->n_values; v++)
    if (g->values[v].kind == SAL_VALUE_PARAM && !is_masker_name(g->values[v].name)) vs[n++] = &g->values[v];
  qsort(vs, (size_t)n, sizeof *vs, cmp_value_name);
  for (int i = 0; i < n; i++) {
    for (const char *c = vs[i]->name; *c; c++) h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
    const unsigned char *bytes = (const unsigned char *)vs[i]->data;
    size_t nb = (size_t)sal_shape_numel(&vs[i]->shape) * sizeof(float);
    for (size_t k = 0; k < nb; k++) h = (h ^ bytes[k]) * 0x100000001b3ull;
  }
  free(vs);
  return h;
}

struct sal_masker {
  sal_ctx *ctx;
  char path[1024];
  char taps[2][SAL_MASKER_NAME];
  char mode[8];
  uint64_t fingerprint;
  int64_t H, W;
  int64_t tap_shape[2][4];
  sal_safetensors *st;
};

void sal_masker_free(sal_masker *m) {
  if (!m) return;
  sal_safetensors_free(m->st);
  sal_free(m);
}

const char *sal_masker_tap(const sal_masker *m, int i) { return i == 0 || i == 1 ? m->taps[i] : NULL; }
const char *sal_masker_mode_name(const sal_masker *m) { return m->mode; }
uint64_t sal_masker_classifier_fingerprint(const sal_masker *m) { return m->fingerprint; }

sal_status sal_masker_load(sal_ctx *ctx, const char *path, sal_masker **out) {
  *out = NULL;
  sal_masker *m = sal_calloc(ctx, 1, sizeof *m);
  if (!m) return SAL_STATUS_OUT_OF_MEMORY;
  m->ctx = ctx;
  snprintf(m->path, sizeof m->path, "%s", path);
  sal_status st = sal_safetensors_read(ctx, path, &m->st);
  if (st) {
    sal_free(m);
    return st;
  }
  const char *meta = sal_safetensors_meta(m->st, "salient");
  cJSON *j = meta ? cJSON_Parse(meta) : NULL;
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
  const cJSON *taps = cJSON_GetObjectItemCaseSensitive(j, "taps");
  const cJSON *shapes = cJSON_GetObjectItemCaseSensitive(j, "tap_shapes");
  const cJSON *fp = cJSON_GetObjectItemCaseSensitive(j, "classifier_fingerprint");
  const cJSON *mode = cJSON_GetObjectItemCaseSensitive(j, "mode");
  const cJSON *size = cJSON_GetObjectItemCaseSensitive(j, "image_size");
  const char *bad = NULL;
  if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "salient-masker") != 0) bad = "not a masker checkpoint (metadata format is not salient-masker)";
  else if (!cJSON_IsArray(taps) || cJSON_GetArraySize(taps) != 2 || !cJSON_IsArray(shapes) || cJSON_GetArraySize(shapes) != 2)
    bad = "metadata 'taps' / 'tap_shapes' are missing or invalid";
  else if (!cJSON_IsString(fp) || strlen(fp->valuestring) != 16) bad = "metadata 'classifier_fingerprint' is missing";
  else if (!cJSON_IsString(mode) || (strcmp(mode->valuestring, "fix") && strcmp(mode->valuestring, "ca")))
    bad = "metadata 'mode' is not fix or ca";
  else if (!cJSON_IsArray(size) || cJSON_GetArraySize(size) != 2) bad = "metadata 'image_size' is missing";
  for (int i = 0; !bad && i < 2; i++) {
    const cJSON *t = cJSON_GetArrayItem(taps, i), *s = cJSON_GetArrayItem(shapes, i);
    if (!cJSON_IsString(t) || strlen(t->valuestring) >= SAL_MASKER_NAME || !cJSON_IsArray(s) || cJSON_GetArraySize(s) != 4) {
      bad = "metadata 'taps' / 'tap_shapes' are invalid";
      break;
    }
    snprintf(m->taps[i], SAL_MASKER_NAME, "%s", t->valuestring);
    for (int d = 0; d < 4; d++) {
      const cJSON *e = cJSON_GetArrayItem(s, d);
      if (!cJSON_IsNumber(e)) bad = "metadata 'tap_shapes' are invalid";
      else m->tap_shape[i][d] = (int64_t)e->valuedouble;
    }
  }
  if (!bad) {
    snprintf(m->mode, sizeof m->mode, "%s", mode->valuestring);
    m->fingerprint = strtoull(fp->valuestring, NULL, 16);
    m->H = (int64_t)cJSON_GetArrayItem(size, 0)->valuedouble;
    m->W = (int64_t)cJSON_GetArrayItem(size, 1)->valuedouble;
  }
  cJSON_Delete(j);
  if (bad) {
    sal_masker_free(m);
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: %s", path, bad);
  }
  *out = m;
  return SAL_STATUS_OK;
}

sal_status sal_masker_check(sal_ctx *ctx, const sal_masker *m, const sal_graph *classifier) {
  sal_shape xs;
  if (sal_graph_num_inputs(classifier) < 1 || sal_graph_value_shape(classifier, sal_graph_input_name(classifier, 0), &xs) ||
      xs.ndim != 4)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "masker %s: the classifier's input is not (N, C, H, W)", m->path);
  if (xs.d[2] != m->H || xs.d[3] != m->W)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "masker %s was trained for %lldx%lld inputs, this classifier takes %lldx%lld",
                         m->path, (long long)m->H, (long long)m->W, (long long)xs.d[2], (long long)xs.d[3]);
  for (int i = 0; i < 2; i++) {
    int v = sal__graph_find(classifier, m->taps[i]);
    if (v < 0 || !is_act4(&classifier->values[v]))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                           "masker %s was trained for another classifier: this one has no 4-D activation '%s'", m->path,
                           m->taps[i]);
    const sal_shape *s = &classifier->values[v].shape;
    for (int d = 1; d < 4; d++)
      if (s->d[d] != m->tap_shape[i][d])
        return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                             "masker %s was trained for another classifier: its activation '%s' is (N, %lld, %lld, %lld), "
                             "this one's (N, %lld, %lld, %lld)", m->path, m->taps[i], (long long)m->tap_shape[i][1],
                             (long long)m->tap_shape[i][2], (long long)m->tap_shape[i][3], (long long)s->d[1],
                             (long long)s->d[2], (long long)s->d[3]);
  }
  uint64_t fp = sal_masker_fingerprint(classifier);
  if (fp != m->fingerprint)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                         "masker %s was trained for another classifier (weights fingerprint %016llx, this one %016llx)%s",
                         m->path, (unsigned long long)m->fingerprint, (unsigned long long)fp,
                         strcmp(m->mode, "ca") == 0 ? "; a CA masker goes with the classifier co-trained with it" : "");
  return SAL_STATUS_OK;
}

sal_status sal_masker_combine(sal_ctx *ctx, const sal_masker *m, const sal_graph *classifier, sal_graph **out) {
  *out = NULL;
  sal_status st = sal_masker_check(ctx, m, classifier);
  if (st) return st;
  if (sal__graph_find(classifier, "mask") >= 0)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "masker: the classifier already has a value 'mask'");
  sal_graph *g = NULL;
  st = sal_graph_clone(classifier, &g);
  if (st) return st;
  /* Keep only the logits as output before the mask is added: outputs are (logits, mask). */
  g->n_outputs = g->n_outputs > 0 ? 1 : 0;
  const char *taps[2] = {m->taps[0], m->taps[1]};
  st = sal_masker_attach(ctx, g, taps, m->H, m->W, 0);
  /* Every masker parameter of the graph comes from the file, with its shape. */
  for (int v = 0; !st && v < g->n_values; v++) {
    sal_value *val = &g->values[v];
    if (val->kind != SAL_VALUE_PARAM || !is_masker_name(val->name) || strstr(val->name, ".scales")) continue;
    const sal_tensor *t = sal_safetensors_find(m->st, val->name);
    if (!t || !sal_shape_equal(&t->shape, &val->shape))
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "masker %s: tensor '%s' is %s", m->path, val->name,
                         t ? "of another shape" : "missing");
    else
      memcpy(val->data, t->data, (size_t)sal_shape_numel(&t->shape) * sizeof(float));
  }
  if (st) {
    sal_graph_free(g);
    return st;
  }
  *out = g;
  return SAL_STATUS_OK;
}
