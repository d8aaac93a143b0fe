/* Model metadata (preprocessing and class names): ImageNet defaults, the sidecar JSON reader
 * (strict, cJSON) and writer (atomic), and sal_model_open, which turns a command-line model spec
 * into a graph plus its metadata — the first step of `salient info`, `salient run` and the
 * explanation commands. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "graph/internal.h"
#include "io/atomic.h"
#include "salient/meta.h"
#include "salient/models.h"
#include "salient/onnx.h"

/* Sidecars are small text files; anything larger is not one. */
#define MAX_SIDECAR_BYTES ((size_t)64 << 20)

static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};

void sal_model_meta_defaults(sal_model_meta *m) {
  memset(m, 0, sizeof *m);
  m->channels = 3;
  m->height = m->width = 224;
  memcpy(m->mean, imagenet_mean, sizeof m->mean);
  memcpy(m->std, imagenet_std, sizeof m->std);
}

void sal_model_meta_set_channels(sal_model_meta *m, int64_t channels) {
  bool defaults = memcmp(m->mean, imagenet_mean, sizeof m->mean) == 0 && memcmp(m->std, imagenet_std, sizeof m->std) == 0;
  m->channels = channels;
  if (channels == 1 && defaults) {
    /* Grayscale: the mean of ImageNet's three channel statistics. */
    m->mean[0] = m->mean[1] = m->mean[2] = 0.449f;
    m->std[0] = m->std[1] = m->std[2] = 0.226f;
  }
}

static void free_classes(char **names, int64_t n) {
  for (int64_t i = 0; names && i < n; i++) sal_free(names[i]);
  sal_free(names);
}

void sal_model_meta_clear(sal_model_meta *m) {
  free_classes(m->class_names, m->n_classes);
  sal_free(m->source);
  sal_model_meta_defaults(m);
}

static char *dup_str(sal_ctx *ctx, const char *s) {
  size_t n = strlen(s) + 1;
  char *d = sal_alloc(ctx, n);
  if (d) memcpy(d, s, n);
  return d;
}

sal_status sal_model_meta_set_classes(sal_ctx *ctx, sal_model_meta *m, const char *const *names, int64_t n) {
  if (n < 0 || n > SAL_META_MAX_CLASSES)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%lld class names (at most %d)", (long long)n, SAL_META_MAX_CLASSES);
  char **c = NULL;
  if (n > 0) {
    c = sal_calloc(ctx, (size_t)n, sizeof(char *));
    if (!c) return SAL_STATUS_OUT_OF_MEMORY;
    for (int64_t i = 0; i < n; i++)
      if (!(c[i] = dup_str(ctx, names[i]))) {
        free_classes(c, n);
        return SAL_STATUS_OUT_OF_MEMORY;
      }
  }
  free_classes(m->class_names, m->n_classes);
  m->class_names = c;
  m->n_classes = n;
  return SAL_STATUS_OK;
}

sal_status sal_model_meta_set_source(sal_ctx *ctx, sal_model_meta *m, const char *source) {
  char *s = dup_str(ctx, source ? source : "");
  if (!s) return SAL_STATUS_OUT_OF_MEMORY;
  sal_free(m->source);
  m->source = s;
  return SAL_STATUS_OK;
}

bool sal_model_meta_sidecar_path(const char *model_path, char *buf, size_t n) {
  const char *slash = strrchr(model_path, '/');
  const char *dot = strrchr(model_path, '.');
  size_t stem = dot && (!slash || dot > slash + 1) ? (size_t)(dot - model_path) : strlen(model_path);
  int w = snprintf(buf, n, "%.*s.json", (int)stem, model_path);
  return w >= 0 && (size_t)w < n;
}

/* ---- reading ---- */

static sal_status key_error(sal_ctx *ctx, const char *path, const char *key, const char *what) {
  return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: key \"%s\": %s", path, key, what);
}

