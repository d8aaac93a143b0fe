/* Layer helpers for the model builders: torchvision-initialised parameters and one-call layers
 * built through the public graph API (sal_graph_add_param / sal_graph_add_node) only. */
#include "models/build.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *sal__mb_name(char *buf, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, SAL__MB_NAME, fmt, ap);
  va_end(ap);
  return buf;
}

/* The RNG stream of a parameter is a hash of its name (FNV-1a, 64 bit): a parameter's initial
 * values depend only on (seed, name), not on the order layers are built in. */
static uint64_t name_stream(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
  return h;
}

sal_status sal__mb_param(sal__mb *b, const char *name, int ndim, const int64_t *dims, sal__init init,
                         float a, bool trainable) {
  /* Added as zeros and filled in place, so that large weights (VGG's 400 MB classifier) are never
   * held twice. */
  sal_status st = sal_graph_add_param(b->g, name, ndim, dims, NULL, trainable);
  if (st) return st;
  sal_tensor v;
  st = sal_graph_param(b->g, name, &v);
  if (st) return st;
  size_t n = (size_t)sal_tensor_numel(&v);
  uint64_t stream = name_stream(name);
  switch (init) {
    case SAL__INIT_ZERO:
      break;
    case SAL__INIT_ONE:
      for (size_t i = 0; i < n; i++) v.data[i] = 1.0f;
      break;
    case SAL__INIT_NORMAL:
      sal_rng_normal(b->seed, stream, 0, v.data, n);
      for (size_t i = 0; i < n; i++) v.data[i] *= a;
      break;
    case SAL__INIT_UNIFORM:
      sal_rng_uniform(b->seed, stream, 0, v.data, n);
      for (size_t i = 0; i < n; i++) v.data[i] = (2.0f * v.data[i] - 1.0f) * a;
      break;
  }
  return SAL_STATUS_OK;
}

static sal_status node(sal__mb *b, const char *op, const char *const *in, int n_in, const char *out,
                       const sal_attr *attrs, int n_attrs) {
  return sal_graph_add_node(b->g, op, out, in, n_in, &out, 1, attrs, n_attrs);
}

sal_status sal__mb_conv(sal__mb *b, const char *in, const char *name, int64_t cin, int64_t cout,
                        int64_t k, int64_t stride, int64_t pad, bool bias) {
  char w[SAL__MB_NAME], bn[SAL__MB_NAME];
  /* kaiming_normal_(mode='fan_out', nonlinearity='relu'): gain sqrt(2), fan_out = cout k k. */
  float std = (float)sqrt(2.0 / (double)(cout * k * k));
  sal_status st = sal__mb_param(b, sal__mb_name(w, "%s.weight", name), 4,
                                (int64_t[]){cout, cin, k, k}, SAL__INIT_NORMAL, std, true);
  if (!st && bias) st = sal__mb_param(b, sal__mb_name(bn, "%s.bias", name), 1, &cout, SAL__INIT_ZERO, 0, true);
  if (st) return st;
  const int64_t ks[2] = {k, k}, strides[2] = {stride, stride}, pads[4] = {pad, pad, pad, pad};
  const sal_attr attrs[] = {sal_attr_ints("kernel_shape", 2, ks), sal_attr_ints("strides", 2, strides),
                            sal_attr_ints("pads", 4, pads)};
  const char *ins[3] = {in, w, bn};
  return node(b, "Conv", ins, bias ? 3 : 2, name, attrs, 3);
}

sal_status sal__mb_bn(sal__mb *b, const char *in, const char *name, int64_t c) {
  char s[SAL__MB_NAME], bias[SAL__MB_NAME], mean[SAL__MB_NAME], var[SAL__MB_NAME];
  sal_status st = sal__mb_param(b, sal__mb_name(s, "%s.weight", name), 1, &c, SAL__INIT_ONE, 0, true);
  if (!st) st = sal__mb_param(b, sal__mb_name(bias, "%s.bias", name), 1, &c, SAL__INIT_ZERO, 0, true);
  if (!st) st = sal__mb_param(b, sal__mb_name(mean, "%s.running_mean", name), 1, &c, SAL__INIT_ZERO, 0, false);
  if (!st) st = sal__mb_param(b, sal__mb_name(var, "%s.running_var", name), 1, &c, SAL__INIT_ONE, 0, false);
  if (st) return st;
  /* PyTorch's eps 1e-5 and momentum 0.1 are ONNX's epsilon 1e-5 and momentum 0.9 (the weight of
   * the old running statistic). */
  const sal_attr attrs[] = {sal_attr_float("epsilon", 1e-5f), sal_attr_float("momentum", 0.9f)};
  return node(b, "BatchNormalization", (const char *[]){in, s, bias, mean, var}, 5, name, attrs, 2);
}

sal_status sal__mb_unary(sal__mb *b, const char *op, const char *in, const char *out) {
  return node(b, op, &in, 1, out, NULL, 0);
}

sal_status sal__mb_relu(sal__mb *b, const char *in, const char *out) {
  return sal__mb_unary(b, "Relu", in, out);
}

sal_status sal__mb_conv_bn(sal__mb *b, const char *in, const char *conv, const char *bn,
                           const char *relu_out, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                           int64_t pad) {
  sal_status st = sal__mb_conv(b, in, conv, cin, cout, k, stride, pad, false);
  if (!st) st = sal__mb_bn(b, conv, bn, cout);
  if (!st && relu_out) st = sal__mb_relu(b, bn, relu_out);
  return st;
}

sal_status sal__mb_maxpool(sal__mb *b, const char *in, const char *out, int64_t k, int64_t stride,
                           int64_t pad) {
  const int64_t ks[2] = {k, k}, strides[2] = {stride, stride}, pads[4] = {pad, pad, pad, pad};
  const sal_attr attrs[] = {sal_attr_ints("kernel_shape", 2, ks), sal_attr_ints("strides", 2, strides),
                            sal_attr_ints("pads", 4, pads)};
  return node(b, "MaxPool", &in, 1, out, attrs, 3);
}

sal_status sal__mb_linear(sal__mb *b, const char *in, const char *name, const char *out, int64_t fin,
                          int64_t fout, float std) {
  char w[SAL__MB_NAME], bias[SAL__MB_NAME];
  /* nn.Linear.reset_parameters: kaiming_uniform_(a = sqrt(5)) gives bound sqrt(6 / ((1 + 5) fin))
   * = 1/sqrt(fin) for the weight; the bias bound is 1/sqrt(fin) too. */
  float bound = (float)(1.0 / sqrt((double)fin));
  sal_status st = sal__mb_param(b, sal__mb_name(w, "%s.weight", name), 2, (int64_t[]){fout, fin},
                                std > 0 ? SAL__INIT_NORMAL : SAL__INIT_UNIFORM, std > 0 ? std : bound, true);
  if (!st)
    st = sal__mb_param(b, sal__mb_name(bias, "%s.bias", name), 1, &fout,
                       std > 0 ? SAL__INIT_ZERO : SAL__INIT_UNIFORM, bound, true);
  if (st) return st;
  const sal_attr attrs[] = {sal_attr_int("transB", 1)};
  return node(b, "Gemm", (const char *[]){in, w, bias}, 3, out, attrs, 1);
}

sal_status sal__mb_flatten(sal__mb *b, const char *in, const char *out) {
  const sal_attr attrs[] = {sal_attr_int("axis", 1)};
  return node(b, "Flatten", &in, 1, out, attrs, 1);
}
