/* ONNX import: reads a model file (protobuf, src/io/onnx.proto) into a salient graph — initialisers
 * become parameters, nodes become graph nodes (shape arithmetic folded by src/io/onnx_fold.c).
 * Entry point sal_onnx_load (include/salient/onnx.h); the graph then goes to sal_plan_new. */
#define _POSIX_C_SOURCE 200809L

#include "io/onnx_load.h"
#include "salient/onnx.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ONNX specification: onnx/onnx docs/IR.md (graphs, initialisers, external data) and onnx.proto
 * (field numbers); operator semantics per opset from docs/Operators.md and docs/Changelog.md. */
#define OPSET_MIN 9
#define OPSET_MAX 18
/* Largest integer a float holds exactly (2^24): int64 constants beyond it cannot become f32
 * parameters without changing their value. */
#define FLOAT_EXACT ((int64_t)1 << 24)

/* ---------------------------------------------------------------- errors and attributes */

static const char *node_name(const Onnx__NodeProto *nd) {
  if (nd->name && nd->name[0]) return nd->name;
  if (nd->n_output > 0 && nd->output[0][0]) return nd->output[0];
  return "?";
}

sal_status sal__onnx_node_error(const sal__onnx_loader *L, const Onnx__NodeProto *nd, sal_status st, const char *fmt,
                                ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return sal_ctx_error(L->ctx, st, "%s: node '%s' (%s, opset %lld): %s", L->path, node_name(nd),
                       nd->op_type ? nd->op_type : "?", (long long)L->opset, msg);
}

/* Re-records the context's last message (from the graph or an op's shape rule, "node 'x' (Op):
 * ...") in the importer's form, keeping the status. */
static sal_status rewrap_error(const sal__onnx_loader *L, const Onnx__NodeProto *nd, sal_status st, const char *extra) {
  char old[2048];
  snprintf(old, sizeof old, "%s", sal_ctx_last_error(L->ctx));
  const char *rest = old;
  if (strncmp(old, "node '", 6) == 0) {
    const char *p = strstr(old, "): ");
    if (p) rest = p + 3;
  }
  /* The ops' attribute readers say "attribute 'x' is float, expected ints"; say it in ONNX's
   * AttributeType names, as the rest of the importer does. */
  static const char *const lower[] = {"int", "float", "ints", "floats", "string"};
  static const char *const upper[] = {"INT", "FLOAT", "INTS", "FLOATS", "STRING"};
  char an[256], ta[16], tb[16];
  if (sscanf(rest, "attribute '%255[^']' is %15[a-z], expected %15[a-z]", an, ta, tb) == 3) {
    const char *ua = NULL, *ub = NULL;
    for (int i = 0; i < 5; i++) {
      if (!strcmp(ta, lower[i])) ua = upper[i];
      if (!strcmp(tb, lower[i])) ub = upper[i];
    }
    if (ua && ub) return sal__onnx_node_error(L, nd, st, "%sattribute '%s' has type %s, expected %s", extra, an, ua, ub);
  }
  return sal__onnx_node_error(L, nd, st, "%s%s", extra, rest);
}

static const char *const attr_type_names[] = {"UNDEFINED", "FLOAT",   "INT",    "STRING",         "TENSOR",
                                              "GRAPH",     "FLOATS",  "INTS",   "STRINGS",        "TENSORS",
                                              "GRAPHS",    "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO",
                                              "TYPE_PROTOS"};

const char *sal__onnx_attr_type_name(Onnx__AttributeProto__AttributeType t) {
  return (int)t >= 0 && (int)t < 15 ? attr_type_names[t] : "UNKNOWN";
}

Onnx__AttributeProto__AttributeType sal__onnx_attr_type(const Onnx__AttributeProto *a) {
  if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED) return a->type;
  /* IR.md: readers may infer the type of old files from the field that is set. */
  if (a->n_ints) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
  if (a->n_floats) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
  if (a->n_strings) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
  if (a->t) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
  if (a->g) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
  if (a->has_s) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
  if (a->has_f) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
  if (a->has_i) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
  return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

const Onnx__AttributeProto *sal__onnx_attr(const Onnx__NodeProto *nd, const char *name) {
  for (size_t i = 0; i < nd->n_attribute; i++)
    if (nd->attribute[i]->name && strcmp(nd->attribute[i]->name, name) == 0) return nd->attribute[i];
  return NULL;
}

static sal_status attr_want(const sal__onnx_loader *L, const Onnx__NodeProto *nd, const Onnx__AttributeProto *a,
                            Onnx__AttributeProto__AttributeType want) {
  Onnx__AttributeProto__AttributeType t = sal__onnx_attr_type(a);
  if (t == want) return SAL_STATUS_OK;
  return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "attribute '%s' has type %s, expected %s", a->name,
                              sal__onnx_attr_type_name(t), sal__onnx_attr_type_name(want));
}

sal_status sal__onnx_attr_int(const sal__onnx_loader *L, const Onnx__NodeProto *nd, const char *name, int64_t def,
                              int64_t *out) {
  *out = def;
  const Onnx__AttributeProto *a = sal__onnx_attr(nd, name);
  if (!a) return SAL_STATUS_OK;
  sal_status st = attr_want(L, nd, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
  if (!st) *out = a->i;
  return st;
}

sal_status sal__onnx_attr_ints(const sal__onnx_loader *L, const Onnx__NodeProto *nd, const char *name,
                               const int64_t **out, int64_t *n) {
  *out = NULL;
  *n = -1;
  const Onnx__AttributeProto *a = sal__onnx_attr(nd, name);
  if (!a) return SAL_STATUS_OK;
  sal_status st = attr_want(L, nd, a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  if (st) return st;
  *out = a->ints;
  *n = (int64_t)a->n_ints;
  return SAL_STATUS_OK;
}

/* ---------------------------------------------------------------- tensors */

static uint64_t rd_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int b = bytes - 1; b >= 0; b--) v = (v << 8) | p[b];
  return v;
}

/* IEEE 754 binary16 → binary32 (subnormals, infinities and NaN included). */
static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float f;
  if (exp == 0) {
    f = ldexpf((float)man, -24); /* zero or subnormal: man * 2^-24 */
    uint32_t u;
    memcpy(&u, &f, 4);
    u |= sign;
    memcpy(&f, &u, 4);
    return f;
  }
  uint32_t u = exp == 31 ? (sign | 0x7f800000u | (man << 13)) : (sign | ((exp + 112) << 23) | (man << 13));
  memcpy(&f, &u, 4);
  return f;
}

static float bf16_to_float(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* True if path (relative, '/'-separated) stays inside its base directory. */
static bool safe_relative(const char *p) {
  if (!p[0] || p[0] == '/' || p[0] == '\\') return false;
  if (strchr(p, '\\') || strchr(p, ':')) return false;
  const char *s = p;
  while (*s) {
    const char *e = strchr(s, '/');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len == 2 && s[0] == '.' && s[1] == '.') return false;
    if (!e) break;
    s = e + 1;
  }
  return true;
}

/* Reads `bytes` bytes of tensor data from an external file (IR.md "External Tensor Data":
 * keys location, offset, length). */
