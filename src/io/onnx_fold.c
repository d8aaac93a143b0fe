/* ONNX import, constant folding: evaluates the shape arithmetic exporters emit (Constant, Shape,
 * Gather, Unsqueeze, Concat, …) at import time, keeping the batch dimension symbolic. Called by
 * the node walk in src/io/onnx_load.c; the folded values never become graph nodes. */
#include "io/onnx_load.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Largest tensor a fold may create from smaller inputs (ConstantOfShape, broadcasting). */
#define FOLD_MAX_NUMEL ((int64_t)1 << 24)

sal__oconst *sal__oc_new(sal_ctx *ctx, sal__oc_type type, int ndim, const int64_t *dims) {
  if (ndim < 0 || ndim > SAL__OC_MAX_RANK) {
    sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "a tensor of rank %d (at most %d is supported)", ndim,
                  SAL__OC_MAX_RANK);
    return NULL;
  }
  int64_t numel = 1;
  for (int d = 0; d < ndim; d++) {
    /* Each dim and the running product stay below 2^31 (the caller's element bound), so the
     * product never overflows. */
    if (dims[d] < 0 || dims[d] > SAL__OC_MAX_NUMEL || numel * (dims[d] ? dims[d] : 1) > SAL__OC_MAX_NUMEL) {
      sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "a tensor dim %lld is negative or the tensor exceeds 2^31 elements",
                    (long long)dims[d]);
      return NULL;
    }
    numel *= dims[d];
  }
  sal__oconst *c = sal_calloc(ctx, 1, sizeof *c);
  if (!c) return NULL;
  c->type = type;
  c->ndim = ndim;
  for (int d = 0; d < ndim; d++) c->dims[d] = dims[d];
  c->numel = numel;
  size_t n = (size_t)(numel ? numel : 1);
  if (type == SAL__OC_FLOAT) c->f = sal_calloc(ctx, n, sizeof(float));
  else c->i = sal_calloc(ctx, n, sizeof(int64_t));
  if (!c->f && !c->i) {
    sal_free(c);
    return NULL;
  }
  return c;
}

void sal__oc_free(sal__oconst *c) {
  if (!c) return;
  sal_free(c->f);
  sal_free(c->i);
  sal_free(c->k);
  sal_free(c);
}

/* Gives c a batch-coefficient array (zeros) if it has none. */
static bool oc_need_k(sal_ctx *ctx, sal__oconst *c) {
  if (c->k) return true;
  c->k = sal_calloc(ctx, (size_t)(c->numel ? c->numel : 1), sizeof(int64_t));
  return c->k != NULL;
}

/* Copies element si of src into element di of dst (same type). */
static void oc_copy_elem(sal__oconst *dst, int64_t di, const sal__oconst *src, int64_t si) {
  if (src->type == SAL__OC_FLOAT) {
    dst->f[di] = src->f[si];
  } else {
    dst->i[di] = src->i[si];
    if (dst->k) dst->k[di] = src->k ? src->k[si] : 0;
  }
}

/* New constant of src's type and data under another shape (numel must match). */
static sal__oconst *oc_reshaped(sal_ctx *ctx, const sal__oconst *src, int ndim, const int64_t *dims) {
  sal__oconst *c = sal__oc_new(ctx, src->type, ndim, dims);
  if (!c) return NULL;
  if (src->k && !oc_need_k(ctx, c)) {
    sal__oc_free(c);
    return NULL;
  }
  for (int64_t e = 0; e < c->numel && e < src->numel; e++) oc_copy_elem(c, e, src, e);
  return c;
}

static bool oc_symbolic(const sal__oconst *c) {
  if (!c->k) return false;
  for (int64_t e = 0; e < c->numel; e++)
    if (c->k[e]) return true;
  return false;
}

/* Reads a 1-D (or scalar) INT constant without batch-dependent entries as a list. */
static sal_status oc_ints(const sal__onnx_loader *L, const Onnx__NodeProto *nd, const sal__oconst *c,
                          const char *what, int64_t *out, int cap, int *count) {
  if (c->type != SAL__OC_INT)
    return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "%s must be an integer tensor", what);
  if (c->ndim > 1 || c->numel > cap)
    return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "%s must be 1-D with at most %d values", what, cap);
  if (oc_symbolic(c))
    return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED,
                                "%s depends on the batch size, which salient keeps symbolic", what);
  for (int64_t e = 0; e < c->numel; e++) out[e] = c->i[e];
  *count = (int)c->numel;
  return SAL_STATUS_OK;
}

