/* Internal pieces shared by the training loop (loop.c), trained-model I/O (model.c), the attacks
 * (attack.c) and SCAAT / SGT (scaat.c): the preprocessing recorded in checkpoints, the evaluation
 * pass, the attack core and the regularised training step. */
#ifndef SAL_TRAIN_INTERNAL_H
#define SAL_TRAIN_INTERNAL_H

#include "salient/attack.h"
#include "salient/train.h"

/* The preprocessing of a trained model: an exact bilinear resize to size × size, then (v - mean) /
 * std per channel (channels 1 or 3). */
sal_preprocess sal__train_preprocess(int64_t size, int channels, const float *mean, const float *std);

/* One pass of inference plan p (bound to B images, input in_name, logits out_name (B, K)) over
 * loader ld's epoch 0; xbuf is a (B, C, H, W) tensor used to pad the last batch. confusion (K × K)
 * is zeroed and filled; *accuracy is the fraction correct. */
sal_status sal__eval_loop(sal_ctx *ctx, sal_plan *p, sal_loader *ld, const char *in_name, const char *out_name,
                          int64_t B, int64_t K, sal_tensor *xbuf, int64_t *confusion, double *accuracy);

/* A model the attack core drives: forward of b images x (b, C, H, W, model input) to logits
 * (b, K); then backward from a logits seed (b, K) of the last forward to the input gradient gx
 * (b, C, H, W). Implemented over a plan (sal_attack_plan, the training loop) and over the saliency
 * runner (sal_attack). */
typedef struct sal__attack_model {
  sal_status (*forward)(void *u, const float *x, int64_t b, float *logits);
  sal_status (*backward)(void *u, int64_t b, const float *seed, float *gx);
  void *u;
  int64_t C, H, W, K;
} sal__attack_model;

/* Checks o against images of N items with HW pixels (eps_map holds N · HW values). */
sal_status sal__attack_check(sal_ctx *ctx, const sal_attack_opts *o, int64_t N, int64_t C, int64_t HW);
/* The one FGSM / PGD loop (docs/training.md, "Attacks"): attacks b images x0 (b, C, H, W) whose
 * first one is image item0 of the caller's set (random starts are keyed by it), writing x' to xa
 * (b, C, H, W; not aliasing x0). labels[b] (NULL = top-1), ref_logits (b, K) = f(x0) when the
 * caller has them (NULL = one forward computes them), eps_map (b, H, W) or NULL (o->eps_map is
 * ignored here: the caller passes the batch's rows). cls[b] and steps[b] as in sal_attack. */
sal_status sal__attack_batch(sal_ctx *ctx, const sal__attack_model *m, const sal_attack_opts *o, int64_t b, int64_t item0,
                             const float *x0, const int64_t *labels, const float *ref_logits, const float *eps_map,
                             float *xa, int64_t *cls, int64_t *steps);
/* A plan as an attack model (u points at a sal__plan_model). */
typedef struct sal__plan_model {
  sal_plan *p;
  const char *in, *out;
} sal__plan_model;
sal_status sal__attack_model_plan(sal_ctx *ctx, sal__plan_model *pm, sal__attack_model *m);

#endif
