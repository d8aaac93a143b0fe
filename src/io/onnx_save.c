/* ONNX export: writes a salient graph as an ONNX ModelProto (IR version 8, default-domain opset 17)
 * through protobuf-c and the crash-safe writer; the last step after building or training a model.
 *
 * Each node becomes one NodeProto. salient accepts several opsets' forms of the same op (an
 * argument as an attribute in old opsets, as a constant input in new ones) and keeps every
 * parameter as f32; the exporter rewrites each node into its opset-17 form (ONNX Operators.md,
 * e.g. Clip-13, Dropout-13, Pad-13, Slice-13, Split-13, Resize-13, ReduceMean-13) and writes the
 * parameters that opset 17 types as int64 (Reshape's shape, Slice's starts/ends/axes/steps, Pad's
 * pads, Split's split, Resize's sizes) as int64 initialisers. The batch dimension becomes the
 * symbolic dim "N". See docs/onnx-export.md. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph/internal.h"
#include "io/atomic.h"
#include "onnx.pb-c.h"
#include "ops/shape.h"
#include "salient/onnx.h"

#define IR_VERSION 8
#define OPSET 17
/* Domain of salient's own training ops (the losses); declared in opset_import when used. */
#define SALIENT_DOMAIN "ai.salient"
/* protobuf messages cannot exceed 2 GiB; larger models would need external data. */
#define MAX_MODEL_BYTES ((size_t)INT32_MAX)
/* Most attributes one exported node carries (its own plus those the rewrites add). */
#define MAX_ATTRS 32

/* An input slot that opset 17 types as int64 and that holds a salient parameter: the parameter is
 * written as int64 (under its own name, or an alias when it is also read as f32 elsewhere). */
typedef struct i64_slot {
  char **slot; /* the NodeProto input string to patch */
  int value;   /* the parameter's value index */
} i64_slot;

typedef struct ex {
  sal_ctx *ctx;
  const sal_graph *g;
  sal_shape *shapes; /* per value, at batch 1 */
  void **allocs;     /* everything allocated for the message tree, freed together */
  int n_allocs, cap_allocs;
  Onnx__TensorProto **inits;
  int n_inits, cap_inits;
  Onnx__NodeProto **nodes;
  int n_nodes;
  i64_slot *slots;
  int n_slots, cap_slots;
  char **fresh; /* names made up for new initialisers */
  int n_fresh, cap_fresh;
  int *f32_uses; /* per value: node inputs that read the parameter as f32 */
  bool salient_domain;
} ex;

static bool grow(ex *e, void **arr, int *cap, int need, size_t elem) {
  if (need <= *cap) return true;
  int nc = *cap ? *cap * 2 : 16;
  while (nc < need) nc *= 2;
  void *na = sal_calloc(e->ctx, (size_t)nc, elem);
  if (!na) return false;
  if (*arr) memcpy(na, *arr, (size_t)*cap * elem);
  sal_free(*arr);
  *arr = na;
  *cap = nc;
  return true;
}

/* Zeroed memory owned by the export (freed by ex_free). */
static void *ex_alloc(ex *e, size_t count, size_t size) {
  if (count == 0) count = 1;
  if (!grow(e, (void **)&e->allocs, &e->cap_allocs, e->n_allocs + 1, sizeof(void *))) return NULL;
  void *p = sal_calloc(e->ctx, count, size);
  if (p) e->allocs[e->n_allocs++] = p;
  return p;
}

static char *ex_strdup(ex *e, const char *s) {
  size_t n = strlen(s) + 1;
  char *d = ex_alloc(e, n, 1);
  if (d) memcpy(d, s, n);
  return d;
}

static void ex_free(ex *e) {
  for (int i = 0; i < e->n_allocs; i++) sal_free(e->allocs[i]);
  sal_free(e->allocs);
  sal_free(e->inits);
  sal_free(e->nodes);
  sal_free(e->slots);
  sal_free(e->fresh);
  sal_free(e->f32_uses);
  sal_free(e->shapes);
}

static bool name_taken(const ex *e, const char *name) {
  if (sal__graph_find(e->g, name) >= 0) return true;
  for (int i = 0; i < e->n_fresh; i++)
    if (strcmp(e->fresh[i], name) == 0) return true;
  return false;
}

/* A value name not used by the graph nor by an earlier made-up name: base, else base_1, base_2...
 * NULL when out of memory (also for a NULL base: a failed role_name). */
static char *fresh_name(ex *e, const char *base) {
  if (!base) return NULL;
  size_t cap = strlen(base) + 24;
  char *buf = ex_alloc(e, cap, 1);
  if (!buf) return NULL;
  snprintf(buf, cap, "%s", base);
  for (int k = 1; name_taken(e, buf); k++) snprintf(buf, cap, "%s_%d", base, k);
  if (!grow(e, (void **)&e->fresh, &e->cap_fresh, e->n_fresh + 1, sizeof(char *))) return NULL;
  e->fresh[e->n_fresh++] = buf;
  return buf;
}

