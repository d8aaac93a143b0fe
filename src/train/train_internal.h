/* Internal pieces shared by the training loop (loop.c) and trained-model I/O (model.c): the
 * preprocessing recorded in checkpoints and the evaluation pass. */
#ifndef SAL_TRAIN_INTERNAL_H
#define SAL_TRAIN_INTERNAL_H

#include "salient/train.h"

/* The preprocessing of a trained model: an exact bilinear resize to size × size, then (v - mean) /
 * std per channel (channels 1 or 3). */
sal_preprocess sal__train_preprocess(int64_t size, int channels, const float *mean, const float *std);

/* One pass of inference plan p (bound to B images, input in_name, logits out_name (B, K)) over
 * loader ld's epoch 0; xbuf is a (B, C, H, W) tensor used to pad the last batch. confusion (K × K)
 * is zeroed and filled; *accuracy is the fraction correct. */
sal_status sal__eval_loop(sal_ctx *ctx, sal_plan *p, sal_loader *ld, const char *in_name, const char *out_name,
                          int64_t B, int64_t K, sal_tensor *xbuf, int64_t *confusion, double *accuracy);

#endif
