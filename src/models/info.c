/* Model summaries for `salient info`: parameter counts, FLOPs per image from a batch-1 plan, the op
 * histogram and the named 4-D activations (where Grad-CAM reads and masks are inserted). Reads the
 * graph's internal view; nothing here changes the graph. */
#include <string.h>

#include "graph/internal.h"
#include "salient/meta.h"
#include "salient/plan.h"

void sal_model_info_free(sal_model_info *info) {
  if (!info) return;
  sal_free((void *)info->op_names);
  sal_free(info->op_counts);
  sal_free(info->layers);
  memset(info, 0, sizeof *info);
}

sal_status sal_model_info_get(sal_ctx *ctx, sal_graph *g, sal_model_info *info) {
  memset(info, 0, sizeof *info);
  if (!g) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_model_info_get: NULL graph");
  info->n_nodes = g->n_nodes;
  info->params = sal_graph_param_count(g, false);
  info->trainable_params = sal_graph_param_count(g, true);

  sal_plan_opts o = sal_plan_opts_default();
  o.batch = 1;
  o.kernels = SAL_KERNELS_REF;
  sal_plan *p = NULL;
  sal_status st = sal_plan_new(ctx, g, &o, &p);
  if (st) return st;
  info->flops = 2 * sal_plan_forward_macs(p);
  sal_plan_free(p);

  int counts[SAL_OP_COUNT] = {0};
  for (int k = 0; k < g->n_nodes; k++) counts[g->nodes[k].op]++;
  int n_ops = 0;
  for (int t = 0; t < SAL_OP_COUNT; t++) n_ops += counts[t] > 0;
  int n_layers = 0;
  for (int v = 0; v < g->n_values; v++) n_layers += g->values[v].kind == SAL_VALUE_ACT && g->values[v].shape.ndim == 4;
  info->op_names = sal_calloc(ctx, (size_t)(n_ops ? n_ops : 1), sizeof(char *));
  info->op_counts = sal_calloc(ctx, (size_t)(n_ops ? n_ops : 1), sizeof(int));
  info->layers = sal_calloc(ctx, (size_t)(n_layers ? n_layers : 1), sizeof(sal_model_layer));
  if (!info->op_names || !info->op_counts || !info->layers) {
    sal_model_info_free(info);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  /* Insertion sort by count (descending), then name: at most SAL_OP_COUNT entries. */
  for (int t = 0; t < SAL_OP_COUNT; t++) {
    if (!counts[t]) continue;
    const char *name = sal__op_name((sal_op_type)t);
    int i = info->n_ops++;
    while (i > 0 && (info->op_counts[i - 1] < counts[t] ||
                     (info->op_counts[i - 1] == counts[t] && strcmp(info->op_names[i - 1], name) > 0))) {
      info->op_counts[i] = info->op_counts[i - 1];
      info->op_names[i] = info->op_names[i - 1];
      i--;
    }
    info->op_counts[i] = counts[t];
    info->op_names[i] = name;
  }
  for (int v = 0; v < g->n_values; v++) {
    const sal_value *val = &g->values[v];
    if (val->kind != SAL_VALUE_ACT || val->shape.ndim != 4) continue;
    sal_model_layer *l = &info->layers[info->n_layers++];
    l->name = val->name;
    l->op = val->producer >= 0 ? sal__op_name(g->nodes[val->producer].op) : "";
    l->shape = val->shape;
  }
  return SAL_STATUS_OK;
}
