/* salient optimisers: SGD (momentum, Nesterov, weight decay), Adam and AdamW over a graph's
 * trainable parameters, with parameter groups (frozen, per-group learning rate and weight decay),
 * global gradient-norm clipping and learning-rate schedules (step, cosine, linear warm-up).
 * Update rules follow PyTorch's torch.optim so that trainings reproduce (docs/training.md). */
#ifndef SALIENT_OPTIM_H
#define SALIENT_OPTIM_H

#include "salient/plan.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sal_optim_kind { SAL_OPTIM_SGD = 0, SAL_OPTIM_ADAM = 1, SAL_OPTIM_ADAMW = 2 } sal_optim_kind;

typedef struct sal_optim_opts {
  sal_optim_kind kind;
  float lr;             /* base learning rate (> 0) */
  float momentum;       /* SGD: 0 = plain SGD */
  float dampening;      /* SGD: PyTorch's dampening (0) */
  bool nesterov;        /* SGD: Nesterov momentum (needs momentum > 0 and dampening 0) */
  float weight_decay;   /* SGD/Adam: L2 added to the gradient; AdamW: decoupled decay */
  float beta1, beta2;   /* Adam/AdamW moments (0.9, 0.999) */
  float eps;            /* Adam/AdamW denominator term (1e-8) */
  float clip_grad_norm; /* > 0: scale all gradients so their global L2 norm is at most this */
} sal_optim_opts;

/* PyTorch's defaults for kind: lr 0.1 (SGD) / 1e-3 (Adam, AdamW), momentum 0, weight decay 0
 * (SGD, Adam) / 1e-2 (AdamW), betas (0.9, 0.999), eps 1e-8, no clipping. */
sal_optim_opts sal_optim_opts_default(sal_optim_kind kind);

/* A parameter group: the trainable parameters whose name starts with prefix ("" = all). Each
 * parameter belongs to the first group that matches; unmatched ones use the options as given. */
typedef struct sal_param_group {
  const char *prefix;
  bool frozen;        /* not updated (and excluded from clipping) */
  float lr_scale;     /* the group's learning rate = schedule lr × lr_scale (0 is read as 1) */
  float weight_decay; /* < 0: the optimiser's; otherwise this group's */
} sal_param_group;

typedef struct sal_optim sal_optim;

/* An optimiser over g's trainable parameters (state allocated now, zero). g is borrowed and must
 * outlive the optimiser. Errors: BAD_INPUT for out-of-range hyper-parameters (named). */
sal_status sal_optim_new(sal_ctx *ctx, sal_graph *g, const sal_optim_opts *opts, const sal_param_group *groups,
                         int n_groups, sal_optim **out);
void sal_optim_free(sal_optim *o);

/* One update from the parameter gradients of the last sal_plan_backward of p (a plan of g created
 * with grad_params), at learning rate lr (e.g. from sal_lr_at), then sal_plan_params_changed(p).
 * A NaN or infinite gradient is a NUMERIC error naming the parameter, and nothing is updated. */
sal_status sal_optim_step(sal_optim *o, sal_plan *p, float lr);
/* The global gradient L2 norm measured by the last step (before clipping). */
double sal_optim_last_grad_norm(const sal_optim *o);
/* Steps taken so far (Adam's bias correction counts them); settable for resuming. */
int64_t sal_optim_steps(const sal_optim *o);
void sal_optim_set_steps(sal_optim *o, int64_t steps);

/* Optimiser state as named tensors, for checkpoints: "<param>.momentum_buffer" (SGD with
 * momentum), "<param>.exp_avg" and "<param>.exp_avg_sq" (Adam, AdamW). The views are borrowed and
 * writable (load a checkpoint by writing into them). */
int sal_optim_num_state(const sal_optim *o);
sal_status sal_optim_state(sal_optim *o, int i, const char **name, sal_tensor *view_out);

/* Learning-rate schedules, evaluated per step (an epoch-based schedule is a step-based one with
 * steps = epochs × steps per epoch). */
typedef enum sal_lr_kind { SAL_LR_CONSTANT = 0, SAL_LR_STEP = 1, SAL_LR_COSINE = 2 } sal_lr_kind;
typedef struct sal_lr_schedule {
  sal_lr_kind kind;
  int64_t step_size;     /* STEP: multiply by gamma every step_size steps */
  float gamma;           /* STEP */
  int64_t total_steps;   /* COSINE: steps from the end of warm-up to eta_min */
  float eta_min;         /* COSINE: final learning rate */
  int64_t warmup_steps;  /* linear warm-up from warmup_start × lr over these steps (0 = none) */
  float warmup_start;    /* warm-up start factor (PyTorch LinearLR's start_factor, e.g. 0.1) */
} sal_lr_schedule;

/* Learning rate at step (0-based) for base rate lr; warm-up multiplies the schedule, which starts
 * after it. Matches torch.optim.lr_scheduler StepLR, CosineAnnealingLR (closed form) and LinearLR
 * chained with SequentialLR. */
float sal_lr_at(const sal_lr_schedule *s, float lr, int64_t step);

#ifdef __cplusplus
}
#endif
#endif
