/* The safetensors container (read with full header validation, write atomically) and graph
 * checkpoints on top of it: parameters, optimiser state and JSON metadata. Used by training,
 * `salient train --resume`, and every command that accepts a model. */
#include "salient/checkpoint.h"

#include "graph/internal.h"
#include "io/atomic.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Format (huggingface/safetensors, docs "Format"): u64 little-endian header length N; N bytes of
 * UTF-8 JSON: an object mapping tensor names to {"dtype", "shape", "data_offsets": [begin, end)}
 * (offsets relative to the data section) plus an optional "__metadata__" string→string object;
 * then the data section, row-major little-endian. The reference implementation refuses headers
 * above 100 MB and requires the offsets to tile the data section exactly; so does salient. */
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
/* Checkpoints of the largest torchvision models are ~0.5 GB; 64 GiB bounds a wrong file. */
#define ST_MAX_FILE ((size_t)64 << 30)
#define ST_META_KEY "salient"
#define ST_STEPS_KEY "optim_steps"
#define ST_OPTIM_PREFIX "optim/"

typedef struct st_entry {
  char *name;
  sal_tensor *t;
  uint64_t begin, end;
} st_entry;

struct sal_safetensors {
  st_entry *e;
  int n;
  char **meta_k, **meta_v;
  int n_meta;
};

void sal_safetensors_free(sal_safetensors *st) {
  if (!st) return;
  for (int i = 0; i < st->n; i++) {
    sal_free(st->e[i].name);
    sal_tensor_free(st->e[i].t);
  }
  sal_free(st->e);
  for (int i = 0; i < st->n_meta; i++) {
    sal_free(st->meta_k[i]);
    sal_free(st->meta_v[i]);
  }
  sal_free(st->meta_k);
  sal_free(st->meta_v);
  sal_free(st);
}

int sal_safetensors_count(const sal_safetensors *st) { return st->n; }
const char *sal_safetensors_name(const sal_safetensors *st, int i) { return i >= 0 && i < st->n ? st->e[i].name : NULL; }
const sal_tensor *sal_safetensors_tensor(const sal_safetensors *st, int i) {
  return i >= 0 && i < st->n ? st->e[i].t : NULL;
}
const sal_tensor *sal_safetensors_find(const sal_safetensors *st, const char *name) {
  for (int i = 0; i < st->n; i++)
    if (!strcmp(st->e[i].name, name)) return st->e[i].t;
  return NULL;
}
const char *sal_safetensors_meta(const sal_safetensors *st, const char *key) {
  for (int i = 0; i < st->n_meta; i++)
    if (!strcmp(st->meta_k[i], key)) return st->meta_v[i];
  return NULL;
}

/* ---- element conversion ---- */