/* Integer list from attribute `name` (opsets before `since`) or from input `idx` (from `since`).
 * *count = -1 when neither is given. */
static sal_status ints_arg(const sal__onnx_loader *L, const Onnx__NodeProto *nd, const char *name, int64_t since,
                           sal__oconst *const *ins, int n_in, int idx, int64_t *out, int cap, int *count) {
  *count = -1;
  if (L->opset < since) {
    const int64_t *v;
    int64_t m;
    sal_status st = sal__onnx_attr_ints(L, nd, name, &v, &m);
    if (st || m < 0) return st;
    if (m > cap) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "attribute '%s' has %lld values", name, (long long)m);
    for (int64_t j = 0; j < m; j++) out[j] = v[j];
    *count = (int)m;
    return SAL_STATUS_OK;
  }
  if (idx >= n_in || !ins[idx]) return SAL_STATUS_OK;
  return oc_ints(L, nd, ins[idx], name, out, cap, count);
}

static sal_status norm_axis(const sal__onnx_loader *L, const Onnx__NodeProto *nd, int64_t a, int rank, int *out) {
  if (a < -rank || a >= rank)
    return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "axis %lld is out of range for rank %d", (long long)a,
                                rank);
  *out = (int)(a < 0 ? a + rank : a);
  return SAL_STATUS_OK;
}

static const char *const foldable[] = {"Constant", "Identity", "Cast",  "Shape",  "Gather",          "Unsqueeze",
                                       "Squeeze",  "Concat",   "Slice", "Add",    "Sub",             "Mul",
                                       "Div",      "Reshape",  "Neg",   "Floor",  "ConstantOfShape", "Transpose",
                                       NULL};

bool sal__onnx_foldable(const char *op) {
  for (int i = 0; foldable[i]; i++)
    if (strcmp(op, foldable[i]) == 0) return true;
  return false;
}

/* ONNX Constant (opsets 9–18): exactly one of value, value_float(s), value_int(s). */
static sal_status fold_constant(const sal__onnx_loader *L, const Onnx__NodeProto *nd, sal__oconst **out) {
  sal_ctx *ctx = L->ctx;
  if (nd->n_attribute != 1)
    return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "Constant needs exactly one value attribute, it has %zu",
                                nd->n_attribute);
  const Onnx__AttributeProto *a = nd->attribute[0];
  Onnx__AttributeProto__AttributeType t = sal__onnx_attr_type(a);
  const char *nm = a->name ? a->name : "";
  struct {
    const char *name;
    Onnx__AttributeProto__AttributeType type;
  } forms[] = {{"value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR},
               {"value_float", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT},
               {"value_floats", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS},
               {"value_int", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT},
               {"value_ints", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS}};
  int form = -1;
  for (int i = 0; i < 5; i++)
    if (strcmp(nm, forms[i].name) == 0) form = i;
  if (form < 0)
    return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "Constant attribute '%s' is not supported", nm);
  if (t != forms[form].type)
    return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "attribute '%s' has type %s, expected %s", nm,
                                sal__onnx_attr_type_name(t), sal__onnx_attr_type_name(forms[form].type));
  sal__oconst *c = NULL;
  switch (form) {
  case 0: {
    if (!a->t) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "attribute 'value' has no tensor");
    char what[160];
    snprintf(what, sizeof what, "Constant '%s'", nd->name ? nd->name : "");
    sal_status st = sal__onnx_tensor(L, a->t, what, &c);
    if (st) return st;
    break;
  }
  case 1:
    c = sal__oc_new(ctx, SAL__OC_FLOAT, 0, NULL);
    if (c) c->f[0] = a->f;
    break;
  case 2:
    c = sal__oc_new(ctx, SAL__OC_FLOAT, 1, (int64_t[]){(int64_t)a->n_floats});
    if (c) memcpy(c->f, a->floats, a->n_floats * sizeof(float));
    break;
  case 3:
    c = sal__oc_new(ctx, SAL__OC_INT, 0, NULL);
    if (c) c->i[0] = a->i;
    break;
  default:
    c = sal__oc_new(ctx, SAL__OC_INT, 1, (int64_t[]){(int64_t)a->n_ints});
    if (c) memcpy(c->i, a->ints, a->n_ints * sizeof(int64_t));
    break;
  }
  if (!c) return sal_ctx_error_prefix(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: ", L->path);
  *out = c;
  return SAL_STATUS_OK;
}

/* ONNX Cast: to FLOAT/DOUBLE/FLOAT16/BFLOAT16 gives a float constant, to an integer type an
 * integer one (float → int truncates toward zero, as the spec's C-style conversion). */
