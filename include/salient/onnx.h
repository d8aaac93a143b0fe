/* salient ONNX import and export: models exported from PyTorch (torch.onnx, opsets 9–18) become
 * salient graphs that run forward and backward; any salient graph (including one trained in
 * salient) can be written back as an ONNX file. The supported ops × opsets are in docs/formats.md. */
#ifndef SALIENT_ONNX_H
#define SALIENT_ONNX_H

#include "salient/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Import options. A zero-initialised struct (or NULL) gives the defaults. */
typedef struct sal_onnx_load_opts {
  const char *external_dir; /* where external-data files live; NULL = the model file's directory.
                             * Locations that are absolute or contain ".." are refused. */
  int64_t max_bytes;        /* refuse model files (and each external-data file) larger than this;
                             * 0 = 4 GiB */
} sal_onnx_load_opts;

/* Reads an ONNX model into a new graph (free with sal_graph_free). The first graph input that is
 * not an initialiser becomes the graph input (a symbolic or fixed first dimension is the batch);
 * graph outputs keep their ONNX names; every intermediate value keeps its ONNX name. Shape
 * arithmetic exporters emit (Shape, Gather, Unsqueeze, Concat, … feeding Reshape) is folded into
 * constants, keeping the batch symbolic; a file with a fixed batch also runs at other batches.
 * Float initialisers in weight slots (Conv, Gemm, MatMul, BatchNormalization scale and bias) are
 * trainable parameters; other constants are not. On failure *out is NULL and
 * nothing leaks. Errors name the file and, for a node, its name, op type and the model's opset:
 * BAD_INPUT (not protobuf, truncated, missing initialiser, cycle, bad attribute type, absurd dims),
 * UNSUPPORTED (an op, opset or dtype salient does not implement), NOT_FOUND (missing file). */
sal_status sal_onnx_load(sal_ctx *ctx, const char *path, const sal_onnx_load_opts *opts, sal_graph **out);

/* Writes g as an ONNX model (IR version 8, default-domain opset 17) through a temporary file
 * renamed over path. The batch dimension is written symbolic ("N"). Parameters become initialisers
 * (raw_data, f32). The file passes onnx.checker. */
sal_status sal_onnx_save(sal_ctx *ctx, const sal_graph *g, const char *path);

#ifdef __cplusplus
}
#endif
#endif
