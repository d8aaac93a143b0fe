/* salient model metadata: how images are preprocessed for a model (input size, per-channel mean and
 * standard deviation) and what its classes are called, with ImageNet defaults; read from and
 * written to a sidecar JSON file next to the model (format in docs/cli.md). Also the one entry
 * point that opens a model from a command-line spec: an ONNX file or a built-in architecture. */
#ifndef SALIENT_META_H
#define SALIENT_META_H

#include "salient/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds checked on every metadata source. */
#define SAL_META_MAX_SIZE 4096      /* input height / width */
#define SAL_META_MAX_CLASSES 1000000

typedef struct sal_model_meta {
  int64_t channels, height, width; /* the model's input (C, H, W); channels is 1 or 3 */
  float mean[3], std[3];           /* x = (pixel / 255 - mean[c]) / std[c]; entries past channels unused */
  char **class_names;              /* n_classes owned strings, or NULL: classes are shown as indices */
  int64_t n_classes;
  char *source;                    /* owned: where the model and this metadata came from, for display */
} sal_model_meta;

/* ImageNet defaults: 3 x 224 x 224, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), no class
 * names, source "defaults". For channels == 1 use sal_model_meta_set_channels. Never fails; *m
 * must be cleared with sal_model_meta_clear. */
void sal_model_meta_defaults(sal_model_meta *m);
/* Sets the channel count; switching to 1 channel (grayscale) makes the ImageNet mean and std the
 * average of the three (0.449, 0.226) when they are still the defaults. */
void sal_model_meta_set_channels(sal_model_meta *m, int64_t channels);
/* Frees the owned strings and resets *m to the defaults. */
void sal_model_meta_clear(sal_model_meta *m);
/* Replaces the class names with a copy of names[0..n) (n = 0: none). OUT_OF_MEMORY leaves *m. */
sal_status sal_model_meta_set_classes(sal_ctx *ctx, sal_model_meta *m, const char *const *names, int64_t n);
/* Replaces the source description. */
sal_status sal_model_meta_set_source(sal_ctx *ctx, sal_model_meta *m, const char *source);

/* The sidecar path of a model file: the path with its extension replaced by ".json"
 * ("nets/resnet.onnx" -> "nets/resnet.json"; no extension: ".json" appended). False if buf is too
 * small. */
bool sal_model_meta_sidecar_path(const char *model_path, char *buf, size_t n);

/* Reads a sidecar JSON file over *m: the keys present replace m's values, absent ones are kept.
 * Validation is strict: an unknown key, a wrong type, a size out of range, a mean or std whose
 * length is not the channel count, a non-positive or non-finite std, an empty class name is
 * BAD_INPUT naming the file and the key; NOT_FOUND when the file is missing. *m is unchanged on
 * error. */
sal_status sal_model_meta_read(sal_ctx *ctx, const char *path, sal_model_meta *m);
/* Writes *m as a sidecar JSON file (through a temporary file renamed over path). */
sal_status sal_model_meta_write(sal_ctx *ctx, const char *path, const sal_model_meta *m);

typedef struct sal_model_open_opts {
  int64_t image_size;    /* built-in architectures: square input side; 0 = the architecture's default */
  const char *meta_path; /* a sidecar to read instead of the one next to the model; NULL = that one */
} sal_model_open_opts;

/* Opens a model from a spec: a path ending in ".onnx" is imported with sal_onnx_load and its
 * sidecar (sal_model_meta_sidecar_path) is read when it exists; a built-in architecture name
 * (sal_model_list: "resnet18", "resnet_small", ...) is built with the context's seed — untrained
 * random weights, which meta->source says; ".safetensors" checkpoints are UNSUPPORTED for now.
 * *meta starts from the ImageNet defaults, takes the input size from the graph's input, then the
 * sidecar; a sidecar disagreeing with the model (input size, number of classes) is BAD_INPUT
 * naming both. On success the caller owns *graph (sal_graph_free) and *meta
 * (sal_model_meta_clear); on error *graph is NULL and *meta holds the defaults. */
sal_status sal_model_open(sal_ctx *ctx, const char *spec, sal_graph **graph, sal_model_meta *meta);
sal_status sal_model_open_ex(sal_ctx *ctx, const char *spec, const sal_model_open_opts *opts, sal_graph **graph,
                             sal_model_meta *meta);

/* What `salient info` reports about a graph. Names are borrowed from the graph. */
typedef struct sal_model_layer {
  const char *name;   /* the activation value */
  const char *op;     /* the op that produces it ("Relu") */
  sal_shape shape;    /* at batch 1: (1, C, H, W) */
} sal_model_layer;

typedef struct sal_model_info {
  int n_nodes;
  int64_t params, trainable_params; /* parameter elements: all (incl. running statistics and shape
                                     * constants) and trainable only */
  int64_t flops;                    /* per image: 2 x the plan's forward multiply-adds at batch 1 */
  int n_ops;                        /* op histogram, most frequent first (ties by name) */
  const char **op_names;
  int *op_counts;
  int n_layers;                     /* 4-D activations in graph order: Grad-CAM / mask candidates */
  sal_model_layer *layers;
} sal_model_info;

/* Fills *info for g (a batch-1 reference plan is built to count FLOPs). Free with
 * sal_model_info_free. */
sal_status sal_model_info_get(sal_ctx *ctx, sal_graph *g, sal_model_info *info);
void sal_model_info_free(sal_model_info *info);

#ifdef __cplusplus
}
#endif
#endif
