/* Internal view of graphs, shared by the graph, plan, ops and importers. */
#ifndef SAL_GRAPH_INTERNAL_H
#define SAL_GRAPH_INTERNAL_H

#include "core/internal.h"
#include "ops/op.h"
#include "salient/graph.h"

typedef enum sal_value_kind { SAL_VALUE_INPUT, SAL_VALUE_PARAM, SAL_VALUE_ACT } sal_value_kind;

typedef struct sal_value {
  char *name;
  sal_value_kind kind;
  sal_shape shape;   /* declared (inputs: d[0] may be -1) or inferred at batch 1 */
  float *data;       /* PARAM only: owned by the graph */
  bool trainable;    /* PARAM only */
  int producer;      /* node index for ACT, -1 otherwise */
} sal_value;

typedef struct sal_node_attr {
  char *name;
  sal_attr_type type;
  int64_t i;
  float f;
  int64_t *ints;
  float *floats;
  int64_t n;
  char *s;
} sal_node_attr;

struct sal_node {
  char *name;
  sal_op_type op;
  int n_in, n_out;
  int *in;   /* value indices, -1 = omitted optional input */
  int *out;  /* value indices */
  int n_attrs;
  sal_node_attr *attrs;
};

struct sal_graph {
  sal_ctx *ctx;
  sal_value *values;
  int n_values, cap_values;
  sal_node *nodes; /* always in topological order */
  int n_nodes, cap_nodes;
  int *inputs, n_inputs;
  int *outputs, n_outputs;
};

/* Index of a value by name, -1 if absent. */
int sal__graph_find(const sal_graph *g, const char *name);



/* Runs node n's shape rule on shapes[] (one per value, indexed like g->values) and writes its
 * outputs' shapes into shapes[]. Checks arity and output sanity; errors name the node. */
sal_status sal__infer_node(sal_ctx *ctx, const sal_graph *g, const sal_node *n, sal_shape *shapes);
#endif
