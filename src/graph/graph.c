/* The graph IR and its builder: named values (inputs, parameters, activations), nodes kept in
 * topological order, eager shape checking, and rewriting (insert a node after a value). */
#include "graph/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Grows *arr (of elem bytes) to hold need items. */
/* sal__grow for the graph's int-sized arrays. */
static bool grow(sal_ctx *ctx, void **arr, int *cap, int need, size_t elem) {
  int64_t c = *cap;
  if (!sal__grow(ctx, arr, &c, need, elem)) return false;
  *cap = (int)c;
  return true;
}

sal_status sal_graph_new(sal_ctx *ctx, sal_graph **out) {
  *out = NULL;
  sal_graph *g = sal_calloc(ctx, 1, sizeof *g);
  if (!g) return SAL_STATUS_OUT_OF_MEMORY;
  g->ctx = ctx;
  *out = g;
  return SAL_STATUS_OK;
}

static void free_node(sal_node *n) {
  sal_free(n->name);
  sal_free(n->in);
  sal_free(n->out);
  for (int a = 0; a < n->n_attrs; a++) {
    sal_free(n->attrs[a].name);
    sal_free(n->attrs[a].ints);
    sal_free(n->attrs[a].floats);
    sal_free(n->attrs[a].s);
  }
  sal_free(n->attrs);
}

void sal_graph_free(sal_graph *g) {
  if (!g) return;
  for (int i = 0; i < g->n_values; i++) {
    sal_free(g->values[i].name);
    sal_free(g->values[i].data);
  }
  for (int i = 0; i < g->n_nodes; i++) free_node(&g->nodes[i]);
  sal_free(g->values);
  sal_free(g->nodes);
  sal_free(g->inputs);
  sal_free(g->outputs);
  sal_free(g);
}

int sal__graph_find(const sal_graph *g, const char *name) {
  for (int i = g->n_values - 1; i >= 0; i--)
    if (strcmp(g->values[i].name, name) == 0) return i;
  return -1;
}

static sal_status check_name(sal_graph *g, const char *what, const char *name) {
  if (!name || !name[0])
    return sal_ctx_error(g->ctx, SAL_STATUS_BAD_INPUT, "%s: empty value name", what);
  if (sal__graph_find(g, name) >= 0)
    return sal_ctx_error(g->ctx, SAL_STATUS_BAD_INPUT, "%s: value '%s' already exists", what, name);
  return SAL_STATUS_OK;
}

/* Appends a value; returns its index or -1 (OUT_OF_MEMORY recorded). */
static int push_value(sal_graph *g, const char *name, sal_value_kind kind, const sal_shape *s) {
  if (!grow(g->ctx, (void **)&g->values, &g->cap_values, g->n_values + 1, sizeof(sal_value))) return -1;
  sal_value *v = &g->values[g->n_values];
  memset(v, 0, sizeof *v);
  v->name = sal__strdup(g->ctx, name);
  if (!v->name) return -1;
  v->kind = kind;
  v->shape = *s;
  v->producer = -1;
  return g->n_values++;
}

sal_status sal_graph_add_input(sal_graph *g, const char *name, int ndim, const int64_t *dims) {
  sal_status st = check_name(g, "add_input", name);
  if (st) return st;
  sal_shape s;
  bool ok = ndim >= 1 && ndim <= SAL_MAX_DIMS;
  for (int i = 0; ok && i < ndim; i++) ok = dims[i] > 0 || (i == 0 && dims[i] == -1);
  if (!ok || !sal_shape_make(&s, ndim, dims)) {
    /* sal_shape_make rejects -1; build by hand after validation. */
    if (!ok)
      return sal_ctx_error(g->ctx, SAL_STATUS_BAD_INPUT,
                           "input '%s': shape must have 1..%d positive dims (dim 0 may be -1 = batch)",
                           name, SAL_MAX_DIMS);
  }
  s.ndim = ndim;
  for (int i = 0; i < SAL_MAX_DIMS; i++) s.d[i] = i < ndim ? dims[i] : 0;
  if (!grow(g->ctx, (void **)&g->inputs, &(int){g->n_inputs}, g->n_inputs + 1, sizeof(int)))
    return SAL_STATUS_OUT_OF_MEMORY;
  int v = push_value(g, name, SAL_VALUE_INPUT, &s);
  if (v < 0) return SAL_STATUS_OUT_OF_MEMORY;
  g->inputs[g->n_inputs++] = v;
  return SAL_STATUS_OK;
}