/* A JSON array of `want` numbers (want = 0: 1..3 numbers) into out; *count = its length. */
static sal_status read_numbers(sal_ctx *ctx, const char *path, const cJSON *item, int want, double *out, int *count) {
  if (!cJSON_IsArray(item)) return key_error(ctx, path, item->string, "must be an array of numbers");
  int n = cJSON_GetArraySize(item);
  if ((want && n != want) || (!want && (n < 1 || n > 3))) {
    char msg[96];
    if (want) snprintf(msg, sizeof msg, "must have %d numbers, it has %d", want, n);
    else snprintf(msg, sizeof msg, "must have 1 or 3 numbers (one per channel), it has %d", n);
    return key_error(ctx, path, item->string, msg);
  }
  int i = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, item) {
    if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) return key_error(ctx, path, item->string, "holds a non-number");
    out[i++] = e->valuedouble;
  }
  *count = n;
  return SAL_STATUS_OK;
}

static sal_status parse_sidecar(sal_ctx *ctx, const char *path, const cJSON *root, sal_model_meta *m) {
  if (!cJSON_IsObject(root)) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: the top level must be a JSON object", path);
  static const char *const known[] = {"input_size", "mean", "std", "classes", "description"};
  enum { N_KNOWN = 5 };
  const cJSON *items[N_KNOWN] = {NULL};
  const cJSON *it;
  cJSON_ArrayForEach(it, root) {
    int k = 0;
    while (k < N_KNOWN && strcmp(it->string, known[k]) != 0) k++;
    if (k == N_KNOWN)
      return key_error(ctx, path, it->string, "unknown key (known: input_size, mean, std, classes, description)");
    if (items[k]) return key_error(ctx, path, it->string, "appears twice");
    items[k] = it;
  }
  sal_model_meta r = *m; /* validated result; strings are replaced only at the end */
  double v[3];
  int n;
  sal_status st;
  if (items[0]) {
    if ((st = read_numbers(ctx, path, items[0], 3, v, &n))) return st;
    if (v[0] != 1 && v[0] != 3) return key_error(ctx, path, "input_size", "channels (first entry) must be 1 or 3");
    for (int i = 1; i < 3; i++)
      if (!(v[i] == floor(v[i]) && v[i] >= 1 && v[i] <= SAL_META_MAX_SIZE))
        return key_error(ctx, path, "input_size", "height and width must be whole numbers in 1..4096");
    sal_model_meta_set_channels(&r, (int64_t)v[0]);
    r.height = (int64_t)v[1];
    r.width = (int64_t)v[2];
  }
  for (int k = 1; k <= 2; k++) {
    if (!items[k]) continue;
    if ((st = read_numbers(ctx, path, items[k], 0, v, &n))) return st;
    if (n != r.channels) {
      char msg[96];
      snprintf(msg, sizeof msg, "has %d values for %lld input channels", n, (long long)r.channels);
      return key_error(ctx, path, known[k], msg);
    }
    float *dst = k == 1 ? r.mean : r.std;
    for (int i = 0; i < n; i++) {
      if (k == 2 && !(v[i] > 0)) return key_error(ctx, path, "std", "entries must be positive");
      dst[i] = (float)v[i];
    }
    for (int i = n; i < 3; i++) dst[i] = dst[0];
  }
  const cJSON *cls = items[3];
  int64_t nc = 0;
  if (cls) {
    if (!cJSON_IsArray(cls)) return key_error(ctx, path, "classes", "must be an array of strings");
    nc = cJSON_GetArraySize(cls);
    if (nc < 1 || nc > SAL_META_MAX_CLASSES) return key_error(ctx, path, "classes", "must list 1..1000000 names");
    cJSON_ArrayForEach(it, cls) {
      if (!cJSON_IsString(it) || !it->valuestring[0])
        return key_error(ctx, path, "classes", "entries must be non-empty strings");
    }
  }
  if (items[4] && !cJSON_IsString(items[4])) return key_error(ctx, path, "description", "must be a string");
  if (cls) {
    const char **names = sal_calloc(ctx, (size_t)nc, sizeof(char *));
    if (!names) return SAL_STATUS_OUT_OF_MEMORY;
    int64_t i = 0;
    cJSON_ArrayForEach(it, cls) names[i++] = it->valuestring;
    st = sal_model_meta_set_classes(ctx, &r, names, nc);
    sal_free((void *)names);
    if (st) return st;
  }
  if (items[4] && (st = sal_model_meta_set_source(ctx, &r, items[4]->valuestring))) {
    if (cls) free_classes(r.class_names, r.n_classes);
    return st;
  }
  *m = r;
  return SAL_STATUS_OK;
}