static sal_status fold_cast(const sal__onnx_loader *L, const Onnx__NodeProto *nd, const sal__oconst *x,
                            sal__oconst **out) {
  int64_t to;
  sal_status st = sal__onnx_attr_int(L, nd, "to", -1, &to);
  if (st) return st;
  bool to_float = to == 1 || to == 10 || to == 11 || to == 16;
  bool to_int = (to >= 2 && to <= 7) || to == 9 || to == 12 || to == 13;
  if (!to_float && !to_int)
    return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "Cast to data type %lld is not supported", (long long)to);
  sal__oconst *c = sal__oc_new(L->ctx, to_float ? SAL__OC_FLOAT : SAL__OC_INT, x->ndim, x->dims);
  if (!c) return SAL_STATUS_OUT_OF_MEMORY;
  if (to_float && x->type == SAL__OC_INT && oc_symbolic(x)) {
    sal__oc_free(c);
    return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED,
                                "a batch-dependent integer cast to float cannot be kept symbolic");
  }
  if (to_int && x->k && !oc_need_k(L->ctx, c)) {
    sal__oc_free(c);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  for (int64_t e = 0; e < x->numel; e++) {
    if (to_float) {
      c->f[e] = x->type == SAL__OC_FLOAT ? x->f[e] : (float)x->i[e];
    } else if (x->type == SAL__OC_INT) {
      c->i[e] = x->i[e];
      if (c->k) c->k[e] = x->k[e];
    } else {
      double v = x->f[e];
      if (!(fabs(v) < 9.2e18)) {
        sal__oc_free(c);
        return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "cannot cast %g to an integer", v);
      }
      c->i[e] = (int64_t)v;
    }
  }
  *out = c;
  return SAL_STATUS_OK;
}

/* ONNX Shape (start/end from opset 15): dims at batch 1 and at the probe batch give the affine
 * form d = i + k*N of each dim. */
static sal_status fold_shape(const sal__onnx_loader *L, const Onnx__NodeProto *nd, const sal_shape *s1,
                             const sal_shape *sp, sal__oconst **out) {
  int r = s1->ndim;
  int64_t start = 0, end = r;
  sal_status st = sal__onnx_attr_int(L, nd, "start", 0, &start);
  if (!st) st = sal__onnx_attr_int(L, nd, "end", r, &end);
  if (st) return st;
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = start < 0 ? 0 : start > r ? r : start;
  end = end < 0 ? 0 : end > r ? r : end;
  int64_t n = end > start ? end - start : 0;
  sal__oconst *c = sal__oc_new(L->ctx, SAL__OC_INT, 1, &n);
  if (!c || !oc_need_k(L->ctx, c)) {
    sal__oc_free(c);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  for (int64_t e = 0; e < n; e++) {
    int64_t a = s1->d[start + e], b = sp->d[start + e];
    int64_t diff = b - a;
    if (diff % (SAL__ONNX_PROBE - 1) != 0) {
      sal__oc_free(c);
      return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED,
                                  "dim %lld of the input is not a linear function of the batch size",
                                  (long long)(start + e));
    }
    c->k[e] = diff / (SAL__ONNX_PROBE - 1);
    c->i[e] = a - c->k[e];
  }
  *out = c;
  return SAL_STATUS_OK;
}

/* ONNX Gather: out = data.shape[:axis] + indices.shape + data.shape[axis+1:]. */
static sal_status fold_gather(const sal__onnx_loader *L, const Onnx__NodeProto *nd, const sal__oconst *x,
                              const sal__oconst *idx, sal__oconst **out) {
  int64_t axis;
  sal_status st = sal__onnx_attr_int(L, nd, "axis", 0, &axis);
  if (st) return st;
  int ax = 0;
  if ((st = norm_axis(L, nd, axis, x->ndim, &ax))) return st;
  if (idx->type != SAL__OC_INT || oc_symbolic(idx))
    return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "indices must be constant integers");
  int r = x->ndim - 1 + idx->ndim;
  if (r > SAL__OC_MAX_RANK) return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "output rank %d is too large", r);
  int64_t dims[SAL__OC_MAX_RANK];
  int o = 0;
  for (int d = 0; d < ax; d++) dims[o++] = x->dims[d];
  for (int d = 0; d < idx->ndim; d++) dims[o++] = idx->dims[d];
  for (int d = ax + 1; d < x->ndim; d++) dims[o++] = x->dims[d];
  sal__oconst *c = sal__oc_new(L->ctx, x->type, r, dims);
  if (!c) return SAL_STATUS_OUT_OF_MEMORY;
  if (x->k && !oc_need_k(L->ctx, c)) {
    sal__oc_free(c);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  int64_t outer = 1, inner = 1, n = x->dims[ax];
  for (int d = 0; d < ax; d++) outer *= x->dims[d];
  for (int d = ax + 1; d < x->ndim; d++) inner *= x->dims[d];
  int64_t e = 0;
  for (int64_t a = 0; a < outer; a++)
    for (int64_t j = 0; j < idx->numel; j++) {
      int64_t ix = idx->i[j];
      if (ix < -n || ix >= n) {
        sal__oc_free(c);
        return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "index %lld is out of range for axis size %lld",
                                    (long long)ix, (long long)n);
      }
      if (ix < 0) ix += n;
      for (int64_t b = 0; b < inner; b++) oc_copy_elem(c, e++, x, (a * n + ix) * inner + b);
    }
  *out = c;
  return SAL_STATUS_OK;
}

