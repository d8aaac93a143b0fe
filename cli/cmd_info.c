/* `salient info MODEL`: what a model is — inputs and outputs with shapes, parameter counts, FLOPs
 * per image, op histogram, the named 4-D activations (Grad-CAM layers and mask sites) and the
 * preprocessing in effect — as text or, with --json, as one JSON object on stdout. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cli/model_args.h"

/* "(N, 3, 224, 224)": the batch dimension of inputs and outputs shown as N. */
static void shape_text(const sal_shape *s, bool batch, char *buf, size_t n) {
  size_t used = (size_t)snprintf(buf, n, "(");
  for (int d = 0; d < s->ndim && used < n; d++) {
    if (d == 0 && batch) used += (size_t)snprintf(buf + used, n - used, "N");
    else used += (size_t)snprintf(buf + used, n - used, "%s%lld", d ? ", " : "", (long long)s->d[d]);
  }
  if (used < n) snprintf(buf + used, n - used, ")");
}

static cJSON *shape_json(const sal_shape *s, bool batch) {
  cJSON *a = cJSON_CreateArray();
  for (int d = 0; a && d < s->ndim; d++)
    cJSON_AddItemToArray(a, d == 0 && batch ? cJSON_CreateString("N") : cJSON_CreateNumber((double)s->d[d]));
  return a;
}

static cJSON *floats_json(const float *v, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
  return a;
}

/* Groups digits: 11689512 -> "11,689,512". */
static const char *grouped(int64_t v, char *buf, size_t n) {
  char raw[32];
  snprintf(raw, sizeof raw, "%lld", (long long)v);
  size_t len = strlen(raw), j = 0;
  for (size_t i = 0; i < len && j + 2 < n; i++) {
    if (i && (len - i) % 3 == 0 && raw[0] != '-') buf[j++] = ',';
    buf[j++] = raw[i];
  }
  buf[j] = '\0';
  return buf;
}

static int print_json(const char *model, sal_graph *g, const sal_model_info *info, const sal_model_meta *m) {
  cJSON *root = cJSON_CreateObject();
  if (!root) return 1;
  cJSON_AddStringToObject(root, "model", model);
  cJSON_AddStringToObject(root, "source", m->source ? m->source : "");
  cJSON *ins = cJSON_AddArrayToObject(root, "inputs"), *outs = cJSON_AddArrayToObject(root, "outputs");
  for (int k = 0; k < 2; k++) {
    int n = k ? sal_graph_num_outputs(g) : sal_graph_num_inputs(g);
    for (int i = 0; i < n; i++) {
      const char *name = k ? sal_graph_output_name(g, i) : sal_graph_input_name(g, i);
      sal_shape s;
      sal_graph_value_shape(g, name, &s);
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "name", name);
      cJSON_AddItemToObject(o, "shape", shape_json(&s, s.ndim > 0));
      cJSON_AddItemToArray(k ? outs : ins, o);
    }
  }
  cJSON_AddNumberToObject(root, "parameters", (double)info->params);
  cJSON_AddNumberToObject(root, "trainable_parameters", (double)info->trainable_params);
  cJSON_AddNumberToObject(root, "flops_per_image", (double)info->flops);
  cJSON_AddNumberToObject(root, "nodes", info->n_nodes);
  cJSON *ops = cJSON_AddObjectToObject(root, "ops");
  for (int i = 0; i < info->n_ops; i++) cJSON_AddNumberToObject(ops, info->op_names[i], info->op_counts[i]);
  cJSON *layers = cJSON_AddArrayToObject(root, "layers");
  for (int i = 0; i < info->n_layers; i++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", info->layers[i].name);
    cJSON_AddStringToObject(o, "op", info->layers[i].op);
    sal_shape s = info->layers[i].shape;
    cJSON_AddItemToObject(o, "shape", shape_json(&s, true));
    cJSON_AddItemToArray(layers, o);
  }
  cJSON *pre = cJSON_AddObjectToObject(root, "preprocessing");
  const int size[3] = {(int)m->channels, (int)m->height, (int)m->width};
  int nch = m->channels == 1 ? 1 : 3;
  cJSON_AddItemToObject(pre, "input_size", cJSON_CreateIntArray(size, 3));
  cJSON_AddItemToObject(pre, "mean", floats_json(m->mean, nch));
  cJSON_AddItemToObject(pre, "std", floats_json(m->std, nch));
  if (m->n_classes > 0)
    cJSON_AddItemToObject(pre, "classes", cJSON_CreateStringArray((const char *const *)m->class_names, (int)m->n_classes));
  else
    cJSON_AddNullToObject(pre, "classes");
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  if (!text) return 1;
  puts(text);
  cJSON_free(text);
  return 0;
}

