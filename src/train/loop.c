/* The training loop (sal_train): a built-in classifier plus a SoftmaxCrossEntropyLoss node, a
 * training-mode plan fed by the augmenting loader, the optimiser and LR schedule, evaluation of an
 * inference plan on the same parameters, and an atomic checkpoint with metadata after every epoch.
 * Sits on top of the engine (plans), the data loader and the optimisers; `salient train` calls it. */
#define _POSIX_C_SOURCE 200809L

#include "salient/train.h"

#include "core/internal.h"
#include "train/train_internal.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Stream tag "tpln": the seed of each epoch's training plan (dropout masks) is drawn from
 * (seed, tag, epoch), so a resumed run recreates the same masks for the same steps. */
#define TRAIN_PLAN_STREAM 0x74706C6E00000000ull
#define TRAIN_MAX_EPOCHS 100000
#define TRAIN_MAX_BATCH 4096

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

sal_train_opts sal_train_opts_default(void) {
  sal_train_opts o;
  memset(&o, 0, sizeof o);
  o.arch = "simple_cnn";
  o.image_size = 64;
  o.width = 16;
  o.channels = 3;
  for (int c = 0; c < 3; c++) {
    o.mean[c] = 0.5f;
    o.std[c] = 0.25f;
  }
  o.batch = 64;
  o.augment = sal_augment_default();
  o.augment.crop = true;
  o.augment.scale_min = 0.7f;
  o.augment.flip = true;
  o.epochs = 9;
  o.optimizer = SAL_OPTIM_ADAMW;
  o.lr = 3e-3f;
  o.weight_decay = 0.05f;
  o.schedule = SAL_LR_COSINE;
  o.gamma = 0.1f;
  o.warmup_epochs = 1;
  o.label_smoothing = 0.1f;
  o.clip_grad = 5.0f;
  o.reg = SAL_TRAIN_PLAIN;
  o.reg_lambda = 1.0f;
  o.scaat_eps = 8.0f / 255.0f;
  o.scaat_gamma = 2.0f;
  o.scaat_steps = 3;
  o.sgt_frac = 0.1f;
  return o;
}

static const char *optim_name(sal_optim_kind k) {
  return k == SAL_OPTIM_SGD ? "sgd" : k == SAL_OPTIM_ADAM ? "adam" : k == SAL_OPTIM_ADAMW ? "adamw" : "?";
}
static const char *sched_name(sal_lr_kind k) {
  return k == SAL_LR_CONSTANT ? "constant" : k == SAL_LR_STEP ? "step" : k == SAL_LR_COSINE ? "cosine" : "?";
}

