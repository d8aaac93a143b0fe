/* `salient detect-adv train|eval`: adversarial-input detection (METHODS.md §F) for a classifier
 * checkpoint written by `salient train` — builds clean / attacked sets (cached next to --out),
 * trains the small detector on HAF masks or gradient maps (checkpointed every epoch, resumable with
 * --resume), and reports its accuracy and ROC-AUC next to the softmax-confidence baseline. The work
 * is in src/eval/detect.c; docs/cli.md and docs/evaluation.md describe it. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "salient/detect.h"
#include "salient/report.h"
#include "salient/train.h"

typedef struct args {
  const char *model, *data, *attack, *eps, *features, *out, *detector, *lr, *fraction;
  int64_t grid, iterations, max_images, threads, seed, epochs, batch, width, stop_after;
  bool quiet, resume;
} args;

/* "4/255" or "0.0157": the fraction or the decimal; false when malformed. */
static bool parse_eps(const char *s, float *out) {
  char *end = NULL;
  double a = strtod(s, &end);
  if (end == s) return false;
  if (*end == '/') {
    const char *d = end + 1;
    double b = strtod(d, &end);
    if (end == d || b == 0) return false;
    a /= b;
  }
  if (*end != '\0') return false;
  *out = (float)a;
  return true;
}

static bool parse_double(const char *s, double *out) {
  char *end = NULL;
  *out = strtod(s, &end);
  return end != s && *end == '\0';
}

/* The data path: a directory holding test.csv means that manifest. */
static void data_path(const char *data, char *path, size_t n) {
  snprintf(path, n, "%s", data);
  struct stat sb;
  if (stat(data, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    char t[4096];
    snprintf(t, sizeof t, "%s/test.csv", data);
    if (stat(t, &sb) == 0 && S_ISREG(sb.st_mode)) snprintf(path, n, "%s", t);
  }
}

/* Opens the classifier and reads up to max images of the data, preprocessed as the checkpoint says,
 * into *x (N, C, H, W) with their labels. */
static sal_status load(sal_ctx *ctx, const args *a, sal_graph **g, sal_checkpoint_info *info, sal_tensor **x,
                       int64_t **labels) {
  char *meta = NULL, path[4096];
  sal_dataset *ds = NULL;
  sal_loader *ld = NULL;
  sal_status st = sal_checkpoint_open(ctx, a->model, g, &meta);
  if (!st) st = sal_checkpoint_info_parse(ctx, meta, info);
  sal_free(meta);
  if (st) return sal_ctx_error_prefix(ctx, st, "opening the classifier %s: ", a->model);
  data_path(a->data, path, sizeof path);
  sal_dataset_opts dopts;
  memset(&dopts, 0, sizeof dopts);
  dopts.max_items = a->max_images;
  st = sal_dataset_open(ctx, path, &dopts, &ds);
  if (st) return st;
  if (ds->n_classes != info->n_classes) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s has %lld classes, the classifier %lld", path,
                       (long long)ds->n_classes, (long long)info->n_classes);
    sal_dataset_free(ds);
    return st;
  }
  const int64_t N = ds->n_items, C = info->spec.in_channels, S = info->spec.image_size;
  sal_loader_opts lo = sal_loader_opts_default();
  lo.batch = 64;
  lo.threads = 2;
  lo.pp = info->pp;
  st = sal_tensor_new(ctx, 4, (int64_t[]){N, C, S, S}, x);
  if (!st) {
    *labels = sal_alloc(ctx, (size_t)N * sizeof(int64_t));
    if (!*labels) st = SAL_STATUS_OUT_OF_MEMORY;
  }
  if (!st) st = sal_loader_new(ctx, ds, &lo, &ld);
  if (!st) st = sal_loader_epoch(ld, 0);
  const sal_batch *b = NULL;
  int64_t n = 0;
  while (!st && !(st = sal_loader_next(ld, &b)) && b) {
    if (b->images->shape.d[1] != C || b->images->shape.d[2] != S || b->images->shape.d[3] != S) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "the data's images do not preprocess to the classifier's input");
      break;
    }
    memcpy((*x)->data + n * C * S * S, b->images->data, (size_t)(b->n * C * S * S) * sizeof(float));
    for (int64_t i = 0; i < b->n; i++) (*labels)[n + i] = b->labels[i];
    n += b->n;
  }
  sal_loader_free(ld);
  sal_dataset_free(ds);
  return st;
}

