/* `salient train-masker --model CLASSIFIER --data DIR|MANIFEST --out masker.safetensors [options]`:
 * trains the masking model of METHODS.md §D (sal_masker_train) for a trained classifier, frozen
 * (--mode fix) or co-trained (--mode ca, which also writes the classifier), optionally few-shot
 * (--per-class K), resumable (--resume), and exports classifier+masker as ONNX (--onnx). Also the
 * --masker hook that `salient explain` and `salient eval` share (cli_masker_setup). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/model_args.h"
#include "salient/masker.h"

int cli_masker_setup(sal_ctx *ctx, const char *cmd, const char *path, const sal_graph *g, sal_method_params *params,
                     int n, sal_masker **out) {
  *out = NULL;
  bool want = false;
  for (int m = 0; m < n; m++) want = want || strcmp(params[m].method, "masker") == 0;
  if (!path) {
    bool has = false;
    for (int i = 0; i < sal_graph_num_outputs(g); i++) has = has || strcmp(sal_graph_output_name(g, i), "mask") == 0;
    if (want && !has) {
      fprintf(stderr, "salient %s: method masker needs --masker FILE (a masker trained with salient train-masker for this "
              "model), or a model with a 'mask' output\n", cmd);
      return 1;
    }
    return 0;
  }
  if (!want) {
    fprintf(stderr, "salient %s: --masker applies to method masker, which is not among the methods\n", cmd);
    return 1;
  }
  sal_status st = sal_masker_load(ctx, path, out);
  if (!st) st = sal_masker_check(ctx, *out, g);
  if (st) return cli_fail(ctx, st, "--masker");
  for (int m = 0; m < n; m++)
    if (strcmp(params[m].method, "masker") == 0) params[m].masker = *out;
  return 0;
}

static bool parse_f(const char *opt, const char *s, float *out) {
  if (!s) return true;
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v)) {
    fprintf(stderr, "salient train-masker: option %s needs a number, got '%s'\n", opt, s);
    return false;
  }
  *out = (float)v;
  return true;
}

static bool is_dir(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

int cmd_train_masker(int argc, char **argv) {
  sal_masker_train_opts o = sal_masker_train_opts_default();
  const char *model = NULL, *data = NULL, *out = NULL, *mode = "fix", *cls_out = NULL, *onnx = NULL, *layers = NULL;
  const char *lin = NULL, *lout = NULL, *ltv = NULL, *lr = NULL;
  int64_t epochs = o.epochs, batch = o.batch, per_class = 0, seed = 0, threads = 0, loader_threads = 0, stop_after = 0;
  bool resume = false, quiet = false;
  cli_opt opts[] = {
      {"--model", CLI_STRING, "the trained classifier: a salient .safetensors checkpoint or an .onnx file (required)", &model},
      {"--data", CLI_STRING, "training data: a CSV manifest, an image folder, or a directory with train.csv (required)", &data},
      {"--out", CLI_STRING, "masker checkpoint, .safetensors, written after every epoch (required)", &out},
      {"--mode", CLI_STRING, "fix (frozen classifier) or ca (classifier co-trained) (default fix)", &mode},
      {"--classifier-out", CLI_STRING, "ca: the co-trained classifier's checkpoint (default OUT with .classifier.safetensors)", &cls_out},
      {"--per-class", CLI_INT, "few-shot: train on K images per class (default 0 = all)", &per_class},
      {"--epochs", CLI_INT, "epochs (default 5)", &epochs},
      {"--batch", CLI_INT, "images per step (default 64)", &batch},
      {"--layers", CLI_STRING, "A,B: the two classifier activations read (default: by architecture, see docs/methods.md)", &layers},
      {"--lambda-in", CLI_STRING, "weight of the masked-in area term (default 1)", &lin},
      {"--lambda-out", CLI_STRING, "weight of the masked-out area term (default 10 fix, 15 ca)", &lout},
      {"--lambda-tv", CLI_STRING, "weight of the total-variation term (default 1e-3)", &ltv},
      {"--lr", CLI_STRING, "masker Adam learning rate (default 1e-3)", &lr},
      {"--seed", CLI_INT, "seed of the masker weights, shuffling, few-shot choice, ca coin flips (default 0)", &seed},
      {"--threads", CLI_INT, "compute threads (default 0 = all cores)", &threads},
      {"--loader-threads", CLI_INT, "image decoding threads (default 0 = 2)", &loader_threads},
      {"--resume", CLI_FLAG, "continue from --out (and, in ca, --classifier-out) (default off)", &resume},
      {"--stop-after", CLI_INT, "stop once this many epochs are done (default 0 = run all)", &stop_after},
      {"--onnx", CLI_STRING, "also export classifier + masker as one ONNX model with outputs logits and mask", &onnx},
      {"--quiet", CLI_FLAG, "no progress lines", &quiet},
  };
  const char *usage = "salient train-masker --model CLASSIFIER --data MANIFEST|DIR --out masker.safetensors [--mode fix|ca] "
                      "[--per-class K] [--epochs N] [--resume] [options]";
  int r = cli_parse(argc, argv, usage, opts, (int)(sizeof opts / sizeof opts[0]));
  if (r) return r == 1 ? 0 : 2;
  if (!model || !data || !out) {
    fprintf(stderr, "salient train-masker: --model, --data and --out are required\nusage: %s\n", usage);
    return 2;
  }
  if (strcmp(mode, "fix") == 0) o.mode = SAL_MASKER_FIX;
  else if (strcmp(mode, "ca") == 0) o.mode = SAL_MASKER_CA;
  else {
    fprintf(stderr, "salient train-masker: --mode '%s' is not fix or ca\n", mode);
    return 2;
  }
  if (!parse_f("--lambda-in", lin, &o.lambda_in) || !parse_f("--lambda-out", lout, &o.lambda_out) ||
      !parse_f("--lambda-tv", ltv, &o.lambda_tv) || !parse_f("--lr", lr, &o.lr))
    return 2;
  if (seed < 0 || threads < 0 || threads > 1024 || loader_threads < 0 || loader_threads > 64 || per_class < 0) {
    fprintf(stderr, "salient train-masker: --seed and --per-class must be >= 0, --threads in 0..1024, --loader-threads in 0..64\n");
    return 2;
  }
  char cls_path[4096];
  if (o.mode == SAL_MASKER_CA && !cls_out) {
    size_t n = strlen(out);
    if (ends_with(out, ".safetensors")) n -= strlen(".safetensors");
    snprintf(cls_path, sizeof cls_path, "%.*s.classifier.safetensors", (int)n, out);
    cls_out = cls_path;
  }
  if (o.mode == SAL_MASKER_FIX && cls_out) {
    fprintf(stderr, "salient train-masker: --classifier-out applies to --mode ca\n");
    return 2;
  }
  if (o.mode == SAL_MASKER_CA && !ends_with(model, ".safetensors")) {
    fprintf(stderr, "salient train-masker: --mode ca needs a salient .safetensors classifier checkpoint (it writes the "
            "co-trained classifier as one)\n");
    return 2;
  }
  o.layers = layers;
  o.epochs = epochs;
  o.batch = batch;
  o.per_class = per_class;
  o.seed = (uint64_t)seed;
  o.threads = (int)loader_threads;
  o.out = out;
  o.classifier_out = cls_out;
  o.resume = resume ? out : NULL;
  o.stop_after = stop_after;
  o.quiet = quiet;

  char train_path[4096];
  snprintf(train_path, sizeof train_path, "%s", data);
  if (is_dir(data)) {
    char t[4096];
    struct stat sb;
    snprintf(t, sizeof t, "%s/train.csv", data);
    if (stat(t, &sb) == 0 && S_ISREG(sb.st_mode)) snprintf(train_path, sizeof train_path, "%s", t);
  }
  cli_model_args a = {0};
  a.model = model;
  a.seed = 1;
  a.threads = threads;
  sal_ctx *ctx = NULL;
  sal_graph *g = NULL;
  sal_model_meta meta;
  sal_dataset *tr = NULL;
  sal_safetensors *sf = NULL;
  sal_masker *mk = NULL;
  sal_graph *comb = NULL;
  int rc = cli_model_open(&a, &ctx, &g, &meta);
  if (rc) goto done;
  sal_ctx_set_log_level(ctx, quiet ? SAL_LOG_QUIET : SAL_LOG_INFO);
  sal_shape xs;
  sal_status st = sal_graph_value_shape(g, sal_graph_input_name(g, 0), &xs);
  if (st || xs.ndim != 4) {
    fprintf(stderr, "salient train-masker: the classifier must take (N, C, H, W) images\n");
    rc = 1;
    goto done;
  }
  /* The classifier's own transform: an exact resize to its input, its mean and std. */
  sal_preprocess pp = sal_preprocess_default();
  pp.resize = 0;
  pp.resize_w = xs.d[3];
  pp.resize_h = xs.d[2];
  pp.crop_w = pp.crop_h = 0;
  pp.interp = SAL_INTERP_BILINEAR;
  pp.channels = (int)xs.d[1];
  for (int c = 0; c < 3; c++) {
    pp.mean[c] = meta.mean[xs.d[1] == 1 ? 0 : c];
    pp.std[c] = meta.std[xs.d[1] == 1 ? 0 : c];
  }
  const char *cls_meta = NULL;
  if (o.mode == SAL_MASKER_CA) {
    st = sal_safetensors_read(ctx, model, &sf);
    if (st) {
      rc = cli_fail(ctx, st, "reading the classifier's metadata");
      goto done;
    }
    cls_meta = sal_safetensors_meta(sf, "salient");
  }
  st = sal_dataset_open(ctx, train_path, NULL, &tr);
  if (st) {
    rc = cli_fail(ctx, st, "reading the training data");
    goto done;
  }
  if (!quiet)
    fprintf(stderr, "train-masker: %s mode, classifier %s, %s (%lld images, %lld classes)%s\n", mode, model, train_path,
            (long long)tr->n_items, (long long)tr->n_classes, per_class ? ", few-shot" : "");
  sal_masker_train_report rep;
  st = sal_masker_train(ctx, g, cls_meta, tr, &pp, &o, &rep);
  if (st) {
    rc = cli_fail(ctx, st, "training the masker");
    goto done;
  }
  printf("train-masker: %lld epochs, %lld steps on %lld images, loss %.4f (masked-in %.4f, masked-out %.4f, tv %.4f), "
         "mean mask %.3f, %.1f s; wrote %s", (long long)rep.epochs_done, (long long)rep.steps, (long long)rep.n_train,
         rep.last_loss, rep.last_in, rep.last_out, rep.last_tv, rep.mean_mask, rep.seconds, out);
  if (o.mode == SAL_MASKER_CA) printf(" and the co-trained classifier %s", cls_out);
  printf("\n");
  if (onnx) {
    st = sal_masker_load(ctx, out, &mk);
    if (!st) st = sal_masker_combine(ctx, mk, g, &comb);
    if (!st) st = sal_onnx_save(ctx, comb, onnx);
    if (st) {
      rc = cli_fail(ctx, st, "exporting ONNX");
      goto done;
    }
    printf("train-masker: wrote %s (outputs %s, mask)\n", onnx, sal_graph_output_name(comb, 0));
  }
done:
  sal_graph_free(comb);
  sal_masker_free(mk);
  sal_safetensors_free(sf);
  sal_dataset_free(tr);
  sal_model_meta_clear(&meta);
  sal_graph_free(g);
  sal_ctx_free(ctx);
  return rc;
}