/* Every option checked before anything is built; messages name the option as the CLI spells it. */
static sal_status check_opts(sal_ctx *ctx, const sal_train_opts *o) {
#define BAD(...) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, __VA_ARGS__)
  if (!o->arch) BAD("train: no architecture given");
  if (o->epochs < 1 || o->epochs > TRAIN_MAX_EPOCHS)
    BAD("train: --epochs %lld is not in 1..%d", (long long)o->epochs, TRAIN_MAX_EPOCHS);
  if (o->batch < 1 || o->batch > TRAIN_MAX_BATCH) BAD("train: --batch %lld is not in 1..%d", (long long)o->batch, TRAIN_MAX_BATCH);
  if (!(o->lr > 0 && isfinite(o->lr))) BAD("train: --lr %g must be a positive number", (double)o->lr);
  if (!(o->momentum >= 0 && o->momentum < 1)) BAD("train: --momentum %g is not in [0, 1)", (double)o->momentum);
  if (!(o->weight_decay >= 0 && isfinite(o->weight_decay))) BAD("train: --weight-decay %g is negative", (double)o->weight_decay);
  if (!(o->label_smoothing >= 0 && o->label_smoothing < 1))
    BAD("train: --label-smoothing %g is not in [0, 1)", (double)o->label_smoothing);
  if (!(o->clip_grad >= 0 && isfinite(o->clip_grad))) BAD("train: --clip-grad %g is negative", (double)o->clip_grad);
  if (o->warmup_epochs < 0 || o->warmup_epochs >= o->epochs)
    BAD("train: --warmup %lld is not in 0..%lld (below --epochs)", (long long)o->warmup_epochs, (long long)o->epochs - 1);
  if (o->optimizer != SAL_OPTIM_SGD && o->optimizer != SAL_OPTIM_ADAM && o->optimizer != SAL_OPTIM_ADAMW)
    BAD("train: unknown optimizer %d", (int)o->optimizer);
  if (o->schedule != SAL_LR_CONSTANT && o->schedule != SAL_LR_STEP && o->schedule != SAL_LR_COSINE)
    BAD("train: unknown schedule %d", (int)o->schedule);
  if (o->step_epochs < 0) BAD("train: step epochs %lld is negative", (long long)o->step_epochs);
  if (!(o->gamma > 0 && o->gamma <= 1)) BAD("train: gamma %g is not in (0, 1]", (double)o->gamma);
  if (o->channels != 1 && o->channels != 3) BAD("train: %d input channels (1 or 3)", o->channels);
  for (int c = 0; c < o->channels; c++)
    if (!(o->std[c] > 0 && isfinite(o->std[c]) && isfinite(o->mean[c]))) BAD("train: std %g of channel %d", (double)o->std[c], c);
  if (o->stop_after < 0) BAD("train: stop_after %lld is negative", (long long)o->stop_after);
  if (o->nesterov && (o->optimizer != SAL_OPTIM_SGD || o->momentum <= 0))
    BAD("train: Nesterov momentum needs --optimizer sgd and --momentum > 0");
  if (o->reg != SAL_TRAIN_PLAIN && o->reg != SAL_TRAIN_SCAAT && o->reg != SAL_TRAIN_SGT)
    BAD("train: unknown regulariser %d", (int)o->reg);
  if (o->reg != SAL_TRAIN_PLAIN && !(o->reg_lambda >= 0 && isfinite(o->reg_lambda)))
    BAD("train: lambda %g (--scaat-lambda, --sgt-lambda) must be >= 0", (double)o->reg_lambda);
  if (o->reg == SAL_TRAIN_SCAAT) {
    if (!(o->scaat_eps >= 0 && o->scaat_eps <= 1)) BAD("train: --scaat-eps %g is not in [0, 1]", (double)o->scaat_eps);
    if (!(o->scaat_gamma >= 0 && o->scaat_gamma <= 100)) BAD("train: --scaat-gamma %g is not in [0, 100]", (double)o->scaat_gamma);
    if (o->scaat_steps < 1 || o->scaat_steps > 100) BAD("train: --scaat-steps %lld is not in 1..100", (long long)o->scaat_steps);
  }
  if (o->reg == SAL_TRAIN_SGT && !(o->sgt_frac >= 0 && o->sgt_frac <= 1))
    BAD("train: --sgt-frac %g is not in [0, 1]", (double)o->sgt_frac);
  return SAL_STATUS_OK;
#undef BAD
}

sal_preprocess sal__train_preprocess(int64_t size, int channels, const float *mean, const float *std) {
  sal_preprocess pp = sal_preprocess_default();
  pp.resize = 0;
  pp.resize_w = pp.resize_h = size;
  pp.crop_w = pp.crop_h = 0;
  pp.interp = SAL_INTERP_BILINEAR;
  pp.channels = channels;
  for (int c = 0; c < 3; c++) {
    pp.mean[c] = mean[c < channels ? c : 0];
    pp.std[c] = std[c < channels ? c : 0];
  }
  return pp;
}

static cJSON *floats_json(const float *v, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
  return a;
}

/* The "arch" and "train" objects: everything a resumed run must agree on. */
static cJSON *arch_json(const sal_model_spec *s) {
  cJSON *a = cJSON_CreateObject();
  cJSON_AddStringToObject(a, "arch", s->arch);
  cJSON_AddNumberToObject(a, "num_classes", (double)s->num_classes);
  cJSON_AddNumberToObject(a, "image_size", (double)s->image_size);
  cJSON_AddNumberToObject(a, "in_channels", (double)s->in_channels);
  cJSON_AddNumberToObject(a, "width", (double)s->width);
  return a;
}

