/* Deep copy of a graph (values, parameter data, nodes, attributes, input and output lists), so
 * that a saliency method can rewrite a copy (masks inside the network) and leave the caller's graph
 * untouched. */
#include <string.h>

#include "graph/internal.h"

/* Copies node s into d (zeroed); on failure d holds what was copied so far (free_node-able). */
static sal_status copy_node(sal_ctx *ctx, const sal_node *s, sal_node *d) {
  d->op = s->op;
  d->n_in = s->n_in;
  d->n_out = s->n_out;
  d->name = sal__strdup(ctx, s->name);
  d->in = sal_calloc(ctx, (size_t)(s->n_in ? s->n_in : 1), sizeof(int));
  d->out = sal_calloc(ctx, (size_t)(s->n_out ? s->n_out : 1), sizeof(int));
  d->attrs = sal_calloc(ctx, (size_t)(s->n_attrs ? s->n_attrs : 1), sizeof(sal_node_attr));
  if (!d->name || !d->in || !d->out || !d->attrs) return SAL_STATUS_OUT_OF_MEMORY;
  memcpy(d->in, s->in, (size_t)s->n_in * sizeof(int));
  memcpy(d->out, s->out, (size_t)s->n_out * sizeof(int));
  for (int a = 0; a < s->n_attrs; a++) {
    const sal_node_attr *sa = &s->attrs[a];
    sal_node_attr *da = &d->attrs[a];
    *da = *sa;
    da->name = NULL, da->ints = NULL, da->floats = NULL, da->s = NULL;
    d->n_attrs = a + 1;
    da->name = sal__strdup(ctx, sa->name);
    if (!da->name) return SAL_STATUS_OUT_OF_MEMORY;
    if (sa->ints) {
      da->ints = sal_calloc(ctx, (size_t)(sa->n ? sa->n : 1), sizeof(int64_t));
      if (!da->ints) return SAL_STATUS_OUT_OF_MEMORY;
      memcpy(da->ints, sa->ints, (size_t)sa->n * sizeof(int64_t));
    }
    if (sa->floats) {
      da->floats = sal_calloc(ctx, (size_t)(sa->n ? sa->n : 1), sizeof(float));
      if (!da->floats) return SAL_STATUS_OUT_OF_MEMORY;
      memcpy(da->floats, sa->floats, (size_t)sa->n * sizeof(float));
    }
    if (sa->s && !(da->s = sal__strdup(ctx, sa->s))) return SAL_STATUS_OUT_OF_MEMORY;
  }
  return SAL_STATUS_OK;
}

sal_status sal_graph_clone(const sal_graph *g, sal_graph **out) {
  *out = NULL;
  sal_ctx *ctx = g->ctx;
  sal_graph *c = NULL;
  sal_status st = sal_graph_new(ctx, &c);
  if (st) return st;
  st = SAL_STATUS_OUT_OF_MEMORY;
  /* Arrays sized exactly; sal_graph_free frees what the counters cover, so the counters grow only
   * as items are completed. */
  c->values = sal_calloc(ctx, (size_t)(g->n_values ? g->n_values : 1), sizeof(sal_value));
  c->nodes = sal_calloc(ctx, (size_t)(g->n_nodes ? g->n_nodes : 1), sizeof(sal_node));
  c->inputs = sal_calloc(ctx, (size_t)(g->n_inputs ? g->n_inputs : 1), sizeof(int));
  c->outputs = sal_calloc(ctx, (size_t)(g->n_outputs ? g->n_outputs : 1), sizeof(int));
  if (!c->values || !c->nodes || !c->inputs || !c->outputs) goto fail;
  c->cap_values = g->n_values ? g->n_values : 1;
  c->cap_nodes = g->n_nodes ? g->n_nodes : 1;
  for (int v = 0; v < g->n_values; v++) {
    const sal_value *s = &g->values[v];
    sal_value *d = &c->values[v];
    *d = *s;
    d->name = sal__strdup(ctx, s->name);
    d->data = NULL;
    c->n_values = v + 1;
    if (!d->name) goto fail;
    if (s->kind == SAL_VALUE_PARAM) {
      int64_t n = sal_shape_numel(&s->shape);
      d->data = sal_alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof(float));
      if (!d->data) goto fail;
      if (n > 0) memcpy(d->data, s->data, (size_t)n * sizeof(float));
    }
  }
  for (int i = 0; i < g->n_nodes; i++) {
    c->n_nodes = i + 1;
    st = copy_node(ctx, &g->nodes[i], &c->nodes[i]);
    if (st) goto fail;
  }
  memcpy(c->inputs, g->inputs, (size_t)g->n_inputs * sizeof(int));
  memcpy(c->outputs, g->outputs, (size_t)g->n_outputs * sizeof(int));
  c->n_inputs = g->n_inputs;
  c->n_outputs = g->n_outputs;
  *out = c;
  return SAL_STATUS_OK;
fail:
  sal_graph_free(c);
  return st ? st : SAL_STATUS_OUT_OF_MEMORY;
}