sal_status sal_model_meta_read(sal_ctx *ctx, const char *path, sal_model_meta *m) {
  if (!path || !m) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_model_meta_read: NULL argument");
  char *text = NULL;
  size_t len = 0;
  sal_status st = sal__read_file(ctx, path, MAX_SIDECAR_BYTES, &text, &len);
  if (st) return st;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
  if (!root) {
    size_t at = end && end >= text ? (size_t)(end - text) : 0;
    int line = 1;
    for (size_t i = 0; i < at && i < len; i++) line += text[i] == '\n';
    sal_free(text);
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: not valid JSON (near line %d, byte %zu)", path, line, at);
  }
  for (const char *p = end; p && p < text + len; p++)
    if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t' && *p != '\0') {
      cJSON_Delete(root);
      sal_free(text);
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: text after the JSON object", path);
    }
  /* Replaced keys' old strings are freed only once the whole file has validated. */
  char **old_classes = m->class_names, *old_source = m->source;
  int64_t old_n = m->n_classes;
  st = parse_sidecar(ctx, path, root, m);
  if (!st) {
    if (m->class_names != old_classes) free_classes(old_classes, old_n);
    if (m->source != old_source) sal_free(old_source);
  }
  cJSON_Delete(root);
  sal_free(text);
  return st;
}

/* ---- writing ---- */

/* The shortest decimal that reads back as the same float (0.485f is written "0.485"). */
static cJSON *float_number(float f) {
  char buf[32];
  for (int prec = 6; prec <= 9; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
    if (strtof(buf, NULL) == f) break;
  }
  return cJSON_CreateNumber(strtod(buf, NULL));
}

static cJSON *float_array(const float *v, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; a && i < n; i++) {
    cJSON *x = float_number(v[i]);
    if (!x || !cJSON_AddItemToArray(a, x)) {
      cJSON_Delete(x);
      cJSON_Delete(a);
      return NULL;
    }
  }
  return a;
}

sal_status sal_model_meta_write(sal_ctx *ctx, const char *path, const sal_model_meta *m) {
  if (!path || !m) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_model_meta_write: NULL argument");
  if (m->channels != 1 && m->channels != 3)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "writing %s: channels must be 1 or 3, got %lld", path,
                         (long long)m->channels);
  int nch = (int)m->channels;
  const int size[3] = {nch, (int)m->height, (int)m->width};
  cJSON *root = cJSON_CreateObject();
  bool ok = root && cJSON_AddItemToObject(root, "input_size", cJSON_CreateIntArray(size, 3)) &&
            cJSON_AddItemToObject(root, "mean", float_array(m->mean, nch)) &&
            cJSON_AddItemToObject(root, "std", float_array(m->std, nch));
  if (ok && m->n_classes > 0) {
    cJSON *cls = cJSON_CreateArray();
    ok = cls && cJSON_AddItemToObject(root, "classes", cls);
    for (int64_t i = 0; ok && i < m->n_classes; i++) ok = cJSON_AddItemToArray(cls, cJSON_CreateString(m->class_names[i]));
  }
  if (ok && m->source && m->source[0]) ok = cJSON_AddStringToObject(root, "description", m->source) != NULL;
  char *text = ok ? cJSON_Print(root) : NULL;
  cJSON_Delete(root);
  if (!text) return sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "writing %s: out of memory", path);
  sal__atomic_file af;
  sal_status st = sal__atomic_open(ctx, path, &af);
  if (!st) {
    size_t n = strlen(text);
    bool wrote = fwrite(text, 1, n, af.f) == n && fputc('\n', af.f) != EOF;
    st = sal__atomic_commit(ctx, &af, wrote);
  }
  cJSON_free(text);
  return st;
}

/* ---- opening a model ---- */

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bool file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

/* Input size and class count from the graph: the first input (N, C, H, W) and the first output
 * (N, K). Dimensions the graph leaves open are not taken. */
static void meta_from_graph(const sal_graph *g, sal_model_meta *m, int64_t *classes) {
  sal_shape s;
  *classes = 0;
  if (sal_graph_num_inputs(g) > 0 && !sal_graph_value_shape(g, sal_graph_input_name(g, 0), &s) && s.ndim == 4) {
    if (s.d[1] == 1 || s.d[1] == 3) sal_model_meta_set_channels(m, s.d[1]);
    else m->channels = s.d[1];
    m->height = s.d[2];
    m->width = s.d[3];
  }
  if (sal_graph_num_outputs(g) > 0 && !sal_graph_value_shape(g, sal_graph_output_name(g, 0), &s) && s.ndim == 2)
    *classes = s.d[1];
}