static bool host_little_endian(void) {
  const uint32_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* raw_data of n elements of `size` bytes, little-endian as ONNX requires. On a little-endian host
 * the source is referenced in place (no copy of large weights). */
static bool set_raw(ex *e, Onnx__TensorProto *t, const void *src, size_t n, size_t size) {
  size_t bytes;
  if (!sal_mul_size(n, size, &bytes)) return false;
  t->has_raw_data = 1;
  t->raw_data.len = bytes;
  if (host_little_endian()) {
    t->raw_data.data = (uint8_t *)(uintptr_t)src;
    return true;
  }
  uint8_t *d = ex_alloc(e, bytes, 1);
  if (!d) return false;
  const uint8_t *s = src;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < size; j++) d[i * size + j] = s[i * size + size - 1 - j];
  t->raw_data.data = d;
  return true;
}

static Onnx__TensorProto *new_init(ex *e, const char *name, int ndim, const int64_t *dims, int32_t dtype) {
  Onnx__TensorProto *t = ex_alloc(e, 1, sizeof *t);
  int64_t *d = ex_alloc(e, (size_t)ndim, sizeof(int64_t));
  char *nm = ex_strdup(e, name);
  if (!t || !d || !nm || !grow(e, (void **)&e->inits, &e->cap_inits, e->n_inits + 1, sizeof *e->inits)) return NULL;
  onnx__tensor_proto__init(t);
  t->name = nm;
  t->n_dims = (size_t)ndim;
  if (ndim) memcpy(d, dims, (size_t)ndim * sizeof(int64_t));
  t->dims = d;
  t->has_data_type = 1;
  t->data_type = dtype;
  e->inits[e->n_inits++] = t;
  return t;
}

