/* `salient test MODEL --data MANIFEST [--json OUT]`: evaluates a checkpoint written by `salient
 * train` (architecture and preprocessing from its metadata) on a labelled dataset and prints the
 * accuracy, the per-class accuracy and the confusion matrix; --json writes them as JSON. */
#include <cJSON.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "salient/train.h"

static int write_json(sal_ctx *ctx, const char *path, const char *model, const sal_dataset *ds, const int64_t *conf,
                      double acc) {
  int64_t K = ds->n_classes;
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "model", model);
  cJSON_AddStringToObject(root, "data", ds->source ? ds->source : "");
  cJSON_AddNumberToObject(root, "images", (double)ds->n_items);
  cJSON_AddNumberToObject(root, "accuracy", acc);
  cJSON *cls = cJSON_AddArrayToObject(root, "classes");
  cJSON *pc = cJSON_AddArrayToObject(root, "per_class_accuracy");
  cJSON *cm = cJSON_AddArrayToObject(root, "confusion");
  for (int64_t k = 0; k < K; k++) {
    int64_t n = 0;
    cJSON *row = cJSON_CreateArray();
    for (int64_t j = 0; j < K; j++) {
      n += conf[k * K + j];
      cJSON_AddItemToArray(row, cJSON_CreateNumber((double)conf[k * K + j]));
    }
    cJSON_AddItemToArray(cls, cJSON_CreateString(ds->class_names[k]));
    cJSON_AddItemToArray(pc, n ? cJSON_CreateNumber((double)conf[k * K + k] / (double)n) : cJSON_CreateNull());
    cJSON_AddItemToArray(cm, row);
  }
  char *s = cJSON_Print(root);
  cJSON_Delete(root);
  FILE *f = s ? fopen(path, "w") : NULL;
  bool ok = f && fputs(s, f) >= 0 && fputc('\n', f) != EOF;
  if (f && fclose(f) != 0) ok = false;
  cJSON_free(s);
  if (!ok) return cli_fail(ctx, SAL_STATUS_IO, "writing the JSON report");
  return 0;
}

int cmd_test(int argc, char **argv) {
  const char *data = NULL, *json = NULL;
  int64_t batch = 64, threads = 0;
  bool quiet = false;
  cli_opt opts[] = {
      {"--data", CLI_STRING, "labelled data: a CSV manifest, an image folder, or a directory with test.csv (required)", &data},
      {"--json", CLI_STRING, "also write accuracy, per-class accuracy and the confusion matrix as JSON here", &json},
      {"--batch", CLI_INT, "images per forward pass (default 64)", &batch},
      {"--threads", CLI_INT, "compute threads (default 0 = all cores)", &threads},
      {"--quiet", CLI_FLAG, "print only the accuracy line", &quiet},
  };
  const char *usage = "salient test MODEL.safetensors --data MANIFEST|DIR [options]";
  const char *model = NULL;
  if (argc >= 2 && argv[1][0] != '-') {
    model = argv[1];
    argv[1] = argv[0];
    argv++;
    argc--;
  }
  int r = cli_parse(argc, argv, usage, opts, (int)(sizeof opts / sizeof opts[0]));
  if (r) return r == 1 ? 0 : 2;
  if (!model || !data) {
    fprintf(stderr, "salient test: MODEL and --data are required\nusage: %s\n", usage);
    return 2;
  }
  if (batch < 1 || batch > 4096 || threads < 0 || threads > 1024) {
    fprintf(stderr, "salient test: --batch must be in 1..4096 and --threads in 0..1024\n");
    return 2;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s", data);
  struct stat sb;
  if (stat(data, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    char t[4096];
    snprintf(t, sizeof t, "%s/test.csv", data);
    if (stat(t, &sb) == 0 && S_ISREG(sb.st_mode)) snprintf(path, sizeof path, "%s", t);
  }
  sal_ctx *ctx = NULL;
  if (sal_ctx_new((int)threads, 0, &ctx)) {
    fprintf(stderr, "salient test: out of memory\n");
    return 1;
  }
  sal_ctx_set_log_level(ctx, quiet ? SAL_LOG_QUIET : SAL_LOG_INFO);
  sal_graph *g = NULL;
  sal_dataset *ds = NULL;
  char *meta = NULL;
  int64_t *conf = NULL;
  sal_checkpoint_info info;
  memset(&info, 0, sizeof info);
  int rc = 0;
  sal_status st = sal_checkpoint_open(ctx, model, &g, &meta);
  if (!st) st = sal_checkpoint_info_parse(ctx, meta, &info);
  if (st) {
    rc = cli_fail(ctx, st, "opening the model");
    goto done;
  }
  st = sal_dataset_open(ctx, path, NULL, &ds);
  if (st) {
    rc = cli_fail(ctx, st, "reading the data");
    goto done;
  }
  /* Classes must be the model's, in its order. */
  if (ds->n_classes != info.n_classes) {
    rc = cli_fail(ctx, sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s has %lld classes, the model %lld", path,
                                     (long long)ds->n_classes, (long long)info.n_classes), "testing");
    goto done;
  }
  for (int64_t k = 0; k < ds->n_classes; k++)
    if (strcmp(ds->class_names[k], info.class_names[k]) != 0) {
      rc = cli_fail(ctx, sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "class %lld is '%s' in %s but '%s' in the model",
                                       (long long)k, ds->class_names[k], path, info.class_names[k]), "testing");
      goto done;
    }
  int64_t K = ds->n_classes;
  conf = sal_calloc(ctx, (size_t)(K * K), sizeof *conf);
  if (!conf) {
    rc = cli_fail(ctx, SAL_STATUS_OUT_OF_MEMORY, "testing");
    goto done;
  }
  st = sal_evaluate(ctx, g, ds, &info.pp, batch, 0, conf);
  if (st) {
    rc = cli_fail(ctx, st, "testing");
    goto done;
  }
  int64_t correct = 0, n = 0;
  for (int64_t k = 0; k < K; k++)
    for (int64_t j = 0; j < K; j++) {
      n += conf[k * K + j];
      if (j == k) correct += conf[k * K + j];
    }
  double acc = n ? (double)correct / (double)n : 0;
  printf("test: %s on %s: accuracy %.4f (%lld/%lld)\n", model, path, acc, (long long)correct, (long long)n);
  if (!quiet) {
    printf("%-16s %8s %8s\n", "class", "images", "accuracy");
    for (int64_t k = 0; k < K; k++) {
      int64_t nk = 0;
      for (int64_t j = 0; j < K; j++) nk += conf[k * K + j];
      printf("%-16s %8lld %8.4f\n", ds->class_names[k], (long long)nk, nk ? (double)conf[k * K + k] / (double)nk : 0.0);
    }
    printf("confusion (rows: true class, columns: predicted)\n");
    for (int64_t k = 0; k < K; k++) {
      for (int64_t j = 0; j < K; j++) printf("%s%lld", j ? " " : "", (long long)conf[k * K + j]);
      printf("\n");
    }
  }
  if (json) rc = write_json(ctx, json, model, ds, conf, acc);
done:
  sal_free(conf);
  sal_free(meta);
  sal_checkpoint_info_free(&info);
  sal_dataset_free(ds);
  sal_graph_free(g);
  sal_ctx_free(ctx);
  return rc;
}