/* A sidecar must describe the model it sits next to. */
static sal_status check_against_graph(sal_ctx *ctx, const char *sidecar, const sal_model_meta *from_graph,
                                      const sal_model_meta *m, int64_t classes) {
  if (m->channels != from_graph->channels || m->height != from_graph->height || m->width != from_graph->width)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                         "%s: key \"input_size\": (%lld, %lld, %lld) does not match the model's input (%lld, %lld, %lld)",
                         sidecar, (long long)m->channels, (long long)m->height, (long long)m->width,
                         (long long)from_graph->channels, (long long)from_graph->height, (long long)from_graph->width);
  if (m->n_classes > 0 && classes > 0 && m->n_classes != classes)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: key \"classes\": %lld names for a model with %lld outputs", sidecar,
                         (long long)m->n_classes, (long long)classes);
  return SAL_STATUS_OK;
}

sal_status sal_model_open_ex(sal_ctx *ctx, const char *spec, const sal_model_open_opts *opts, sal_graph **graph,
                             sal_model_meta *meta) {
  if (graph) *graph = NULL;
  if (meta) sal_model_meta_defaults(meta);
  if (!spec || !graph || !meta) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_model_open: NULL argument");
  sal_model_open_opts o = {0, NULL};
  if (opts) o = *opts;
  sal_graph *g = NULL;
  sal_status st;
  char source[1024];
  bool is_file = ends_with(spec, ".onnx");
  if (ends_with(spec, ".safetensors"))
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: checkpoints are not supported yet", spec);
  if (is_file) {
    if (o.image_size)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: an ONNX model's input size is fixed by the file; the image size "
                           "option applies to built-in architectures only", spec);
    st = sal_onnx_load(ctx, spec, NULL, &g);
    if (st) return st;
    snprintf(source, sizeof source, "ONNX file %s", spec);
  } else {
    sal_model_spec ms = sal_model_spec_default(spec);
    if (o.image_size) ms.image_size = o.image_size;
    st = sal_model_build(ctx, &ms, &g);
    if (st) {
      if (st == SAL_STATUS_NOT_FOUND)
        return sal_ctx_error_prefix(ctx, st, "'%s' is neither an .onnx file nor a built-in architecture: ", spec);
      return st;
    }
    snprintf(source, sizeof source, "built-in %s, untrained (random weights from seed %llu)", spec,
             (unsigned long long)sal_ctx_seed(ctx));
  }
  sal_model_meta m, from_graph;
  sal_model_meta_defaults(&m);
  int64_t classes;
  meta_from_graph(g, &m, &classes);
  from_graph = m;
  char sidecar[4096] = "";
  if (o.meta_path) snprintf(sidecar, sizeof sidecar, "%s", o.meta_path);
  else if (is_file && sal_model_meta_sidecar_path(spec, sidecar, sizeof sidecar) && !file_exists(sidecar)) sidecar[0] = 0;
  st = SAL_STATUS_OK;
  if (sidecar[0]) {
    st = sal_model_meta_read(ctx, sidecar, &m);
    if (!st) st = check_against_graph(ctx, sidecar, &from_graph, &m, classes);
    size_t used = strlen(source);
    snprintf(source + used, sizeof source - used, "; preprocessing from %s%s%s%s", sidecar, m.source ? " (" : "",
             m.source ? m.source : "", m.source ? ")" : "");
  } else {
    size_t used = strlen(source);
    snprintf(source + used, sizeof source - used, "; ImageNet mean/std (no sidecar)");
  }
  if (!st) st = sal_model_meta_set_source(ctx, &m, source);
  if (st) {
    sal_model_meta_clear(&m);
    sal_graph_free(g);
    return st;
  }
  *graph = g;
  *meta = m;
  return SAL_STATUS_OK;
}

sal_status sal_model_open(sal_ctx *ctx, const char *spec, sal_graph **graph, sal_model_meta *meta) {
  return sal_model_open_ex(ctx, spec, NULL, graph, meta);
}