/* Accuracy at threshold ½ and ROC-AUC of detector scores, and the confidence baseline's ROC-AUC
 * (score 1 − max softmax probability: an attack moves the input towards or across a decision
 * boundary, so lower confidence is read as "attacked"), over the items with use[i]. */
static sal_status report(sal_ctx *ctx, const sal_detect_set *s, const float *score, const bool *use, const char *what,
                         const args *a) {
  float *conf = sal_alloc(ctx, (size_t)s->n * sizeof(float));
  if (!conf) return SAL_STATUS_OUT_OF_MEMORY;
  int64_t n = 0, correct = 0, flipped = 0, pairs = 0;
  for (int64_t i = 0; i < s->n; i++) {
    conf[i] = 1.0f - s->confidence[i];
    if (use && !use[i]) continue;
    n++;
    correct += (score[i] > 0.5f) == (s->labels[i] == 1);
    if (s->labels[i] == 1) pairs++, flipped += s->top1[i] != s->top1[i - 1];
  }
  double auc = 0, cauc = 0;
  sal_status st = sal_roc_auc(ctx, score, s->labels, use, s->n, &auc);
  if (!st) st = sal_roc_auc(ctx, conf, s->labels, use, s->n, &cauc);
  sal_free(conf);
  if (st) return st;
  printf("detect-adv %s: %lld items (%lld clean/attacked pairs), attack %s eps %s changed the top-1 of %.1f%%\n", what,
         (long long)n, (long long)pairs, a->attack, a->eps, pairs ? 100.0 * (double)flipped / (double)pairs : 0.0);
  printf("detector accuracy %.4f  ROC-AUC %.4f  |  confidence baseline ROC-AUC %.4f\n", (double)correct / (double)n, auc,
         cauc);
  return SAL_STATUS_OK;
}

static int usage_error(const char *sub, const char *msg, const char *usage) {
  fprintf(stderr, "salient detect-adv %s: %s\nusage: %s\n", sub, msg, usage);
  return 2;
}

/* The set cache beside the detector: OUT without ".safetensors", then ".set.safetensors". */
static void cache_path(const char *out, char *path, size_t n) {
  size_t len = strlen(out), suf = strlen(".safetensors");
  if (len > suf && strcmp(out + len - suf, ".safetensors") == 0) len -= suf;
  snprintf(path, n, "%.*s.set.safetensors", (int)len, out);
}

/* What a resumed run must repeat besides the training's own keys (sal_detect_train adds channels,
 * grid, batch, the item counts and a digest of the set and split): the set's options and key
 * (classifier file, images, labels, options) and the split's fraction, and — so that the check
 * before the set is built catches them — width, lr and seed, encoded as sal_detect_train encodes
 * them (its keys replace these). */
static cJSON *run_config(const args *a, const sal_detect_opts *o, const char *key) {
  cJSON *c = cJSON_CreateObject();
  char seed[24];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
  cJSON_AddStringToObject(c, "features", o->features == SAL_DETECT_HAF ? "haf" : "gradient");
  cJSON_AddStringToObject(c, "attack", a->attack);
  cJSON_AddNumberToObject(c, "eps", (double)o->eps);
  cJSON_AddNumberToObject(c, "iterations", (double)o->iterations);
  cJSON_AddNumberToObject(c, "train_fraction", o->train_fraction);
  cJSON_AddStringToObject(c, "inputs_sha256", key);
  cJSON_AddNumberToObject(c, "width", (double)o->width);
  cJSON_AddNumberToObject(c, "lr", (double)o->lr);
  cJSON_AddStringToObject(c, "seed", seed);
  return c;
}

/* {"config": run_config} alone: what sal_detect_resume_check compares before the set is built. */
static char *config_meta(const args *a, const sal_detect_opts *o, const char *key) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddItemToObject(m, "config", run_config(a, o, key));
  char *txt = cJSON_PrintUnformatted(m);
  cJSON_Delete(m);
  return txt;
}

