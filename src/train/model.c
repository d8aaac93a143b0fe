/* Trained models: parsing the metadata sal_train stores in its checkpoints, reopening a checkpoint
 * as an inference graph (architecture rebuilt from the metadata, weights loaded), and evaluating a
 * classifier on a dataset (accuracy and confusion matrix) for `salient test`. */
#include "salient/train.h"

#include "core/internal.h"
#include "train/train_internal.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void sal_checkpoint_info_free(sal_checkpoint_info *info) {
  if (!info) return;
  for (int64_t k = 0; info->class_names && k < info->n_classes; k++) sal_free(info->class_names[k]);
  sal_free(info->class_names);
  info->class_names = NULL;
  info->n_classes = 0;
}

static bool json_int(const cJSON *o, const char *key, int64_t lo, int64_t hi, int64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
      v->valuedouble > (double)hi)
    return false;
  *out = (int64_t)v->valuedouble;
  return true;
}

static bool json_floats(const cJSON *o, const char *key, int n, float *out) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return false;
  int i = 0;
  for (const cJSON *v = a->child; v; v = v->next, i++) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return false;
    out[i] = (float)v->valuedouble;
  }
  return true;
}

sal_status sal_checkpoint_info_parse(sal_ctx *ctx, const char *metadata_json, sal_checkpoint_info *info) {
  memset(info, 0, sizeof *info);
  cJSON *m = metadata_json ? cJSON_Parse(metadata_json) : NULL;
  sal_status st = SAL_STATUS_OK;
  const char *bad = NULL;
  const cJSON *arch = cJSON_GetObjectItemCaseSensitive(m, "arch");
  const cJSON *pp = cJSON_GetObjectItemCaseSensitive(m, "preprocess");
  const cJSON *cls = cJSON_GetObjectItemCaseSensitive(m, "classes");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(arch, "arch");
  int64_t size = 0, ch = 0;
  float mean[3] = {0}, std[3] = {0};
  if (!cJSON_IsObject(m)) bad = "the metadata is not a JSON object";
  else if (!cJSON_IsString(name) || strlen(name->valuestring) >= sizeof info->arch) bad = "arch.arch";
  else if (!json_int(arch, "num_classes", 2, 1000000, &info->spec.num_classes)) bad = "arch.num_classes";
  else if (!json_int(arch, "image_size", 1, 4096, &info->spec.image_size)) bad = "arch.image_size";
  else if (!json_int(arch, "in_channels", 1, 3, &info->spec.in_channels)) bad = "arch.in_channels";
  else if (!json_int(arch, "width", 0, 1024, &info->spec.width)) bad = "arch.width";
  else if (!json_int(pp, "size", 1, 4096, &size)) bad = "preprocess.size";
  else if (!json_int(pp, "channels", 1, 3, &ch) || (ch != 1 && ch != 3)) bad = "preprocess.channels";
  else if (!json_floats(pp, "mean", (int)ch, mean)) bad = "preprocess.mean";
  else if (!json_floats(pp, "std", (int)ch, std)) bad = "preprocess.std";
  else if (!cJSON_IsArray(cls) || cJSON_GetArraySize(cls) != info->spec.num_classes) bad = "classes";
  if (bad) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "checkpoint metadata: %s%s", bad,
                       strchr(bad, ' ') ? "" : " is missing or invalid");
    goto done;
  }
  for (int c = 0; c < (int)ch; c++)
    if (!(std[c] > 0)) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "checkpoint metadata: preprocess.std[%d] = %g", c, (double)std[c]);
      goto done;
    }
  snprintf(info->arch, sizeof info->arch, "%s", name->valuestring);
  info->spec.arch = info->arch;
  info->pp = sal__train_preprocess(size, (int)ch, mean, std);
  info->class_names = sal_calloc(ctx, (size_t)info->spec.num_classes, sizeof *info->class_names);
  if (!info->class_names) {
    st = SAL_STATUS_OUT_OF_MEMORY;
    goto done;
  }
  info->n_classes = info->spec.num_classes;
  int64_t k = 0;
  for (const cJSON *v = cls->child; v; v = v->next, k++) {
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    if (!s) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "checkpoint metadata: classes[%lld] is not a string", (long long)k);
      goto done;
    }
    size_t len = strlen(s);
    info->class_names[k] = sal_alloc(ctx, len + 1);
    if (!info->class_names[k]) {
      st = SAL_STATUS_OUT_OF_MEMORY;
      goto done;
    }
    memcpy(info->class_names[k], s, len + 1);
  }
  int64_t e = 0;
  info->epoch = json_int(m, "epoch", 0, INT64_C(1) << 40, &e) ? e : 0;
  const cJSON *bv = cJSON_GetObjectItemCaseSensitive(m, "best_val_accuracy");
  info->best_val_accuracy = cJSON_IsNumber(bv) ? bv->valuedouble : -1;