typedef enum st_dtype { ST_F32, ST_F64, ST_F16, ST_BF16, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL, ST_BAD } st_dtype;
static const struct {
  const char *name;
  size_t size;
} st_dtypes[] = {{"F32", 4}, {"F64", 8}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                 {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};

static uint64_t le(const unsigned char *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* IEEE binary16 → float (subnormals, infinities and NaN included). */
static float half_to_float(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
  return (h & 0x8000) ? -v : v;
}

static float convert(st_dtype d, const unsigned char *p) {
  uint64_t u = le(p, st_dtypes[d].size);
  switch (d) {
  case ST_F32: {
    uint32_t w = (uint32_t)u;
    float f;
    memcpy(&f, &w, 4);
    return f;
  }
  case ST_F64: {
    double f;
    memcpy(&f, &u, 8);
    return (float)f;
  }
  case ST_F16: return half_to_float((uint16_t)u);
  case ST_BF16: {
    uint32_t w = (uint32_t)u << 16;
    float f;
    memcpy(&f, &w, 4);
    return f;
  }
  case ST_I64: return (float)(int64_t)u;
  case ST_I32: return (float)(int32_t)(uint32_t)u;
  case ST_I16: return (float)(int16_t)(uint16_t)u;
  case ST_I8: return (float)(int8_t)(uint8_t)u;
  case ST_U8: return (float)(uint8_t)u;
  case ST_BOOL: return u ? 1.0f : 0.0f;
  default: return 0.0f;
  }
}

static int cmp_begin(const void *a, const void *b) {
  const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
  return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* An exact non-negative integer from a JSON number (cJSON keeps doubles: exact up to 2^53). */
static bool json_u64(const cJSON *v, uint64_t *out) {
  if (!cJSON_IsNumber(v)) return false;
  double d = v->valuedouble;
  if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return false;
  *out = (uint64_t)d;
  return true;
}

sal_status sal_safetensors_read(sal_ctx *ctx, const char *path, sal_safetensors **out) {
  *out = NULL;
  char *buf = NULL;
  size_t n = 0;
  cJSON *root = NULL;
  st_entry **sorted = NULL;
  sal_status st = sal__read_file(ctx, path, ST_MAX_FILE, &buf, &n);
  if (st) return st;
  sal_safetensors *s = sal_calloc(ctx, 1, sizeof *s);
  if (!s) {
    st = SAL_STATUS_OUT_OF_MEMORY;
    goto fail;
  }
  if (n < 8) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: %zu bytes is too short for a safetensors file", path, n);
    goto fail;
  }
  uint64_t hl = le((const unsigned char *)buf, 8);
  if (hl > ST_MAX_HEADER || hl > n - 8) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: header length %llu runs past the end of the %zu-byte file%s", path,
                       (unsigned long long)hl, n, hl > ST_MAX_HEADER ? " (and exceeds 100 MB)" : "");
    goto fail;
  }
  const char *hdr = buf + 8;
  const unsigned char *data = (const unsigned char *)buf + 8 + hl;
  uint64_t data_len = n - 8 - hl;
  if (hl < 2 || hdr[0] != '{') {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: the header is not a JSON object", path);
    goto fail;
  }
  root = cJSON_ParseWithLength(hdr, (size_t)hl);
  if (!root || !cJSON_IsObject(root)) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: the header is not valid JSON", path);
    goto fail;
  }
  int count = 0;
  for (cJSON *it = root->child; it; it = it->next) count += strcmp(it->string, "__metadata__") != 0;
  s->e = sal_calloc(ctx, (size_t)(count ? count : 1), sizeof *s->e);
  sorted = sal_calloc(ctx, (size_t)(count ? count : 1), sizeof *sorted);
  if (!s->e || !sorted) {
    st = SAL_STATUS_OUT_OF_MEMORY;
    goto fail;
  }
  for (cJSON *it = root->child; it; it = it->next) {
    const char *nm = it->string;
    for (cJSON *o = root->child; o != it; o = o->next)
      if (!strcmp(o->string, nm)) {
        st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: '%s' appears twice in the header", path, nm);
        goto fail;
      }
    if (!strcmp(nm, "__metadata__")) {
      if (!cJSON_IsObject(it)) {
        st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: __metadata__ is not an object", path);
        goto fail;
      }
      int nm_count = cJSON_GetArraySize(it);
      s->meta_k = sal_calloc(ctx, (size_t)(nm_count ? nm_count : 1), sizeof(char *));
      s->meta_v = sal_calloc(ctx, (size_t)(nm_count ? nm_count : 1), sizeof(char *));
      if (!s->meta_k || !s->meta_v) {
        st = SAL_STATUS_OUT_OF_MEMORY;
        goto fail;
      }
      for (cJSON *m = it->child; m; m = m->next) {
        if (!cJSON_IsString(m)) {
          st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: metadata '%s' is not a string", path, m->string);
          goto fail;
        }
        s->meta_k[s->n_meta] = sal__strdup(ctx, m->string);
        s->meta_v[s->n_meta] = sal__strdup(ctx, m->valuestring);
        s->n_meta++;
        if (!s->meta_k[s->n_meta - 1] || !s->meta_v[s->n_meta - 1]) {
          st = SAL_STATUS_OUT_OF_MEMORY;
          goto fail;
        }
      }
      continue;
    }
    st_entry *e = &s->e[s->n];
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
    if (!cJSON_IsObject(it) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off) ||
        cJSON_GetArraySize(off) != 2 || !json_u64(cJSON_GetArrayItem(off, 0), &e->begin) ||
        !json_u64(cJSON_GetArrayItem(off, 1), &e->end)) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: tensor '%s': needs dtype, shape and data_offsets [begin, end]", path, nm);
      goto fail;
    }
    st_dtype d = ST_BAD;
    for (int k = 0; k < ST_BAD; k++)
      if (!strcmp(dt->valuestring, st_dtypes[k].name)) d = (st_dtype)k;
    if (d == ST_BAD) {
      st = sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: tensor '%s': dtype %s is not supported", path, nm, dt->valuestring);
      goto fail;
    }
    int nd = cJSON_GetArraySize(sh);
    if (nd > SAL_MAX_DIMS) {
      st = sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most %d)", path, nm, nd, SAL_MAX_DIMS);
      goto fail;
    }
    int64_t dims[SAL_MAX_DIMS];
    uint64_t numel = 1;
    for (int k = 0; k < nd; k++) {
      uint64_t v;
      if (!json_u64(cJSON_GetArrayItem(sh, k), &v) || v > ((uint64_t)1 << 40) || (v && numel > ((uint64_t)1 << 40) / v)) {
        st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: tensor '%s': bad or absurd shape", path, nm);
        goto fail;
      }
      dims[k] = (int64_t)v;
      numel *= v;
    }
    if (e->begin > e->end || e->end > data_len || e->end - e->begin != numel * st_dtypes[d].size) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                         "%s: tensor '%s': data_offsets [%llu, %llu) do not hold %llu x %zu bytes within the %llu-byte data", path,
                         nm, (unsigned long long)e->begin, (unsigned long long)e->end, (unsigned long long)numel,
                         st_dtypes[d].size, (unsigned long long)data_len);
      goto fail;
    }
    e->name = sal__strdup(ctx, nm);
    if (!e->name || sal_tensor_new(ctx, nd, dims, &e->t)) {
      sal_free(e->name);
      e->name = NULL;
      st = sal_ctx_error_prefix(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: tensor '%s': ", path, nm);
      goto fail;
    }
    const unsigned char *src = data + e->begin;
    for (uint64_t k = 0; k < numel; k++) e->t->data[k] = convert(d, src + k * st_dtypes[d].size);
    sorted[s->n] = e;
    s->n++;
  }
  /* The offsets tile the data section: sorted by begin, each starts where the previous ended. */
  if (s->n > 1) qsort(sorted, (size_t)s->n, sizeof *sorted, cmp_begin);
  uint64_t at = 0;
  for (int i = 0; i < s->n; i++) {
    if (sorted[i]->begin != at) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: tensor '%s' starts at %llu, expected %llu (overlap or gap)", path,
                         sorted[i]->name, (unsigned long long)sorted[i]->begin, (unsigned long long)at);
      goto fail;
    }
    at = sorted[i]->end;
  }
  if (at != data_len) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: %llu bytes of data after the last tensor", path,
                       (unsigned long long)(data_len - at));
    goto fail;
  }
  cJSON_Delete(root);
  sal_free(sorted);
  sal_free(buf);
  *out = s;
  return SAL_STATUS_OK;