/* Detector metadata ("salient" key of its safetensors; sal_detect_train adds the progress). */
static char *det_meta(const args *a, const sal_detect_opts *o, int64_t F, int64_t G, const sal_detect_set *s,
                      const char *key) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "kind", "detect-adv");
  cJSON_AddStringToObject(m, "features", o->features == SAL_DETECT_HAF ? "haf" : "gradient");
  cJSON_AddNumberToObject(m, "channels", (double)F);
  cJSON_AddNumberToObject(m, "grid", (double)G);
  cJSON_AddNumberToObject(m, "width", (double)o->width);
  cJSON_AddNumberToObject(m, "iterations", (double)o->iterations);
  cJSON_AddStringToObject(m, "attack", a->attack);
  cJSON_AddNumberToObject(m, "eps", (double)o->eps);
  cJSON_AddStringToObject(m, "classifier", a->model);
  cJSON *lv = cJSON_AddArrayToObject(m, "levels");
  for (int l = 0; l < s->n_levels; l++) cJSON_AddItemToArray(lv, cJSON_CreateString(s->level_names[l]));
  cJSON_AddItemToObject(m, "config", run_config(a, o, key));
  char *txt = cJSON_PrintUnformatted(m);
  cJSON_Delete(m);
  return txt;
}

/* The progress recorded in a detector checkpoint's metadata m: epochs done and planned (false when
 * absent). */
static bool progress(const cJSON *m, int64_t *epoch, int64_t *epochs) {
  const cJSON *ep = cJSON_GetObjectItemCaseSensitive(m, "epoch"), *eps = cJSON_GetObjectItemCaseSensitive(m, "epochs");
  if (!cJSON_IsNumber(ep) || !cJSON_IsNumber(eps)) return false;
  *epoch = (int64_t)ep->valuedouble, *epochs = (int64_t)eps->valuedouble;
  return true;
}

/* Whether the detector file at path is a checkpoint of a stopped training (*epoch of *epochs). */
static bool stopped_at(sal_ctx *ctx, const char *path, int64_t *epoch, int64_t *epochs) {
  sal_safetensors *sf = NULL;
  if (sal_safetensors_read(ctx, path, &sf)) return false;
  const char *txt = sal_safetensors_meta(sf, "salient");
  cJSON *m = txt ? cJSON_Parse(txt) : NULL;
  bool r = progress(m, epoch, epochs) && *epoch < *epochs;
  cJSON_Delete(m);
  sal_safetensors_free(sf);
  return r;
}

/* Reads a detector's metadata into o (features, grid, width, iterations) and *F. */
static sal_status read_det(sal_ctx *ctx, const char *path, sal_detect_opts *o, int64_t *F, int64_t *G) {
  sal_safetensors *sf = NULL;
  sal_status st = sal_safetensors_read(ctx, path, &sf);
  if (st) return st;
  const char *txt = sal_safetensors_meta(sf, "salient");
  cJSON *m = txt ? cJSON_Parse(txt) : NULL;
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(m, "kind"), *f = cJSON_GetObjectItemCaseSensitive(m, "features");
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "channels"), *g = cJSON_GetObjectItemCaseSensitive(m, "grid");
  const cJSON *w = cJSON_GetObjectItemCaseSensitive(m, "width"), *it = cJSON_GetObjectItemCaseSensitive(m, "iterations");
  if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "detect-adv") != 0 || !cJSON_IsString(f) || !cJSON_IsNumber(c) ||
      !cJSON_IsNumber(g) || !cJSON_IsNumber(w) || !cJSON_IsNumber(it))
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s is not a detector written by 'salient detect-adv train'", path);
  else if (strcmp(f->valuestring, "haf") != 0 && strcmp(f->valuestring, "gradient") != 0)
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: unknown features '%s'", path, f->valuestring);
  if (!st) {
    o->features = strcmp(f->valuestring, "haf") == 0 ? SAL_DETECT_HAF : SAL_DETECT_GRADIENT;
    *F = (int64_t)c->valuedouble, *G = (int64_t)g->valuedouble;
    o->width = (int64_t)w->valuedouble, o->iterations = (int64_t)it->valuedouble;
    /* A checkpoint of a stopped training still scores; say so. */
    int64_t ep = 0, eps = 0;
    if (progress(m, &ep, &eps) && ep < eps)
      fprintf(stderr, "salient detect-adv eval: warning: %s is a checkpoint at epoch %lld of %lld (its training was stopped)\n",
              path, (long long)ep, (long long)eps);
  }
  cJSON_Delete(m);
  sal_safetensors_free(sf);
  return st;
}