done:
  cJSON_Delete(m);
  if (st) sal_checkpoint_info_free(info);
  return st;
}

sal_status sal_checkpoint_open(sal_ctx *ctx, const char *path, sal_graph **graph, char **metadata_json) {
  *graph = NULL;
  if (metadata_json) *metadata_json = NULL;
  sal_safetensors *sf = NULL;
  sal_status st = sal_safetensors_read(ctx, path, &sf);
  if (st) return st;
  const char *meta = sal_safetensors_meta(sf, "salient");
  if (!meta) {
    sal_safetensors_free(sf);
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: not a salient checkpoint (no 'salient' metadata)", path);
  }
  sal_checkpoint_info info;
  st = sal_checkpoint_info_parse(ctx, meta, &info);
  sal_safetensors_free(sf);
  if (st) return sal_ctx_error_prefix(ctx, st, "%s: ", path);
  sal_graph *g = NULL;
  st = sal_model_build(ctx, &info.spec, &g);
  sal_checkpoint_info_free(&info);
  if (!st) st = sal_checkpoint_load(ctx, path, g, NULL, metadata_json);
  if (st) {
    sal_graph_free(g);
    return st;
  }
  *graph = g;
  return SAL_STATUS_OK;
}

sal_status sal_evaluate(sal_ctx *ctx, sal_graph *g, const sal_dataset *ds, const sal_preprocess *pp, int64_t batch,
                        int threads, int64_t *confusion) {
  if (!g || !ds || !pp || !confusion) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "evaluate: NULL argument");
  if (ds->n_items < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "evaluate: %s has no images", ds->source ? ds->source : "the dataset");
  if (batch < 1) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "evaluate: batch %lld", (long long)batch);
  const char *in = sal_graph_input_name(g, 0);
  const char *out = sal_graph_has_value(g, "logits") ? "logits" : sal_graph_output_name(g, 0);
  sal_shape ys, xs;
  sal_status st = sal_graph_value_shape(g, out, &ys);
  if (!st) st = sal_graph_value_shape(g, in, &xs);
  if (st) return st;
  if (ys.ndim != 2 || ys.d[1] != ds->n_classes)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "evaluate: the model has %lld outputs, the dataset %lld classes",
                         (long long)(ys.ndim == 2 ? ys.d[1] : -1), (long long)ds->n_classes);
  int64_t K = ds->n_classes, B = batch < ds->n_items ? batch : ds->n_items;
  sal_loader_opts lo = sal_loader_opts_default();
  lo.batch = B;
  lo.threads = threads;
  lo.pp = *pp;
  sal_loader *ld = NULL;
  sal_plan *p = NULL;
  sal_tensor *xbuf = NULL;
  sal_plan_opts po = sal_plan_opts_default();
  po.batch = B;
  xs.d[0] = B;
  double acc = 0;
  st = sal_loader_new(ctx, ds, &lo, &ld);
  if (!st) st = sal_plan_new(ctx, g, &po, &p);
  if (!st) st = sal_tensor_new(ctx, xs.ndim, xs.d, &xbuf);
  if (!st) st = sal__eval_loop(ctx, p, ld, in, out, B, K, xbuf, confusion, &acc);
  sal_tensor_free(xbuf);
  sal_plan_free(p);
  sal_loader_free(ld);
  return st;
}
