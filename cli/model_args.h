/* Shared by the commands that take a MODEL argument (`salient info`, `salient run`): the positional
 * model spec, the preprocessing options that override the sidecar, and opening the model. */
#ifndef SAL_CLI_MODEL_ARGS_H
#define SAL_CLI_MODEL_ARGS_H

#include "cli/cli.h"
#include "salient/meta.h"

typedef struct cli_model_args {
  const char *model;   /* positional: a .onnx path or a built-in architecture name */
  int64_t size;        /* built-ins: input side (0 = the architecture's default) */
  int64_t seed;        /* built-ins: weight seed */
  int64_t threads;     /* 0 = all cores */
  const char *meta;    /* sidecar JSON to use instead of the one next to the model */
  const char *mean, *std; /* "a,b,c" (one value per input channel) */
  const char *classes; /* text file, one class name per line */
  bool no_winograd;    /* direct convolutions only (sal_ctx_set_winograd) */
} cli_model_args;

/* The option-table rows for the fields above (8 rows). */
#define CLI_MODEL_OPTS(a)                                                                                      \
  {"--size", CLI_INT, "built-in models: input side in pixels (default: the architecture's, 64 for resnet_small and simple_cnn, 224 otherwise)", &(a).size}, \
  {"--seed", CLI_INT, "built-in models: seed of the random (untrained) weights (default 1)", &(a).seed},      \
  {"--threads", CLI_INT, "worker threads (default 0 = all cores)", &(a).threads},                              \
  {"--meta", CLI_STRING, "preprocessing sidecar JSON (default: MODEL with .json for its extension, if present)", &(a).meta}, \
  {"--mean", CLI_STRING, "per-channel mean, e.g. 0.485,0.456,0.406 (default: sidecar, else ImageNet)", &(a).mean}, \
  {"--std", CLI_STRING, "per-channel std, e.g. 0.229,0.224,0.225 (default: sidecar, else ImageNet)", &(a).std}, \
  {"--classes", CLI_STRING, "text file with one class name per line (default: sidecar, else indices)", &(a).classes}, \
  {"--no-winograd", CLI_FLAG, "run every convolution by the direct algorithm, as PyTorch's CPU path does (default off: 3x3 convolutions may run by Winograd, docs/performance.md)", &(a).no_winograd}

/* Takes the single positional argument out of argv (options given as "--opt value" keep their
 * value), then runs cli_parse on the rest. Returns like cli_parse (0, 1 = help shown, 2 = usage
 * error); a missing or second positional is a usage error. */
int cli_parse_with_model(int argc, char **argv, const char *usage_line, const cli_opt *opts, int n_opts,
                         const char **model);

/* Creates the context and opens a->model with its metadata, then applies --mean/--std/--classes.
 * Returns 0, or 1 after printing the error; either way the caller frees *ctx (may be NULL), *g and
 * *meta. */
int cli_model_open(const cli_model_args *a, sal_ctx **ctx, sal_graph **g, sal_model_meta *meta);
/* The image classifier's dimensions: its first input (N, C, H, W) and first output (N, K). Returns
 * 0, or 1 after printing "salient <cmd>: the model must map ..." when g is not such a model. */
int cli_model_dims(const char *cmd, const sal_graph *g, int64_t *C, int64_t *H, int64_t *W, int64_t *K);

#endif