static sal_status read_external(const sal__onnx_loader *L, const Onnx__TensorProto *t, const char *what, size_t bytes,
                                uint8_t **out) {
  sal_ctx *ctx = L->ctx;
  const char *loc = NULL;
  int64_t off = 0, len = -1;
  for (size_t i = 0; i < t->n_external_data; i++) {
    const Onnx__StringStringEntryProto *kv = t->external_data[i];
    if (!kv->key || !kv->value) continue;
    if (!strcmp(kv->key, "location")) {
      loc = kv->value;
    } else if (!strcmp(kv->key, "offset") || !strcmp(kv->key, "length")) {
      char *end;
      errno = 0;
      long long v = strtoll(kv->value, &end, 10);
      if (errno || *end || end == kv->value || v < 0)
        return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: %s: external data %s '%s' is not a non-negative integer",
                             L->path, what, kv->key, kv->value);
      if (!strcmp(kv->key, "offset")) off = v;
      else len = v;
    }
  }
  if (!loc) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: %s: external data without a location", L->path, what);
  if (!safe_relative(loc))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                         "%s: %s: external data location '%s' escapes the model directory (absolute or '..')", L->path,
                         what, loc);
  if (len >= 0 && (uint64_t)len != bytes)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: %s: external data length %lld, the dims need %zu bytes",
                         L->path, what, (long long)len, bytes);
  size_t plen = strlen(L->ext_dir) + strlen(loc) + 2;
  char *full = sal_alloc(ctx, plen);
  if (!full) return SAL_STATUS_OUT_OF_MEMORY;
  snprintf(full, plen, "%s/%s", L->ext_dir, loc);
  FILE *f = fopen(full, "rb");
  sal_status st = SAL_STATUS_OK;
  uint8_t *buf = NULL;
  struct stat sb;
  if (!f) {
    st = sal_ctx_error(ctx, errno == ENOENT ? SAL_STATUS_NOT_FOUND : SAL_STATUS_IO, "%s: %s: external data file %s: %s",
                       L->path, what, full, strerror(errno));
  } else if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    st = sal_ctx_error(ctx, SAL_STATUS_IO, "%s: %s: external data %s is not a regular file", L->path, what, full);
  } else if ((int64_t)sb.st_size > L->max_bytes) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: %s: external data file %s is larger than %lld bytes", L->path,
                       what, full, (long long)L->max_bytes);
  } else if (off > (int64_t)sb.st_size || bytes > (uint64_t)(sb.st_size - off)) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: %s: external data offset %lld + %zu bytes exceeds %s (%lld bytes)",
                       L->path, what, (long long)off, bytes, full, (long long)sb.st_size);
  } else if (!(buf = sal_alloc(ctx, bytes ? bytes : 1))) {
    st = SAL_STATUS_OUT_OF_MEMORY;
  } else if (fseeko(f, (off_t)off, SEEK_SET) != 0 || fread(buf, 1, bytes, f) != bytes) {
    st = sal_ctx_error(ctx, SAL_STATUS_IO, "%s: %s: reading external data %s failed", L->path, what, full);
  }
  if (f) fclose(f);
  sal_free(full);
  if (st) {
    sal_free(buf);
    return st;
  }
  *out = buf;
  return SAL_STATUS_OK;
}

static const char *dtype_name(int t) {
  static const char *const n[] = {"UNDEFINED", "FLOAT",  "UINT8",  "INT8",   "UINT16",    "INT16",
                                  "INT32",     "INT64",  "STRING", "BOOL",   "FLOAT16",   "DOUBLE",
                                  "UINT32",    "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
  return t >= 0 && t <= 16 ? n[t] : "UNKNOWN";
}

sal_status sal__onnx_tensor(const sal__onnx_loader *L, const Onnx__TensorProto *t, const char *what,
                            sal__oconst **out) {
  sal_ctx *ctx = L->ctx;
  *out = NULL;
  int dt = t->has_data_type ? t->data_type : 0;
  int esize;
  sal__oc_type type;
  switch (dt) {
  case 1: esize = 4, type = SAL__OC_FLOAT; break;
  case 11: esize = 8, type = SAL__OC_FLOAT; break;
  case 10: case 16: esize = 2, type = SAL__OC_FLOAT; break;
  case 7: esize = 8, type = SAL__OC_INT; break;
  case 6: esize = 4, type = SAL__OC_INT; break;
  default:
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED,
                         "%s: %s has data type %s; salient imports FLOAT, DOUBLE, FLOAT16 and BFLOAT16 weights (as f32) "
                         "and INT64/INT32 shape constants only",
                         L->path, what, dtype_name(dt));
  }
  if (t->segment) return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: %s is segmented", L->path, what);
  if (t->n_dims > SAL__OC_MAX_RANK)
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: %s has rank %zu (at most %d)", L->path, what, t->n_dims,
                         SAL__OC_MAX_RANK);
  /* Bound every declared dim and the product before anything is multiplied or allocated. */
  int64_t numel = 1;
  for (size_t d = 0; d < t->n_dims; d++) {
    int64_t v = t->dims[d];
    if (v < 0 || v > SAL__OC_MAX_NUMEL || (v && numel > SAL__OC_MAX_NUMEL / v))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: %s declares dim %zu = %lld: dims must be in 0..2^31 with "
                           "at most 2^31 elements",
                           L->path, what, d, (long long)v);
    numel *= v;
  }
  size_t bytes = (size_t)numel * (size_t)esize;
  const uint8_t *raw = NULL;
  uint8_t *ext = NULL;
  size_t n_typed = 0;
  bool external = t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  if (external) {
    sal_status st = read_external(L, t, what, bytes, &ext);
    if (st) return st;
    raw = ext;
  } else if (t->has_raw_data) {
    if (t->raw_data.len != bytes)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: %s has %zu bytes of raw_data, its dims need %zu", L->path,
                           what, t->raw_data.len, bytes);
    raw = t->raw_data.data;
  } else {
    n_typed = dt == 1 ? t->n_float_data
              : dt == 11 ? t->n_double_data
              : dt == 7 ? t->n_int64_data
                        : t->n_int32_data; /* INT32, FLOAT16, BFLOAT16 (bit patterns) per onnx.proto */
    if (n_typed != (size_t)numel)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: %s holds %zu values, its dims need %lld", L->path, what,
                           n_typed, (long long)numel);
  }
  int64_t dims[SAL__OC_MAX_RANK];
  for (size_t d = 0; d < t->n_dims; d++) dims[d] = t->dims[d];
  sal__oconst *c = sal__oc_new(ctx, type, (int)t->n_dims, dims);
  if (!c) {
    sal_free(ext);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  for (int64_t e = 0; e < numel; e++) {
    const uint8_t *p = raw ? raw + (size_t)e * (size_t)esize : NULL;
    switch (dt) {
    case 1:
      if (p) {
        uint32_t u = (uint32_t)rd_le(p, 4);
        memcpy(&c->f[e], &u, 4);
      } else {
        c->f[e] = t->float_data[e];
      }
      break;
    case 11: {
      double v;
      if (p) {
        uint64_t u = rd_le(p, 8);
        memcpy(&v, &u, 8);
      } else {
        v = t->double_data[e];
      }
      c->f[e] = (float)v;
      break;
    }
    case 10:
    case 16: {
      uint16_t h = p ? (uint16_t)rd_le(p, 2) : (uint16_t)t->int32_data[e];
      c->f[e] = dt == 10 ? half_to_float(h) : bf16_to_float(h);
      break;
    }
    case 7: c->i[e] = p ? (int64_t)rd_le(p, 8) : t->int64_data[e]; break;
    default: c->i[e] = p ? (int64_t)(int32_t)(uint32_t)rd_le(p, 4) : t->int32_data[e]; break;
    }
  }
  sal_free(ext);
  *out = c;
  return SAL_STATUS_OK;
}