static cJSON *train_json(const sal_train_opts *o, int64_t batch) {
  cJSON *t = cJSON_CreateObject();
  cJSON_AddNumberToObject(t, "epochs", (double)o->epochs);
  cJSON_AddNumberToObject(t, "batch", (double)batch);
  cJSON_AddStringToObject(t, "optimizer", optim_name(o->optimizer));
  cJSON_AddNumberToObject(t, "lr", (double)o->lr);
  cJSON_AddNumberToObject(t, "momentum", (double)o->momentum);
  cJSON_AddBoolToObject(t, "nesterov", o->nesterov);
  cJSON_AddNumberToObject(t, "weight_decay", (double)o->weight_decay);
  cJSON_AddStringToObject(t, "schedule", sched_name(o->schedule));
  cJSON_AddNumberToObject(t, "step_epochs", (double)o->step_epochs);
  cJSON_AddNumberToObject(t, "gamma", (double)o->gamma);
  cJSON_AddNumberToObject(t, "warmup_epochs", (double)o->warmup_epochs);
  cJSON_AddNumberToObject(t, "label_smoothing", (double)o->label_smoothing);
  cJSON_AddNumberToObject(t, "clip_grad", (double)o->clip_grad);
  cJSON_AddBoolToObject(t, "crop", o->augment.crop);
  cJSON_AddItemToObject(t, "crop_scale", floats_json((const float[]){o->augment.scale_min, o->augment.scale_max}, 2));
  cJSON_AddItemToObject(t, "crop_ratio", floats_json((const float[]){o->augment.ratio_min, o->augment.ratio_max}, 2));
  cJSON_AddBoolToObject(t, "flip", o->augment.flip);
  cJSON_AddBoolToObject(t, "dihedral", o->augment.dihedral);
  cJSON_AddItemToObject(
      t, "jitter", floats_json((const float[]){o->augment.brightness, o->augment.contrast, o->augment.saturation}, 3));
  cJSON_AddNumberToObject(t, "seed", (double)o->seed);
  /* Only regularised runs carry the key: plain checkpoints stay as they were (and resume checks
   * its presence both ways). */
  if (o->reg != SAL_TRAIN_PLAIN) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "kind", o->reg == SAL_TRAIN_SCAAT ? "scaat" : "sgt");
    cJSON_AddNumberToObject(r, "lambda", (double)o->reg_lambda);
    if (o->reg == SAL_TRAIN_SCAAT) {
      cJSON_AddNumberToObject(r, "eps", (double)o->scaat_eps);
      cJSON_AddNumberToObject(r, "gamma", (double)o->scaat_gamma);
      cJSON_AddNumberToObject(r, "steps", (double)o->scaat_steps);
    } else {
      cJSON_AddNumberToObject(r, "frac", (double)o->sgt_frac);
    }
    cJSON_AddItemToObject(t, "regularizer", r);
  }
  return t;
}

static cJSON *preprocess_json(const sal_preprocess *pp, int64_t size) {
  cJSON *p = cJSON_CreateObject();
  cJSON_AddNumberToObject(p, "size", (double)size);
  cJSON_AddNumberToObject(p, "channels", (double)pp->channels);
  cJSON_AddStringToObject(p, "resize", "exact bilinear");
  cJSON_AddItemToObject(p, "mean", floats_json(pp->mean, pp->channels));
  cJSON_AddItemToObject(p, "std", floats_json(pp->std, pp->channels));
  return p;
}

