/* `salient train --data MANIFEST|DIR --arch NAME --epochs N --out model.safetensors [options]`:
 * trains a built-in classifier with sal_train (checkpoint after every epoch, resumable) and
 * optionally exports the result as ONNX. docs/training.md describes the recipe and the options. */
#include <errno.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "salient/train.h"

/* A float option given as a string; false (message printed) when it is not a finite number. */
static bool parse_float(const char *opt, const char *s, float *out) {
  if (!s) return true;
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v)) {
    fprintf(stderr, "salient train: option %s needs a number, got '%s'\n", opt, s);
    return false;
  }
  *out = (float)v;
  return true;
}

/* A float option that may be written as a fraction ("8/255"). */
static bool parse_ratio(const char *opt, const char *s, float *out) {
  if (!s) return true;
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end), d = 1.0;
  bool ok = !errno && end != s && isfinite(v);
  if (ok && *end == '/') {
    const char *s2 = end + 1;
    d = strtod(s2, &end);
    ok = end != s2 && isfinite(d) && d != 0;
  }
  if (!ok || *end) {
    fprintf(stderr, "salient train: option %s needs a number or a fraction A/B, got '%s'\n", opt, s);
    return false;
  }
  *out = (float)(v / d);
  return true;
}

static bool is_dir(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}
static bool is_file(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

int cmd_train(int argc, char **argv) {
  sal_train_opts o = sal_train_opts_default();
  const char *data = NULL, *val = NULL, *out = NULL, *resume = NULL, *onnx = NULL, *arch = o.arch;
  const char *lr = NULL, *momentum = NULL, *wd = NULL, *ls = NULL, *clip = NULL, *jitter = NULL, *crop = NULL;
  const char *optimizer = "adamw", *schedule = "cosine";
  int64_t epochs = o.epochs, batch = o.batch, size = o.image_size, width = o.width, warmup = INT64_MIN;
  int64_t flip = 1, dihedral = 0, seed = 0, threads = 0, loader_threads = 0, nesterov = -1, stop_after = 0;
  bool quiet = false, scaat = false, sgt = false;
  const char *scaat_eps = NULL, *scaat_gamma = NULL, *scaat_lambda = NULL, *sgt_lambda = NULL, *sgt_frac = NULL;
  int64_t scaat_steps = o.scaat_steps;
  cli_opt opts[] = {
      {"--data", CLI_STRING, "training data: a CSV manifest, an image folder, or a directory with train.csv (required)", &data},
      {"--val", CLI_STRING, "validation manifest or folder (default: val.csv beside the training manifest, if present)", &val},
      {"--arch", CLI_STRING, "architecture: simple_cnn, resnet_small, resnet18, resnet50, vgg16 (default simple_cnn)", &arch},
      {"--epochs", CLI_INT, "epochs (default 9)", &epochs},
      {"--out", CLI_STRING, "checkpoint written after every epoch, .safetensors (required)", &out},
      {"--batch", CLI_INT, "images per step (default 64)", &batch},
      {"--optimizer", CLI_STRING, "sgd, adam or adamw (default adamw)", &optimizer},
      {"--lr", CLI_STRING, "base learning rate (default 3e-3 adamw, 1e-3 adam, 0.1 sgd)", &lr},
      {"--momentum", CLI_STRING, "SGD momentum (default 0.9)", &momentum},
      {"--nesterov", CLI_INT, "SGD Nesterov momentum, 0 or 1 (default 1)", &nesterov},
      {"--weight-decay", CLI_STRING, "weight decay, decoupled for adamw (default 0.05 adamw, 0 adam, 5e-4 sgd)", &wd},
      {"--schedule", CLI_STRING, "learning-rate schedule per step: cosine, step or constant (default cosine)", &schedule},
      {"--warmup", CLI_INT, "epochs of linear warm-up from 0.1 x lr (default 1; 0 when --epochs is 1)", &warmup},
      {"--label-smoothing", CLI_STRING, "label smoothing in [0, 1) (default 0.1)", &ls},
      {"--image-size", CLI_INT, "input side in pixels (default 64)", &size},
      {"--width", CLI_INT, "simple_cnn and resnet_small first-stage channels (default 16)", &width},
      {"--crop-scale", CLI_STRING, "random resized crop area range MIN[,MAX], or 0 for no crop (default 0.7,1)", &crop},
      {"--flip", CLI_INT, "random horizontal flip, 0 or 1 (default 1)", &flip},
      {"--dihedral", CLI_INT, "random 90-degree rotation and mirror (8 symmetries of the square), 0 or 1 (default 0)", &dihedral},
      {"--jitter", CLI_STRING, "colour jitter strength for brightness, contrast, saturation (default 0 = off)", &jitter},
      {"--clip-grad", CLI_STRING, "global gradient-norm clip, 0 = off (default 5)", &clip},
      {"--seed", CLI_INT, "seed of weights, shuffling, augmentation and dropout (default 0)", &seed},
      {"--threads", CLI_INT, "compute threads (default 0 = all cores)", &threads},
      {"--loader-threads", CLI_INT, "image decoding threads (default 0 = 2)", &loader_threads},
      {"--resume", CLI_STRING, "continue from this checkpoint (same data and options)", &resume},
      {"--stop-after", CLI_INT, "stop once this many epochs are done (default 0 = run all)", &stop_after},
      {"--onnx", CLI_STRING, "also export the trained model as ONNX to this path", &onnx},
      {"--scaat", CLI_FLAG, "SCAAT: CE + lambda KL(f(x) || f(x_adv)), x_adv a PGD point inside the saliency budget "
                            "eps(p) = eps_max (1 - S(p))^gamma (docs/training.md)", &scaat},
      {"--scaat-eps", CLI_STRING, "SCAAT eps_max in pixel units, a number or A/B (default 8/255)", &scaat_eps},
      {"--scaat-gamma", CLI_STRING, "SCAAT gamma of the budget map (default 2)", &scaat_gamma},
      {"--scaat-steps", CLI_INT, "SCAAT PGD steps of eps_max/2 (default 3)", &scaat_steps},
      {"--scaat-lambda", CLI_STRING, "SCAAT weight lambda of the KL term (default 1)", &scaat_lambda},
      {"--sgt", CLI_FLAG, "Saliency Guided Training (Ismail et al. 2021): CE + lambda KL(f(x) || f(x_masked)), the "
                          "least salient pixels replaced by uniform noise", &sgt},
      {"--sgt-frac", CLI_STRING, "SGT fraction of the pixels masked (default 0.1)", &sgt_frac},
      {"--sgt-lambda", CLI_STRING, "SGT weight lambda of the KL term (default 1)", &sgt_lambda},
      {"--quiet", CLI_FLAG, "no progress lines", &quiet},
  };
  const char *usage = "salient train --data MANIFEST|DIR --out model.safetensors [options]";
  int r = cli_parse(argc, argv, usage, opts, (int)(sizeof opts / sizeof opts[0]));
  if (r) return r == 1 ? 0 : 2;
  if (!data || !out) {
    fprintf(stderr, "salient train: --data and --out are required\nusage: %s\n", usage);
    return 2;
  }
  if (!strcmp(optimizer, "sgd")) {
    o.optimizer = SAL_OPTIM_SGD;
    o.lr = 0.1f;
    o.momentum = 0.9f;
    o.weight_decay = 5e-4f;
    o.nesterov = nesterov != 0;
  } else if (!strcmp(optimizer, "adam")) {
    o.optimizer = SAL_OPTIM_ADAM;
    o.lr = 1e-3f;
    o.weight_decay = 0;
  } else if (!strcmp(optimizer, "adamw")) {
    o.optimizer = SAL_OPTIM_ADAMW;
  } else {
    fprintf(stderr, "salient train: --optimizer '%s' is not sgd, adam or adamw\n", optimizer);
    return 2;
  }
  if (o.optimizer != SAL_OPTIM_SGD && (momentum || nesterov == 1)) {
    fprintf(stderr, "salient train: --momentum and --nesterov apply to --optimizer sgd only\n");
    return 2;
  }
  if (!parse_float("--lr", lr, &o.lr) || !parse_float("--momentum", momentum, &o.momentum) ||
      !parse_float("--weight-decay", wd, &o.weight_decay) || !parse_float("--label-smoothing", ls, &o.label_smoothing) ||
      !parse_float("--clip-grad", clip, &o.clip_grad))
    return 2;
  if (!strcmp(schedule, "cosine")) o.schedule = SAL_LR_COSINE;
  else if (!strcmp(schedule, "step")) o.schedule = SAL_LR_STEP;
  else if (!strcmp(schedule, "constant")) o.schedule = SAL_LR_CONSTANT;
  else {
    fprintf(stderr, "salient train: --schedule '%s' is not cosine, step or constant\n", schedule);
    return 2;
  }
  if (crop) {
    char *end = NULL;
    errno = 0;
    double a = strtod(crop, &end), b = 1.0;
    bool ok = !errno && end != crop && isfinite(a);
    if (ok && *end == ',') {
      const char *s2 = end + 1;
      b = strtod(s2, &end);
      ok = end != s2 && isfinite(b);
    }
    if (!ok || *end) {
      fprintf(stderr, "salient train: --crop-scale needs MIN[,MAX] or 0, got '%s'\n", crop);
      return 2;
    }
    o.augment.crop = a != 0;
    o.augment.scale_min = (float)a;
    o.augment.scale_max = (float)b;
  }
  float js = 0;
  if (!parse_float("--jitter", jitter, &js)) return 2;
  o.augment.brightness = o.augment.contrast = o.augment.saturation = js;
  if ((flip != 0 && flip != 1) || (dihedral != 0 && dihedral != 1) || nesterov < -1 || nesterov > 1) {
    fprintf(stderr, "salient train: --flip, --dihedral and --nesterov take 0 or 1\n");
    return 2;
  }
  if (seed < 0 || threads < 0 || threads > 1024 || loader_threads < 0 || loader_threads > 64) {
    fprintf(stderr, "salient train: --seed must be >= 0, --threads in 0..1024, --loader-threads in 0..64\n");
    return 2;
  }
  if (scaat && sgt) {
    fprintf(stderr, "salient train: --scaat and --sgt exclude each other\n");
    return 2;
  }
  if ((!scaat && (scaat_eps || scaat_gamma || scaat_lambda || scaat_steps != o.scaat_steps)) ||
      (!sgt && (sgt_frac || sgt_lambda))) {
    fprintf(stderr, "salient train: --scaat-* options need --scaat, --sgt-* options need --sgt\n");
    return 2;
  }
  o.reg = scaat ? SAL_TRAIN_SCAAT : sgt ? SAL_TRAIN_SGT : SAL_TRAIN_PLAIN;
  if (!parse_ratio("--scaat-eps", scaat_eps, &o.scaat_eps) || !parse_float("--scaat-gamma", scaat_gamma, &o.scaat_gamma) ||
      !parse_float("--scaat-lambda", scaat_lambda, &o.reg_lambda) || !parse_float("--sgt-lambda", sgt_lambda, &o.reg_lambda) ||
      !parse_float("--sgt-frac", sgt_frac, &o.sgt_frac))
    return 2;
  o.scaat_steps = scaat_steps;
  o.augment.flip = flip == 1;
  o.augment.dihedral = dihedral == 1;
  o.arch = arch;
  o.epochs = epochs;
  o.batch = batch;
  o.image_size = size;
  o.width = width;
  o.warmup_epochs = warmup != INT64_MIN ? warmup : epochs > 1 ? 1 : 0;
  o.seed = (uint64_t)seed;
  o.threads = (int)loader_threads;
  o.out = out;
  o.resume = resume;
  o.stop_after = stop_after;
  o.quiet = quiet;

  /* A directory holding train.csv (what `salient synth` writes) means its train / val manifests. */
  char train_path[4096], val_path[4096];
  snprintf(train_path, sizeof train_path, "%s", data);
  if (is_dir(data)) {
    char t[4096];
    snprintf(t, sizeof t, "%s/train.csv", data);
    if (is_file(t)) snprintf(train_path, sizeof train_path, "%s", t);
  }
  val_path[0] = '\0';
  if (val) {
    snprintf(val_path, sizeof val_path, "%s", val);
  } else {
    const char *slash = strrchr(train_path, '/');
    int dl = slash ? (int)(slash - train_path) : 1;
    char t[4096];
    snprintf(t, sizeof t, "%.*s/val.csv", dl, slash ? train_path : ".");
    if (strstr(train_path, ".csv") && is_file(t) && strcmp(t, train_path) != 0) snprintf(val_path, sizeof val_path, "%s", t);
  }

  sal_ctx *ctx = NULL;
  if (sal_ctx_new((int)threads, (uint64_t)seed, &ctx)) {
    fprintf(stderr, "salient train: out of memory\n");
    return 1;
  }
  sal_ctx_set_log_level(ctx, quiet ? SAL_LOG_QUIET : SAL_LOG_INFO);
  sal_dataset *tr = NULL, *va = NULL;
  sal_train_report rep;
  int rc = 0;
  sal_status st = sal_dataset_open(ctx, train_path, NULL, &tr);
  if (st) {
    rc = cli_fail(ctx, st, "reading the training data");
    goto done;
  }
  if (val_path[0]) {
    st = sal_dataset_open(ctx, val_path, NULL, &va);
    if (st) {
      rc = cli_fail(ctx, st, "reading the validation data");
      goto done;
    }
  }
  if (!quiet)
    fprintf(stderr, "train: %s, %lld images, %lld classes%s%s\n", train_path, (long long)tr->n_items,
            (long long)tr->n_classes, va ? "; validation " : "", va ? val_path : "");
  st = sal_train(ctx, tr, va, &o, &rep);
  if (st) {
    rc = cli_fail(ctx, st, "training");
    goto done;
  }
  printf("train: %lld epochs, loss %.4f, train accuracy %.4f", (long long)rep.epochs_done, rep.last_loss, rep.train_accuracy);
  if (va) printf(", val accuracy %.4f (best %.4f)", rep.val_accuracy, rep.best_val_accuracy);
  printf(", %.1f images/s, %.1f s; wrote %s\n", rep.images_per_s, rep.seconds, out);
  if (onnx) {
    sal_graph *g = NULL;
    st = sal_checkpoint_open(ctx, out, &g, NULL);
    if (!st) st = sal_onnx_save(ctx, g, onnx);
    sal_graph_free(g);
    if (st) {
      rc = cli_fail(ctx, st, "exporting ONNX");
      goto done;
    }
    printf("train: wrote %s\n", onnx);
  }
done:
  sal_dataset_free(tr);
  sal_dataset_free(va);
  sal_ctx_free(ctx);
  return rc;
}