int cmd_detect_adv(int argc, char **argv) {
  args a;
  memset(&a, 0, sizeof a);
  a.attack = "fgsm", a.eps = "4/255", a.lr = "1e-3", a.fraction = "0.5";
  a.iterations = 300, a.epochs = 30, a.batch = 32, a.width = 16;
  const char *sub = argc >= 2 ? argv[1] : "";
  bool train = strcmp(sub, "train") == 0, eval = strcmp(sub, "eval") == 0;
  cli_opt opts[] = {
      {"--model", CLI_STRING, "classifier checkpoint written by 'salient train' (required)", &a.model},
      {"--data", CLI_STRING, "labelled images: a CSV manifest, an image folder, or a directory with test.csv (required)", &a.data},
      {"--attack", CLI_STRING, "fgsm or pgd (10 steps of eps/4) (default fgsm)", &a.attack},
      {"--eps", CLI_STRING, "L-infinity radius in pixel units, a fraction like 4/255 or a decimal (default 4/255)", &a.eps},
      {"--features", CLI_STRING, "train: haf (reliable's per-layer masks) or gradient (default haf); eval: must match the detector if given", &a.features},
      {"--grid", CLI_INT, "train: feature grid side (default 0 = input side / 4); eval: must match the detector if given", &a.grid},
      {"--iterations", CLI_INT, "train: reliable's Adam steps per image (default 300; eval uses the detector's)", &a.iterations},
      {"--max-images", CLI_INT, "use the first N images of the data (default 0 = all)", &a.max_images},
      {"--out", CLI_STRING, "train: detector file (.safetensors), written after every epoch; the set is cached beside it in OUT.set.safetensors (required for train)", &a.out},
      {"--detector", CLI_STRING, "eval: detector file from 'detect-adv train' (required for eval)", &a.detector},
      {"--epochs", CLI_INT, "train: detector epochs (default 30)", &a.epochs},
      {"--batch", CLI_INT, "train: detector batch (default 32)", &a.batch},
      {"--lr", CLI_STRING, "train: Adam learning rate (default 1e-3)", &a.lr},
      {"--width", CLI_INT, "train: channels of the detector's two conv layers (default 16)", &a.width},
      {"--train-fraction", CLI_STRING, "train: fraction of source images in the training split, the rest held out (default 0.5)", &a.fraction},
      {"--seed", CLI_INT, "train: detector weights, shuffling and split (default 0)", &a.seed},
      {"--resume", CLI_FLAG, "train: continue from --out after an interruption: same classifier, data and options (default off)", &a.resume},
      {"--stop-after", CLI_INT, "train: stop once this many epochs are done (default 0 = run all)", &a.stop_after},
      {"--threads", CLI_INT, "compute threads (default 0 = all cores)", &a.threads},
      {"--quiet", CLI_FLAG, "no progress lines", &a.quiet},
  };
  const char *usage = train ? "salient detect-adv train --model CLASSIFIER --data DATA --out DET.safetensors [options]"
                      : eval ? "salient detect-adv eval --model CLASSIFIER --detector DET.safetensors --data DATA [options]"
                             : "salient detect-adv train|eval [options]";
  if (!train && !eval) {
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
      printf("usage: %s\n\n  train   build clean/attacked sets, train the detector, report held-out accuracy and ROC-AUC\n"
             "  eval    score a trained detector on a data set\n\n'salient detect-adv train --help' lists the options.\n",
             usage);
      return 0;
    }
    fprintf(stderr, "salient detect-adv: expected 'train' or 'eval', got '%s'\nusage: %s\n", sub, usage);
    return 2;
  }
  argv[1] = (char *)(train ? "detect-adv train" : "detect-adv eval"); /* how cli_parse names the command */
  int r = cli_parse(argc - 1, argv + 1, usage, opts, (int)(sizeof opts / sizeof opts[0]));
  if (r) return r == 1 ? 0 : 2;
  if (!a.model || !a.data || (train && !a.out) || (eval && !a.detector))
    return usage_error(sub, train ? "--model, --data and --out are required" : "--model, --data and --detector are required",
                       usage);
  sal_detect_opts o = sal_detect_opts_default();
  double frac = 0, lr = 0;
  if (strcmp(a.attack, "fgsm") != 0 && strcmp(a.attack, "pgd") != 0)
    return usage_error(sub, "--attack must be fgsm or pgd", usage);
  o.attack = strcmp(a.attack, "pgd") == 0 ? SAL_DETECT_PGD : SAL_DETECT_FGSM;
  if (!parse_eps(a.eps, &o.eps)) return usage_error(sub, "--eps needs a fraction like 4/255 or a decimal", usage);
  if (a.features && strcmp(a.features, "haf") != 0 && strcmp(a.features, "gradient") != 0)
    return usage_error(sub, "--features must be haf or gradient", usage);
  if (!parse_double(a.lr, &lr) || !parse_double(a.fraction, &frac))
    return usage_error(sub, "--lr and --train-fraction need numbers", usage);
  if (a.max_images < 0 || a.threads < 0 || a.threads > 1024 || a.grid < 0 || a.seed < 0 || a.stop_after < 0)
    return usage_error(sub, "--max-images, --grid, --seed and --stop-after must be >= 0, --threads in 0..1024", usage);
  if (eval && (a.resume || a.stop_after)) return usage_error(sub, "--resume and --stop-after apply to train", usage);
  o.features = a.features && strcmp(a.features, "gradient") == 0 ? SAL_DETECT_GRADIENT : SAL_DETECT_HAF;
  o.grid = a.grid, o.iterations = a.iterations, o.epochs = a.epochs, o.batch = a.batch, o.lr = (float)lr;
  o.width = a.width, o.train_fraction = frac, o.seed = (uint64_t)a.seed, o.quiet = a.quiet;

  sal_ctx *ctx = NULL;
  if (sal_ctx_new((int)a.threads, 0, &ctx)) {
    fprintf(stderr, "salient detect-adv: out of memory\n");
    return 1;
  }
  sal_ctx_set_log_level(ctx, a.quiet ? SAL_LOG_ERROR : SAL_LOG_WARN);
  sal_graph *g = NULL, *det = NULL;
  sal_checkpoint_info info;
  memset(&info, 0, sizeof info);
  sal_tensor *x = NULL;
  int64_t *labels = NULL, F = 0, G = 0;
  sal_detect_set set;
  memset(&set, 0, sizeof set);
  bool *ts = NULL, *tr = NULL, *te = NULL;
  float *score = NULL;
  char *meta = NULL, key[65] = "", cls[65] = "", cache[4096] = "";
  int rc = 0;
  sal_status st = SAL_STATUS_OK;
  if (eval) {
    /* The detector fixes the features, grid and reliable's iterations. */
    sal_detect_opts d = o;
    st = read_det(ctx, a.detector, &d, &F, &G);
    if (!st && a.features && d.features != o.features)
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s was trained on %s features, not %s", a.detector,
                         d.features == SAL_DETECT_HAF ? "haf" : "gradient", a.features);
    if (!st && a.grid && a.grid != G)
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s was trained on a %lldx%lld grid, not %lld", a.detector,
                         (long long)G, (long long)G, (long long)a.grid);
    o.features = d.features, o.width = d.width, o.iterations = d.iterations, o.grid = G;
    if (!st) st = sal_detect_model(ctx, F, G, o.width, 0, &det);
    if (!st) st = sal_checkpoint_load(ctx, a.detector, det, NULL, NULL);
    if (st) {
      rc = cli_fail(ctx, st, "reading the detector");
      goto done;
    }
  }
  st = load(ctx, &a, &g, &info, &x, &labels);
  if (st) {
    rc = cli_fail(ctx, st, "reading the classifier and the data");
    goto done;
  }
  o.mean = info.pp.mean, o.std = info.pp.std;
  if (train) {
    /* The set's key; a resume is checked against it before anything expensive. */
    st = sal_sha256_file(ctx, a.model, cls, NULL);
    if (st) {
      rc = cli_fail(ctx, st, "reading the classifier");
      goto done;
    }
    sal_detect_set_key(cls, x, labels, &o, key);
    cache_path(a.out, cache, sizeof cache);
    if (a.resume) {
      meta = config_meta(&a, &o, key);
      st = meta ? sal_detect_resume_check(ctx, a.out, meta) : SAL_STATUS_OUT_OF_MEMORY;
      cJSON_free(meta);
      meta = NULL;
      if (st) {
        rc = cli_fail(ctx, st, "resuming the detector's training");
        goto done;
      }
    }
    st = sal_detect_set_load(ctx, cache, key, &set);
    if (!st && !a.quiet) fprintf(stderr, "detect: reusing the set cached in %s (same classifier, images and options)\n", cache);
    if (st && st != SAL_STATUS_NOT_FOUND && !a.quiet)
      fprintf(stderr, "detect: not reusing the cache: %s; building the set again\n", sal_ctx_last_error(ctx));
  }
  if (!train || st) {
    st = sal_detect_build_set(ctx, g, x, labels, &o, &set);
    if (st) {
      rc = cli_fail(ctx, st, "building the detection set");
      goto done;
    }
    if (train && (st = sal_detect_set_save(ctx, cache, key, &set))) {
      rc = cli_fail(ctx, st, "writing the set cache");
      goto done;
    }
  }
  F = set.features->shape.d[1], G = set.features->shape.d[2];
  score = sal_alloc(ctx, (size_t)set.n * sizeof(float));
  ts = sal_calloc(ctx, (size_t)set.n_sources, 1);
  tr = sal_calloc(ctx, (size_t)set.n, 1);
  te = sal_calloc(ctx, (size_t)set.n, 1);
  if (!score || !ts || !tr || !te) {
    rc = cli_fail(ctx, SAL_STATUS_OUT_OF_MEMORY, "detect-adv");
    goto done;
  }
  if (train) {
    st = sal_detect_split(ctx, set.n_sources, o.train_fraction, o.seed, ts);
    for (int64_t i = 0; !st && i < set.n; i++) tr[i] = ts[set.source[i]], te[i] = !tr[i];
    if (!st) st = sal_detect_model(ctx, F, G, o.width, o.seed, &det);
    if (!st) st = (meta = det_meta(&a, &o, F, G, &set, key)) ? SAL_STATUS_OK : SAL_STATUS_OUT_OF_MEMORY;
    /* The detector file is the checkpoint, rewritten after every epoch. */
    o.checkpoint = a.out, o.checkpoint_meta = meta, o.resume = a.resume, o.stop_after = a.stop_after;
    if (!st) st = sal_detect_train(ctx, det, set.features, set.labels, tr, &o);
    int64_t done_ep = 0, all_ep = 0;
    const bool stopped = !st && a.stop_after && stopped_at(ctx, a.out, &done_ep, &all_ep);
    if (stopped)
      printf("detect-adv train: stopped after %lld of %lld epochs (--stop-after); %s holds the checkpoint, continue with "
             "--resume\n", (long long)done_ep, (long long)all_ep, a.out);
    if (!st && !stopped) st = sal_detect_score(ctx, det, set.features, score);
    if (!st && !stopped) st = report(ctx, &set, score, te, "held-out split", &a);
    if (!st && !stopped)
      printf("detector (%s features, %lld x %lld x %lld) written to %s\n", o.features == SAL_DETECT_HAF ? "haf" : "gradient",
             (long long)F, (long long)G, (long long)G, a.out);
  } else {
    st = sal_detect_score(ctx, det, set.features, score);
    if (!st) st = report(ctx, &set, score, NULL, "eval", &a);
  }
  if (st) rc = cli_fail(ctx, st, train ? "training the detector" : "evaluating the detector");
done:
  if (meta) cJSON_free(meta);
  sal_free(score), sal_free(ts), sal_free(tr), sal_free(te), sal_free(labels);
  sal_detect_set_clear(&set);
  sal_tensor_free(x);
  sal_checkpoint_info_free(&info);
  sal_graph_free(det);
  sal_graph_free(g);
  sal_ctx_free(ctx);
  return rc;
}