fail:
  cJSON_Delete(root);
  sal_free(sorted);
  sal_free(buf);
  sal_safetensors_free(s);
  return st;
}

sal_status sal_safetensors_write(sal_ctx *ctx, const char *path, const char *const *names, const sal_tensor *const *tensors,
                                 int n, const char *const *meta_keys, const char *const *meta_values, int n_meta) {
  if (n < 0 || n_meta < 0 || (n && (!names || !tensors)) || (n_meta && (!meta_keys || !meta_values)))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: bad arguments to sal_safetensors_write", path);
  cJSON *root = cJSON_CreateObject();
  char *json = NULL;
  sal_status st = SAL_STATUS_OK;
  if (!root) return sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: out of memory for the header", path);
  if (n_meta) {
    cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
    for (int i = 0; m && i < n_meta; i++)
      if (!cJSON_AddStringToObject(m, meta_keys[i], meta_values[i])) m = NULL;
    if (!m) {
      st = sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: out of memory for the header", path);
      goto done;
    }
  }
  uint64_t off = 0;
  for (int i = 0; i < n; i++) {
    const sal_tensor *t = tensors[i];
    if (!names[i] || !t || t->layout != SAL_LAYOUT_PLAIN || !strcmp(names[i], "__metadata__") ||
        cJSON_GetObjectItemCaseSensitive(root, names[i])) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: tensor %d ('%s'): missing, blocked, reserved or duplicate name", path, i,
                         names[i] ? names[i] : "(null)");
      goto done;
    }
    cJSON *e = cJSON_AddObjectToObject(root, names[i]);
    cJSON *shape = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
    cJSON *offs = e ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
    bool ok = e && shape && offs && cJSON_AddStringToObject(e, "dtype", "F32");
    for (int k = 0; ok && k < t->shape.ndim; k++) ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape.d[k]));
    uint64_t bytes = (uint64_t)sal_tensor_numel(t) * 4;
    ok = ok && cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off)) &&
         cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + bytes)));
    if (!ok) {
      st = sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: out of memory for the header", path);
      goto done;
    }
    off += bytes;
  }
  json = cJSON_PrintUnformatted(root);
  if (!json) {
    st = sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: out of memory for the header", path);
    goto done;
  }
  /* Pad the header with spaces so that the data section starts 8-byte aligned. */
  size_t jl = strlen(json), hl = (jl + 7) / 8 * 8;
  sal__atomic_file af;
  if ((st = sal__atomic_open(ctx, path, &af))) goto done;
  unsigned char len8[8];
  for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)hl >> (8 * k));
  bool ok = fwrite(len8, 1, 8, af.f) == 8 && fwrite(json, 1, jl, af.f) == jl;
  for (size_t k = jl; ok && k < hl; k++) ok = fputc(' ', af.f) != EOF;
  for (int i = 0; ok && i < n; i++) {
    const sal_tensor *t = tensors[i];
    int64_t ne = sal_tensor_numel(t);
    for (int64_t k = 0; ok && k < ne; k++) {
      uint32_t u;
      memcpy(&u, &t->data[k], 4);
      unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
      ok = fwrite(b, 1, 4, af.f) == 4;
    }
  }
  st = sal__atomic_commit(ctx, &af, ok);