/* ---------------------------------------------------------------- value table */

typedef enum lv_kind { LV_PENDING, LV_ACT, LV_CONST, LV_EXTRA_INPUT } lv_kind;

typedef struct lval {
  const char *name; /* borrowed from the model */
  lv_kind kind;
  int gv;           /* graph value index (ACT, the input, or a materialised constant), else -1 */
  sal__oconst *c;   /* CONST */
  bool weight;      /* a float initialiser (may become a trainable parameter) */
} lval;

typedef struct vtable {
  lval *v;
  int n, cap;
  int *slots; /* open addressing: index into v, -1 empty */
  size_t nslots;
} vtable;

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

static lval *vt_find(const vtable *t, const char *name) {
  size_t m = t->nslots - 1;
  for (size_t i = hash_str(name) & m;; i = (i + 1) & m) {
    int s = t->slots[i];
    if (s < 0) return NULL;
    if (strcmp(t->v[s].name, name) == 0) return &t->v[s];
  }
}

/* Adds name (must be absent; the table is sized for every name in the model up front). */
static lval *vt_add(vtable *t, const char *name, lv_kind kind) {
  size_t m = t->nslots - 1;
  size_t i = hash_str(name) & m;
  while (t->slots[i] >= 0) i = (i + 1) & m;
  lval *v = &t->v[t->n];
  memset(v, 0, sizeof *v);
  v->name = name;
  v->kind = kind;
  v->gv = -1;
  t->slots[i] = t->n++;
  return v;
}

/* ---------------------------------------------------------------- graph building */

/* Keeps L->probe in step with the graph's values: new inputs and parameters get their shapes
 * (the input with the probe batch). */
static sal_status probe_sync(sal__onnx_loader *L, int from) {
  sal_graph *g = L->g;
  if (g->n_values > L->cap_probe) {
    int cap = g->n_values * 2 + 16;
    sal_shape *p = sal_calloc(L->ctx, (size_t)cap, sizeof *p);
    if (!p) return SAL_STATUS_OUT_OF_MEMORY;
    if (L->probe) memcpy(p, L->probe, (size_t)L->cap_probe * sizeof *p);
    sal_free(L->probe);
    L->probe = p;
    L->cap_probe = cap;
  }
  for (int v = from; v < g->n_values; v++) {
    L->probe[v] = g->values[v].shape;
    if (g->values[v].kind == SAL_VALUE_INPUT) L->probe[v].d[0] = SAL__ONNX_PROBE;
  }
  return SAL_STATUS_OK;
}

/* A name not used by the model nor the graph: base, or base + "__<n>". */
static const char *fresh_name(sal__onnx_loader *L, const vtable *T, const char *base, char *buf, size_t cap) {
  snprintf(buf, cap, "%s", base);
  for (int n = 1; vt_find(T, buf) || sal__graph_find(L->g, buf) >= 0; n++) snprintf(buf, cap, "%s__%d", base, n);
  return buf;
}

/* Adds an f32 parameter `name` with data (converted from a constant) and records its index. */
static sal_status add_param_from(sal__onnx_loader *L, const Onnx__NodeProto *nd, const char *name, const sal__oconst *c,
                                 bool trainable, bool clamp, int *gv) {
  if (c->ndim > SAL_MAX_DIMS)
    return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "constant '%s' has rank %d (at most %d)", name, c->ndim,
                                SAL_MAX_DIMS);
  float *tmp = NULL;
  const float *data = c->f;
  if (c->type == SAL__OC_INT) {
    tmp = sal_alloc(L->ctx, (size_t)(c->numel ? c->numel : 1) * sizeof(float));
    if (!tmp) return SAL_STATUS_OUT_OF_MEMORY;
    for (int64_t e = 0; e < c->numel; e++) {
      if (c->k && c->k[e]) {
        sal_free(tmp);
        return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED,
                                    "constant '%s' depends on the batch size (derived from Shape) and cannot be a "
                                    "parameter here",
                                    name);
      }
      int64_t v = c->i[e];
      if (v > FLOAT_EXACT || v < -FLOAT_EXACT) {
        /* Slice-style "to the end" sentinels (INT64_MAX): any value beyond every dim means the
         * same, and 2^30 is exact in f32. */
        if (!clamp) {
          sal_free(tmp);
          return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED,
                                      "integer constant '%s' holds %lld, which f32 cannot represent exactly", name,
                                      (long long)v);
        }
        v = v > 0 ? ((int64_t)1 << 30) : -((int64_t)1 << 30);
      }
      tmp[e] = (float)v;
    }
    data = tmp;
  }
  int from = L->g->n_values;
  sal_status st = sal_graph_add_param(L->g, name, c->ndim, c->dims, data, trainable);
  sal_free(tmp);
  if (st) return rewrap_error(L, nd, st, "");
  if ((st = probe_sync(L, from))) return st;
  *gv = from;
  return SAL_STATUS_OK;
}

/* The graph value for input v of a node: activations as they are, constants materialised as
 * parameters (once, under their ONNX name). */
static sal_status input_value(sal__onnx_loader *L, const vtable *T, const Onnx__NodeProto *nd, lval *v, bool trainable,
                              bool clamp, const char **name) {
  if (v->kind == LV_EXTRA_INPUT)
    return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED,
                                "reads graph input '%s'; salient models take one input (the first graph input)", v->name);
  if (v->kind == LV_CONST && v->gv < 0) {
    (void)T;
    sal_status st = add_param_from(L, nd, v->name, v->c, trainable && v->weight, clamp, &v->gv);
    if (st) return st;
  }
  *name = L->g->values[v->gv].name;
  return SAL_STATUS_OK;
}

/* Affine (in the batch N) dims of graph value gv: dim d = c[d] + k[d]*N. */
static void value_affine(const sal__onnx_loader *L, int gv, int64_t *c, int64_t *k) {
  const sal_shape *s1 = &L->g->values[gv].shape, *sp = &L->probe[gv];
  for (int d = 0; d < s1->ndim; d++) {
    int64_t a = s1->d[d], b = sp->d[d];
    if (L->g->values[gv].kind == SAL_VALUE_INPUT && d == 0) a = 1;
    k[d] = (b - a) / (SAL__ONNX_PROBE - 1);
    c[d] = a - k[d];
  }
}

/* Turns a target shape whose entries are affine in N (ti + tk*N) into a Reshape shape of
 * literals, 0 (copy the input dim at that index) and -1 (inferred). Input value gv. With a fixed
 * batch in the file, a literal equal to the input dim at that batch is read as that dim (torch
 * bakes x.size(0) into constants). */
