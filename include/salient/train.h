/* salient training: trains a built-in classifier on a dataset (softmax cross-entropy with label
 * smoothing, SGD/Adam/AdamW with an LR schedule, augmentation in the loader), evaluates it on a
 * validation set every epoch and checkpoints it atomically with its architecture, classes,
 * preprocessing and training configuration, so that an interrupted run resumes bit-identically.
 * Checkpoints reopen as graphs with sal_checkpoint_open. docs/training.md has the recipe. */
#ifndef SALIENT_TRAIN_H
#define SALIENT_TRAIN_H

#include "salient/checkpoint.h"
#include "salient/loader.h"
#include "salient/models.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Training for explanations (docs/training.md): plain cross-entropy, SCAAT (METHODS.md §E) or
 * Saliency Guided Training (Ismail et al. 2021). */
typedef enum sal_train_reg {
  SAL_TRAIN_PLAIN = 0, /* CE only */
  SAL_TRAIN_SCAAT = 1, /* CE + λ KL(f(x) ‖ f(x_adv)), x_adv a PGD point inside the saliency budget map */
  SAL_TRAIN_SGT = 2    /* CE + λ KL(f(x) ‖ f(x_masked)), the least salient pixels replaced by noise */
} sal_train_reg;

typedef struct sal_train_opts {
  /* The model: a built-in architecture (sal_model_list); num_classes comes from the dataset. */
  const char *arch;       /* "simple_cnn" */
  int64_t image_size;     /* square input side (64) */
  int64_t width;          /* simple_cnn's and resnet_small's first-stage channels (16; 0 = the default) */
  int channels;           /* input channels: 3, or 1 for grayscale (3) */
  float mean[3], std[3];  /* normalisation of [0, 1] pixel values (0.5 / 0.25 per channel) */
  /* Data. */
  int64_t batch;          /* images per step (64); the last short batch of an epoch is dropped */
  int threads;            /* loader threads (0 = 2) */
  sal_augment augment;    /* training augmentation (crop scale (0.7, 1), flip) */
  /* Optimisation. */
  int64_t epochs;         /* (9) */
  sal_optim_kind optimizer; /* (ADAMW) */
  float lr;               /* base learning rate (3e-3) */
  float momentum;         /* SGD momentum (0) */
  bool nesterov;          /* SGD Nesterov momentum (false) */
  float weight_decay;     /* AdamW's decoupled decay, L2 for SGD and Adam (0.05) */
  sal_lr_kind schedule;   /* per step (COSINE to 0 at the last step) */
  int64_t step_epochs;    /* STEP: decay every this many epochs (30% of the epochs when 0) */
  float gamma;            /* STEP: decay factor (0.1) */
  int64_t warmup_epochs;  /* linear warm-up from 0.1 × lr over this many epochs (1) */
  float label_smoothing;  /* in [0, 1) (0.1) */
  float clip_grad;        /* global gradient-norm clip, 0 = none (5) */
  uint64_t seed;          /* weights, shuffling, augmentation, dropout (0) */
  /* Training for explanations (recorded in the checkpoint; a resume must match). */
  sal_train_reg reg;      /* (PLAIN) */
  float reg_lambda;       /* λ, weight of the KL term of SCAAT and SGT (1) */
  float scaat_eps;        /* SCAAT ε_max, pixel units (8/255) */
  float scaat_gamma;      /* SCAAT γ of ε(p) = ε_max (1 − S(p))^γ (2) */
  int64_t scaat_steps;    /* SCAAT PGD steps of ε_max / 2 (3) */
  float sgt_frac;         /* SGT: fraction of the pixels masked (0.1) */
  /* Output. */
  const char *out;        /* checkpoint written (atomically) after every epoch; NULL = none */
  const char *resume;     /* checkpoint to continue from (its configuration must match) */
  int64_t stop_after;     /* stop once this many epochs are done (0 = all): interrupts on purpose */
  bool quiet;             /* no progress lines */
} sal_train_opts;

/* The defaults above: the recipe of docs/training.md for synthetic 64 px datasets. */
sal_train_opts sal_train_opts_default(void);

typedef struct sal_train_report {
  int64_t epochs_done;        /* epochs completed (resumed ones included) */
  int64_t steps;              /* optimiser steps taken in total */
  double first_loss;          /* mean training loss of the first epoch run by this call */
  double last_loss;           /* mean training loss of the last epoch */
  double train_accuracy;      /* training accuracy of the last epoch (on augmented images) */
  double val_accuracy;        /* after the last epoch (-1 without a validation set) */
  double best_val_accuracy;   /* best over all epochs (-1 without a validation set) */
  double seconds;             /* wall time of this call */
  double images_per_s;        /* training images per second (steps only, evaluation excluded) */
} sal_train_report;

/* Trains opts->arch on train (evaluated on val after every epoch when val is not NULL; val must
 * have the same classes). Errors: BAD_INPUT for option values (named), an empty dataset, a class
 * mismatch between train and val, or a resume checkpoint whose configuration differs (the first
 * differing setting is named); NOT_FOUND for an unknown architecture; NUMERIC when the loss
 * diverges; errors of the loader, plans and checkpoint writes. report (optional) is filled. */
sal_status sal_train(sal_ctx *ctx, const sal_dataset *train, const sal_dataset *val, const sal_train_opts *opts,
                     sal_train_report *report);

/* ---- trained models ---- */

/* What a salient checkpoint's metadata says about its model. */
typedef struct sal_checkpoint_info {
  char arch[32];
  sal_model_spec spec;    /* spec.arch points at arch */
  sal_preprocess pp;      /* exact resize to image_size, the stored mean / std */
  int64_t n_classes;
  char **class_names;     /* n_classes names (owned) */
  int64_t epoch;          /* epochs trained */
  double best_val_accuracy;
} sal_checkpoint_info;

/* Parses the "salient" metadata JSON of a checkpoint written by sal_train. BAD_INPUT (naming the
 * key) when it is not one. Free with sal_checkpoint_info_free. */
sal_status sal_checkpoint_info_parse(sal_ctx *ctx, const char *metadata_json, sal_checkpoint_info *info);
void sal_checkpoint_info_free(sal_checkpoint_info *info);

/* Opens a checkpoint written by sal_train as an inference graph: rebuilds the architecture from
 * its metadata and loads the weights (optimiser state is ignored). *metadata_json (optional)
 * receives the metadata (free with sal_free). */
sal_status sal_checkpoint_open(sal_ctx *ctx, const char *path, sal_graph **graph, char **metadata_json);

/* Evaluates graph g (input 0 the images, output "logits" or output 0) on ds preprocessed by pp, in
 * batches of `batch`: confusion (n_classes × n_classes, row = true class, column = prediction) is
 * zeroed and filled. g's class count must equal ds's. */
sal_status sal_evaluate(sal_ctx *ctx, sal_graph *g, const sal_dataset *ds, const sal_preprocess *pp, int64_t batch,
                        int threads, int64_t *confusion);

#ifdef __cplusplus
}
#endif
#endif