done:
  free(json);
  cJSON_Delete(root);
  return st;
}

/* ---- graph checkpoints ---- */

sal_status sal_checkpoint_save(sal_ctx *ctx, const char *path, const sal_graph *g, sal_optim *o, const char *metadata_json) {
  if (!g) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: no graph to save", path);
  if (metadata_json) {
    cJSON *m = cJSON_Parse(metadata_json);
    bool obj = m && cJSON_IsObject(m);
    cJSON_Delete(m);
    if (!obj) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: checkpoint metadata is not a JSON object", path);
  }
  int np = 0;
  for (int v = 0; v < g->n_values; v++) np += g->values[v].kind == SAL_VALUE_PARAM;
  int ns = o ? sal_optim_num_state(o) : 0;
  int n = np + ns;
  const char **names = sal_calloc(ctx, (size_t)(n ? n : 1), sizeof *names);
  char **owned = sal_calloc(ctx, (size_t)(ns ? ns : 1), sizeof *owned);
  sal_tensor *views = sal_calloc(ctx, (size_t)(n ? n : 1), sizeof *views);
  const sal_tensor **tp = sal_calloc(ctx, (size_t)(n ? n : 1), sizeof *tp);
  sal_status st = SAL_STATUS_OK;
  if (!names || !owned || !views || !tp) {
    st = SAL_STATUS_OUT_OF_MEMORY;
    goto done;
  }
  int k = 0;
  for (int v = 0; v < g->n_values; v++) {
    const sal_value *val = &g->values[v];
    if (val->kind != SAL_VALUE_PARAM) continue;
    names[k] = val->name;
    views[k].shape = val->shape;
    views[k].data = val->data;
    tp[k] = &views[k];
    k++;
  }
  for (int i = 0; i < ns; i++) {
    const char *sn;
    if ((st = sal_optim_state(o, i, &sn, &views[k]))) goto done;
    size_t l = strlen(ST_OPTIM_PREFIX) + strlen(sn) + 1;
    owned[i] = sal_alloc(ctx, l);
    if (!owned[i]) {
      st = SAL_STATUS_OUT_OF_MEMORY;
      goto done;
    }
    snprintf(owned[i], l, "%s%s", ST_OPTIM_PREFIX, sn);
    names[k] = owned[i];
    tp[k] = &views[k];
    k++;
  }
  char steps[32];
  snprintf(steps, sizeof steps, "%lld", o ? (long long)sal_optim_steps(o) : 0LL);
  const char *mk[2] = {ST_META_KEY, ST_STEPS_KEY}, *mv[2] = {metadata_json ? metadata_json : "{}", steps};
  st = sal_safetensors_write(ctx, path, names, tp, n, mk, mv, o ? 2 : 1);
done:
  for (int i = 0; owned && i < ns; i++) sal_free(owned[i]);
  sal_free(owned);
  sal_free(names);
  sal_free(views);
  sal_free(tp);
  return st;
}

