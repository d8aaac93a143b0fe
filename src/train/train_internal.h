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

/* ---- SCAAT and SGT (scaat.c) ---- */

/* SCAAT's budget map of one image from its input gradient gx (C, H, W, model units): the saliency
 * S = max_c |gx_c / std_c| (the gradient in pixel units; std NULL = 1), min–max normalised to
 * [0, 1] (all 0 when constant), then the mean over the 3 × 3 neighbours inside the image; budget
 * (H, W) = eps_max (1 − S)^gamma. tmp holds H · W floats. */
void sal__scaat_budget(const float *gx, int64_t C, int64_t H, int64_t W, const float *std, float eps_max, float gamma,
                       float *tmp, float *budget);
/* SGT's masked copy of one image x (C, H, W, model units): the round(frac · H · W) pixels of lowest
 * saliency max_c |gx_c / std_c| (ties: the lower index first) get, in every channel, values
 * uniform in [min x, max x] (Philox (seed, "sgtm", item · C · H · W ...)); the others are copied.
 * order holds H · W (value, index) pairs of scratch. Returns the number of pixels masked. */
typedef struct sal__ranked {
  float v;
  int64_t i;
} sal__ranked;
int64_t sal__sgt_mask(const float *gx, const float *x, int64_t C, int64_t H, int64_t W, const float *std, float frac,
                      uint64_t seed, uint64_t item, sal__ranked *order, float *out);

/* The regularised training step's state: an inference plan with input gradients on the training
 * graph (saliency and attack passes), the batch buffers and the saved gradients. */
typedef struct sal__reg sal__reg;
/* For graph g (input `in`, logits `out`, optional `target` input set to zeros in the inference
 * plan) at batch B. */
sal_status sal__reg_new(sal_ctx *ctx, sal_graph *g, const sal_train_opts *o, const char *in, const char *out, int64_t B,
                        sal__reg **out_reg);
void sal__reg_free(sal__reg *r);
/* The combined loss on training plan tp (batch B, parameter gradients): with p = softmax f(x),
 * q = softmax f(x2) and the label-smoothed targets, L = mean_i CE_ls(p_i, y_i) + λ mean_i
 * KL(p_i ‖ q_i). Leaves ∂L/∂θ (through both f(x) and f(x2); x2 held fixed) in tp's parameter
 * gradients for sal_optim_step, the logits of x in r's buffer (sal__reg_logits). The running
 * statistics end as after one training forward of x then one of x2. ce, kl optional. */
sal_status sal__reg_loss(sal__reg *r, sal_plan *tp, const float *x, const float *x2, const int64_t *labels, double *loss,
                         double *ce, double *kl);
/* One SCAAT or SGT step's loss and gradients on batch x (B, C, H, W) with labels[B]: saliency by the
 * inference plan, the adversarial or masked copy, then sal__reg_loss. step (the optimiser's step
 * count) keys the random draws, so a resumed run repeats them. */
sal_status sal__reg_step(sal__reg *r, sal_plan *tp, const float *x, const int64_t *labels, int64_t step, double *loss);
/* (B, K) logits of x from the last sal__reg_loss. */
const float *sal__reg_logits(const sal__reg *r);
/* The copy (adversarial or masked, (B, C, H, W)) of the last sal__reg_step. */
const float *sal__reg_copy(const sal__reg *r);

#endif
