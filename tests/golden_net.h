/* The small CNN of tools/make_golden.py, built with salient's builder API; shared by
 * tests/test_golden.c (PyTorch fixtures) and tests/test_dircheck.c (random-direction checks).
 *
 *   input (N,3,16,16) -> conv1 3x3 pad 1 (+bias) -> bn1 -> relu1 -> pool1 (max 2x2 /2)
 *     -> conv2 3x3 pad 1 (no bias) -> bn2 -> relu2 -> add (+ pool1) -> conv3 1x1 /2 (+bias)
 *     -> relu3 -> gap -> flatten -> fc (Gemm, transB) = logits (N,5)
 *   loss = SoftmaxCrossEntropyLoss(logits, target), target (N) class indices as floats, mean.
 *
 * Parameter names are PyTorch's state_dict names, so fixtures map one-to-one. */
#ifndef SAL_TEST_GOLDEN_NET_H
#define SAL_TEST_GOLDEN_NET_H

#include "salient/salient.h"

#define GN_CLASSES 5

typedef struct gn_param {
  const char *name;
  int ndim;
  int64_t dims[4];
  bool trainable;
} gn_param;

static const gn_param gn_params[] = {
    {"conv1.weight", 4, {8, 3, 3, 3}, true},  {"conv1.bias", 1, {8}, true},
    {"bn1.weight", 1, {8}, true},             {"bn1.bias", 1, {8}, true},
    {"bn1.running_mean", 1, {8}, false},      {"bn1.running_var", 1, {8}, false},
    {"conv2.weight", 4, {8, 8, 3, 3}, true},  {"bn2.weight", 1, {8}, true},
    {"bn2.bias", 1, {8}, true},               {"bn2.running_mean", 1, {8}, false},
    {"bn2.running_var", 1, {8}, false},       {"conv3.weight", 4, {16, 8, 1, 1}, true},
    {"conv3.bias", 1, {16}, true},            {"fc.weight", 2, {GN_CLASSES, 16}, true},
    {"fc.bias", 1, {GN_CLASSES}, true},
};
#define GN_NPARAMS ((int)(sizeof gn_params / sizeof gn_params[0]))

/* ReLU inputs and the max-pool input: the values whose kinks the direction check watches. */
static const char *const gn_kink_values[] = {"bn1_out", "bn2_out", "conv3_out", "relu1_out"};

static inline sal_status gn_node(sal_graph *g, const char *op, const char *name, int n_in,
                                 const char *const *in, const char *out, const sal_attr *a, int na) {
  return sal_graph_add_node(g, op, name, in, n_in, &out, 1, a, na);
}

/* Builds the network with zero parameters (fill them through sal_graph_param). */
static inline sal_status gn_build(sal_ctx *ctx, sal_graph **out) {
  sal_graph *g = NULL;
  sal_status st = sal_graph_new(ctx, &g);
  if (st) return st;
  const int64_t k3[2] = {3, 3}, k1[2] = {1, 1}, k2[2] = {2, 2}, s1[2] = {1, 1}, s2[2] = {2, 2};
  const int64_t pad1[4] = {1, 1, 1, 1}, pad0[4] = {0, 0, 0, 0};
  const sal_attr conv3x3[] = {sal_attr_ints("kernel_shape", 2, k3), sal_attr_ints("pads", 4, pad1),
                              sal_attr_ints("strides", 2, s1)};
  const sal_attr conv1x1s2[] = {sal_attr_ints("kernel_shape", 2, k1), sal_attr_ints("pads", 4, pad0),
                                sal_attr_ints("strides", 2, s2)};
  /* PyTorch's eps 1e-5 and momentum 0.1 are ONNX's epsilon 1e-5 and momentum 0.9 (ONNX weighs
   * the old running statistic by momentum). */
  const sal_attr bn[] = {sal_attr_float("epsilon", 1e-5f), sal_attr_float("momentum", 0.9f)};
  const sal_attr pool[] = {sal_attr_ints("kernel_shape", 2, k2), sal_attr_ints("strides", 2, s2)};
  const sal_attr flat[] = {sal_attr_int("axis", 1)};
  const sal_attr gemm[] = {sal_attr_int("transB", 1)};
  const sal_attr ce[] = {sal_attr_string("reduction", "mean")};

  if ((st = sal_graph_add_input(g, "input", 4, (int64_t[]){-1, 3, 16, 16}))) goto fail;
  if ((st = sal_graph_add_input(g, "target", 1, (int64_t[]){-1}))) goto fail;
  for (int i = 0; i < GN_NPARAMS; i++)
    if ((st = sal_graph_add_param(g, gn_params[i].name, gn_params[i].ndim, gn_params[i].dims, NULL,
                                  gn_params[i].trainable)))
      goto fail;
  if ((st = gn_node(g, "Conv", "conv1", 3, (const char *[]){"input", "conv1.weight", "conv1.bias"}, "conv1_out", conv3x3, 3)) ||
      (st = gn_node(g, "BatchNormalization", "bn1", 5,
                    (const char *[]){"conv1_out", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"},
                    "bn1_out", bn, 2)) ||
      (st = gn_node(g, "Relu", "relu1", 1, (const char *[]){"bn1_out"}, "relu1_out", NULL, 0)) ||
      (st = gn_node(g, "MaxPool", "pool1", 1, (const char *[]){"relu1_out"}, "pool1_out", pool, 2)) ||
      (st = gn_node(g, "Conv", "conv2", 2, (const char *[]){"pool1_out", "conv2.weight"}, "conv2_out", conv3x3, 3)) ||
      (st = gn_node(g, "BatchNormalization", "bn2", 5,
                    (const char *[]){"conv2_out", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"},
                    "bn2_out", bn, 2)) ||
      (st = gn_node(g, "Relu", "relu2", 1, (const char *[]){"bn2_out"}, "relu2_out", NULL, 0)) ||
      (st = gn_node(g, "Add", "add", 2, (const char *[]){"relu2_out", "pool1_out"}, "add_out", NULL, 0)) ||
      (st = gn_node(g, "Conv", "conv3", 3, (const char *[]){"add_out", "conv3.weight", "conv3.bias"}, "conv3_out", conv1x1s2, 3)) ||
      (st = gn_node(g, "Relu", "relu3", 1, (const char *[]){"conv3_out"}, "relu3_out", NULL, 0)) ||
      (st = gn_node(g, "GlobalAveragePool", "gap", 1, (const char *[]){"relu3_out"}, "gap_out", NULL, 0)) ||
      (st = gn_node(g, "Flatten", "flatten", 1, (const char *[]){"gap_out"}, "flat", flat, 1)) ||
      (st = gn_node(g, "Gemm", "fc", 3, (const char *[]){"flat", "fc.weight", "fc.bias"}, "logits", gemm, 1)) ||
      (st = gn_node(g, "SoftmaxCrossEntropyLoss", "ce", 2, (const char *[]){"logits", "target"}, "loss", ce, 1)) ||
      (st = sal_graph_add_output(g, "logits")) || (st = sal_graph_add_output(g, "loss")))
    goto fail;
  *out = g;
  return SAL_STATUS_OK;
fail:
  sal_graph_free(g);
  return st;
}

#endif