/* The training state that runs through the epochs. */
typedef struct trainer {
  sal_ctx *ctx;
  const sal_train_opts *o;
  const sal_dataset *train, *val;
  sal_model_spec spec;
  sal_preprocess pp;
  int64_t B, K, steps_per_epoch;
  sal_graph *g;
  sal_optim *opt;
  sal_lr_schedule sched;
  sal_loader *tl, *vl;
  sal_plan *ep;        /* inference plan for evaluation */
  sal__reg *reg;       /* SCAAT / SGT step, NULL for plain training */
  sal_tensor *target;  /* (B) labels as floats */
  sal_tensor *xbuf;    /* (B, C, S, S): a short evaluation batch padded to B */
  int64_t *confusion;  /* K × K */
  cJSON *arch_j, *train_j;
  int64_t epoch;       /* epochs done */
  double best_val;
} trainer;

static sal_status build_graph(trainer *t) {
  sal_ctx *ctx = t->ctx;
  uint64_t saved = sal_ctx_seed(ctx);
  /* Weights are initialised from the run's seed. */
  sal_ctx_set_seed(ctx, t->o->seed);
  sal_status st = sal_model_build(ctx, &t->spec, &t->g);
  sal_ctx_set_seed(ctx, saved);
  if (st) return st;
  const char *ins[2] = {"logits", "target"}, *outs[1] = {"loss"};
  sal_attr ls = sal_attr_float("label_smoothing", t->o->label_smoothing);
  st = sal_graph_add_input(t->g, "target", 1, (int64_t[]){-1});
  if (!st) st = sal_graph_add_node(t->g, "SoftmaxCrossEntropyLoss", "loss", ins, 2, outs, 1, &ls, 1);
  if (!st) st = sal_graph_add_output(t->g, "loss");
  return st;
}

/* Runs the inference plan over the validation loader; returns accuracy (confusion filled). */
sal_status sal__eval_loop(sal_ctx *ctx, sal_plan *p, sal_loader *ld, const char *in_name, const char *out_name,
                          int64_t B, int64_t K, sal_tensor *xbuf, int64_t *confusion, double *accuracy) {
  memset(confusion, 0, (size_t)(K * K) * sizeof *confusion);
  sal_status st = sal_loader_epoch(ld, 0);
  int64_t n = 0, correct = 0;
  const sal_batch *b = NULL;
  while (!st && !(st = sal_loader_next(ld, &b)) && b) {
    const sal_tensor *x = b->images;
    if (b->n < B) {
      /* The plan is bound to B images: pad with zeros (inference is per image, so padding does
       * not change the others' outputs) and ignore the padded rows. */
      size_t per = (size_t)(sal_tensor_numel(xbuf) / B);
      memset(xbuf->data, 0, (size_t)B * per * sizeof(float));
      memcpy(xbuf->data, b->images->data, (size_t)b->n * per * sizeof(float));
      x = xbuf;
    }
    const sal_tensor *y = NULL;
    st = sal_plan_set_input(p, in_name, x);
    if (!st) st = sal_plan_forward(p);
    if (!st) st = sal_plan_value(p, out_name, &y);
    if (st) break;
    for (int64_t i = 0; i < b->n; i++) {
      const float *row = y->data + i * K;
      int64_t best = 0;
      for (int64_t k = 1; k < K; k++)
        if (row[k] > row[best]) best = k;
      int64_t lab = b->labels[i];
      if (lab < 0 || lab >= K)
        return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "evaluate: label %lld of item %lld is not below %lld classes",
                             (long long)lab, (long long)b->items[i], (long long)K);
      confusion[lab * K + best]++;
      correct += best == lab;
      n++;
    }
  }
  if (st) return st;
  *accuracy = n ? (double)correct / (double)n : 0.0;
  return SAL_STATUS_OK;
}