static sal_status resolve_shape(const sal__onnx_loader *L, const Onnx__NodeProto *nd, int gv, const int64_t *ti,
                                const int64_t *tk, int r, bool allowzero, int64_t *out) {
  int64_t ic[SAL_MAX_DIMS], ik[SAL_MAX_DIMS];
  const sal_shape *s1 = &L->g->values[gv].shape;
  value_affine(L, gv, ic, ik);
  int minus = -1, sym = -1, n_sym = 0;
  for (int i = 0; i < r; i++) {
    bool has_in = i < s1->ndim;
    out[i] = ti[i];
    if (tk[i] == 0) {
      if (ti[i] == -1) minus = i;
      if (L->file_batch > 0 && has_in && ik[i] != 0 && ti[i] == ic[i] + ik[i] * L->file_batch && ti[i] != 0) {
        if (!allowzero) out[i] = 0;
        else sym = i, n_sym++;
      }
      continue;
    }
    if (has_in && !allowzero && tk[i] == ik[i] && ti[i] == ic[i]) {
      out[i] = 0;
      continue;
    }
    sym = i;
    n_sym++;
  }
  if (n_sym == 0) return SAL_STATUS_OK;
  if (n_sym == 1 && minus < 0) {
    out[sym] = -1;
    return SAL_STATUS_OK;
  }
  if (n_sym == 1) {
    /* Both a literal -1 and a batch-dependent entry: the -1 must be batch-independent; compute
     * it at batch 1 and at the probe batch and swap the roles. */
    int64_t val[2];
    for (int b = 0; b < 2; b++) {
      int64_t N = b ? SAL__ONNX_PROBE : 1, numel = 1, known = 1;
      for (int d = 0; d < s1->ndim; d++) numel *= ic[d] + ik[d] * N;
      for (int i = 0; i < r; i++) {
        if (i == minus) continue;
        int64_t v = i == sym ? (tk[i] ? ti[i] + tk[i] * N : ic[i] + ik[i] * N) : out[i] == 0 ? ic[i] + ik[i] * N : out[i];
        known *= v;
      }
      val[b] = known > 0 && numel % known == 0 ? numel / known : -1;
    }
    if (val[0] > 0 && val[0] == val[1]) {
      out[minus] = val[0];
      out[sym] = -1;
      return SAL_STATUS_OK;
    }
  }
  return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED,
                              "the target shape depends on the batch size in a way Reshape's 0 and -1 cannot express");
}

/* Adds a Reshape of graph value gv to `out_name` with the given literal shape. */
static sal_status emit_reshape(sal__onnx_loader *L, const vtable *T, const Onnx__NodeProto *nd, int gv,
                               const int64_t *shp, int r, const char *out_name);

/* Runs the probe-batch shape inference of the node just added. */
static sal_status probe_last_node(sal__onnx_loader *L, const Onnx__NodeProto *nd, int from) {
  sal_status st = probe_sync(L, from);
  if (st) return st;
  const sal_node *n = &L->g->nodes[L->g->n_nodes - 1];
  st = sal__infer_node(L->ctx, L->g, n, L->probe);
  if (st)
    return rewrap_error(L, nd, SAL_STATUS_UNSUPPORTED,
                        "the node does not work at other batch sizes than 1 (salient keeps the batch symbolic): ");
  return SAL_STATUS_OK;
}

static sal_status add_node(sal__onnx_loader *L, const Onnx__NodeProto *nd, const char *op, const char *name,
                           const char *const *ins, int n_in, const char *const *outs, int n_out, const sal_attr *attrs,
                           int n_attrs) {
  int from = L->g->n_values;
  sal_status st = sal_graph_add_node(L->g, op, name, ins, n_in, outs, n_out, attrs, n_attrs);
  if (st) return rewrap_error(L, nd, st, "");
  return probe_last_node(L, nd, from);
}

static sal_status emit_reshape(sal__onnx_loader *L, const vtable *T, const Onnx__NodeProto *nd, int gv,
                               const int64_t *shp, int r, const char *out_name) {
  char pname[512];
  fresh_name(L, T, out_name, pname, sizeof pname);
  strncat(pname, "__shape", sizeof pname - strlen(pname) - 1);
  char pn2[560];
  fresh_name(L, T, pname, pn2, sizeof pn2);
  sal__oconst *c = sal__oc_new(L->ctx, SAL__OC_INT, 1, (int64_t[]){r});
  if (!c) return SAL_STATUS_OUT_OF_MEMORY;
  for (int i = 0; i < r; i++) c->i[i] = shp[i];
  int pv;
  sal_status st = add_param_from(L, nd, pn2, c, false, false, &pv);
  sal__oc_free(c);
  if (st) return st;
  const char *ins[2] = {L->g->values[gv].name, L->g->values[pv].name};
  return add_node(L, nd, "Reshape", node_name(nd), ins, 2, &out_name, 1, NULL, 0);
}

/* ---------------------------------------------------------------- node mapping */

/* ONNX ops salient runs, with the opset each first appeared in (docs/Operators.md); the engine's
 * op list (src/ops/list_*.h) keeps ONNX names. */
static const struct {
  const char *name;
  int since;
} engine_ops[] = {{"HardSwish", 14}, {"SoftmaxCrossEntropyLoss", 12}, {"Resize", 10}, {NULL, 0}};

static int op_since(const char *op) {
  for (int i = 0; engine_ops[i].name; i++)
    if (!strcmp(engine_ops[i].name, op)) return engine_ops[i].since;
  return 1;
}

/* Whether input i of an engine op is a weight (a float initialiser there becomes trainable). */
static bool weight_slot(const char *op, int i) {
  if (!strcmp(op, "Conv") || !strcmp(op, "BatchNormalization")) return i == 1 || i == 2;
  if (!strcmp(op, "Gemm")) return i <= 2;
  if (!strcmp(op, "MatMul")) return i <= 1;
  return false;
}

#define MAX_NODE_IO 64

typedef struct attr_buf {
  sal_attr a[64];
  int n;
  char *strs[64];
  int n_strs;
} attr_buf;

static void attr_buf_free(attr_buf *ab) {
  for (int i = 0; i < ab->n_strs; i++) sal_free(ab->strs[i]);
  ab->n_strs = 0;
}

/* Converts the node's attributes to salient's (every ONNX name is kept; the op's shape rule
 * validates them). Types salient attributes cannot hold are UNSUPPORTED. */
static sal_status convert_attrs(sal__onnx_loader *L, const Onnx__NodeProto *nd, const char *skip, attr_buf *ab) {
  ab->n = 0;
  ab->n_strs = 0;
  for (size_t i = 0; i < nd->n_attribute; i++) {
    const Onnx__AttributeProto *a = nd->attribute[i];
    if (!a->name || !a->name[0]) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "an attribute has no name");
    if (skip && !strcmp(a->name, skip)) continue;
    if (ab->n >= 64) return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "too many attributes");
    sal_attr *o = &ab->a[ab->n];
    switch (sal__onnx_attr_type(a)) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: *o = sal_attr_int(a->name, a->i); break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: *o = sal_attr_float(a->name, a->f); break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: *o = sal_attr_ints(a->name, (int64_t)a->n_ints, a->ints); break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
      *o = sal_attr_floats(a->name, (int64_t)a->n_floats, a->floats);
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: {
      char *s = sal_alloc(L->ctx, a->s.len + 1);
      if (!s) return SAL_STATUS_OUT_OF_MEMORY;
      if (a->s.len) memcpy(s, a->s.data, a->s.len);
      s[a->s.len] = 0;
      ab->strs[ab->n_strs++] = s;
      *o = sal_attr_string(a->name, s);
      break;
    }
    default:
      return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "attribute '%s' has type %s, which %s does not take",
                                  a->name, sal__onnx_attr_type_name(sal__onnx_attr_type(a)), nd->op_type);
    }
    ab->n++;
  }
  return SAL_STATUS_OK;
}