static void print_text(const char *model, sal_graph *g, const sal_model_info *info, const sal_model_meta *m) {
  char a[64], b[64], s[128];
  printf("model        %s\n", model);
  printf("source       %s\n", m->source ? m->source : "");
  for (int k = 0; k < 2; k++) {
    int n = k ? sal_graph_num_outputs(g) : sal_graph_num_inputs(g);
    for (int i = 0; i < n; i++) {
      const char *name = k ? sal_graph_output_name(g, i) : sal_graph_input_name(g, i);
      sal_shape sh;
      sal_graph_value_shape(g, name, &sh);
      shape_text(&sh, sh.ndim > 0, s, sizeof s);
      printf("%-12s %s %s\n", k ? "output" : "input", name, s);
    }
  }
  printf("parameters   %s (%s trainable)\n", grouped(info->params, a, sizeof a), grouped(info->trainable_params, b, sizeof b));
  printf("FLOPs        %.3f G per image (forward; 2 x %s multiply-adds)\n", 1e-9 * (double)info->flops,
         grouped(info->flops / 2, a, sizeof a));
  printf("ops          %d nodes:", info->n_nodes);
  for (int i = 0; i < info->n_ops; i++) printf("%s %s %d", i ? "," : "", info->op_names[i], info->op_counts[i]);
  printf("\n");
  printf("layers       %d named 4-D activations (Grad-CAM layers, mask sites):\n", info->n_layers);
  for (int i = 0; i < info->n_layers; i++) {
    shape_text(&info->layers[i].shape, true, s, sizeof s);
    printf("  %-36s %-20s %s\n", info->layers[i].name, info->layers[i].op, s);
  }
  printf("preprocessing\n");
  printf("  input size %lld x %lld x %lld (C x H x W)\n", (long long)m->channels, (long long)m->height,
         (long long)m->width);
  int nch = m->channels == 1 ? 1 : 3;
  printf("  mean      ");
  for (int i = 0; i < nch; i++) printf(" %g", (double)m->mean[i]);
  printf("\n  std       ");
  for (int i = 0; i < nch; i++) printf(" %g", (double)m->std[i]);
  printf("\n");
  if (m->n_classes > 0) {
    printf("  classes    %lld names:", (long long)m->n_classes);
    for (int64_t i = 0; i < m->n_classes && i < 5; i++) printf("%s %s", i ? "," : "", m->class_names[i]);
    printf("%s\n", m->n_classes > 5 ? ", ..." : "");
  } else {
    printf("  classes    no names (shown as indices)\n");
  }
}

int cmd_info(int argc, char **argv) {
  cli_model_args a = {0};
  a.seed = 1;
  bool json = false;
  cli_opt opts[] = {
      {"--json", CLI_FLAG, "print one JSON object instead of text", &json},
      CLI_MODEL_OPTS(a),
  };
  int r = cli_parse_with_model(argc, argv, "salient info MODEL [options]   (MODEL: a .onnx file or a built-in name)",
                               opts, (int)(sizeof opts / sizeof opts[0]), &a.model);
  if (r) return r == 1 ? 0 : 2;
  sal_ctx *ctx = NULL;
  sal_graph *g = NULL;
  sal_model_meta meta;
  sal_model_info info;
  memset(&info, 0, sizeof info);
  int rc = cli_model_open(&a, &ctx, &g, &meta);
  if (!rc) {
    sal_status st = sal_model_info_get(ctx, g, &info);
    if (st) rc = cli_fail(ctx, st, "summarising the model");
  }
  if (!rc) {
    if (json) rc = print_json(a.model, g, &info, &meta);
    else print_text(a.model, g, &info, &meta);
  }
  sal_model_info_free(&info);
  sal_model_meta_clear(&meta);
  sal_graph_free(g);
  sal_ctx_free(ctx);
  return rc;
}