static char *metadata(trainer *t, double val_acc, double train_loss) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "format", "salient-checkpoint");
  cJSON_AddNumberToObject(m, "format_version", 1);
  cJSON_AddItemToObject(m, "arch", cJSON_Duplicate(t->arch_j, true));
  cJSON *cl = cJSON_CreateArray();
  for (int64_t k = 0; k < t->K; k++) cJSON_AddItemToArray(cl, cJSON_CreateString(t->train->class_names[k]));
  cJSON_AddItemToObject(m, "classes", cl);
  cJSON_AddItemToObject(m, "preprocess", preprocess_json(&t->pp, t->spec.image_size));
  cJSON_AddItemToObject(m, "train", cJSON_Duplicate(t->train_j, true));
  cJSON_AddNumberToObject(m, "seed", (double)t->o->seed);
  cJSON_AddNumberToObject(m, "epoch", (double)t->epoch);
  cJSON_AddNumberToObject(m, "steps", (double)sal_optim_steps(t->opt));
  cJSON_AddNumberToObject(m, "train_loss", train_loss);
  cJSON_AddNumberToObject(m, "val_accuracy", val_acc);
  cJSON_AddNumberToObject(m, "best_val_accuracy", t->best_val);
  cJSON_AddStringToObject(m, "data", t->train->source ? t->train->source : "");
  char *s = cJSON_PrintUnformatted(m);
  cJSON_Delete(m);
  return s;
}

/* Loads the resume checkpoint and checks that it was written by the same configuration. */
static sal_status resume(trainer *t) {
  sal_ctx *ctx = t->ctx;
  char *meta = NULL;
  sal_status st = sal_checkpoint_load(ctx, t->o->resume, t->g, t->opt, &meta);
  if (st) return sal_ctx_error_prefix(ctx, st, "resume: ");
  cJSON *m = cJSON_Parse(meta);
  sal_free(meta);
  const cJSON *ep = cJSON_GetObjectItemCaseSensitive(m, "epoch");
  const cJSON *bv = cJSON_GetObjectItemCaseSensitive(m, "best_val_accuracy");
  const cJSON *parts[2][2] = {{cJSON_GetObjectItemCaseSensitive(m, "arch"), t->arch_j},
                              {cJSON_GetObjectItemCaseSensitive(m, "train"), t->train_j}};
  if (!m || !cJSON_IsNumber(ep) || !parts[0][0] || !parts[1][0]) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resume: %s has no salient training metadata", t->o->resume);
    goto done;
  }
  for (int k = 0; k < 2; k++)
    for (const cJSON *want = parts[k][1]->child; want; want = want->next) {
      const cJSON *have = cJSON_GetObjectItemCaseSensitive(parts[k][0], want->string);
      if (!have || !cJSON_Compare(have, want, true)) {
        char *a = have ? cJSON_PrintUnformatted(have) : NULL, *b = cJSON_PrintUnformatted(want);
        st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resume: %s was trained with %s = %s, this run has %s",
                           t->o->resume, want->string, a ? a : "(missing)", b ? b : "?");
        cJSON_free(a);
        cJSON_free(b);
        goto done;
      }
    }
  const cJSON *had = cJSON_GetObjectItemCaseSensitive(parts[1][0], "regularizer");
  if (had && !cJSON_GetObjectItemCaseSensitive(t->train_j, "regularizer")) {
    char *a = cJSON_PrintUnformatted(had);
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resume: %s was trained with regularizer = %s, this run has none (plain)",
                       t->o->resume, a ? a : "?");
    cJSON_free(a);
    goto done;
  }
  t->epoch = (int64_t)ep->valuedouble;
  t->best_val = cJSON_IsNumber(bv) ? bv->valuedouble : -1;
  if (t->epoch < 0 || t->epoch > t->o->epochs || sal_optim_steps(t->opt) != t->epoch * t->steps_per_epoch)
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                       "resume: %s is at epoch %lld, step %lld, which this run (%lld steps per epoch) cannot continue", t->o->resume,
                       (long long)t->epoch, (long long)sal_optim_steps(t->opt), (long long)t->steps_per_epoch);
done:
  cJSON_Delete(m);
  return st;
}

