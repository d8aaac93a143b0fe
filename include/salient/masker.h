/* salient trained masking model (Phang, Park & Geras 2020, "Investigating and Simplifying
 * Masking-based Saliency Methods for Model Interpretability"; METHODS.md §D): a small network that
 * reads a classifier's activations at its last two stages and predicts a saliency mask in one
 * forward pass. Building the masker onto a classifier graph, training it (frozen classifier "FIX"
 * or co-trained "CA", few-shot), checkpoints, and loading a trained masker to attach it to its
 * classifier (explain method `masker`, ONNX export with outputs logits and mask). docs/methods.md
 * and docs/training.md describe the equations and defaults. */
#ifndef SALIENT_MASKER_H
#define SALIENT_MASKER_H

#include "salient/dataset.h"
#include "salient/graph.h"
#include "salient/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest tap (activation) name kept. */
#define SAL_MASKER_NAME 128
/* Channels of each tap's 1x1 projection. */
#define SAL_MASKER_CHANNELS 64

/* ---- architecture (src/models/masker.c) ---- */

/* The two classifier activations the masker reads: `layers` "a,b" when given, else by
 * architecture — simple_cnn "block3","block4" (the last two conv blocks); ResNets the last two
 * stages ("layer3","layer4"; resnet_small "layer2","layer3"); other graphs the deepest 4-D
 * activation at each of the two coarsest resolutions above 1x1. Both must be 4-D activations of
 * g (NOT_FOUND lists the valid ones). */
sal_status sal_masker_taps(sal_ctx *ctx, const sal_graph *g, const char *layers, char taps[2][SAL_MASKER_NAME]);

/* Adds the masker to g, reading taps[0], taps[1] (4-D values of g): per tap a 1x1 conv to 64
 * channels ("masker.tap<i>.conv"), batch-norm ("masker.tap<i>.bn"), ReLU, bilinear resize to
 * (H/4, W/4); concatenation; 3x3 conv to 1 channel with bias ("masker.out", (N,1,H/4,W/4));
 * nearest upsampling x4 ("masker.up"); sigmoid: output "mask" (N,1,H,W), H x W the size given
 * (the sigmoid after the upsampling gives the same values as before it). Parameters (all named "masker.*") are initialised from seed. BAD_INPUT when H or W is
 * not a multiple of 4 or a tap's side does not resize exactly to H/4 x W/4. */
sal_status sal_masker_attach(sal_ctx *ctx, sal_graph *g, const char *const taps[2], int64_t H, int64_t W, uint64_t seed);

/* The masker alone: inputs named taps[0], taps[1] with the classifier's shapes of those values,
 * output "mask" (N,1,H,W), H x W the classifier's input size. */
sal_status sal_masker_build(sal_ctx *ctx, const sal_graph *classifier, const char *const taps[2], uint64_t seed,
                            sal_graph **out);

/* 64-bit FNV-1a over the names and values of every parameter of g not named "masker.*", in name
 * order: identifies the classifier a masker was trained with. */
uint64_t sal_masker_fingerprint(const sal_graph *g);

/* ---- a trained masker (src/models/masker.c) ---- */

typedef struct sal_masker sal_masker;

/* Reads a masker written by sal_masker_train (its "masker.*" tensors and metadata; optimiser
 * state is ignored). BAD_INPUT when the file is not a masker checkpoint. */
sal_status sal_masker_load(sal_ctx *ctx, const char *path, sal_masker **out);
void sal_masker_free(sal_masker *m);
/* The masker's taps, mode ("fix" / "ca") and the fingerprint of the classifier it was trained with. */
const char *sal_masker_tap(const sal_masker *m, int i);
const char *sal_masker_mode_name(const sal_masker *m);
uint64_t sal_masker_classifier_fingerprint(const sal_masker *m);

/* A clone of classifier with the trained masker attached and its weights loaded: outputs "logits"
 * (the classifier's first output) and "mask". BAD_INPUT when the classifier is not the one the
 * masker was trained with (a missing tap, other tap shapes, another fingerprint: the message
 * says which). */
sal_status sal_masker_combine(sal_ctx *ctx, const sal_masker *m, const sal_graph *classifier, sal_graph **out);
/* Only the checks of sal_masker_combine (for early command-line errors). */
sal_status sal_masker_check(sal_ctx *ctx, const sal_masker *m, const sal_graph *classifier);

/* ---- training (src/train/masker.c) ---- */

typedef enum sal_masker_mode {
  SAL_MASKER_FIX = 0, /* the classifier is frozen */
  SAL_MASKER_CA = 1   /* the classifier is co-trained on clean, masked-in and masked-out images */
} sal_masker_mode;

typedef struct sal_masker_train_opts {
  sal_masker_mode mode;   /* FIX */
  const char *layers;     /* "a,b" taps; NULL = automatic (sal_masker_taps) */
  int64_t epochs;         /* (5) */
  int64_t batch;          /* images per step (64); the last short batch of an epoch is dropped */
  int64_t per_class;      /* few-shot: k > 0 trains on k images per class (0 = all) */
  float lambda_in;        /* λ_in (1) */
  float lambda_out;       /* λ_out; 0 = the mode's: 10 FIX, 15 CA */
  float lambda_tv;        /* λ_tv (1e-3) */
  float lr;               /* masker Adam learning rate (1e-3) */
  float weight_decay;     /* masker Adam L2 weight decay (1e-4) */
  float clip_grad;        /* masker gradient-norm clip (10) */
  float cls_lr;           /* CA: classifier SGD learning rate (1e-3) */
  float cls_momentum;     /* CA: classifier SGD momentum (0.9) */
  float skip_masked;      /* CA: probability of skipping the masked-image classifier update (0.5) */
  uint64_t seed;          /* masker weights, shuffling, few-shot selection, CA coin flips (0) */
  int threads;            /* loader threads (0 = 2) */
  const char *out;        /* masker checkpoint, written atomically after every epoch (required) */
  const char *classifier_out; /* CA: the co-trained classifier's checkpoint (required in CA) */
  const char *resume;     /* a masker checkpoint of this run to continue from */
  int64_t stop_after;     /* stop once this many epochs are done (0 = all) */
  bool quiet;             /* no progress lines */
} sal_masker_train_opts;

sal_masker_train_opts sal_masker_train_opts_default(void);

typedef struct sal_masker_train_report {
  int64_t epochs_done, steps;
  int64_t n_train;            /* training images used (after --per-class) */
  double last_loss;           /* mean total loss of the last epoch */
  double last_in, last_out, last_tv; /* its masked-in, masked-out and TV parts */
  double mean_mask;           /* mean mask value over the last epoch */
  double seconds;
} sal_masker_train_report;

/* Trains a masker for classifier (its first input takes images preprocessed by pp, its first
 * output is the logits) on train. classifier_meta (CA only) is the classifier checkpoint's
 * "salient" metadata, rewritten into classifier_out. In FIX mode the classifier's parameters are
 * never written. Errors: BAD_INPUT (options, data, a resume checkpoint of another configuration),
 * NOT_FOUND (taps), and the engine's. */
sal_status sal_masker_train(sal_ctx *ctx, sal_graph *classifier, const char *classifier_meta, const sal_dataset *train,
                            const sal_preprocess *pp, const sal_masker_train_opts *opts, sal_masker_train_report *report);

#ifdef __cplusplus
}
#endif
#endif