sal_status sal_checkpoint_load(sal_ctx *ctx, const char *path, sal_graph *g, sal_optim *o, char **metadata_json) {
  if (metadata_json) *metadata_json = NULL;
  sal_safetensors *s = NULL;
  sal_status st = sal_safetensors_read(ctx, path, &s);
  if (st) return st;
  char sh1[64], sh2[64];
  /* Validate everything before writing anything, so a bad checkpoint leaves g and o untouched. */
  for (int v = 0; v < g->n_values; v++) {
    const sal_value *val = &g->values[v];
    if (val->kind != SAL_VALUE_PARAM) continue;
    const sal_tensor *t = sal_safetensors_find(s, val->name);
    if (!t) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: parameter '%s' is missing", path, val->name);
      goto done;
    }
    if (!sal_shape_equal(&t->shape, &val->shape)) {
      st = sal_ctx_error(ctx, SAL_STATUS_SHAPE, "%s: parameter '%s' is %s in the checkpoint, %s in the model", path, val->name,
                         sal_shape_str(&t->shape, sh1, sizeof sh1), sal_shape_str(&val->shape, sh2, sizeof sh2));
      goto done;
    }
  }
  for (int i = 0; i < s->n; i++) {
    const char *nm = s->e[i].name;
    if (strncmp(nm, ST_OPTIM_PREFIX, strlen(ST_OPTIM_PREFIX)) == 0) continue;
    int v = sal__graph_find(g, nm);
    if (v < 0 || g->values[v].kind != SAL_VALUE_PARAM) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: tensor '%s' is not a parameter of the model", path, nm);
      goto done;
    }
  }
  int64_t steps = 0;
  if (o) {
    const char *sv = sal_safetensors_meta(s, ST_STEPS_KEY);
    char *end = NULL;
    if (!sv || (steps = strtoll(sv, &end, 10)) < 0 || *end) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: no optimiser step count (not saved with an optimiser?)", path);
      goto done;
    }
    for (int i = 0; i < sal_optim_num_state(o); i++) {
      const char *sn;
      sal_tensor view;
      if ((st = sal_optim_state(o, i, &sn, &view))) goto done;
      char key[600];
      snprintf(key, sizeof key, "%s%s", ST_OPTIM_PREFIX, sn);
      const sal_tensor *t = sal_safetensors_find(s, key);
      if (!t || !sal_shape_equal(&t->shape, &view.shape)) {
        st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: optimiser state '%s' is missing or of another shape", path, sn);
        goto done;
      }
    }
  }
  const char *meta = sal_safetensors_meta(s, ST_META_KEY);
  if (metadata_json) {
    *metadata_json = sal__strdup(ctx, meta ? meta : "{}");
    if (!*metadata_json) {
      st = SAL_STATUS_OUT_OF_MEMORY;
      goto done;
    }
  }
  /* Commit. */
  for (int v = 0; v < g->n_values; v++) {
    sal_value *val = &g->values[v];
    if (val->kind != SAL_VALUE_PARAM) continue;
    const sal_tensor *t = sal_safetensors_find(s, val->name);
    memcpy(val->data, t->data, (size_t)sal_tensor_numel(t) * sizeof(float));
  }
  if (o) {
    for (int i = 0; i < sal_optim_num_state(o); i++) {
      const char *sn;
      sal_tensor view;
      sal_optim_state(o, i, &sn, &view);
      char key[600];
      snprintf(key, sizeof key, "%s%s", ST_OPTIM_PREFIX, sn);
      const sal_tensor *t = sal_safetensors_find(s, key);
      memcpy(view.data, t->data, (size_t)sal_tensor_numel(t) * sizeof(float));
    }
    sal_optim_set_steps(o, steps);
  }
done:
  if (st && metadata_json && *metadata_json) {
    sal_free(*metadata_json);
    *metadata_json = NULL;
  }
  sal_safetensors_free(s);
  return st;
}
