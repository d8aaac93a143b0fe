/* salient attacks: FGSM (Goodfellow, Shlens & Szegedy 2015) and PGD (Madry et al. 2018) under an
 * L∞ budget in pixel units — a scalar ε or a per-pixel budget map ε(p) — maximising the
 * cross-entropy of a class or KL(softmax f(x) ‖ softmax f(x')). One implementation serves a
 * standalone graph (detection, attack_sensitivity) and an existing plan (SCAAT inside the training
 * loop). Definitions: docs/training.md, "Attacks". */
#ifndef SALIENT_ATTACK_H
#define SALIENT_ATTACK_H

#include "salient/explain.h"
#include "salient/plan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the attack ascends. */
typedef enum sal_attack_loss {
  SAL_ATTACK_CE = 0, /* CE(f(x'), c): c the given label, or the top-1 of x (untargeted) */
  SAL_ATTACK_KL = 1  /* KL(softmax f(x) ‖ softmax f(x')), x the clean image (TRADES, SCAAT) */
} sal_attack_loss;

/* The model input is x = (pixel − mean) / std per channel; budgets, steps and clamping are in
 * pixel units (pixels in [0, 1]). Every step is x' ← Π(x' + step_size · sign(∇ loss)), Π the
 * projection onto |pixel' − pixel| <= ε(p) and (with clamp) onto [0, 1]. */
typedef struct sal_attack_opts {
  float eps;          /* L∞ radius in pixel units (2/255) */
  const float *eps_map; /* (N, H, W) per-pixel radii in pixel units, shared by the channels,
                         * replacing eps; NULL = eps everywhere. A 0 keeps that pixel fixed. */
  int64_t steps;      /* sign-gradient ascent steps (10); FGSM is 1 step of step_size = eps */
  float step_size;    /* pixel units per step (eps / 4: 10 steps can cross the ball 2.5 times) */
  bool random_start;  /* start uniform in the budget box (false) */
  uint64_t seed;      /* random start: Philox (seed, "atck", image index) — the same start for an
                       * image whatever the batching */
  sal_attack_loss loss; /* (CE). KL's gradient is exactly 0 at x' = x: without random_start the
                         * KL attack starts from x + 0.001 · N(0, 1) per pixel value (TRADES'
                         * start), clipped to the budget */
  bool keep_class;    /* a step after which the top-1 is no longer c is undone and ends that
                       * image's attack (false) */
  const float *mean;  /* C values; NULL = 0 (the model input is in pixel units) */
  const float *std;   /* C values; NULL = 1 */
  bool clamp;         /* keep pixels within [0, 1] (true); a pixel of x already outside may not move
                       * further out */
  int64_t max_memory; /* bytes per pass of sal_attack's batches (SAL_EXPLAIN_DEFAULT_MEMORY) */
} sal_attack_opts;

/* PGD defaults: ε 2/255, 10 steps of ε/4, CE, no random start, clamp. */
sal_attack_opts sal_attack_opts_default(void);
/* FGSM: one step of exactly eps (steps 1, step_size eps, no random start), CE, clamp. */
sal_attack_opts sal_attack_opts_fgsm(float eps);

/* Attacks images (N, C, H, W) (preprocessed) of model g (first input; output "logits" if g has it,
 * else the first output, (N, K)) and writes x' to *adv (N, C, H, W; caller frees). labels[N]
 * (optional) are the classes of the CE loss; NULL = each image's top-1. cls[N] (optional) receives
 * the class attacked (CE) or the clean top-1 (KL); steps[N] (optional) the steps kept. g is not
 * modified. BAD_INPUT for options out of range (eps, a map value or step_size negative or not
 * finite, steps outside 0..100000, std <= 0), images that do not fit g, labels outside 0..K-1. */
sal_status sal_attack(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const int64_t *labels,
                      const sal_attack_opts *o, sal_tensor **adv, int64_t *cls, int64_t *steps);

/* The same on an existing plan p bound to N = images' batch, created with grad_inputs; in and out
 * name its input and logits. adv (N, C, H, W) is written (it may not alias images). The plan runs
 * in its own mode (a training plan: batch statistics, and running statistics updated by every
 * forward — the caller saves them when that matters). */
sal_status sal_attack_plan(sal_ctx *ctx, sal_plan *p, const char *in, const char *out, const sal_tensor *images,
                           const int64_t *labels, const sal_attack_opts *o, sal_tensor *adv, int64_t *cls,
                           int64_t *steps);

#ifdef __cplusplus
}
#endif
#endif