/* A new f32 initialiser; data is copied (made-up constants live on the stack of the caller). */
static char *init_f32_copy(ex *e, const char *base, int ndim, const int64_t *dims, const float *data, size_t n) {
  char *name = fresh_name(e, base);
  float *copy = ex_alloc(e, n, sizeof(float));
  if (!name || !copy) return NULL;
  memcpy(copy, data, n * sizeof(float));
  Onnx__TensorProto *t = new_init(e, name, ndim, dims, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
  return t && set_raw(e, t, copy, n, sizeof(float)) ? name : NULL;
}

/* A new 1-D int64 initialiser holding v[0..n). */
static char *init_i64(ex *e, const char *base, const int64_t *v, int n) {
  char *name = fresh_name(e, base);
  int64_t *copy = ex_alloc(e, (size_t)n, sizeof(int64_t));
  if (!name || !copy) return NULL;
  if (n) memcpy(copy, v, (size_t)n * sizeof(int64_t));
  int64_t dim = n;
  Onnx__TensorProto *t = new_init(e, name, 1, &dim, ONNX__TENSOR_PROTO__DATA_TYPE__INT64);
  return t && set_raw(e, t, copy, (size_t)n, sizeof(int64_t)) ? name : NULL;
}

/* Float to int64 for shape constants: salient stores integer tensors as f32, and the float of
 * INT64_MAX (Slice's "to the end") is 2^63, which int64 cannot hold: clamp to the int64 range. */
static bool float_to_i64(float f, int64_t *out) {
  double v = f;
  if (!(v == floor(v))) return false;
  if (v >= 9.2233720368547758e18) *out = INT64_MAX;
  else if (v <= -9.2233720368547758e18) *out = INT64_MIN;
  else *out = (int64_t)v;
  return true;
}

/* ---- the node being built ---- */

typedef struct nb {
  const sal_node *n;
  Onnx__NodeProto *p;
  const char *op_type;
  const char *in[64];
  bool in_i64[64];   /* slot typed int64 by opset 17 */
  int n_in;
  Onnx__AttributeProto *attrs[MAX_ATTRS];
  int n_attrs;
  const char *skip[8]; /* graph attributes not written (converted or opset-18 only) */
  int n_skip;
} nb;

static Onnx__AttributeProto *new_attr(ex *e, const char *name, Onnx__AttributeProto__AttributeType type) {
  Onnx__AttributeProto *a = ex_alloc(e, 1, sizeof *a);
  char *nm = ex_strdup(e, name);
  if (!a || !nm) return NULL;
  onnx__attribute_proto__init(a);
  a->name = nm;
  a->has_type = 1;
  a->type = type;
  return a;
}

static bool push_attr(nb *b, Onnx__AttributeProto *a) {
  if (!a || b->n_attrs >= MAX_ATTRS) return false;
  b->attrs[b->n_attrs++] = a;
  return true;
}

static bool attr_ints(ex *e, nb *b, const char *name, const int64_t *v, int64_t n) {
  Onnx__AttributeProto *a = new_attr(e, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  int64_t *c = ex_alloc(e, (size_t)n, sizeof(int64_t));
  if (!a || !c) return false;
  if (n) memcpy(c, v, (size_t)n * sizeof(int64_t));
  a->n_ints = (size_t)n;
  a->ints = c;
  return push_attr(b, a);
}

static bool attr_string(ex *e, nb *b, const char *name, const char *s) {
  Onnx__AttributeProto *a = new_attr(e, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
  if (!a) return false;
  a->has_s = 1;
  a->s.len = strlen(s);
  a->s.data = (uint8_t *)(uintptr_t)s;
  return push_attr(b, a);
}

/* A graph attribute with its ONNX type. */
static bool attr_copy(ex *e, nb *b, const sal_node_attr *sa) {
  static const Onnx__AttributeProto__AttributeType types[] = {
      [SAL_ATTR_INT] = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT,
      [SAL_ATTR_FLOAT] = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT,
      [SAL_ATTR_INTS] = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS,
      [SAL_ATTR_FLOATS] = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS,
      [SAL_ATTR_STRING] = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING};
  if (sa->type == SAL_ATTR_STRING) return attr_string(e, b, sa->name, sa->s ? sa->s : "");
  if (sa->type == SAL_ATTR_INTS) return attr_ints(e, b, sa->name, sa->ints, sa->n);
  Onnx__AttributeProto *a = new_attr(e, sa->name, types[sa->type]);
  if (!a) return false;
  switch (sa->type) {
    case SAL_ATTR_INT:
      a->has_i = 1;
      a->i = sa->i;
      break;
    case SAL_ATTR_FLOAT:
      a->has_f = 1;
      a->f = sa->f;
      break;
    default: {
      float *c = ex_alloc(e, (size_t)sa->n, sizeof(float));
      if (!c) return false;
      if (sa->n) memcpy(c, sa->floats, (size_t)sa->n * sizeof(float));
      a->n_floats = (size_t)sa->n;
      a->floats = c;
    }
  }
  return push_attr(b, a);
}

static const sal_node_attr *find_attr(const sal_node *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
  return NULL;
}

static void skip_attr(nb *b, const char *name) {
  if (b->n_skip < (int)(sizeof b->skip / sizeof b->skip[0])) b->skip[b->n_skip++] = name;
}

static const char *in_name(const ex *e, const sal_node *n, int i) {
  return i < n->n_in && n->in[i] >= 0 ? e->g->values[n->in[i]].name : "";
}

/* Sets input slot i (growing the input list with "" for omitted optional inputs). */
static void set_in(nb *b, int i, const char *name, bool i64) {
  while (b->n_in <= i) {
    b->in[b->n_in] = "";
    b->in_i64[b->n_in++] = false;
  }
  b->in[i] = name;
  b->in_i64[i] = i64;
}

/* Base name for a made-up constant of node n: "<node>.<role>". */
static const char *role_name(ex *e, const sal_node *n, const char *role) {
  size_t cap = strlen(n->name) + strlen(role) + 2;
  char *s = ex_alloc(e, cap, 1);
  if (s) snprintf(s, cap, "%s.%s", n->name, role);
  return s;
}

static sal_status oom(ex *e) { return sal_ctx_error(e->ctx, SAL_STATUS_OUT_OF_MEMORY, "out of memory while exporting to ONNX"); }

static sal_status node_error(ex *e, const sal_node *n, const char *fmt, const char *detail) {
  return sal_ctx_error(e->ctx, SAL_STATUS_UNSUPPORTED, "node '%s' (%s): %s%s", n->name, sal__op_name(n->op), fmt,
                       detail ? detail : "");
}

/* Clip-6 attributes min/max become Clip-13's scalar inputs 1 and 2. */
static sal_status rewrite_clip(ex *e, nb *b, const sal_node *n) {
  static const char *const names[2] = {"min", "max"};
  for (int k = 0; k < 2; k++) {
    const sal_node_attr *a = find_attr(n, names[k]);
    if (!a) continue;
    skip_attr(b, names[k]);
    float v = a->type == SAL_ATTR_FLOAT ? a->f : (float)a->i;
    const char *nm = init_f32_copy(e, role_name(e, n, names[k]), 0, NULL, &v, 1);
    if (!nm) return oom(e);
    set_in(b, 1 + k, nm, false);
  }
  return SAL_STATUS_OK;
}

/* Dropout-13: ratio is input 1 (f32 scalar); training_mode (input 2) is a bool salient does not
 * store (its plan decides), so it is left out: an exported Dropout is the identity at inference. */
static sal_status rewrite_dropout(ex *e, nb *b, const sal_node *n) {
  const sal_node_attr *a = find_attr(n, "ratio");
  if (a) {
    skip_attr(b, "ratio");
    float v = a->f;
    const char *nm = init_f32_copy(e, role_name(e, n, "ratio"), 0, NULL, &v, 1);
    if (!nm) return oom(e);
    set_in(b, 1, nm, false);
  }
  if (b->n_in > 2) b->n_in = 2;
  return SAL_STATUS_OK;
}

/* Slice-1 attributes starts/ends/axes become Slice-13's int64 inputs 1..3. */
static sal_status rewrite_slice(ex *e, nb *b, const sal_node *n) {
  if (n->n_in > 1) {
    for (int i = 1; i < b->n_in; i++) b->in_i64[i] = b->in[i][0] != '\0';
    return SAL_STATUS_OK;
  }
  static const char *const names[3] = {"starts", "ends", "axes"};
  for (int k = 0; k < 3; k++) {
    const sal_node_attr *a = find_attr(n, names[k]);
    if (!a) continue;
    skip_attr(b, names[k]);
    if (a->type != SAL_ATTR_INTS) return node_error(e, n, "attribute must be a list of ints: ", names[k]);
    const char *nm = init_i64(e, role_name(e, n, names[k]), a->ints, (int)a->n);
    if (!nm) return oom(e);
    set_in(b, 1 + k, nm, false);
  }
  return SAL_STATUS_OK;
}

/* Pad-13: pads (int64, 2 per dim over all dims) is input 1, constant_value input 2. The forms
 * with attributes (Pad-2) or with opset 18's axes (input 3) are normalised by salient's own
 * parser and written as full pads. */
static sal_status rewrite_pad(ex *e, nb *b, const sal_node *n) {
  const sal_shape *x = &e->shapes[n->in[0]];
  bool has_attr = find_attr(n, "pads") != NULL;
  bool has_axes = n->n_in > 3 && n->in[3] >= 0;
  skip_attr(b, "pads");
  skip_attr(b, "value");
  if (b->n_in > 3) b->n_in = 3;
  if (has_attr || has_axes) {
    sal__pad_params p;
    sal_status st = sal__pad_parse(e->ctx, e->g, n, x, &p);
    if (st) return st;
    int64_t pads[2 * SAL_MAX_DIMS];
    int r = x->ndim;
    for (int d = 0; d < r; d++) {
      pads[d] = p.pad_lo[d] - p.crop_lo[d];
      pads[r + d] = p.out.d[d] - x->d[d] - pads[d];
    }
    const char *nm = init_i64(e, role_name(e, n, "pads"), pads, 2 * r);
    if (!nm) return oom(e);
    set_in(b, 1, nm, false);
  } else if (b->n_in > 1) {
    b->in_i64[1] = true;
  }
  const sal_node_attr *v = find_attr(n, "value");
  if (v && !(n->n_in > 2 && n->in[2] >= 0)) {
    float f = v->f;
    const char *nm = init_f32_copy(e, role_name(e, n, "value"), 0, NULL, &f, 1);
    if (!nm) return oom(e);
    set_in(b, 2, nm, false);
  }
  return SAL_STATUS_OK;
}

/* Split-13: sizes are int64 input 1 (not the Split-2 attribute); opset 18's num_outputs becomes
 * explicit sizes (read off the inferred output shapes) unless the parts are equal, Split-13's
 * default. */
static sal_status rewrite_split(ex *e, nb *b, const sal_node *n) {
  const sal_node_attr *a = find_attr(n, "split");
  if (a) {
    skip_attr(b, "split");
    if (a->type != SAL_ATTR_INTS) return node_error(e, n, "attribute must be a list of ints: ", "split");
    const char *nm = init_i64(e, role_name(e, n, "split"), a->ints, (int)a->n);
    if (!nm) return oom(e);
    set_in(b, 1, nm, false);
  } else if (b->n_in > 1 && b->in[1][0]) {
    b->in_i64[1] = true;
  }
  if (find_attr(n, "num_outputs")) {
    skip_attr(b, "num_outputs");
    int axis;
    sal_status st = sal__split_axis(e->ctx, n, e->shapes[n->in[0]].ndim, &axis);
    if (st) return st;
    int64_t sizes[64];
    bool equal = true;
    for (int j = 0; j < n->n_out && j < 64; j++) {
      sizes[j] = e->shapes[n->out[j]].d[axis];
      equal = equal && sizes[j] == sizes[0];
    }
    if (!equal) {
      const char *nm = init_i64(e, role_name(e, n, "split"), sizes, n->n_out);
      if (!nm) return oom(e);
      set_in(b, 1, nm, false);
    }
  }
  return SAL_STATUS_OK;
}

/* Resize-13: (X, roi, scales, sizes). Resize-10's (X, scales) gets an empty roi and its implied
 * attributes (asymmetric coordinates, floor rounding); opset 18's axes are expanded to full-rank
 * scales; antialias and keep_aspect_ratio_policy (opset 18) are only accepted by salient at their
 * defaults and are dropped. */
static sal_status rewrite_resize(ex *e, nb *b, const sal_node *n) {
  skip_attr(b, "antialias");
  skip_attr(b, "keep_aspect_ratio_policy");
  if (n->n_in == 2) {
    set_in(b, 2, b->in[1], false);
    set_in(b, 1, "", false);
    if (!find_attr(n, "coordinate_transformation_mode") && !attr_string(e, b, "coordinate_transformation_mode", "asymmetric"))
      return oom(e);
    if (!find_attr(n, "nearest_mode") && !attr_string(e, b, "nearest_mode", "floor")) return oom(e);
  }
  if (b->n_in > 3 && b->in[3][0]) b->in_i64[3] = true;
  if (find_attr(n, "axes")) {
    skip_attr(b, "axes");
    bool sizes = b->n_in > 3 && b->in[3][0];
    if (sizes) return node_error(e, n, "sizes over a subset of axes (opset 18) cannot be written at opset 17", NULL);
    sal__resize_params p;
    const sal_shape *x = &e->shapes[n->in[0]];
    sal_status st = sal__resize_parse(e->ctx, e->g, n, x, &p);
    if (st) return st;
    float sc[SAL_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) sc[d] = (float)p.scale[d];
    int64_t dim = x->ndim;
    const char *nm = init_f32_copy(e, role_name(e, n, "scales"), 1, &dim, sc, (size_t)x->ndim);
    if (!nm) return oom(e);
    set_in(b, 2, nm, false);
  }
  return SAL_STATUS_OK;
}

/* ReduceMean-13: axes is an attribute (the input form is opset 18); noop_with_empty_axes is opset
 * 18 too: with no axes it makes the node an Identity. */
static sal_status rewrite_reduce_mean(ex *e, nb *b, const sal_node *n) {
  skip_attr(b, "noop_with_empty_axes");
  const sal_node_attr *noop = find_attr(n, "noop_with_empty_axes");
  bool has_input = n->n_in > 1 && n->in[1] >= 0;
  int64_t axes[SAL_MAX_DIMS];
  int64_t na = 0;
  if (has_input) {
    const float *c = sal__node_const_input(e->g, n, 1, &na);
    if (!c) return node_error(e, n, "axes (input 1) must be a constant", NULL);
    if (na > SAL_MAX_DIMS) return node_error(e, n, "too many axes", NULL);
    for (int64_t i = 0; i < na; i++)
      if (!float_to_i64(c[i], &axes[i])) return node_error(e, n, "axes are not integers", NULL);
    b->n_in = 1;
  } else {
    const sal_node_attr *a = find_attr(n, "axes");
    na = a && a->type == SAL_ATTR_INTS ? a->n : 0;
  }
  if (na == 0 && noop && noop->type == SAL_ATTR_INT && noop->i == 1) {
    b->op_type = "Identity";
    b->n_in = 1;
    b->n_skip = 0;
    b->n_attrs = 0;
    skip_attr(b, "*");
    return SAL_STATUS_OK;
  }
  if (has_input && na > 0 && !attr_ints(e, b, "axes", axes, na)) return oom(e);
  return SAL_STATUS_OK;
}

/* AveragePool-19's dilations are not in opset 17: dilations of 1 are dropped, others refused. */
static sal_status rewrite_avgpool(ex *e, nb *b, const sal_node *n) {
  const sal_node_attr *a = find_attr(n, "dilations");
  if (!a) return SAL_STATUS_OK;
  for (int64_t i = 0; a->type == SAL_ATTR_INTS && i < a->n; i++)
    if (a->ints[i] != 1) return node_error(e, n, "dilations other than 1 need AveragePool-19 (opset 17 is written)", NULL);
  skip_attr(b, "dilations");
  return SAL_STATUS_OK;
}

static bool skipped(const nb *b, const char *name) {
  for (int i = 0; i < b->n_skip; i++)
    if (strcmp(b->skip[i], "*") == 0 || strcmp(b->skip[i], name) == 0) return true;
  return false;
}

static sal_status export_node(ex *e, const sal_node *n) {
  nb b;
  memset(&b, 0, sizeof b);
  b.n = n;
  b.op_type = sal__op_name(n->op);
  if (n->n_in > 64 || n->n_out > 64) return node_error(e, n, "more than 64 inputs or outputs", NULL);
  for (int i = 0; i < n->n_in; i++) set_in(&b, i, in_name(e, n, i), false);
  sal_status st = SAL_STATUS_OK;
  const char *domain = NULL;
  switch (n->op) {
    case SAL_OP_RESHAPE:
      if (b.n_in > 1) b.in_i64[1] = true;
      break;
    case SAL_OP_SLICE: st = rewrite_slice(e, &b, n); break;
    case SAL_OP_PAD: st = rewrite_pad(e, &b, n); break;
    case SAL_OP_SPLIT: st = rewrite_split(e, &b, n); break;
    case SAL_OP_RESIZE: st = rewrite_resize(e, &b, n); break;
    case SAL_OP_REDUCE_MEAN: st = rewrite_reduce_mean(e, &b, n); break;
    case SAL_OP_CLIP: st = rewrite_clip(e, &b, n); break;
    case SAL_OP_DROPOUT: st = rewrite_dropout(e, &b, n); break;
    case SAL_OP_AVGPOOL: st = rewrite_avgpool(e, &b, n); break;
    case SAL_OP_SOFTMAX_CE_LOSS:
    case SAL_OP_KL_DIV_LOSS:
    case SAL_OP_MSE_LOSS:
      domain = SALIENT_DOMAIN;
      e->salient_domain = true;
      break;
    default: break;
  }
  if (st) return st;
  for (int i = 0; i < n->n_attrs; i++)
    if (!skipped(&b, n->attrs[i].name) && !attr_copy(e, &b, &n->attrs[i])) return oom(e);
  /* Trailing omitted optional inputs are left out, as ONNX allows. */
  while (b.n_in > 0 && b.in[b.n_in - 1][0] == '\0') b.n_in--;

  Onnx__NodeProto *p = ex_alloc(e, 1, sizeof *p);
  char **ins = ex_alloc(e, (size_t)b.n_in, sizeof(char *));
  char **outs = ex_alloc(e, (size_t)n->n_out, sizeof(char *));
  Onnx__AttributeProto **attrs = ex_alloc(e, (size_t)b.n_attrs, sizeof *attrs);
  if (!p || !ins || !outs || !attrs) return oom(e);
  onnx__node_proto__init(p);
  p->name = n->name;
  p->op_type = (char *)(uintptr_t)b.op_type;
  p->domain = (char *)(uintptr_t)domain;
  for (int i = 0; i < b.n_in; i++) {
    ins[i] = (char *)(uintptr_t)b.in[i];
    int v = sal__graph_find(e->g, b.in[i]);
    if (v < 0 || e->g->values[v].kind != SAL_VALUE_PARAM) continue;
    if (b.in_i64[i]) {
      if (!grow(e, (void **)&e->slots, &e->cap_slots, e->n_slots + 1, sizeof *e->slots)) return oom(e);
      e->slots[e->n_slots++] = (i64_slot){&ins[i], v};
    } else {
      e->f32_uses[v]++;
    }
  }
  for (int j = 0; j < n->n_out; j++) outs[j] = e->g->values[n->out[j]].name;
  memcpy(attrs, b.attrs, (size_t)b.n_attrs * sizeof *attrs);
  p->n_input = (size_t)b.n_in;
  p->input = ins;
  p->n_output = (size_t)n->n_out;
  p->output = outs;
  p->n_attribute = (size_t)b.n_attrs;
  p->attribute = attrs;
  e->nodes[e->n_nodes++] = p;
  return SAL_STATUS_OK;
}

/* Parameters: f32 initialisers (raw_data referencing the graph's own storage), and int64 ones for
 * those read in int64 slots (under an alias "<name>_int64" when also read as f32). Parameters
 * only read by slots the export turned into attributes are left out. */
static sal_status export_params(ex *e) {
  const sal_graph *g = e->g;
  bool *converted = sal_calloc(e->ctx, (size_t)g->n_values, sizeof(bool));
  bool *consumed = sal_calloc(e->ctx, (size_t)g->n_values, sizeof(bool));
  char **alias = sal_calloc(e->ctx, (size_t)g->n_values, sizeof(char *));
  sal_status st = SAL_STATUS_OK;
  if (!converted || !consumed || !alias) {
    st = oom(e);
    goto done;
  }
  for (int k = 0; k < g->n_nodes; k++)
    for (int i = 0; i < g->nodes[k].n_in; i++)
      if (g->nodes[k].in[i] >= 0) consumed[g->nodes[k].in[i]] = true;
  for (int s = 0; s < e->n_slots; s++) {
    int v = e->slots[s].value;
    const sal_value *val = &g->values[v];
    if (!converted[v]) {
      converted[v] = true;
      int64_t n = sal_shape_numel(&val->shape);
      int64_t *q = ex_alloc(e, (size_t)n, sizeof(int64_t));
      if (!q) {
        st = oom(e);
        goto done;
      }
      for (int64_t j = 0; j < n; j++)
        if (!float_to_i64(val->data[j], &q[j])) {
          st = sal_ctx_error(e->ctx, SAL_STATUS_BAD_INPUT,
                             "parameter '%s' is read as an int64 shape or index tensor but holds %g", val->name,
                             (double)val->data[j]);
          goto done;
        }
      char buf[512];
      snprintf(buf, sizeof buf, "%s_int64", val->name);
      alias[v] = e->f32_uses[v] ? fresh_name(e, buf) : (char *)val->name;
      Onnx__TensorProto *t = alias[v] ? new_init(e, alias[v], val->shape.ndim, val->shape.d,
                                                 ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
                                      : NULL;
      if (!t || !set_raw(e, t, q, (size_t)n, sizeof(int64_t))) {
        st = oom(e);
        goto done;
      }
    }
    *e->slots[s].slot = alias[v];
  }
  for (int v = 0; v < g->n_values; v++) {
    const sal_value *val = &g->values[v];
    if (val->kind != SAL_VALUE_PARAM) continue;
    bool keep = e->f32_uses[v] > 0 || !consumed[v];
    if (!keep) continue;
    Onnx__TensorProto *t = new_init(e, val->name, val->shape.ndim, val->shape.d, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    if (!t || !set_raw(e, t, val->data, (size_t)sal_shape_numel(&val->shape), sizeof(float))) {
      st = oom(e);
      goto done;
    }
  }
done:
  sal_free(converted);
  sal_free(consumed);
  sal_free(alias);
  return st;
}

/* Shapes of every value with the batch dimension bound to `batch`; the first node's error if
 * inference fails. */
static sal_status infer_at(ex *e, int64_t batch, sal_shape *shapes) {
  const sal_graph *g = e->g;
  for (int v = 0; v < g->n_values; v++) {
    shapes[v] = g->values[v].shape;
    if (g->values[v].kind == SAL_VALUE_INPUT && shapes[v].ndim > 0 && shapes[v].d[0] < 0) shapes[v].d[0] = batch;
  }
  for (int k = 0; k < g->n_nodes; k++) {
    sal_status st = sal__infer_node(e->ctx, g, &g->nodes[k], shapes);
    if (st) return st;
  }
  return SAL_STATUS_OK;
}

/* A float tensor ValueInfo; dims where sym[d] is set are written as the symbolic "N". */
static Onnx__ValueInfoProto *value_info(ex *e, const char *name, const sal_shape *s, const bool *sym) {
  Onnx__ValueInfoProto *vi = ex_alloc(e, 1, sizeof *vi);
  Onnx__TypeProto *tp = ex_alloc(e, 1, sizeof *tp);
  Onnx__TypeProto__Tensor *tt = ex_alloc(e, 1, sizeof *tt);
  Onnx__TensorShapeProto *sp = ex_alloc(e, 1, sizeof *sp);
  Onnx__TensorShapeProto__Dimension **dims = ex_alloc(e, (size_t)s->ndim, sizeof *dims);
  if (!vi || !tp || !tt || !sp || !dims) return NULL;
  onnx__value_info_proto__init(vi);
  onnx__type_proto__init(tp);
  onnx__type_proto__tensor__init(tt);
  onnx__tensor_shape_proto__init(sp);
  for (int d = 0; d < s->ndim; d++) {
    Onnx__TensorShapeProto__Dimension *dm = ex_alloc(e, 1, sizeof *dm);
    if (!dm) return NULL;
    onnx__tensor_shape_proto__dimension__init(dm);
    if (sym[d]) {
      dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      dm->dim_param = "N";
    } else {
      dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      dm->dim_value = s->d[d];
    }
    dims[d] = dm;
  }
  sp->n_dim = (size_t)s->ndim;
  sp->dim = dims;
  tt->has_elem_type = 1;
  tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  tt->shape = sp;
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  vi->name = (char *)(uintptr_t)name;
  vi->type = tp;
  return vi;
}

/* protobuf-c output sink writing straight to the temporary file. */
typedef struct file_sink {
  ProtobufCBuffer base;
  FILE *f;
  bool ok;
} file_sink;

static void sink_append(ProtobufCBuffer *buf, size_t len, const uint8_t *data) {
  file_sink *s = (file_sink *)buf;
  if (s->ok && len && fwrite(data, 1, len, s->f) != len) s->ok = false;
}

static sal_status build_and_write(ex *e, const char *path) {
  const sal_graph *g = e->g;
  sal_status st;
  e->nodes = sal_calloc(e->ctx, (size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *e->nodes);
  e->f32_uses = sal_calloc(e->ctx, (size_t)g->n_values, sizeof(int));
  e->shapes = sal_calloc(e->ctx, (size_t)g->n_values * 2, sizeof(sal_shape));
  if (!e->nodes || !e->f32_uses || !e->shapes) return oom(e);
  sal_shape *s1 = e->shapes, *s2 = e->shapes + g->n_values;
  if ((st = infer_at(e, 1, s1))) return st;
  /* A dimension that changes between batch 1 and batch 2 is the batch: written symbolic. When the
   * graph cannot run at batch 2 (a shape constant fixes it), every dimension is fixed. */
  st = infer_at(e, 2, s2);
  if (st == SAL_STATUS_OUT_OF_MEMORY) return st;
  bool dynamic = st == SAL_STATUS_OK;
  sal_ctx_clear_error(e->ctx);

  for (int k = 0; k < g->n_nodes; k++)
    if ((st = export_node(e, &g->nodes[k]))) return st;
  if ((st = export_params(e))) return st;

  Onnx__ValueInfoProto **ins = ex_alloc(e, (size_t)g->n_inputs, sizeof *ins);
  Onnx__ValueInfoProto **outs = ex_alloc(e, (size_t)g->n_outputs, sizeof *outs);
  if (!ins || !outs) return oom(e);
  for (int i = 0; i < g->n_inputs; i++) {
    int v = g->inputs[i];
    bool sym[SAL_MAX_DIMS] = {false};
    for (int d = 0; d < s1[v].ndim; d++) sym[d] = g->values[v].shape.d[d] < 0;
    if (!(ins[i] = value_info(e, g->values[v].name, &s1[v], sym))) return oom(e);
  }
  for (int i = 0; i < g->n_outputs; i++) {
    int v = g->outputs[i];
    bool sym[SAL_MAX_DIMS] = {false};
    for (int d = 0; dynamic && d < s1[v].ndim; d++) sym[d] = s1[v].d[d] != s2[v].d[d];
    if (!(outs[i] = value_info(e, g->values[v].name, &s1[v], sym))) return oom(e);
  }

  Onnx__GraphProto gp;
  onnx__graph_proto__init(&gp);
  gp.name = "salient";
  gp.n_node = (size_t)e->n_nodes;
  gp.node = e->nodes;
  gp.n_initializer = (size_t)e->n_inits;
  gp.initializer = e->inits;
  gp.n_input = (size_t)g->n_inputs;
  gp.input = ins;
  gp.n_output = (size_t)g->n_outputs;
  gp.output = outs;

  Onnx__OperatorSetIdProto op_default, op_salient;
  onnx__operator_set_id_proto__init(&op_default);
  op_default.domain = "";
  op_default.has_version = 1;
  op_default.version = OPSET;
  onnx__operator_set_id_proto__init(&op_salient);
  op_salient.domain = SALIENT_DOMAIN;
  op_salient.has_version = 1;
  op_salient.version = 1;
  Onnx__OperatorSetIdProto *opsets[2] = {&op_default, &op_salient};

  char producer_version[64];
  snprintf(producer_version, sizeof producer_version, "%s", sal_version());
  Onnx__ModelProto m;
  onnx__model_proto__init(&m);
  m.has_ir_version = 1;
  m.ir_version = IR_VERSION;
  m.n_opset_import = e->salient_domain ? 2 : 1;
  m.opset_import = opsets;
  m.producer_name = "salient";
  m.producer_version = producer_version;
  m.graph = &gp;

  size_t bytes = onnx__model_proto__get_packed_size(&m);
  if (bytes > MAX_MODEL_BYTES)
    return sal_ctx_error(e->ctx, SAL_STATUS_UNSUPPORTED,
                         "the model needs %zu bytes, beyond protobuf's 2 GiB limit (external data is not written)", bytes);
  sal__atomic_file af;
  if ((st = sal__atomic_open(e->ctx, path, &af))) return st;
  file_sink sink = {{sink_append}, af.f, true};
  onnx__model_proto__pack_to_buffer(&m, &sink.base);
  return sal__atomic_commit(e->ctx, &af, sink.ok);
}

sal_status sal_onnx_save(sal_ctx *ctx, const sal_graph *g, const char *path) {
  if (!g || !path) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_onnx_save: NULL %s", g ? "path" : "graph");
  if (g->n_inputs < 1 || g->n_outputs < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_onnx_save: the graph has no %s", g->n_inputs < 1 ? "input" : "output");
  ex e;
  memset(&e, 0, sizeof e);
  e.ctx = ctx;
  e.g = g;
  sal_status st = build_and_write(&e, path);
  ex_free(&e);
  if (st) return sal_ctx_error_prefix(ctx, st, "writing ONNX file %s: ", path);
  return SAL_STATUS_OK;
}