static sal_attr *attr_find(attr_buf *ab, const char *name) {
  for (int i = 0; i < ab->n; i++)
    if (!strcmp(ab->a[i].name, name)) return &ab->a[i];
  return NULL;
}

/* Squeeze/Unsqueeze of an activation: a Reshape to the output shape. */
static sal_status map_squeeze(sal__onnx_loader *L, const vtable *T, const Onnx__NodeProto *nd, lval **in, int n_in,
                              bool unsqueeze) {
  int gv = in[0]->gv;
  const sal_shape *s1 = &L->g->values[gv].shape;
  int64_t axes[SAL_MAX_DIMS * 2];
  int na = -1;
  if (L->opset < 13) {
    const int64_t *v;
    int64_t m;
    sal_status st = sal__onnx_attr_ints(L, nd, "axes", &v, &m);
    if (st) return st;
    if (m > SAL_MAX_DIMS) return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "too many axes");
    for (int64_t j = 0; j < m; j++) axes[j] = v[j];
    na = (int)m;
  } else if (n_in > 1 && in[1]) {
    const sal__oconst *c = in[1]->kind == LV_CONST ? in[1]->c : NULL;
    if (!c || c->type != SAL__OC_INT || c->numel > SAL_MAX_DIMS)
      return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "axes must be a constant integer list");
    for (int64_t j = 0; j < c->numel; j++) axes[j] = c->i[j];
    na = (int)c->numel;
  }
  int64_t ic[SAL_MAX_DIMS], ik[SAL_MAX_DIMS], oc[SAL_MAX_DIMS], ok[SAL_MAX_DIMS];
  value_affine(L, gv, ic, ik);
  int r = 0;
  if (unsqueeze) {
    if (na < 0) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "axes are required");
    int ro = s1->ndim + na;
    if (ro > SAL_MAX_DIMS) return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "output rank %d > %d", ro, SAL_MAX_DIMS);
    bool at[SAL_MAX_DIMS] = {false};
    for (int j = 0; j < na; j++) {
      int64_t a = axes[j] < 0 ? axes[j] + ro : axes[j];
      if (a < 0 || a >= ro || at[a]) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "bad axis %lld", (long long)axes[j]);
      at[a] = true;
    }
    for (int d = 0, s = 0; d < ro; d++) {
      oc[d] = at[d] ? 1 : ic[s];
      ok[d] = at[d] ? 0 : ik[s];
      if (!at[d]) s++;
    }
    r = ro;
  } else {
    bool drop[SAL_MAX_DIMS] = {false};
    for (int j = 0; j < na; j++) {
      int64_t a = axes[j] < 0 ? axes[j] + s1->ndim : axes[j];
      if (a < 0 || a >= s1->ndim || ik[a] != 0 || ic[a] != 1)
        return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "cannot squeeze axis %lld", (long long)axes[j]);
      drop[a] = true;
    }
    if (na < 0)
      for (int d = 0; d < s1->ndim; d++) drop[d] = ik[d] == 0 && ic[d] == 1;
    for (int d = 0; d < s1->ndim; d++)
      if (!drop[d]) oc[r] = ic[d], ok[r] = ik[d], r++;
  }
  int64_t shp[SAL_MAX_DIMS];
  sal_status st = resolve_shape(L, nd, gv, oc, ok, r, false, shp);
  if (st) return st;
  return emit_reshape(L, T, nd, gv, shp, r, nd->output[0]);
}

/* Resize with `sizes` (input 3): the batch and channel entries usually come from Shape(x); the
 * axes whose size does not change are dropped and the rest given through the opset-18 'axes'
 * attribute, so the constant no longer depends on the batch. */
static sal_status resize_sizes(sal__onnx_loader *L, const vtable *T, const Onnx__NodeProto *nd, lval *x, lval *sz,
                               attr_buf *ab, int64_t *axes_buf, const char **sizes_name) {
  const sal__oconst *c = sz->c;
  if (c->type != SAL__OC_INT || c->ndim != 1 || c->numel > SAL_MAX_DIMS)
    return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "sizes must be a 1-D integer constant");
  int64_t ic[SAL_MAX_DIMS], ik[SAL_MAX_DIMS];
  value_affine(L, x->gv, ic, ik);
  int r = L->g->values[x->gv].shape.ndim;
  sal_attr *ax = attr_find(ab, "axes");
  int64_t axes[SAL_MAX_DIMS];
  if (ax) {
    if (ax->type != SAL_ATTR_INTS || ax->n != c->numel)
      return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "attribute 'axes' does not match sizes");
    for (int j = 0; j < c->numel; j++) axes[j] = ax->ints[j] < 0 ? ax->ints[j] + r : ax->ints[j];
  } else {
    if (c->numel != r) return sal__onnx_node_error(L, nd, SAL_STATUS_SHAPE, "sizes has %lld values for rank %d", (long long)c->numel, r);
    for (int j = 0; j < r; j++) axes[j] = j;
  }
  sal__oconst *nc = sal__oc_new(L->ctx, SAL__OC_INT, 1, (int64_t[]){c->numel});
  if (!nc) return SAL_STATUS_OUT_OF_MEMORY;
  int m = 0;
  for (int j = 0; j < c->numel; j++) {
    int64_t a = axes[j];
    if (a < 0 || a >= r) {
      sal__oc_free(nc);
      return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "axis %lld out of range", (long long)a);
    }
    int64_t vi = c->i[j], vk = c->k ? c->k[j] : 0;
    bool same = (vk == ik[a] && vi == ic[a]) ||
                (vk == 0 && L->file_batch > 0 && ik[a] != 0 && vi == ic[a] + ik[a] * L->file_batch);
    if (same) continue;
    if (vk) {
      sal__oc_free(nc);
      return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "sizes[%d] depends on the batch size", j);
    }
    nc->i[m] = vi;
    axes_buf[m++] = a;
  }
  nc->dims[0] = nc->numel = m;
  char pname[512];
  snprintf(pname, sizeof pname, "%s__sizes", sz->name);
  char pn2[560];
  fresh_name(L, T, pname, pn2, sizeof pn2);
  int pv;
  sal_status st = m ? add_param_from(L, nd, pn2, nc, false, false, &pv) : SAL_STATUS_OK;
  sal__oc_free(nc);
  if (st) return st;
  if (!m) return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "sizes leaves every axis unchanged");
  if (ax) {
    ax->ints = axes_buf;
    ax->n = m;
  } else {
    ab->a[ab->n++] = sal_attr_ints("axes", m, axes_buf);
  }
  *sizes_name = L->g->values[pv].name;
  return SAL_STATUS_OK;
}

