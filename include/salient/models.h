/* Built-in architectures with torchvision's topology (parameter names as torchvision's
 * state_dict keys, so weights exported from PyTorch map one to one), built with the graph API.
 * Weights are initialised as torchvision does (Kaiming-normal conv, BN 1/0, uniform linear),
 * deterministic in the context's seed. */
#ifndef SALIENT_MODELS_H
#define SALIENT_MODELS_H

#include "salient/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sal_model_spec {
  const char *arch;      /* "resnet18", "resnet50", "vgg16", "resnet_small", "simple_cnn" (sal_model_list) */
  int64_t num_classes;   /* 1000 for ImageNet */
  int64_t image_size;    /* square input side, e.g. 224 (64 for resnet_small) */
  int64_t in_channels;   /* 3 (1 for grayscale) */
  int64_t width;         /* resnet_small, simple_cnn: channels of the first stage (default 16); 0 = default */
} sal_model_spec;

sal_model_spec sal_model_spec_default(const char *arch);

/* Builds the model: input "input" (-1, C, S, S), output "logits" (-1, num_classes).
 * Errors: NOT_FOUND for an unknown arch (the message lists the known ones), BAD_INPUT for sizes
 * the architecture cannot take. The caller frees *out with sal_graph_free. */
sal_status sal_model_build(sal_ctx *ctx, const sal_model_spec *spec, sal_graph **out);

/* Names of the built-in architectures, NULL-terminated. */
const char *const *sal_model_list(void);

#ifdef __cplusplus
}
#endif
#endif
