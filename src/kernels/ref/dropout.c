/* Reference kernels for Dropout. Inference: y = x, mask = 1. Training (ONNX): y = x * mask / (1 -
 * ratio) with mask_e = [u_e >= ratio], u drawn by sal__dropout_uniform from (seed, node, pass,
 * element), so each element is kept with probability 1 - ratio. Backward recomputes the same
 * mask from the same counters: dx = dy * mask / (1 - ratio); the mask output has no gradient. */
#include "graph/internal.h"
#include "kernels/ref/util.h"
#include "ops/dropout.h"

#include <string.h>

/* Uniform draws are made in chunks on the stack: no allocation, and each chunk is independent. */
#define CHUNK 1024

static bool dropping(const sal_kctx *k, float ratio) { return k->training && ratio > 0.0f; }

static sal_status check_node(sal_kctx *k) {
  if (k->node_index > SAL_DROPOUT_MAX_NODE)
    return sal__op_error(k->ctx, k->node, SAL_STATUS_UNSUPPORTED,
                         "dropout masks support node indices up to %d, this node is %d", SAL_DROPOUT_MAX_NODE,
                         k->node_index);
  return SAL_STATUS_OK;
}

static sal_status dropout_forward(sal_kctx *k) {
  // x, y, mask: any shape, same numel
  float ratio;
  sal_status st = sal__dropout_ratio(k->ctx, k->graph, k->node, &ratio);
  if (st) return st;
  const float *x = k->in[0]->data;
  float *y = k->out[0]->data;
  float *mask = k->n_out > 1 ? k->out[1]->data : NULL;
  int64_t n = sal_tensor_numel(k->in[0]);
  if (!dropping(k, ratio)) {
    memcpy(y, x, (size_t)n * sizeof(float));
    if (mask)
      for (int64_t i = 0; i < n; i++) mask[i] = 1.0f;
    return SAL_STATUS_OK;
  }
  if ((st = check_node(k))) return st;
  float scale = 1.0f / (1.0f - ratio);
  int64_t nchunks = (n + CHUNK - 1) / CHUNK;
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t c = 0; c < nchunks; c++) {
    float u[CHUNK];
    int64_t first = c * CHUNK, len = n - first < CHUNK ? n - first : CHUNK;
    sal__dropout_uniform(k->seed, k->node_index, k->pass, first, u, (size_t)len);
    for (int64_t j = 0; j < len; j++) {
      bool keep = u[j] >= ratio;
      y[first + j] = keep ? x[first + j] * scale : 0.0f;
      if (mask) mask[first + j] = keep ? 1.0f : 0.0f;
    }
  }
  return SAL_STATUS_OK;
}

static sal_status dropout_backward(sal_kctx *k) {
  if (!k->din[0]) return SAL_STATUS_OK;
  float ratio;
  sal_status st = sal__dropout_ratio(k->ctx, k->graph, k->node, &ratio);
  if (st) return st;
  if (!dropping(k, ratio)) {
    sal__ref_accumulate(k->din[0], k->dout[0], k->din_accum[0]);
    return SAL_STATUS_OK;
  }
  if ((st = check_node(k))) return st;
  sal__grad_prepare(k, 0);
  if (!k->dout[0]) return SAL_STATUS_OK;
  const float *dy = k->dout[0]->data;
  float *dx = k->din[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  float scale = 1.0f / (1.0f - ratio);
  int64_t nchunks = (n + CHUNK - 1) / CHUNK;
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t c = 0; c < nchunks; c++) {
    float u[CHUNK];
    int64_t first = c * CHUNK, len = n - first < CHUNK ? n - first : CHUNK;
    sal__dropout_uniform(k->seed, k->node_index, k->pass, first, u, (size_t)len);
    for (int64_t j = 0; j < len; j++)
      if (u[j] >= ratio) dx[first + j] += dy[first + j] * scale;
  }
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_dropout = {.name = "ref", .forward = dropout_forward, .backward = dropout_backward};