/* ONNX Unsqueeze / Squeeze: axes from the attribute (before opset 13) or input 1 (from 13). */
static sal_status fold_squeeze(const sal__onnx_loader *L, const Onnx__NodeProto *nd, sal__oconst *const *ins,
                               int n_in, bool unsqueeze, sal__oconst **out) {
  const sal__oconst *x = ins[0];
  int64_t axes[SAL__OC_MAX_RANK];
  int na;
  sal_status st = ints_arg(L, nd, "axes", 13, ins, n_in, 1, axes, SAL__OC_MAX_RANK, &na);
  if (st) return st;
  int64_t dims[SAL__OC_MAX_RANK];
  int r;
  if (unsqueeze) {
    if (na < 0) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "axes are required");
    r = x->ndim + na;
    if (r > SAL__OC_MAX_RANK) return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "rank %d is too large", r);
    bool ins_at[SAL__OC_MAX_RANK] = {false};
    for (int j = 0; j < na; j++) {
      int a = 0;
      if ((st = norm_axis(L, nd, axes[j], r, &a))) return st;
      if (ins_at[a]) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "axis %d repeated", a);
      ins_at[a] = true;
    }
    for (int d = 0, s = 0; d < r; d++) dims[d] = ins_at[d] ? 1 : x->dims[s++];
  } else {
    bool drop[SAL__OC_MAX_RANK] = {false};
    if (na < 0) {
      for (int d = 0; d < x->ndim; d++) drop[d] = x->dims[d] == 1;
    } else {
      for (int j = 0; j < na; j++) {
        int a = 0;
        if ((st = norm_axis(L, nd, axes[j], x->ndim, &a))) return st;
        if (x->dims[a] != 1)
          return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "cannot squeeze axis %d of size %lld", a,
                                      (long long)x->dims[a]);
        drop[a] = true;
      }
    }
    r = 0;
    for (int d = 0; d < x->ndim; d++)
      if (!drop[d]) dims[r++] = x->dims[d];
  }
  *out = oc_reshaped(L->ctx, x, r, dims);
  return *out ? SAL_STATUS_OK : SAL_STATUS_OUT_OF_MEMORY;
}

static sal_status fold_concat(const sal__onnx_loader *L, const Onnx__NodeProto *nd, sal__oconst *const *ins, int n_in,
                              sal__oconst **out) {
  int64_t axis;
  sal_status st = sal__onnx_attr_int(L, nd, "axis", INT64_MIN, &axis);
  if (st) return st;
  if (axis == INT64_MIN) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "attribute 'axis' is required");
  const sal__oconst *x0 = NULL;
  for (int j = 0; j < n_in; j++)
    if (ins[j]) {
      x0 = ins[j];
      break;
    }
  if (!x0) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "no inputs");
  int ax = 0;
  if ((st = norm_axis(L, nd, axis, x0->ndim, &ax))) return st;
  int64_t dims[SAL__OC_MAX_RANK];
  memcpy(dims, x0->dims, sizeof dims);
  dims[ax] = 0;
  bool any_k = false;
  for (int j = 0; j < n_in; j++) {
    const sal__oconst *x = ins[j];
    if (!x) continue;
    if (x->type != x0->type || x->ndim != x0->ndim)
      return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "inputs differ in type or rank");
    for (int d = 0; d < x->ndim; d++)
      if (d != ax && x->dims[d] != x0->dims[d])
        return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "inputs differ in dim %d", d);
    dims[ax] += x->dims[ax];
    any_k = any_k || x->k;
  }
  sal__oconst *c = sal__oc_new(L->ctx, x0->type, x0->ndim, dims);
  if (!c || (any_k && !oc_need_k(L->ctx, c))) {
    sal__oc_free(c);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < ax; d++) outer *= dims[d];
  for (int d = ax + 1; d < x0->ndim; d++) inner *= dims[d];
  int64_t e = 0;
  for (int64_t a = 0; a < outer; a++)
    for (int j = 0; j < n_in; j++) {
      const sal__oconst *x = ins[j];
      if (!x) continue;
      int64_t blk = x->dims[ax] * inner;
      for (int64_t b = 0; b < blk; b++) oc_copy_elem(c, e++, x, a * blk + b);
    }
  *out = c;
  return SAL_STATUS_OK;
}