/* One epoch of training steps; mean loss and accuracy out. */
static sal_status train_epoch(trainer *t, double *mean_loss, double *acc, double *secs) {
  sal_ctx *ctx = t->ctx;
  const sal_train_opts *o = t->o;
  sal_plan *tp = NULL;
  sal_progress *pr = NULL;
  /* A fresh training plan per epoch whose seed is a function of (seed, epoch): its dropout masks
   * are then a function of (seed, epoch, step in the epoch) — what a resumed run reproduces. */
  uint32_t r[4];
  sal_philox(o->seed, TRAIN_PLAN_STREAM, (uint64_t)t->epoch, r);
  uint64_t saved = sal_ctx_seed(ctx);
  sal_ctx_set_seed(ctx, ((uint64_t)r[0] << 32) | r[1]);
  sal_plan_opts po = sal_plan_opts_default();
  po.batch = t->B;
  po.training = true;
  po.grad_params = true;
  sal_status st = sal_plan_new(ctx, t->g, &po, &tp);
  sal_ctx_set_seed(ctx, saved);
  if (st) return sal_ctx_error_prefix(ctx, st, "train: ");
  st = sal_loader_epoch(t->tl, t->epoch);
  char label[48];
  snprintf(label, sizeof label, "epoch %lld/%lld", (long long)(t->epoch + 1), (long long)o->epochs);
  if (!st && !o->quiet) st = sal_progress_start(ctx, label, t->steps_per_epoch * t->B, &pr);
  double loss_sum = 0, t_start = now_s();
  int64_t correct = 0, seen = 0, step = 0;
  const sal_batch *b = NULL;
  while (!st && !(st = sal_loader_next(t->tl, &b)) && b) {
    for (int64_t i = 0; i < t->B; i++) t->target->data[i] = (float)b->labels[i];
    double lv = 0;
    const float *logits = NULL;
    st = sal_plan_set_input(tp, "target", t->target);
    if (!st && t->reg) {
      /* SCAAT / SGT: their own passes leave the combined loss's gradients in tp */
      st = sal__reg_step(t->reg, tp, b->images->data, b->labels, sal_optim_steps(t->opt), &lv);
      logits = sal__reg_logits(t->reg);
    } else if (!st) {
      const sal_tensor *loss = NULL, *y = NULL;
      st = sal_plan_set_input(tp, "input", b->images);
      if (!st) st = sal_plan_forward(tp);
      if (!st) st = sal_plan_value(tp, "loss", &loss);
      if (!st) st = sal_plan_value(tp, "logits", &y);
      if (!st) {
        lv = loss->data[0];
        logits = y->data;
      }
    }
    if (st) break;
    if (!isfinite(lv)) {
      st = sal_ctx_error(ctx, SAL_STATUS_NUMERIC, "train: the loss is %g at epoch %lld step %lld: lower --lr or set --clip-grad",
                         lv, (long long)(t->epoch + 1), (long long)step);
      break;
    }
    loss_sum += lv;
    for (int64_t i = 0; i < t->B; i++) {
      const float *row = logits + i * t->K;
      int64_t best = 0;
      for (int64_t k = 1; k < t->K; k++)
        if (row[k] > row[best]) best = k;
      correct += best == b->labels[i];
    }
    seen += t->B;
    if (!t->reg) st = sal_plan_backward(tp, "loss", NULL);
    if (st) break;
    float lr = sal_lr_at(&t->sched, o->lr, sal_optim_steps(t->opt));
    st = sal_optim_step(t->opt, tp, lr);
    if (st) break;
    step++;
    if (pr) {
      char extra[96];
      snprintf(extra, sizeof extra, "loss %.4f acc %.3f lr %.4g", loss_sum / (double)step, (double)correct / (double)seen,
               (double)lr);
      sal_progress_update(pr, seen, extra);
    }
  }
  *secs = now_s() - t_start;
  sal_progress_finish(pr);
  sal_plan_free(tp);
  if (st) return st;
  *mean_loss = step ? loss_sum / (double)step : 0;
  *acc = seen ? (double)correct / (double)seen : 0;
  return SAL_STATUS_OK;
}

static void trainer_free(trainer *t) {
  sal_loader_free(t->tl);
  sal_loader_free(t->vl);
  sal_plan_free(t->ep);
  sal__reg_free(t->reg);
  sal_optim_free(t->opt);
  sal_graph_free(t->g);
  sal_tensor_free(t->target);
  sal_tensor_free(t->xbuf);
  sal_free(t->confusion);
  cJSON_Delete(t->arch_j);
  cJSON_Delete(t->train_j);
}

