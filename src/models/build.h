/* Internal helpers shared by the model builders (src/models/resnet.c, src/models/vgg.c): named
 * parameters initialised as torchvision does, and one-call layers (conv, batch-norm, ReLU...) that
 * add their parameters and node through the public graph builder only. */
#ifndef SAL_MODELS_BUILD_H
#define SAL_MODELS_BUILD_H

#include "salient/models.h"

/* Longest value name a builder forms ("layer4.2.downsample.1.running_mean" is 35). */
#define SAL__MB_NAME 96

typedef struct sal__mb {
  sal_ctx *ctx;
  sal_graph *g;
  uint64_t seed; /* the context's seed: every parameter's values depend on (seed, its name) */
} sal__mb;

typedef enum sal__init {
  SAL__INIT_ZERO,
  SAL__INIT_ONE,
  SAL__INIT_NORMAL,  /* N(0, a^2) */
  SAL__INIT_UNIFORM  /* U(-a, a) */
} sal__init;

/* Adds parameter `name` (shape dims) filled per init with scale a. */
sal_status sal__mb_param(sal__mb *b, const char *name, int ndim, const int64_t *dims, sal__init init,
                         float a, bool trainable);

/* Conv2d as torchvision's: parameters "<name>.weight" (cout, cin, k, k) with Kaiming-normal
 * (fan_out, ReLU gain: std = sqrt(2 / (cout k k))) and, if bias, "<name>.bias" = 0; square kernel,
 * symmetric padding. Output value `name`: (N, cout, H', W'). */
sal_status sal__mb_conv(sal__mb *b, const char *in, const char *name, int64_t cin, int64_t cout,
                        int64_t k, int64_t stride, int64_t pad, bool bias);
/* BatchNorm2d (eps 1e-5): "<name>.weight" = 1, "<name>.bias" = 0 (trainable), "<name>.running_mean"
 * = 0, "<name>.running_var" = 1 (not trainable). Output value `name`. */
sal_status sal__mb_bn(sal__mb *b, const char *in, const char *name, int64_t c);
sal_status sal__mb_relu(sal__mb *b, const char *in, const char *out);
/* conv (no bias) → batch-norm (→ ReLU named relu_out if relu_out != NULL). */
sal_status sal__mb_conv_bn(sal__mb *b, const char *in, const char *conv, const char *bn,
                           const char *relu_out, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                           int64_t pad);
sal_status sal__mb_maxpool(sal__mb *b, const char *in, const char *out, int64_t k, int64_t stride,
                           int64_t pad);
/* Linear as a Gemm with transB = 1: "<name>.weight" (fout, fin), "<name>.bias" (fout). std > 0:
 * weight N(0, std^2) and bias 0 (torchvision's VGG); std == 0: PyTorch's default Linear
 * initialisation, weight and bias U(-1/sqrt(fin), 1/sqrt(fin)). Output value `out`. */
sal_status sal__mb_linear(sal__mb *b, const char *in, const char *name, const char *out, int64_t fin,
                          int64_t fout, float std);
/* A node with one input and one output and no attributes (GlobalAveragePool, Relu...). */
sal_status sal__mb_unary(sal__mb *b, const char *op, const char *in, const char *out);
/* Flatten (axis 1): (N, C, H, W) → (N, C H W). */
sal_status sal__mb_flatten(sal__mb *b, const char *in, const char *out);

/* snprintf into a SAL__MB_NAME buffer. */
const char *sal__mb_name(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Builders: b->g is an empty graph holding input "input" (N, spec->in_channels, S, S); the spec is
 * validated. Each adds its layers and ends in value "logits". */
sal_status sal__model_resnet18(sal__mb *b, const sal_model_spec *spec);
sal_status sal__model_resnet50(sal__mb *b, const sal_model_spec *spec);
sal_status sal__model_resnet_small(sal__mb *b, const sal_model_spec *spec);
sal_status sal__model_vgg16(sal__mb *b, const sal_model_spec *spec);
sal_status sal__model_simple_cnn(sal__mb *b, const sal_model_spec *spec);

#endif