/* ONNX Slice: attributes starts/ends/axes before opset 10, inputs 1..4 from 10 (steps from 10). */
static sal_status fold_slice(const sal__onnx_loader *L, const Onnx__NodeProto *nd, sal__oconst *const *ins, int n_in,
                             sal__oconst **out) {
  const sal__oconst *x = ins[0];
  int64_t v[4][SAL__OC_MAX_RANK];
  int cnt[4];
  const char *names[4] = {"starts", "ends", "axes", "steps"};
  for (int j = 0; j < 4; j++) {
    sal_status st = ints_arg(L, nd, names[j], 10, ins, n_in, 1 + j, v[j], SAL__OC_MAX_RANK, &cnt[j]);
    if (st) return st;
  }
  if (cnt[0] < 0 || cnt[1] != cnt[0] || (cnt[2] >= 0 && cnt[2] != cnt[0]) || (cnt[3] >= 0 && cnt[3] != cnt[0]))
    return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "starts, ends, axes and steps must have equal lengths");
  int64_t start[SAL__OC_MAX_RANK], step[SAL__OC_MAX_RANK], dims[SAL__OC_MAX_RANK];
  for (int d = 0; d < x->ndim; d++) {
    start[d] = 0;
    step[d] = 1;
    dims[d] = x->dims[d];
  }
  for (int j = 0; j < cnt[0]; j++) {
    int a = 0;
    sal_status st = norm_axis(L, nd, cnt[2] >= 0 ? v[2][j] : j, x->ndim, &a);
    if (st) return st;
    int64_t s = v[0][j], e = v[1][j], p = cnt[3] >= 0 ? v[3][j] : 1, n = x->dims[a];
    if (p == 0) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "step 0");
    /* ONNX Slice: negative indices count from the end, then clamp to [0, n] (step > 0) or
     * [-1, n-1] (step < 0). */
    if (s < 0) s += n;
    if (e < 0) e += n;
    if (p > 0) {
      s = s < 0 ? 0 : s > n ? n : s;
      e = e < 0 ? 0 : e > n ? n : e;
      dims[a] = e > s ? (e - s + p - 1) / p : 0;
    } else {
      s = s < 0 ? -1 : s > n - 1 ? n - 1 : s;
      e = e < -1 ? -1 : e > n - 1 ? n - 1 : e;
      dims[a] = s > e ? (s - e + (-p) - 1) / (-p) : 0;
    }
    start[a] = s;
    step[a] = p;
  }
  sal__oconst *c = sal__oc_new(L->ctx, x->type, x->ndim, dims);
  if (!c || (x->k && !oc_need_k(L->ctx, c))) {
    sal__oc_free(c);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  int64_t idx[SAL__OC_MAX_RANK] = {0};
  for (int64_t e = 0; e < c->numel; e++) {
    int64_t src = 0;
    for (int d = 0; d < x->ndim; d++) src = src * x->dims[d] + start[d] + idx[d] * step[d];
    oc_copy_elem(c, e, x, src);
    for (int d = x->ndim - 1; d >= 0; d--) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
  *out = c;
  return SAL_STATUS_OK;
}

/* Add/Sub/Mul/Div with NumPy broadcasting. Integer values stay affine in the batch size N:
 * (a + bN) ± (c + dN), (a + bN) * c, and (a + bN) / c when c divides both a and b; anything else
 * that involves N cannot be represented. Unary Neg/Floor use the same path with b absent. */
static sal_status fold_arith(const sal__onnx_loader *L, const Onnx__NodeProto *nd, const char *op,
                             const sal__oconst *a, const sal__oconst *b, sal__oconst **out) {
  if (b && a->type != b->type)
    return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "inputs have different data types");
  int r = a->ndim;
  if (b && b->ndim > r) r = b->ndim;
  int64_t dims[SAL__OC_MAX_RANK] = {0}, sa[SAL__OC_MAX_RANK] = {0}, sb[SAL__OC_MAX_RANK] = {0};
  for (int d = 0; d < r; d++) {
    int da = d - (r - a->ndim), db = b ? d - (r - b->ndim) : -1;
    int64_t na = da >= 0 ? a->dims[da] : 1, nb = db >= 0 ? b->dims[db] : 1;
    if (na != nb && na != 1 && nb != 1)
      return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "inputs do not broadcast (dim %d: %lld vs %lld)", d,
                                  (long long)na, (long long)nb);
    dims[d] = na == 1 ? nb : na;
  }
  /* Strides aligned right, 0 where broadcast. */
  int64_t ta = 1, tb = 1;
  for (int d = r - 1; d >= 0; d--) {
    int da = d - (r - a->ndim), db = b ? d - (r - b->ndim) : -1;
    sa[d] = (da >= 0 && a->dims[da] != 1) ? ta : 0;
    if (da >= 0) ta *= a->dims[da];
    sb[d] = (db >= 0 && b->dims[db] != 1) ? tb : 0;
    if (db >= 0) tb *= b->dims[db];
  }
  /* Folding is for shape arithmetic: a broadcast that expands beyond both inputs is bounded by
   * FOLD_MAX_NUMEL so that a crafted file cannot make the importer loop over 2^31 elements. */
  int64_t numel = 1;
  for (int d = 0; d < r; d++) numel = numel > FOLD_MAX_NUMEL ? numel : numel * dims[d];
  if (numel > FOLD_MAX_NUMEL && numel > a->numel && (!b || numel > b->numel))
    return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "folding would create more than 2^24 elements");
  sal__oconst *c = sal__oc_new(L->ctx, a->type, r, dims);
  bool any_k = a->k || (b && b->k);
  if (!c || (any_k && !oc_need_k(L->ctx, c))) {
    sal__oc_free(c);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  int64_t idx[SAL__OC_MAX_RANK] = {0};
  sal_status st = SAL_STATUS_OK;
  for (int64_t e = 0; e < c->numel && !st; e++) {
    int64_t ia = 0, ib = 0;
    for (int d = 0; d < r; d++) {
      ia += idx[d] * sa[d];
      ib += idx[d] * sb[d];
    }
    if (a->type == SAL__OC_FLOAT) {
      float x = a->f[ia], y = b ? b->f[ib] : 0.0f;
      switch (op[0]) {
      case 'A': c->f[e] = x + y; break;
      case 'S': c->f[e] = x - y; break;
      case 'M': c->f[e] = x * y; break;
      case 'D': c->f[e] = x / y; break;
      case 'N': c->f[e] = -x; break;
      default: c->f[e] = floorf(x); break;
      }
    } else {
      int64_t x = a->i[ia], xk = a->k ? a->k[ia] : 0;
      int64_t y = b ? b->i[ib] : 0, yk = b && b->k ? b->k[ib] : 0;
      int64_t v = 0, vk = 0, t1 = 0, t2 = 0;
      bool ovf = false;
      /* Values come from the file: every operation is overflow-checked (signed overflow is
       * undefined behaviour in C). */
      switch (op[0]) {
      case 'A': ovf = __builtin_add_overflow(x, y, &v) || __builtin_add_overflow(xk, yk, &vk); break;
      case 'S': ovf = __builtin_sub_overflow(x, y, &v) || __builtin_sub_overflow(xk, yk, &vk); break;
      case 'N': ovf = __builtin_sub_overflow((int64_t)0, x, &v) || __builtin_sub_overflow((int64_t)0, xk, &vk); break;
      case 'F': v = x, vk = xk; break;
      case 'M':
        if (xk && yk) st = SAL_STATUS_UNSUPPORTED;
        ovf = __builtin_mul_overflow(x, y, &v) || __builtin_mul_overflow(xk, y, &t1) ||
              __builtin_mul_overflow(yk, x, &t2) || __builtin_add_overflow(t1, t2, &vk);
        break;
      default:
        if (y == 0) {
          st = SAL_STATUS_BAD_INPUT;
        } else if (y == -1 && (x == INT64_MIN || xk == INT64_MIN)) {
          ovf = true;
        } else if (yk || (xk && (xk % y != 0 || x % y != 0))) {
          st = SAL_STATUS_UNSUPPORTED;
        } else {
          v = x / y, vk = xk / y;
        }
        break;
      }
      if (ovf) st = SAL_STATUS_NUMERIC;
      c->i[e] = v;
      if (c->k) c->k[e] = vk;
    }
    for (int d = r - 1; d >= 0; d--) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
  if (st) {
    sal__oc_free(c);
    if (st == SAL_STATUS_BAD_INPUT) return sal__onnx_node_error(L, nd, st, "integer division by zero");
    if (st == SAL_STATUS_NUMERIC) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "integer overflow");
    return sal__onnx_node_error(L, nd, st, "the result depends on the batch size non-linearly");
  }
  *out = c;
  return SAL_STATUS_OK;
}