sal_status sal_graph_add_param(sal_graph *g, const char *name, int ndim, const int64_t *dims,
                               const float *data, bool trainable) {
  sal_status st = check_name(g, "add_param", name);
  if (st) return st;
  sal_shape s;
  if (!sal_shape_make(&s, ndim, dims))
    return sal_ctx_error(g->ctx, SAL_STATUS_BAD_INPUT, "parameter '%s': bad shape", name);
  int64_t numel = sal_shape_numel(&s);
  if (numel < 0 || numel > ((int64_t)1 << 34))
    return sal_ctx_error(g->ctx, SAL_STATUS_BAD_INPUT, "parameter '%s': %lld elements is too large",
                         name, (long long)numel);
  float *buf = sal_calloc(g->ctx, (size_t)(numel ? numel : 1), sizeof(float));
  if (!buf) return SAL_STATUS_OUT_OF_MEMORY;
  if (data) memcpy(buf, data, (size_t)numel * sizeof(float));
  int v = push_value(g, name, SAL_VALUE_PARAM, &s);
  if (v < 0) {
    sal_free(buf);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  g->values[v].data = buf;
  g->values[v].trainable = trainable;
  return SAL_STATUS_OK;
}

/* Batch-1 view of a value's shape (graph inputs declare the batch as -1). */
static sal_shape shape_b1(const sal_value *v) {
  sal_shape s = v->shape;
  if (v->kind == SAL_VALUE_INPUT && s.ndim > 0 && s.d[0] < 0) s.d[0] = 1;
  return s;
}

sal_status sal__infer_node(sal_ctx *ctx, const sal_graph *g, const sal_node *n, sal_shape *shapes) {
  const sal_op_def *def = sal__op_def(n->op);
  sal_shape in[64], out[16];
  sal_shape *inp = in;
  sal_shape *heap = NULL;
  if (n->n_in > 64) {
    heap = sal_calloc(ctx, (size_t)n->n_in, sizeof(sal_shape));
    if (!heap) return SAL_STATUS_OUT_OF_MEMORY;
    inp = heap;
  }
  for (int i = 0; i < n->n_in; i++) {
    if (n->in[i] < 0) {
      inp[i].ndim = -1;
    } else {
      inp[i] = shapes[n->in[i]];
    }
  }
  memset(out, 0, sizeof out);
  sal_status st = def->infer(ctx, g, n, inp, out);
  sal_free(heap);
  if (st) return st;
  for (int j = 0; j < n->n_out; j++) {
    if (out[j].ndim < 0 || out[j].ndim > SAL_MAX_DIMS || sal_shape_numel(&out[j]) < 0)
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "output %d has an invalid shape", j);
    shapes[n->out[j]] = out[j];
  }
  return SAL_STATUS_OK;
}

