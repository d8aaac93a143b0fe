/* The op registry: the table of op definitions and kernels generated from the X-macro op list,
 * name lookups, and the attribute getters every shape rule and kernel uses. */
#include "graph/internal.h"
#include "kernels/dnnl/list.h"
#include "tensor/layout.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const sal_op_def *const op_defs[] = {
#define SAL__OP_DEF(e, n, s) &sal__op_##s,
    SAL_OP_LIST(SAL__OP_DEF)
#undef SAL__OP_DEF
};
static const sal_kernel *const ref_kernels[] = {
#define SAL__OP_REF(e, n, s) &sal__ref_##s,
    SAL_OP_LIST(SAL__OP_REF)
#undef SAL__OP_REF
};
static const char *const op_names[] = {
#define SAL__OP_NAME(e, n, s) n,
    SAL_OP_LIST(SAL__OP_NAME)
#undef SAL__OP_NAME
};
_Static_assert(sizeof(op_defs) / sizeof(op_defs[0]) == SAL_OP_COUNT, "op table out of step");
_Static_assert(sizeof(op_names) / sizeof(op_names[0]) == SAL_OP_COUNT, "op name table out of step");

#define SAL__DNNL_DECL(e, s) extern const sal_kernel sal__dnnl_##s;
SAL_DNNL_KERNELS(SAL__DNNL_DECL)
#undef SAL__DNNL_DECL

const sal_op_def *sal__op_def(sal_op_type t) { return (unsigned)t < SAL_OP_COUNT ? op_defs[t] : NULL; }
const sal_kernel *sal__op_ref_kernel(sal_op_type t) {
  return (unsigned)t < SAL_OP_COUNT ? ref_kernels[t] : NULL;
}
const sal_kernel *sal__op_dnnl_kernel(sal_op_type t) {
  switch (t) {
#define SAL__DNNL_CASE(e, s) case SAL_OP_##e: return &sal__dnnl_##s;
    SAL_DNNL_KERNELS(SAL__DNNL_CASE)
#undef SAL__DNNL_CASE
    default: return NULL;
  }
}
sal_op_type sal__op_find(const char *name) {
  for (int i = 0; i < SAL_OP_COUNT; i++)
    if (strcmp(op_names[i], name) == 0) return (sal_op_type)i;
  return SAL_OP_COUNT;
}
const char *sal__op_name(sal_op_type t) { return (unsigned)t < SAL_OP_COUNT ? op_names[t] : "?"; }

const char *sal__node_name(const sal_node *n) { return n->name; }
sal_op_type sal__node_op(const sal_node *n) { return n->op; }

sal_status sal__op_error(sal_ctx *ctx, const sal_node *n, sal_status st, const char *fmt, ...) {
  char msg[1536];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return sal_ctx_error(ctx, st, "node '%s' (%s): %s", n->name, sal__op_name(n->op), msg);
}

static const sal_node_attr *find_attr(const sal_node *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
  return NULL;
}

static const char *const attr_type_names[] = {"int", "float", "ints", "floats", "string"};

static sal_status wrong_type(sal_ctx *ctx, const sal_node *n, const sal_node_attr *a, sal_attr_type want) {
  return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "attribute '%s' is %s, expected %s", a->name,
                       attr_type_names[a->type], attr_type_names[want]);
}

bool sal__attr_has(const sal_node *n, const char *name) { return find_attr(n, name) != NULL; }

sal_status sal__attr_int(sal_ctx *ctx, const sal_node *n, const char *name, int64_t def, int64_t *out) {
  const sal_node_attr *a = find_attr(n, name);
  *out = def;
  if (!a) return SAL_STATUS_OK;
  if (a->type != SAL_ATTR_INT) return wrong_type(ctx, n, a, SAL_ATTR_INT);
  *out = a->i;
  return SAL_STATUS_OK;
}

sal_status sal__attr_float(sal_ctx *ctx, const sal_node *n, const char *name, float def, float *out) {
  const sal_node_attr *a = find_attr(n, name);
  *out = def;
  if (!a) return SAL_STATUS_OK;
  if (a->type == SAL_ATTR_INT) { *out = (float)a->i; return SAL_STATUS_OK; }
  if (a->type != SAL_ATTR_FLOAT) return wrong_type(ctx, n, a, SAL_ATTR_FLOAT);
  *out = a->f;
  return SAL_STATUS_OK;
}

sal_status sal__attr_ints(sal_ctx *ctx, const sal_node *n, const char *name, const int64_t **out,
                          int64_t *count) {
  const sal_node_attr *a = find_attr(n, name);
  *out = NULL;
  *count = 0;
  if (!a) return SAL_STATUS_OK;
  if (a->type != SAL_ATTR_INTS) return wrong_type(ctx, n, a, SAL_ATTR_INTS);
  *out = a->ints;
  *count = a->n;
  return SAL_STATUS_OK;
}

sal_status sal__attr_string(sal_ctx *ctx, const sal_node *n, const char *name, const char *def,
                            const char **out) {
  const sal_node_attr *a = find_attr(n, name);
  *out = def;
  if (!a) return SAL_STATUS_OK;
  if (a->type != SAL_ATTR_STRING) return wrong_type(ctx, n, a, SAL_ATTR_STRING);
  *out = a->s;
  return SAL_STATUS_OK;
}

const float *sal__node_const_input(const sal_graph *g, const sal_node *n, int i, int64_t *numel) {
  if (i >= n->n_in || n->in[i] < 0) return NULL;
  const sal_value *v = &g->values[n->in[i]];
  if (v->kind != SAL_VALUE_PARAM) return NULL;
  if (numel) *numel = sal_shape_numel(&v->shape);
  return v->data;
}

void sal__grad_prepare(sal_kctx *k, int i) {
  if (k->din[i] && !k->din_accum[i]) {
    memset(k->din[i]->data, 0, (size_t)sal__tensor_storage(k->din[i]) * sizeof(float));
    k->din_accum[i] = true;
  }
}