/* ONNX ConstantOfShape: shape from input 0, the fill value from attribute 'value' (one element,
 * default float 0). */
static sal_status fold_const_of_shape(const sal__onnx_loader *L, const Onnx__NodeProto *nd, const sal__oconst *s,
                                      sal__oconst **out) {
  int64_t dims[SAL__OC_MAX_RANK];
  int r;
  sal_status st = oc_ints(L, nd, s, "shape", dims, SAL__OC_MAX_RANK, &r);
  if (st) return st;
  int64_t numel = 1;
  for (int d = 0; d < r; d++) {
    if (dims[d] < 0 || dims[d] > FOLD_MAX_NUMEL)
      return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "shape entry %lld is out of range", (long long)dims[d]);
    numel *= dims[d];
    if (numel > FOLD_MAX_NUMEL)
      return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "folding would create more than 2^24 elements");
  }
  sal__oconst *val = NULL;
  const Onnx__AttributeProto *a = sal__onnx_attr(nd, "value");
  if (a) {
    if (sal__onnx_attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR || !a->t)
      return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "attribute 'value' has type %s, expected TENSOR",
                                  sal__onnx_attr_type_name(sal__onnx_attr_type(a)));
    if ((st = sal__onnx_tensor(L, a->t, "ConstantOfShape value", &val))) return st;
    if (val->numel != 1) {
      sal__oc_free(val);
      return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "attribute 'value' must hold one element");
    }
  }
  sal__oconst *c = sal__oc_new(L->ctx, val ? val->type : SAL__OC_FLOAT, r, dims);
  if (!c) {
    sal__oc_free(val);
    return sal_ctx_error_prefix(L->ctx, SAL_STATUS_BAD_INPUT, "%s: node '%s' (ConstantOfShape, opset %lld): ", L->path,
                                nd->name ? nd->name : "", (long long)L->opset);
  }
  for (int64_t e = 0; val && e < c->numel; e++) oc_copy_elem(c, e, val, 0);
  sal__oc_free(val);
  *out = c;
  return SAL_STATUS_OK;
}