sal_status sal_graph_add_node(sal_graph *g, const char *op_type, const char *node_name,
                              const char *const *inputs, int n_inputs, const char *const *outputs,
                              int n_outputs, const sal_attr *attrs, int n_attrs) {
  sal_ctx *ctx = g->ctx;
  const char *nm = node_name && node_name[0] ? node_name : (n_outputs > 0 ? outputs[0] : "?");
  sal_op_type op = sal__op_find(op_type);
  if (op == SAL_OP_COUNT)
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "node '%s': unsupported op type '%s'", nm, op_type);
  const sal_op_def *def = sal__op_def(op);
  if (n_inputs < def->min_in || (def->max_in >= 0 && n_inputs > def->max_in))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "node '%s' (%s): %d inputs, expected %d..%d", nm,
                         op_type, n_inputs, def->min_in, def->max_in);
  if (n_outputs < def->min_out || n_outputs > def->max_out || n_outputs > 16)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "node '%s' (%s): %d outputs, expected %d..%d", nm,
                         op_type, n_outputs, def->min_out, def->max_out);
  for (int j = 0; j < n_outputs; j++) {
    sal_status st = check_name(g, nm, outputs[j]);
    if (st) return st;
    for (int k = 0; k < j; k++)
      if (strcmp(outputs[k], outputs[j]) == 0)
        return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "node '%s': output '%s' listed twice", nm, outputs[j]);
  }
  if (!grow(ctx, (void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(sal_node)))
    return SAL_STATUS_OUT_OF_MEMORY;

  sal_node n;
  memset(&n, 0, sizeof n);
  n.op = op;
  n.n_in = n_inputs;
  n.n_out = n_outputs;
  sal_status st = SAL_STATUS_OUT_OF_MEMORY;
  int values_before = g->n_values;
  n.name = sal__strdup(ctx, nm);
  n.in = sal_calloc(ctx, (size_t)(n_inputs ? n_inputs : 1), sizeof(int));
  n.out = sal_calloc(ctx, (size_t)n_outputs, sizeof(int));
  n.attrs = sal_calloc(ctx, (size_t)(n_attrs ? n_attrs : 1), sizeof(sal_node_attr));
  if (!n.name || !n.in || !n.out || !n.attrs) goto fail;
  for (int i = 0; i < n_inputs; i++) {
    if (!inputs[i] || !inputs[i][0]) {
      n.in[i] = -1;
      continue;
    }
    n.in[i] = sal__graph_find(g, inputs[i]);
    if (n.in[i] < 0) {
      st = sal_ctx_error(ctx, SAL_STATUS_NOT_FOUND, "node '%s' (%s): input %d '%s' does not exist", nm,
                         op_type, i, inputs[i]);
      goto fail;
    }
  }
  for (int a = 0; a < n_attrs; a++) {
    sal_node_attr *d = &n.attrs[n.n_attrs];
    const sal_attr *s = &attrs[a];
    if (!s->name || (unsigned)s->type > SAL_ATTR_STRING || s->n < 0) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "node '%s': malformed attribute %d", nm, a);
      goto fail;
    }
    d->type = s->type;
    d->i = s->i;
    d->f = s->f;
    d->n = s->n;
    d->name = sal__strdup(ctx, s->name);
    n.n_attrs++;
    if (!d->name) goto fail;
    if (s->type == SAL_ATTR_INTS) {
      d->ints = sal_calloc(ctx, (size_t)(s->n ? s->n : 1), sizeof(int64_t));
      if (!d->ints) goto fail;
      if (s->n) memcpy(d->ints, s->ints, (size_t)s->n * sizeof(int64_t));
    } else if (s->type == SAL_ATTR_FLOATS) {
      d->floats = sal_calloc(ctx, (size_t)(s->n ? s->n : 1), sizeof(float));
      if (!d->floats) goto fail;
      if (s->n) memcpy(d->floats, s->floats, (size_t)s->n * sizeof(float));
    } else if (s->type == SAL_ATTR_STRING) {
      d->s = sal__strdup(ctx, s->s ? s->s : "");
      if (!d->s) goto fail;
    }
  }
  /* Output values exist before inference so the shape rule can write them. */
  for (int j = 0; j < n_outputs; j++) {
    sal_shape empty = {0, {0}};
    int v = push_value(g, outputs[j], SAL_VALUE_ACT, &empty);
    if (v < 0) goto fail;
    g->values[v].producer = g->n_nodes;
    n.out[j] = v;
  }
  {
    sal_shape *shapes = sal_calloc(ctx, (size_t)g->n_values, sizeof(sal_shape));
    if (!shapes) goto fail;
    for (int v = 0; v < g->n_values; v++) shapes[v] = shape_b1(&g->values[v]);
    st = sal__infer_node(ctx, g, &n, shapes);
    if (st == SAL_STATUS_OK)
      for (int j = 0; j < n_outputs; j++) g->values[n.out[j]].shape = shapes[n.out[j]];
    sal_free(shapes);
    if (st) goto fail;
  }
  g->nodes[g->n_nodes++] = n;
  return SAL_STATUS_OK;

fail:
  for (int v = values_before; v < g->n_values; v++) sal_free(g->values[v].name);
  g->n_values = values_before;
  free_node(&n);
  return st;
}

sal_status sal_graph_add_output(sal_graph *g, const char *name) {
  int v = sal__graph_find(g, name);
  if (v < 0) return sal_ctx_error(g->ctx, SAL_STATUS_NOT_FOUND, "add_output: no value named '%s'", name);
  int cap = g->n_outputs;
  if (!grow(g->ctx, (void **)&g->outputs, &cap, g->n_outputs + 1, sizeof(int))) return SAL_STATUS_OUT_OF_MEMORY;
  g->outputs[g->n_outputs++] = v;
  return SAL_STATUS_OK;
}