static sal_status check_data(sal_ctx *ctx, const sal_dataset *train, const sal_dataset *val) {
  if (!train || train->n_items < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "train: the training set %s has no images",
                         train && train->source ? train->source : "");
  if (train->n_classes < 2)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "train: the training set %s has %lld class(es); a classifier needs 2 or more",
                         train->source ? train->source : "", (long long)train->n_classes);
  for (int64_t i = 0; i < train->n_items; i++)
    if (train->items[i].label < 0 || train->items[i].label >= train->n_classes)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "train: %s has label %lld outside its %lld classes",
                           train->items[i].path, (long long)train->items[i].label, (long long)train->n_classes);
  if (!val) return SAL_STATUS_OK;
  if (val->n_items < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "train: the validation set %s has no images", val->source ? val->source : "");
  if (val->n_classes != train->n_classes)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "train: the validation set has %lld classes, the training set %lld",
                         (long long)val->n_classes, (long long)train->n_classes);
  for (int64_t k = 0; k < val->n_classes; k++)
    if (strcmp(val->class_names[k], train->class_names[k]) != 0)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "train: class %lld is '%s' in the validation set but '%s' in the training set",
                           (long long)k, val->class_names[k], train->class_names[k]);
  return SAL_STATUS_OK;
}

sal_status sal_train(sal_ctx *ctx, const sal_dataset *train, const sal_dataset *val, const sal_train_opts *opts,
                     sal_train_report *report) {
  double t0 = now_s();
  if (report) {
    memset(report, 0, sizeof *report);
    report->val_accuracy = report->best_val_accuracy = -1;
  }
  if (!opts) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "train: NULL options");
  sal_status st = check_opts(ctx, opts);
  if (!st) st = check_data(ctx, train, val);
  if (st) return st;
  trainer t;
  memset(&t, 0, sizeof t);
  t.ctx = ctx;
  t.o = opts;
  t.train = train;
  t.val = val;
  t.best_val = -1;
  t.K = train->n_classes;
  /* A set smaller than a batch trains with one batch of all of it. */
  t.B = opts->batch < train->n_items ? opts->batch : train->n_items;
  t.steps_per_epoch = train->n_items / t.B;
  t.spec = sal_model_spec_default(opts->arch);
  t.spec.num_classes = t.K;
  t.spec.image_size = opts->image_size;
  t.spec.in_channels = opts->channels;
  t.spec.width = opts->width;
  t.pp = sal__train_preprocess(opts->image_size, opts->channels, opts->mean, opts->std);
  t.arch_j = arch_json(&t.spec);
  t.train_j = train_json(opts, t.B);
  if (!t.arch_j || !t.train_j) {
    trainer_free(&t);
    return sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "train: out of memory for the metadata");
  }
  st = build_graph(&t);
  /* The schedule runs per step over the whole training. */
  int64_t total = opts->epochs * t.steps_per_epoch, warm = opts->warmup_epochs * t.steps_per_epoch;
  t.sched.kind = opts->schedule;
  t.sched.warmup_steps = warm;
  t.sched.warmup_start = 0.1f;
  t.sched.total_steps = total - warm;
  t.sched.eta_min = 0;
  t.sched.step_size = (opts->step_epochs ? opts->step_epochs : (opts->epochs * 3 + 9) / 10) * t.steps_per_epoch;
  if (t.sched.step_size < 1) t.sched.step_size = 1;
  t.sched.gamma = opts->gamma;
  sal_optim_opts oo = sal_optim_opts_default(opts->optimizer);
  oo.lr = opts->lr;
  oo.momentum = opts->optimizer == SAL_OPTIM_SGD ? opts->momentum : 0;
  oo.nesterov = opts->nesterov;
  oo.weight_decay = opts->weight_decay;
  oo.clip_grad_norm = opts->clip_grad;
  if (!st) st = sal_optim_new(ctx, t.g, &oo, NULL, 0, &t.opt);
  if (!st && opts->resume) st = resume(&t);
  sal_loader_opts lo = sal_loader_opts_default();
  lo.batch = t.B;
  lo.threads = opts->threads;
  lo.shuffle = true;
  lo.seed = opts->seed;
  lo.drop_last = true;
  lo.pp = t.pp;
  lo.augment = opts->augment;
  if (!st) st = sal_loader_new(ctx, train, &lo, &t.tl);
  if (!st) st = sal_tensor_new(ctx, 1, (int64_t[]){t.B}, &t.target);
  if (!st && opts->reg != SAL_TRAIN_PLAIN) st = sal__reg_new(ctx, t.g, opts, "input", "logits", t.B, &t.reg);
  if (!st && val) {
    lo.shuffle = false;
    lo.drop_last = false;
    lo.augment = sal_augment_default();
    sal_plan_opts po = sal_plan_opts_default();
    po.batch = t.B;
    st = sal_loader_new(ctx, val, &lo, &t.vl);
    if (!st) st = sal_plan_new(ctx, t.g, &po, &t.ep);
    /* The loss node needs some target in evaluation too: zeros (a valid class) do. */
    if (!st) st = sal_plan_set_input(t.ep, "target", t.target);
    if (!st) st = sal_tensor_new(ctx, 4, (int64_t[]){t.B, opts->channels, opts->image_size, opts->image_size}, &t.xbuf);
    if (!st) {
      t.confusion = sal_calloc(ctx, (size_t)(t.K * t.K), sizeof *t.confusion);
      if (!t.confusion) st = SAL_STATUS_OUT_OF_MEMORY;
    }
  }
  double train_secs = 0, val_acc = -1, loss = 0, acc = 0;
  int64_t images = 0;
  bool first = true;
  while (!st && t.epoch < opts->epochs && !(opts->stop_after && t.epoch >= opts->stop_after)) {
    double secs = 0;
    st = train_epoch(&t, &loss, &acc, &secs);
    if (st) break;
    train_secs += secs;
    images += t.steps_per_epoch * t.B;
    t.epoch++;
    if (report && first) report->first_loss = loss;
    first = false;
    if (t.ep) {
      /* The running statistics and weights changed under the inference plan. */
      sal_plan_params_changed(t.ep);
      st = sal__eval_loop(ctx, t.ep, t.vl, "input", "logits", t.B, t.K, t.xbuf, t.confusion, &val_acc);
      if (st) break;
      if (val_acc > t.best_val) t.best_val = val_acc;
    }
    if (!opts->quiet && sal_ctx_log_level(ctx) >= SAL_LOG_INFO) {
      char vs[64] = "";
      if (t.ep) snprintf(vs, sizeof vs, ", val accuracy %.4f (best %.4f)", val_acc, t.best_val);
      fprintf(stderr, "epoch %lld/%lld: loss %.4f, train accuracy %.4f, %.1f images/s%s\n", (long long)t.epoch,
              (long long)opts->epochs, loss, acc, secs > 0 ? (double)(t.steps_per_epoch * t.B) / secs : 0.0, vs);
    }
    if (opts->out) {
      char *meta = metadata(&t, val_acc, loss);
      if (!meta) {
        st = sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "train: out of memory for the metadata");
        break;
      }
      st = sal_checkpoint_save(ctx, opts->out, t.g, t.opt, meta);
      cJSON_free(meta);
      if (st) sal_ctx_error_prefix(ctx, st, "train: saving %s: ", opts->out);
    }
  }
  if (report) {
    report->epochs_done = t.epoch;
    report->steps = t.opt ? sal_optim_steps(t.opt) : 0;
    report->last_loss = loss;
    report->train_accuracy = acc;
    report->val_accuracy = val_acc;
    report->best_val_accuracy = t.best_val;
    report->seconds = now_s() - t0;
    report->images_per_s = train_secs > 0 ? (double)images / train_secs : 0;
  }
  trainer_free(&t);
  return st;
}