/* Maps one ONNX node onto engine nodes (all its inputs are defined). */
static sal_status map_node(sal__onnx_loader *L, vtable *T, const Onnx__NodeProto *nd, lval **in, int n_in) {
  const char *op = nd->op_type;
  sal_status st = SAL_STATUS_OK;
  int n_out = (int)nd->n_output;
  while (n_out > 0 && !nd->output[n_out - 1][0]) n_out--;
  if (n_out == 0) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "the node has no outputs");
  if (n_in > MAX_NODE_IO || n_out > MAX_NODE_IO)
    return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "more than %d inputs or outputs", MAX_NODE_IO);

  /* Constant folding: Shape always (its input's shape is known), the others when every present
   * input is a constant. */
  bool all_const = true;
  for (int i = 0; i < n_in; i++)
    if (in[i] && in[i]->kind != LV_CONST) all_const = false;
  bool is_shape = !strcmp(op, "Shape");
  if (!strcmp(op, "Constant") || (sal__onnx_foldable(op) && (all_const || is_shape))) {
    sal__oconst *ins[MAX_NODE_IO], *outs[1] = {NULL};
    for (int i = 0; i < n_in; i++) ins[i] = in[i] && in[i]->kind == LV_CONST ? in[i]->c : NULL;
    sal_shape s1 = {0}, sp = {0};
    if (is_shape) {
      if (n_in < 1 || !in[0]) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "input 0 is missing");
      if (in[0]->kind == LV_CONST) {
        s1.ndim = sp.ndim = in[0]->c->ndim > SAL_MAX_DIMS ? SAL_MAX_DIMS : in[0]->c->ndim;
        for (int d = 0; d < s1.ndim; d++) s1.d[d] = sp.d[d] = in[0]->c->dims[d];
      } else {
        if (in[0]->kind == LV_EXTRA_INPUT)
          return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "reads a second graph input '%s'", in[0]->name);
        s1 = L->g->values[in[0]->gv].shape;
        sp = L->probe[in[0]->gv];
        if (L->g->values[in[0]->gv].kind == SAL_VALUE_INPUT) s1.d[0] = 1;
      }
    }
    st = sal__onnx_fold(L, nd, ins, n_in, &s1, &sp, outs, n_out);
    if (st == SAL_STATUS_OUT_OF_MEMORY && !strstr(sal_ctx_last_error(L->ctx), "out of memory"))
      st = rewrap_error(L, nd, SAL_STATUS_BAD_INPUT, "");
    if (st) return st;
    lval *o = vt_find(T, nd->output[0]);
    o->kind = LV_CONST;
    o->c = outs[0];
    return SAL_STATUS_OK;
  }

  /* Engine ops. */
  if (n_in < 1 || !in[0]) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "input 0 is missing");
  if (!strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze")) {
    if (in[0]->kind != LV_ACT) return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "axes input must be constant");
    st = map_squeeze(L, T, nd, in, n_in, op[0] == 'U');
    if (!st) vt_find(T, nd->output[0])->kind = LV_ACT, vt_find(T, nd->output[0])->gv = L->g->n_values - 1;
    return st;
  }
  const char *eop = op;
  if (!strcmp(op, "Upsample")) eop = "Resize";
  else if (!strcmp(op, "Cast")) {
    int64_t to;
    if ((st = sal__onnx_attr_int(L, nd, "to", -1, &to))) return st;
    if (to != 1) return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "an activation cast to data type %lld", (long long)to);
    eop = "Identity";
  }
  sal_op_type t = sal__op_find(eop);
  if (t == SAL_OP_COUNT)
    return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "op '%s' is not supported (see docs/formats.md)", op);
  if (L->opset < op_since(op))
    return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "%s does not exist before opset %d", op, op_since(op));

  attr_buf ab;
  const char *skip = !strcmp(op, "Cast") ? "to" : NULL;
  st = convert_attrs(L, nd, skip, &ab);
  const char *ins[MAX_NODE_IO];
  int64_t axes_buf[SAL_MAX_DIMS];
  int n_ins = n_in;
  if (!st && (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax")) && L->opset < 13 && in[0]->kind == LV_ACT) {
    /* Before opset 13 Softmax flattens the input to 2-D at `axis` (default 1) and normalises each
     * row; that equals the per-axis form only when every dim after axis is 1 or axis is last. */
    const sal_shape *s = &L->g->values[in[0]->gv].shape;
    sal_attr *a = attr_find(&ab, "axis");
    int64_t axis = a && a->type == SAL_ATTR_INT ? a->i : 1;
    if (axis < 0) axis += s->ndim;
    bool ok = axis >= 0 && axis < s->ndim;
    for (int d = (int)axis + 1; ok && d < s->ndim; d++) ok = s->d[d] == 1 && L->probe[in[0]->gv].d[d] == 1;
    if (!ok)
      st = sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED,
                                "before opset 13 %s normalises over all dims from axis %lld on; only a last-axis "
                                "softmax is supported",
                                op, (long long)axis);
    else if (!a)
      ab.a[ab.n++] = sal_attr_int("axis", 1);
  }
  for (int i = 0; !st && i < n_in; i++) {
    if (!in[i]) {
      ins[i] = "";
      continue;
    }
    if (in[i]->kind == LV_ACT) {
      ins[i] = L->g->values[in[i]->gv].name;
      continue;
    }
    if (in[i]->kind == LV_CONST && !strcmp(eop, "Reshape") && i == 1 && in[0]->kind == LV_ACT) {
      const sal__oconst *c = in[i]->c;
      int64_t shp[SAL_MAX_DIMS], zero[SAL_MAX_DIMS] = {0};
      int64_t allowzero = 0;
      if ((st = sal__onnx_attr_int(L, nd, "allowzero", 0, &allowzero))) break;
      if (c->type != SAL__OC_INT || c->ndim != 1 || c->numel > SAL_MAX_DIMS) {
        st = sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "shape must be a 1-D integer constant of at most %d values",
                                  SAL_MAX_DIMS);
        break;
      }
      if ((st = resolve_shape(L, nd, in[0]->gv, c->i, c->k ? c->k : zero, (int)c->numel, allowzero != 0, shp))) break;
      bool same = !c->k;
      for (int j = 0; same && j < c->numel; j++) same = shp[j] == c->i[j];
      if (!same) {
        char pname[512], pn2[560];
        snprintf(pname, sizeof pname, "%s__batch", in[i]->name);
        fresh_name(L, T, pname, pn2, sizeof pn2);
        sal__oconst *nc = sal__oc_new(L->ctx, SAL__OC_INT, 1, (int64_t[]){c->numel});
        if (!nc) {
          st = SAL_STATUS_OUT_OF_MEMORY;
          break;
        }
        memcpy(nc->i, shp, (size_t)c->numel * sizeof(int64_t));
        int pv;
        st = add_param_from(L, nd, pn2, nc, false, false, &pv);
        sal__oc_free(nc);
        if (!st) ins[i] = L->g->values[pv].name;
        continue;
      }
    }
    if (in[i]->kind == LV_CONST && !strcmp(eop, "Resize") && i == 3 && n_in == 4 && in[0]->kind == LV_ACT &&
        in[3]->c->numel > 0) {
      st = resize_sizes(L, T, nd, in[0], in[3], &ab, axes_buf, &ins[3]);
      continue;
    }
    bool clamp = !strcmp(eop, "Slice") && (i == 1 || i == 2);
    st = input_value(L, T, nd, in[i], weight_slot(eop, i), clamp, &ins[i]);
  }
  if (!st && !strcmp(op, "Upsample") && L->opset >= 10)
    st = sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "Upsample is deprecated from opset 10; use Resize");
  if (!st && !strcmp(op, "Upsample")) {
    /* Upsample-9 = Resize-10: (X, scales), asymmetric coordinates, nearest rounds down. */
    if (n_ins != 2) st = sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "Upsample-9 takes (X, scales)");
  }
  if (!st && !strcmp(op, "Dropout") && L->opset < 12) {
    /* Dropout-7..11 kept the ratio as an attribute; the engine reads it the same way. */
  }
  const char *outs[MAX_NODE_IO];
  char gen[MAX_NODE_IO][64];
  int n_gen = 0;
  for (int j = 0; !st && j < n_out; j++) {
    if (nd->output[j][0]) {
      outs[j] = nd->output[j];
    } else {
      char base[64];
      snprintf(base, sizeof base, "%.40s__out%d", node_name(nd), j);
      outs[j] = fresh_name(L, T, base, gen[n_gen++], sizeof gen[0]);
    }
  }
  if (!st) st = add_node(L, nd, eop, node_name(nd), ins, n_ins, outs, n_out, ab.a, ab.n);
  attr_buf_free(&ab);
  if (st) return st;
  for (int j = 0; j < n_out; j++) {
    if (!nd->output[j][0]) continue;
    lval *o = vt_find(T, nd->output[j]);
    o->kind = LV_ACT;
    o->gv = sal__graph_find(L->g, nd->output[j]);
  }
  return SAL_STATUS_OK;
}