/* ONNX Reshape of a constant (0 copies the input dim unless allowzero; one -1 is inferred). */
static sal_status fold_reshape(const sal__onnx_loader *L, const Onnx__NodeProto *nd, const sal__oconst *x,
                               const sal__oconst *s, sal__oconst **out) {
  int64_t dims[SAL__OC_MAX_RANK];
  int r;
  sal_status st = oc_ints(L, nd, s, "shape", dims, SAL__OC_MAX_RANK, &r);
  if (st) return st;
  int64_t allowzero;
  if ((st = sal__onnx_attr_int(L, nd, "allowzero", 0, &allowzero))) return st;
  int inf = -1;
  int64_t known = 1;
  for (int d = 0; d < r; d++) {
    if (dims[d] == 0 && !allowzero) {
      if (d >= x->ndim) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "a 0 in shape beyond the input's rank");
      dims[d] = x->dims[d];
    }
    if (dims[d] == -1) {
      if (inf >= 0) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "shape has two -1");
      inf = d;
    } else if (dims[d] < 0 || dims[d] > SAL__OC_MAX_NUMEL) {
      return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "shape entry %lld is invalid", (long long)dims[d]);
    } else {
      known *= dims[d];
      if (known > SAL__OC_MAX_NUMEL) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "shape is too large");
    }
  }
  if (inf >= 0) {
    if (known == 0 || x->numel % known)
      return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "cannot infer the -1 in shape");
    dims[inf] = x->numel / known;
  } else if (known != x->numel) {
    return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "shape has %lld elements, the input %lld",
                                (long long)known, (long long)x->numel);
  }
  *out = oc_reshaped(L->ctx, x, r, dims);
  return *out ? SAL_STATUS_OK : SAL_STATUS_OUT_OF_MEMORY;
}