sal_status sal_graph_insert_after(sal_graph *g, const char *value, const char *op_type,
                                  const char *node_name, const char *const *extra_inputs, int n_extra,
                                  const char *new_value, const sal_attr *attrs, int n_attrs) {
  sal_ctx *ctx = g->ctx;
  int v = sal__graph_find(g, value);
  if (v < 0) return sal_ctx_error(ctx, SAL_STATUS_NOT_FOUND, "insert_after: no value named '%s'", value);
  if (n_extra < 0 || n_extra > 15) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "insert_after: too many inputs");
  const char *ins[16];
  ins[0] = value;
  for (int i = 0; i < n_extra; i++) ins[1 + i] = extra_inputs[i];
  /* Extra inputs must exist before the insertion point: parameters or inputs, or values
   * produced no later than `value`'s producer. */
  int pos = g->values[v].producer + 1; /* 0 for inputs / params */
  for (int i = 0; i < n_extra; i++) {
    int e = sal__graph_find(g, extra_inputs[i]);
    if (e >= 0 && g->values[e].producer >= pos)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                           "insert_after '%s': extra input '%s' is computed after it", value, extra_inputs[i]);
  }
  int old_nodes = g->n_nodes;
  sal_status st = sal_graph_add_node(g, op_type, node_name, ins, 1 + n_extra, &new_value, 1, attrs, n_attrs);
  if (st) return st;
  int nv = g->nodes[old_nodes].out[0];
  /* Rewire consumers of v (other than the new node) to nv. */
  for (int k = 0; k < old_nodes; k++)
    for (int i = 0; i < g->nodes[k].n_in; i++)
      if (g->nodes[k].in[i] == v) g->nodes[k].in[i] = nv;
  for (int o = 0; o < g->n_outputs; o++)
    if (g->outputs[o] == v) g->outputs[o] = nv;
  /* Move the new node from the end to position pos, keeping topological order. */
  sal_node moved = g->nodes[old_nodes];
  memmove(&g->nodes[pos + 1], &g->nodes[pos], (size_t)(old_nodes - pos) * sizeof(sal_node));
  g->nodes[pos] = moved;
  for (int k = 0; k < g->n_nodes; k++)
    for (int j = 0; j < g->nodes[k].n_out; j++) g->values[g->nodes[k].out[j]].producer = k;
  return SAL_STATUS_OK;
}

int sal_graph_num_nodes(const sal_graph *g) { return g->n_nodes; }
int sal_graph_num_values(const sal_graph *g) { return g->n_values; }
bool sal_graph_has_value(const sal_graph *g, const char *name) { return sal__graph_find(g, name) >= 0; }
int sal_graph_num_inputs(const sal_graph *g) { return g->n_inputs; }
const char *sal_graph_input_name(const sal_graph *g, int i) {
  return i >= 0 && i < g->n_inputs ? g->values[g->inputs[i]].name : NULL;
}
int sal_graph_num_outputs(const sal_graph *g) { return g->n_outputs; }
const char *sal_graph_output_name(const sal_graph *g, int i) {
  return i >= 0 && i < g->n_outputs ? g->values[g->outputs[i]].name : NULL;
}

sal_status sal_graph_value_shape(const sal_graph *g, const char *name, sal_shape *out) {
  int v = sal__graph_find(g, name);
  if (v < 0) return sal_ctx_error(g->ctx, SAL_STATUS_NOT_FOUND, "no value named '%s'", name);
  *out = shape_b1(&g->values[v]);
  return SAL_STATUS_OK;
}

sal_status sal_graph_param(sal_graph *g, const char *name, sal_tensor *view) {
  int v = sal__graph_find(g, name);
  if (v < 0 || g->values[v].kind != SAL_VALUE_PARAM)
    return sal_ctx_error(g->ctx, SAL_STATUS_NOT_FOUND, "no parameter named '%s'", name);
  memset(view, 0, sizeof *view);
  view->shape = g->values[v].shape;
  view->data = g->values[v].data;
  return SAL_STATUS_OK;
}

int64_t sal_graph_param_count(const sal_graph *g, bool trainable_only) {
  int64_t n = 0;
  for (int v = 0; v < g->n_values; v++)
    if (g->values[v].kind == SAL_VALUE_PARAM && (!trainable_only || g->values[v].trainable))
      n += sal_shape_numel(&g->values[v].shape);
  return n;
}