/* ---------------------------------------------------------------- model */

static sal_status read_file(sal_ctx *ctx, const char *path, int64_t max_bytes, uint8_t **buf, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return sal_ctx_error(ctx, errno == ENOENT ? SAL_STATUS_NOT_FOUND : SAL_STATUS_IO, "%s: %s", path, strerror(errno));
  struct stat sb;
  sal_status st = SAL_STATUS_OK;
  uint8_t *b = NULL;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    st = sal_ctx_error(ctx, SAL_STATUS_IO, "%s: not a regular file", path);
  } else if ((int64_t)sb.st_size > max_bytes) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: %lld bytes is more than the limit of %lld", path,
                       (long long)sb.st_size, (long long)max_bytes);
  } else if (sb.st_size == 0) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: the file is empty, not an ONNX model", path);
  } else if (!(b = sal_alloc(ctx, (size_t)sb.st_size))) {
    st = SAL_STATUS_OUT_OF_MEMORY;
  } else if (fread(b, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
    st = sal_ctx_error(ctx, SAL_STATUS_IO, "%s: read failed", path);
  }
  fclose(f);
  if (st) {
    sal_free(b);
    return st;
  }
  *buf = b;
  *len = (size_t)sb.st_size;
  return SAL_STATUS_OK;
}

/* The model input: rank 1..5 f32, dim 0 the batch (symbolic or fixed), other dims fixed. */
static sal_status add_model_input(sal__onnx_loader *L, const Onnx__ValueInfoProto *vi, lval *v) {
  const Onnx__TypeProto *tp = vi->type;
  if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
    return sal_ctx_error(L->ctx, SAL_STATUS_UNSUPPORTED, "%s: graph input '%s' is not a tensor", L->path, vi->name);
  const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
  if (tt->has_elem_type && tt->elem_type != 1)
    return sal_ctx_error(L->ctx, SAL_STATUS_UNSUPPORTED, "%s: graph input '%s' has data type %s (only FLOAT)", L->path,
                         vi->name, dtype_name(tt->elem_type));
  if (!tt->shape || tt->shape->n_dim < 1 || tt->shape->n_dim > SAL_MAX_DIMS)
    return sal_ctx_error(L->ctx, SAL_STATUS_UNSUPPORTED, "%s: graph input '%s' needs a declared shape of rank 1..%d",
                         L->path, vi->name, SAL_MAX_DIMS);
  int64_t dims[SAL_MAX_DIMS];
  int r = (int)tt->shape->n_dim;
  for (int d = 0; d < r; d++) {
    const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[d];
    bool fixed = dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    int64_t v = fixed ? dm->dim_value : -1;
    if (d == 0) {
      L->file_batch = fixed && v > 0 ? v : -1;
      dims[0] = -1;
      continue;
    }
    if (!fixed || v < 1 || v > INT32_MAX)
      return sal_ctx_error(L->ctx, SAL_STATUS_UNSUPPORTED,
                           "%s: graph input '%s': dim %d must be a fixed positive size (only dim 0, the batch, may be "
                           "symbolic)",
                           L->path, vi->name, d);
    dims[d] = v;
  }
  sal_status st = sal_graph_add_input(L->g, vi->name, r, dims);
  if (st) return sal_ctx_error_prefix(L->ctx, st, "%s: ", L->path);
  v->kind = LV_ACT;
  v->gv = L->g->n_values - 1;
  return probe_sync(L, v->gv);
}