/* ONNX Transpose of a constant: output dim i is input dim perm[i] (default: reversed). */
static sal_status fold_transpose(const sal__onnx_loader *L, const Onnx__NodeProto *nd, const sal__oconst *x,
                                 sal__oconst **out) {
  const int64_t *pv;
  int64_t np;
  sal_status st = sal__onnx_attr_ints(L, nd, "perm", &pv, &np);
  if (st) return st;
  int r = x->ndim, perm[SAL__OC_MAX_RANK];
  bool seen[SAL__OC_MAX_RANK] = {false};
  if (np >= 0 && np != r) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "perm has %lld entries for rank %d", (long long)np, r);
  for (int i = 0; i < r; i++) {
    int64_t p = np >= 0 ? pv[i] : r - 1 - i;
    if (p < 0 || p >= r || seen[p]) return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "perm is not a permutation");
    seen[p] = true;
    perm[i] = (int)p;
  }
  int64_t dims[SAL__OC_MAX_RANK], istr[SAL__OC_MAX_RANK];
  for (int i = 0; i < r; i++) dims[i] = x->dims[perm[i]];
  int64_t t = 1;
  for (int d = r - 1; d >= 0; d--) istr[d] = t, t *= x->dims[d];
  sal__oconst *c = sal__oc_new(L->ctx, x->type, r, dims);
  if (!c || (x->k && !oc_need_k(L->ctx, c))) {
    sal__oc_free(c);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  int64_t idx[SAL__OC_MAX_RANK] = {0};
  for (int64_t e = 0; e < c->numel; e++) {
    int64_t src = 0;
    for (int i = 0; i < r; i++) src += idx[i] * istr[perm[i]];
    oc_copy_elem(c, e, x, src);
    for (int i = r - 1; i >= 0; i--) {
      if (++idx[i] < dims[i]) break;
      idx[i] = 0;
    }
  }
  *out = c;
  return SAL_STATUS_OK;
}

sal_status sal__onnx_fold(const sal__onnx_loader *L, const Onnx__NodeProto *nd, sal__oconst *const *ins, int n_in,
                          const sal_shape *in_shape, const sal_shape *in_probe, sal__oconst **outs, int n_out) {
  const char *op = nd->op_type;
  for (int j = 0; j < n_out; j++) outs[j] = NULL;
  if (n_out != 1) return sal__onnx_node_error(L, nd, SAL_STATUS_UNSUPPORTED, "%d outputs (1 expected)", n_out);
  if (strcmp(op, "Constant") == 0) return fold_constant(L, nd, &outs[0]);
  if (strcmp(op, "Shape") == 0) return fold_shape(L, nd, in_shape, in_probe, &outs[0]);
  if (n_in < 1 || !ins[0])
    return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "input 0 is missing");
  int need = 1;
  if (!strcmp(op, "Gather") || !strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") ||
      !strcmp(op, "Div") || !strcmp(op, "Reshape"))
    need = 2;
  if (n_in < need || !ins[need - 1])
    return sal__onnx_node_error(L, nd, SAL_STATUS_BAD_INPUT, "%d inputs are required", need);
  if (!strcmp(op, "Identity")) {
    outs[0] = oc_reshaped(L->ctx, ins[0], ins[0]->ndim, ins[0]->dims);
    return outs[0] ? SAL_STATUS_OK : SAL_STATUS_OUT_OF_MEMORY;
  }
  if (!strcmp(op, "Cast")) return fold_cast(L, nd, ins[0], &outs[0]);
  if (!strcmp(op, "Gather")) return fold_gather(L, nd, ins[0], ins[1], &outs[0]);
  if (!strcmp(op, "Unsqueeze")) return fold_squeeze(L, nd, ins, n_in, true, &outs[0]);
  if (!strcmp(op, "Squeeze")) return fold_squeeze(L, nd, ins, n_in, false, &outs[0]);
  if (!strcmp(op, "Concat")) return fold_concat(L, nd, ins, n_in, &outs[0]);
  if (!strcmp(op, "Slice")) return fold_slice(L, nd, ins, n_in, &outs[0]);
  if (!strcmp(op, "ConstantOfShape")) return fold_const_of_shape(L, nd, ins[0], &outs[0]);
  if (!strcmp(op, "Transpose")) return fold_transpose(L, nd, ins[0], &outs[0]);
  if (!strcmp(op, "Reshape")) return fold_reshape(L, nd, ins[0], ins[1], &outs[0]);
  if (!strcmp(op, "Neg") || !strcmp(op, "Floor")) return fold_arith(L, nd, op, ins[0], NULL, &outs[0]);
  return fold_arith(L, nd, op, ins[0], ins[1], &outs[0]);
}