static sal_status build(sal__onnx_loader *L, const Onnx__ModelProto *m, vtable *T) {
  sal_ctx *ctx = L->ctx;
  /* Opsets: the default domain ("" or "ai.onnx") must be 9..18. */
  L->opset = -1;
  for (size_t i = 0; i < m->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = m->opset_import[i];
    const char *dom = o->domain ? o->domain : "";
    if (dom[0] && strcmp(dom, "ai.onnx") != 0) continue;
    L->opset = o->has_version ? o->version : 1;
  }
  if (L->opset < 0)
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: the model imports no default-domain (ai.onnx) opset",
                         L->path);
  if (L->opset < OPSET_MIN || L->opset > OPSET_MAX)
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: opset %lld of domain ai.onnx is not supported (%d..%d are)",
                         L->path, (long long)L->opset, OPSET_MIN, OPSET_MAX);
  const Onnx__GraphProto *gp = m->graph;
  if (!gp) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: the model has no graph", L->path);
  if (gp->n_input == 0) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: the graph has no inputs", L->path);
  if (gp->n_output == 0) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: the graph has no outputs", L->path);
  if (gp->n_sparse_initializer)
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: sparse initialisers are not supported", L->path);

  /* The value table holds every name: initialisers, inputs, node outputs. */
  size_t total = gp->n_initializer + gp->n_input + 1;
  for (size_t i = 0; i < gp->n_node; i++) total += gp->node[i]->n_output;
  if (total > (size_t)1 << 26) return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: too many values", L->path);
  T->cap = (int)total;
  T->v = sal_calloc(ctx, total, sizeof(lval));
  T->nslots = 16;
  while (T->nslots < total * 2) T->nslots *= 2;
  T->slots = sal_alloc(ctx, T->nslots * sizeof(int));
  if (!T->v || !T->slots) return SAL_STATUS_OUT_OF_MEMORY;
  for (size_t i = 0; i < T->nslots; i++) T->slots[i] = -1;

  for (size_t i = 0; i < gp->n_initializer; i++) {
    const Onnx__TensorProto *tp = gp->initializer[i];
    if (!tp->name || !tp->name[0]) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: initialiser %zu has no name", L->path, i);
    if (vt_find(T, tp->name))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: duplicate value name '%s' (initialiser)", L->path, tp->name);
    char what[600];
    snprintf(what, sizeof what, "initialiser '%.500s'", tp->name);
    sal__oconst *c = NULL;
    sal_status st = sal__onnx_tensor(L, tp, what, &c);
    if (st) return st;
    lval *v = vt_add(T, tp->name, LV_CONST);
    v->c = c;
    v->weight = c->type == SAL__OC_FLOAT;
  }
  const Onnx__ValueInfoProto *model_in = NULL;
  for (size_t i = 0; i < gp->n_input; i++) {
    const Onnx__ValueInfoProto *vi = gp->input[i];
    if (!vi->name || !vi->name[0]) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: graph input %zu has no name", L->path, i);
    lval *v = vt_find(T, vi->name);
    if (v && v->kind == LV_CONST) continue; /* an initialiser listed as input (IR < 4 exporters) */
    if (v) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: duplicate value name '%s' (graph input)", L->path, vi->name);
    v = vt_add(T, vi->name, model_in ? LV_EXTRA_INPUT : LV_PENDING);
    if (!model_in) {
      model_in = vi;
      sal_status st = add_model_input(L, vi, v);
      if (st) return st;
    }
  }
  if (!model_in)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: every graph input is an initialiser; the model has no input",
                         L->path);
  for (size_t i = 0; i < gp->n_node; i++) {
    const Onnx__NodeProto *nd = gp->node[i];
    if (!nd->op_type || !nd->op_type[0]) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: node %zu has no op type", L->path, i);
    for (size_t j = 0; j < nd->n_output; j++) {
      const char *o = nd->output[j];
      if (!o[0]) continue;
      if (vt_find(T, o))
        return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "duplicate value name '%s' (output %zu)", o, j);
      vt_add(T, o, LV_PENDING);
    }
  }

  /* Walk the nodes in a topological order: ONNX requires the file's order to be one, but a node
   * whose inputs are not ready yet is retried after the others (a pass that makes no progress
   * means a cycle or an undefined value). */
  char *done = sal_calloc(ctx, gp->n_node ? gp->n_node : 1, 1);
  if (!done) return SAL_STATUS_OUT_OF_MEMORY;
  size_t n_done = 0;
  sal_status st = SAL_STATUS_OK;
  lval *in[MAX_NODE_IO];
  while (!st && n_done < gp->n_node) {
    size_t before = n_done;
    for (size_t i = 0; !st && i < gp->n_node; i++) {
      if (done[i]) continue;
      const Onnx__NodeProto *nd = gp->node[i];
      bool ready = true;
      if (nd->n_input > MAX_NODE_IO) {
        st = sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "%zu inputs (at most %d)", nd->n_input, MAX_NODE_IO);
        break;
      }
      for (size_t j = 0; j < nd->n_input; j++) {
        if (!nd->input[j][0]) {
          in[j] = NULL;
          continue;
        }
        in[j] = vt_find(T, nd->input[j]);
        if (!in[j] || in[j]->kind == LV_PENDING) ready = false;
      }
      if (!ready) continue;
      const char *dom = nd->domain ? nd->domain : "";
      if (dom[0] && strcmp(dom, "ai.onnx") != 0)
        st = sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "domain '%s' is not supported (only ai.onnx)", dom);
      else
        st = map_node(L, T, nd, in, (int)nd->n_input);
      done[i] = 1;
      n_done++;
    }
    if (!st && n_done == before) {
      /* Explain the first stuck node: an input nobody defines, or a cycle. */
      for (size_t i = 0; i < gp->n_node; i++) {
        if (done[i]) continue;
        const Onnx__NodeProto *nd = gp->node[i];
        for (size_t j = 0; j < nd->n_input; j++) {
          if (!nd->input[j][0]) continue;
          lval *v = vt_find(T, nd->input[j]);
          if (!v) {
            st = sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT,
                                      "input '%s' is undefined (no initialiser, graph input or node output has that name)",
                                      nd->input[j]);
            break;
          }
        }
        if (!st)
          st = sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT,
                                    "the graph has a cycle: this node depends on its own output");
        break;
      }
    }
  }
  sal_free(done);
  if (st) return st;

  for (size_t i = 0; i < gp->n_output; i++) {
    const char *nm = gp->output[i]->name ? gp->output[i]->name : "";
    lval *v = vt_find(T, nm);
    if (!v || v->kind == LV_PENDING)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: graph output '%s' is not produced by any node", L->path, nm);
    if (v->kind != LV_ACT)
      return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: graph output '%s' is a constant, not computed from the input",
                           L->path, nm);
    st = sal_graph_add_output(L->g, L->g->values[v->gv].name);
    if (st) return sal_ctx_error_prefix(ctx, st, "%s: ", L->path);
  }
  return SAL_STATUS_OK;
}

sal_status sal_onnx_load(sal_ctx *ctx, const char *path, const sal_onnx_load_opts *opts, sal_graph **out) {
  if (!ctx || !path || !out) return ctx ? sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_onnx_load: NULL argument") : SAL_STATUS_BAD_INPUT;
  *out = NULL;
  sal__onnx_loader L = {0};
  L.ctx = ctx;
  L.path = path;
  L.file_batch = -1;
  L.max_bytes = opts && opts->max_bytes > 0 ? opts->max_bytes : ((int64_t)4 << 30);
  /* External data lives beside the model unless the caller says otherwise. */
  const char *dir = opts && opts->external_dir ? opts->external_dir : NULL;
  size_t dl;
  const char *slash = strrchr(path, '/');
  if (dir) dl = strlen(dir);
  else if (slash) dir = path, dl = (size_t)(slash - path);
  else dir = ".", dl = 1;
  if (dl == 0) dir = "/", dl = 1;
  L.ext_dir = sal_alloc(ctx, dl + 1);
  if (!L.ext_dir) return SAL_STATUS_OUT_OF_MEMORY;
  memcpy(L.ext_dir, dir, dl);
  L.ext_dir[dl] = 0;

  uint8_t *buf = NULL;
  size_t len = 0;
  sal_status st = read_file(ctx, path, L.max_bytes, &buf, &len);
  if (st) {
    sal_free(L.ext_dir);
    return st;
  }
  Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
  sal_free(buf);
  if (!m) {
    sal_free(L.ext_dir);
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                         "%s: not an ONNX model: protobuf parsing failed (the file is truncated or not protobuf)", path);
  }
  vtable T = {0};
  st = sal_graph_new(ctx, &L.g);
  if (!st) st = build(&L, m, &T);
  for (int i = 0; i < T.n; i++) sal__oc_free(T.v[i].c);
  sal_free(T.v);
  sal_free(T.slots);
  sal_free(L.probe);
  sal_free(L.ext_dir);
  onnx__model_proto__free_unpacked(m, NULL);
  if (st) {
    sal_graph_free(L.g);
    return st;
  }
  *out = L.g;
  return SAL_STATUS_OK;
}
