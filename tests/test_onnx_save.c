/* ONNX export tests: the built-in models and a graph exercising many ops (in salient's older-opset
 * forms: Clip/Slice/Pad/Split/Dropout attributes, Resize-10, ReduceMean with an axes input) are
 * written with sal_onnx_save, read back with protobuf-c (IR 8, opset 17, symbolic batch, int64
 * shape constants, f32 raw weights), checked by onnx.checker (full_check) when python3-onnx is
 * installed, and re-imported with sal_onnx_load: bit-identical outputs and input gradients. Models
 * exported by PyTorch (tests/fixtures/onnx/models) are imported, re-exported and re-imported too. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "graph/internal.h"
#include "harness.h"
#include "io/atomic.h"
#include "onnx.pb-c.h"


#define PY "/usr/bin/python3"

static bool have_onnx_python(void) {
  static int cached = -1;
  if (cached < 0) cached = system(PY " -c 'import onnx' >/dev/null 2>&1") == 0;
  return cached == 1;
}

/* Runs onnx.checker.check_model(full_check=True) on path: 1 pass, 0 fail, -1 skipped. */
static int onnx_check(const char *path) {
  if (!have_onnx_python()) {
    printf("onnx.checker sub-check SKIPPED for %s: %s cannot import onnx (install python3-onnx)\n", path, PY);
    return -1;
  }
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           PY " -c 'import sys, onnx; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True)' '%s'",
           path);
  return system(cmd) == 0;
}

static Onnx__ModelProto *read_model(const char *path) {
  char *data = NULL;
  size_t n = 0;
  if (sal__read_file(th_ctx(), path, (size_t)1 << 31, &data, &n)) return NULL;
  Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, n, (const uint8_t *)data);
  sal_free(data);
  return m;
}

static const Onnx__TensorProto *find_init(const Onnx__GraphProto *g, const char *name) {
  for (size_t i = 0; i < g->n_initializer; i++)
    if (strcmp(g->initializer[i]->name, name) == 0) return g->initializer[i];
  return NULL;
}

static const Onnx__NodeProto *find_node(const Onnx__GraphProto *g, const char *name) {
  for (size_t i = 0; i < g->n_node; i++)
    if (g->node[i]->name && strcmp(g->node[i]->name, name) == 0) return g->node[i];
  return NULL;
}

static const Onnx__AttributeProto *node_attr(const Onnx__NodeProto *n, const char *name) {
  for (size_t i = 0; n && i < n->n_attribute; i++)
    if (strcmp(n->attribute[i]->name, name) == 0) return n->attribute[i];
  return NULL;
}

/* The int64 initialiser feeding input i of node `node`, as values; count returned (-1: absent or
 * not int64). */
static int i64_input(const Onnx__GraphProto *g, const char *node, size_t i, int64_t *out, int cap) {
  const Onnx__NodeProto *n = find_node(g, node);
  if (!n || i >= n->n_input) return -1;
  const Onnx__TensorProto *t = find_init(g, n->input[i]);
  if (!t || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || !t->has_raw_data) return -1;
  int cnt = (int)(t->raw_data.len / 8);
  for (int k = 0; k < cnt && k < cap; k++) memcpy(&out[k], t->raw_data.data + 8 * k, 8);
  return cnt;
}

/* Header-level checks shared by every exported model. */
static void check_header(const Onnx__ModelProto *m, const sal_graph *g, const char *label) {
  TH_CHECK(m->has_ir_version && m->ir_version == 8, "%s: ir_version %lld", label, (long long)m->ir_version);
  TH_CHECK(m->n_opset_import >= 1 && strcmp(m->opset_import[0]->domain, "") == 0 && m->opset_import[0]->version == 17,
           "%s: default opset import is not 17", label);
  TH_CHECK(m->producer_name && strcmp(m->producer_name, "salient") == 0 && m->producer_version &&
               strcmp(m->producer_version, sal_version()) == 0,
           "%s: producer", label);
  const Onnx__GraphProto *gp = m->graph;
  TH_CHECK(gp && gp->n_input == 1 && strcmp(gp->input[0]->name, sal_graph_input_name(g, 0)) == 0, "%s: input", label);
  if (!gp || gp->n_input != 1) return;
  const Onnx__TensorShapeProto *s = gp->input[0]->type->tensor_type->shape;
  sal_shape want;
  sal_graph_value_shape(g, sal_graph_input_name(g, 0), &want);
  bool ok = s->n_dim == (size_t)want.ndim &&
            s->dim[0]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
            strcmp(s->dim[0]->dim_param, "N") == 0;
  for (size_t d = 1; ok && d < s->n_dim; d++)
    ok = s->dim[d]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && s->dim[d]->dim_value == want.d[d];
  TH_CHECK(ok, "%s: input dims are not (N, fixed...)", label);
  TH_CHECK(gp->n_output == (size_t)sal_graph_num_outputs(g), "%s: %zu outputs", label, gp->n_output);
  for (size_t i = 0; i < gp->n_output; i++) {
    const Onnx__TensorShapeProto *os = gp->output[i]->type->tensor_type->shape;
    TH_CHECK(strcmp(gp->output[i]->name, sal_graph_output_name(g, (int)i)) == 0 && os->n_dim >= 1 &&
                 os->dim[0]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM,
             "%s: output %zu name or symbolic batch", label, i);
  }
  /* Every node keeps its name and its outputs' names. */
  TH_CHECK(gp->n_node == (size_t)sal_graph_num_nodes(g), "%s: %zu nodes for %d", label, gp->n_node,
           sal_graph_num_nodes(g));
}

/* Every trainable f32 parameter is an f32 initialiser with the same bytes. */
static void check_weights(const Onnx__ModelProto *m, sal_graph *g, const char *const *names, const char *label) {
  for (int i = 0; names[i]; i++) {
    const Onnx__TensorProto *t = find_init(m->graph, names[i]);
    sal_tensor v;
    TH_OK(sal_graph_param(g, names[i], &v));
    bool ok = t && t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && t->has_raw_data &&
              t->raw_data.len == (size_t)sal_tensor_numel(&v) * 4 && t->n_dims == (size_t)v.shape.ndim &&
              memcmp(t->raw_data.data, v.data, t->raw_data.len) == 0;
    TH_CHECK(ok, "%s: initialiser '%s' missing or different", label, names[i]);
  }
}

static sal_graph *builtin(const char *arch, int64_t size) {
  sal_model_spec s = sal_model_spec_default(arch);
  if (size) s.image_size = size;
  sal_graph *g = NULL;
  TH_OK(sal_model_build(th_ctx(), &s, &g));
  return g;
}

/* ---- a graph with many ops, several in their pre-opset-13 forms ---- */

static void param(sal_graph *g, const char *name, int ndim, const int64_t *dims, const float *data, bool trainable,
                  uint64_t seed) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= dims[d];
  float *buf = malloc((size_t)n * sizeof(float));
  if (data) memcpy(buf, data, (size_t)n * sizeof(float));
  else {
    sal_rng_normal(seed, 3, 0, buf, (size_t)n);
    for (int64_t i = 0; i < n; i++) buf[i] *= 0.3f;
  }
  TH_OK(sal_graph_add_param(g, name, ndim, dims, buf, trainable));
  free(buf);
}

/* P: a trainable parameter, C: a constant; data NULL = random N(0, 0.3^2); dims in parentheses. */
#define DIMS_(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}
#define P(name, data, dims) param(g, name, DIMS_ dims, data, true, __LINE__)
#define C(name, data, dims) param(g, name, DIMS_ dims, data, false, __LINE__)
#define F(...) ((const float[]){__VA_ARGS__})
#define NODE(op, name, ins, outs, ...)                                                                             \
  do {                                                                                                             \
    const char *in_[] = {UNPAREN ins};                                                                             \
    const char *out_[] = {UNPAREN outs};                                                                           \
    const sal_attr at_[] = {__VA_ARGS__};                                                                          \
    int na_ = (int)(sizeof at_ / sizeof at_[0]) - 1;                                                               \
    TH_OK(sal_graph_add_node(g, op, name, in_, (int)(sizeof in_ / sizeof in_[0]), out_,                            \
                             (int)(sizeof out_ / sizeof out_[0]), at_ + 1, na_));                                  \
  } while (0)
#define UNPAREN(...) __VA_ARGS__
#define NOATTR sal_attr_int("-", 0)

static sal_graph *many_ops(void) {
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(th_ctx(), &g));
  if (!g) return NULL;
  TH_OK(sal_graph_add_input(g, "x", 4, (int64_t[]){-1, 3, 16, 16}));
  P("conv.w", NULL, (8, 3, 3, 3));
  P("conv.b", NULL, (8));
  NODE("Conv", "conv", ("x", "conv.w", "conv.b"), ("conv"), NOATTR, sal_attr_ints("kernel_shape", 2, (int64_t[]){3, 3}),
       sal_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1}));
  P("bn.s", F(1, 1.1f, 0.9f, 1, 1.2f, 0.8f, 1, 1), (8));
  P("bn.b", NULL, (8));
  C("bn.m", NULL, (8));
  C("bn.v", F(1, 2, 0.5f, 1, 1.5f, 1, 0.7f, 1), (8));
  NODE("BatchNormalization", "bn", ("conv", "bn.s", "bn.b", "bn.m", "bn.v"), ("bn"), NOATTR,
       sal_attr_float("epsilon", 1e-5f));
  NODE("Relu", "relu", ("bn"), ("relu"), NOATTR);
  NODE("MaxPool", "mp", ("relu"), ("mp"), NOATTR, sal_attr_ints("kernel_shape", 2, (int64_t[]){2, 2}),
       sal_attr_ints("strides", 2, (int64_t[]){2, 2}));
  NODE("AveragePool", "ap", ("mp"), ("ap"), NOATTR, sal_attr_ints("kernel_shape", 2, (int64_t[]){3, 3}),
       sal_attr_ints("pads", 4, (int64_t[]){1, 1, 1, 1}), sal_attr_int("count_include_pad", 0));
  NODE("Clip", "clip_attr", ("mp"), ("clip_attr"), NOATTR, sal_attr_float("min", -0.5f), sal_attr_float("max", 2.0f));
  TH_OK(sal_graph_add_param(g, "clip.min", 0, NULL, (float[]){0.05f}, false));
  TH_OK(sal_graph_add_param(g, "clip.max", 0, NULL, (float[]){1.5f}, false));
  NODE("Clip", "clip_in", ("ap", "clip.min", "clip.max"), ("clip_in"), NOATTR);
  NODE("Add", "add", ("clip_attr", "clip_in"), ("add"), NOATTR);
  NODE("Sub", "sub", ("add", "ap"), ("sub"), NOATTR);
  P("mul.s", NULL, (1, 8, 1, 1));
  NODE("Mul", "mul", ("sub", "mul.s"), ("mul"), NOATTR);
  C("div.d", F(1, 2, 3, 4, 1.5f, 2.5f, 0.5f, 1), (8, 1, 1));
  NODE("Div", "div", ("mul", "div.d"), ("div"), NOATTR);
  NODE("LeakyRelu", "lrelu", ("div"), ("lrelu"), NOATTR, sal_attr_float("alpha", 0.1f));
  NODE("Sigmoid", "sig", ("lrelu"), ("sig"), NOATTR);
  NODE("Tanh", "tanh", ("div"), ("tanh"), NOATTR);
  NODE("HardSigmoid", "hsig", ("tanh"), ("hsig"), NOATTR, sal_attr_float("alpha", 0.25f));
  NODE("HardSwish", "hswish", ("hsig"), ("hswish"), NOATTR);
  NODE("Concat", "cat", ("sig", "hswish"), ("cat"), NOATTR, sal_attr_int("axis", 1));
  NODE("Split", "split_attr", ("cat"), ("s0", "s1"), NOATTR, sal_attr_int("axis", 1),
       sal_attr_ints("split", 2, (int64_t[]){6, 10}));
  C("split.sizes", F(5, 5), (2));
  NODE("Split", "split_in", ("s1", "split.sizes"), ("t0", "t1"), NOATTR, sal_attr_int("axis", 1));
  NODE("Pad", "pad_attr", ("s0"), ("pad"), NOATTR, sal_attr_ints("pads", 8, (int64_t[]){0, 0, 1, 2, 0, 0, 1, 0}),
       sal_attr_float("value", 0.5f));
  NODE("Slice", "slice_attr", ("pad"), ("sl_attr"), NOATTR, sal_attr_ints("starts", 2, (int64_t[]){1, 2}),
       sal_attr_ints("ends", 2, (int64_t[]){9, 10}), sal_attr_ints("axes", 2, (int64_t[]){2, 3}));
  C("sl.starts", F(0), (1));
  C("sl.ends", F(9.3e18f), (1)); /* INT64_MAX as PyTorch writes "to the end", stored as f32 */
  C("sl.axes", F(1), (1));
  C("sl.steps", F(2), (1));
  NODE("Slice", "slice_in", ("t0", "sl.starts", "sl.ends", "sl.axes", "sl.steps"), ("sl_in"), NOATTR);
  C("up.scales", F(1, 1, 2, 2), (4));
  NODE("Resize", "up", ("t1", "", "up.scales"), ("up"), NOATTR, sal_attr_string("mode", "nearest"));
  C("down.scales", F(1, 1, 0.5f, 0.5f), (4));
  NODE("Resize", "down10", ("up", "down.scales"), ("down"), NOATTR, sal_attr_string("mode", "nearest"));
  C("rm.axes", F(1), (1));
  NODE("ReduceMean", "rm", ("sl_attr", "rm.axes"), ("rm"), NOATTR, sal_attr_int("keepdims", 1));
  NODE("Concat", "cat2", ("sl_attr", "sl_in", "down", "rm"), ("cat2"), NOATTR, sal_attr_int("axis", 1));
  NODE("Transpose", "tr", ("cat2"), ("tr"), NOATTR, sal_attr_ints("perm", 4, (int64_t[]){0, 1, 3, 2}));
  NODE("GlobalAveragePool", "gap", ("tr"), ("gap"), NOATTR);
  C("rs.shape", F(-1, 15), (2));
  NODE("Reshape", "rs", ("gap", "rs.shape"), ("rs"), NOATTR);
  NODE("Dropout", "drop", ("rs"), ("drop"), NOATTR, sal_attr_float("ratio", 0.3f));
  P("fc.w", NULL, (10, 15));
  P("fc.b", NULL, (10));
  NODE("Gemm", "fc", ("drop", "fc.w", "fc.b"), ("fc"), NOATTR, sal_attr_int("transB", 1));
  P("mm.w", NULL, (10, 10));
  NODE("MatMul", "mm", ("fc", "mm.w"), ("mm"), NOATTR);
  NODE("Flatten", "flat", ("tr"), ("flat"), NOATTR, sal_attr_int("axis", 1));
  P("fc2.w", NULL, (10, 960));
  NODE("Gemm", "fc2", ("flat", "fc2.w"), ("fc2"), NOATTR, sal_attr_int("transB", 1), sal_attr_float("alpha", 0.5f));
  NODE("Add", "sum", ("mm", "fc2"), ("sum"), NOATTR);
  NODE("Identity", "logits", ("sum"), ("logits"), NOATTR);
  NODE("Softmax", "probs", ("logits"), ("probs"), NOATTR, sal_attr_int("axis", 1));
  NODE("LogSoftmax", "logp", ("logits"), ("logp"), NOATTR);
  TH_OK(sal_graph_add_output(g, "logits"));
  TH_OK(sal_graph_add_output(g, "probs"));
  TH_OK(sal_graph_add_output(g, "logp"));
  return g;
}

/* The many-ops graph's rewrites are in the file as opset 17 wants them. */
static void check_many_ops_file(const Onnx__ModelProto *m) {
  const Onnx__GraphProto *gp = m->graph;
  int64_t v[16];
  TH_CHECK(i64_input(gp, "rs", 1, v, 16) == 2 && v[0] == -1 && v[1] == 15, "Reshape shape is not int64 (-1, 15)");
  TH_CHECK(i64_input(gp, "split_attr", 1, v, 16) == 2 && v[0] == 6 && v[1] == 10, "Split attribute not an int64 input");
  TH_CHECK(!node_attr(find_node(gp, "split_attr"), "split"), "Split keeps its opset-2 attribute");
  TH_CHECK(i64_input(gp, "split_in", 1, v, 16) == 2 && v[0] == 5, "Split input is not int64");
  TH_CHECK(i64_input(gp, "pad_attr", 1, v, 16) == 8 && v[2] == 1 && v[3] == 2 && v[6] == 1 && v[7] == 0,
           "Pad attribute not int64 input 1");
  const Onnx__NodeProto *pad = find_node(gp, "pad_attr");
  TH_CHECK(pad && pad->n_input == 3 && !node_attr(pad, "pads") && !node_attr(pad, "value"), "Pad value not input 2");
  TH_CHECK(i64_input(gp, "slice_attr", 1, v, 16) == 2 && v[0] == 1 && v[1] == 2, "Slice starts not int64 input");
  TH_CHECK(i64_input(gp, "slice_attr", 3, v, 16) == 2 && v[0] == 2 && v[1] == 3, "Slice axes not int64 input");
  TH_CHECK(i64_input(gp, "slice_in", 2, v, 16) == 1 && v[0] == INT64_MAX, "Slice 'to the end' is not INT64_MAX");
  TH_CHECK(i64_input(gp, "slice_in", 4, v, 16) == 1 && v[0] == 2, "Slice steps not int64");
  const Onnx__NodeProto *clip = find_node(gp, "clip_attr");
  TH_CHECK(clip && clip->n_input == 3 && !node_attr(clip, "min"), "Clip attributes not inputs");
  const Onnx__NodeProto *drop = find_node(gp, "drop");
  TH_CHECK(drop && drop->n_input == 2 && !node_attr(drop, "ratio"), "Dropout ratio not an input");
  const Onnx__NodeProto *rm = find_node(gp, "rm");
  const Onnx__AttributeProto *axes = node_attr(rm, "axes");
  TH_CHECK(rm && rm->n_input == 1 && axes && axes->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS &&
               axes->n_ints == 1 && axes->ints[0] == 1,
           "ReduceMean axes not an ints attribute");
  const Onnx__NodeProto *d10 = find_node(gp, "down10");
  const Onnx__AttributeProto *ct = node_attr(d10, "coordinate_transformation_mode");
  TH_CHECK(d10 && d10->n_input == 3 && d10->input[1][0] == '\0' && ct && ct->s.len == 10 &&
               memcmp(ct->s.data, "asymmetric", 10) == 0,
           "Resize-10 not rewritten to Resize-13 form");
  const Onnx__AttributeProto *alpha = node_attr(find_node(gp, "fc2"), "alpha");
  TH_CHECK(alpha && alpha->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT && alpha->f == 0.5f, "Gemm alpha type");
  const Onnx__AttributeProto *perm = node_attr(find_node(gp, "tr"), "perm");
  TH_CHECK(perm && perm->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS && perm->n_ints == 4, "Transpose perm");
  const Onnx__AttributeProto *mode = node_attr(find_node(gp, "up"), "mode");
  TH_CHECK(mode && mode->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, "Resize mode type");
  /* Parameters read only as shape constants are int64 under their own names, not also f32. */
  const Onnx__TensorProto *rs = find_init(gp, "rs.shape");
  TH_CHECK(rs && rs->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64, "rs.shape is not an int64 initialiser");
  TH_CHECK(!find_init(gp, "rm.axes"), "rm.axes (now an attribute) is still written");
}

/* ---- round trips ---- */

typedef struct run_result {
  int n_out;
  sal_tensor *out[4]; /* copies of the graph outputs */
  sal_tensor *gx;     /* gradient of the first input */
} run_result;

static void result_free(run_result *r) {
  for (int i = 0; i < r->n_out; i++) sal_tensor_free(r->out[i]);
  sal_tensor_free(r->gx);
  memset(r, 0, sizeof *r);
}

/* Forward at batch `batch` on a fixed N(0,1) input, then backward from the first output seeded
 * with fixed N(0,1) values (so every logit contributes to the input gradient). */
static bool run_graph(sal_graph *g, int64_t batch, run_result *r) {
  memset(r, 0, sizeof *r);
  sal_ctx *ctx = th_ctx();
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = batch;
  o.grad_inputs = true;
  sal_plan *p = NULL;
  sal_tensor *x = NULL, *seed = NULL;
  const char *in = sal_graph_input_name(g, 0), *out0 = sal_graph_output_name(g, 0);
  sal_shape xs, ys;
  bool ok = false;
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  if (!p || sal_plan_shape(p, in, &xs) || sal_plan_shape(p, out0, &ys)) goto done;
  TH_OK(sal_tensor_new(ctx, xs.ndim, xs.d, &x));
  TH_OK(sal_tensor_new(ctx, ys.ndim, ys.d, &seed));
  if (!x || !seed) goto done;
  sal_rng_normal(5, 1, 0, x->data, (size_t)sal_tensor_numel(x));
  sal_rng_normal(5, 2, 0, seed->data, (size_t)sal_tensor_numel(seed));
  TH_OK(sal_plan_set_input(p, in, x));
  TH_OK(sal_plan_forward(p));
  r->n_out = sal_graph_num_outputs(g) < 4 ? sal_graph_num_outputs(g) : 4;
  for (int i = 0; i < r->n_out; i++) {
    const sal_tensor *y = NULL;
    TH_OK(sal_plan_value(p, sal_graph_output_name(g, i), &y));
    if (!y) goto done;
    TH_OK(sal_tensor_clone(ctx, y, &r->out[i]));
  }
  TH_OK(sal_plan_backward(p, out0, seed));
  const sal_tensor *gx = NULL;
  TH_OK(sal_plan_grad(p, in, &gx));
  if (gx) TH_OK(sal_tensor_clone(ctx, gx, &r->gx));
  ok = r->gx != NULL;
done:
  sal_tensor_free(x);
  sal_tensor_free(seed);
  sal_plan_free(p);
  return ok;
}

/* The re-imported graph runs the same nodes with the same parameter bytes and attribute values
 * (the opset-17 rewrites only move arguments between attributes and constant inputs), so the plans
 * pick the same kernels in the same order: outputs and input gradients must be bit-identical. */
static void check_same(const run_result *a, const run_result *b, const char *label) {
  TH_CHECK(a->n_out == b->n_out && a->gx && b->gx, "%s: runs differ in outputs", label);
  if (a->n_out != b->n_out || !a->gx || !b->gx) return;
  for (int i = 0; i < a->n_out; i++) {
    bool same = a->out[i] && b->out[i] && sal_shape_equal(&a->out[i]->shape, &b->out[i]->shape) &&
                memcmp(a->out[i]->data, b->out[i]->data, (size_t)sal_tensor_numel(a->out[i]) * sizeof(float)) == 0;
    TH_CHECK(same, "%s: output %d differs after the round trip", label, i);
  }
  bool same = sal_shape_equal(&a->gx->shape, &b->gx->shape) &&
              memcmp(a->gx->data, b->gx->data, (size_t)sal_tensor_numel(a->gx) * sizeof(float)) == 0;
  TH_CHECK(same, "%s: input gradient differs after the round trip", label);
  double gmax = 0;
  for (int64_t i = 0; i < sal_tensor_numel(a->gx); i++) gmax = fmax(gmax, fabs(a->gx->data[i]));
  TH_CHECK(gmax > 0, "%s: the input gradient is all zeros (the comparison would be vacuous)", label);
}

/* Saves g, re-imports it, and compares the two graphs' names, shapes and runs (batch 2, and 1 under
 * sanitisers). */
static void round_trip(sal_graph *g, const char *path, const char *label) {
  sal_graph *h = NULL;
  TH_OK(sal_onnx_load(th_ctx(), path, NULL, &h));
  if (!h) return;
  TH_CHECK(sal_graph_num_nodes(h) == sal_graph_num_nodes(g), "%s: %d nodes re-imported, %d saved", label,
           sal_graph_num_nodes(h), sal_graph_num_nodes(g));
  /* ONNX has no notion of trainable: the importer decides that. Every trainable parameter comes
   * back under its name with the same bytes. */
  for (int v = 0; v < g->n_values; v++) {
    const sal_value *val = &g->values[v];
    if (val->kind != SAL_VALUE_PARAM || !val->trainable) continue;
    sal_tensor t;
    bool same = sal_graph_param(h, val->name, &t) == SAL_STATUS_OK && sal_shape_equal(&t.shape, &val->shape) &&
                memcmp(t.data, val->data, (size_t)sal_shape_numel(&val->shape) * sizeof(float)) == 0;
    TH_CHECK(same, "%s: parameter '%s' not re-imported with the same values", label, val->name);
    if (!same) break;
  }
  for (int i = 0; i < sal_graph_num_outputs(g); i++) {
    const char *name = sal_graph_output_name(g, i);
    sal_shape a, b;
    TH_CHECK(i < sal_graph_num_outputs(h) && strcmp(sal_graph_output_name(h, i), name) == 0 &&
                 !sal_graph_value_shape(g, name, &a) && !sal_graph_value_shape(h, name, &b) && sal_shape_equal(&a, &b),
             "%s: output '%s' not kept", label, name);
  }
  run_result ra, rb;
  int64_t batch = th_quick() ? 1 : 2;
  if (run_graph(g, batch, &ra) && run_graph(h, batch, &rb)) check_same(&ra, &rb, label);
  result_free(&ra);
  result_free(&rb);
  sal_graph_free(h);
}

static void save_and_check(sal_graph *g, const char *file, const char *const *weights, int *checked) {
  char path[600];
  th_tmp_path(path, sizeof path, file);
  TH_OK(sal_onnx_save(th_ctx(), g, path));
  Onnx__ModelProto *m = read_model(path);
  TH_CHECK(m != NULL, "%s does not parse as a ModelProto", path);
  if (m) {
    check_header(m, g, file);
    if (weights) check_weights(m, g, weights, file);
    if (strcmp(file, "many_ops.onnx") == 0) check_many_ops_file(m);
    onnx__model_proto__free_unpacked(m, NULL);
  }
  int c = onnx_check(path);
  if (c >= 0) TH_CHECK(c == 1, "onnx.checker rejects %s", path);
  if (c == 1) (*checked)++;
  round_trip(g, path, file);
}

/* A model exported by PyTorch, imported (its shape arithmetic folded into constants), exported by
 * salient and imported again: the graph salient writes is the graph it read. */
static void reexport(const char *fixture, int *checked) {
  char src[600], file[128];
  snprintf(src, sizeof src, "tests/fixtures/onnx/models/%s/model.onnx", fixture);
  snprintf(file, sizeof file, "%s.onnx", fixture);
  sal_graph *g = NULL;
  TH_OK(sal_onnx_load(th_ctx(), src, NULL, &g));
  if (g) save_and_check(g, file, NULL, checked);
  sal_graph_free(g);
}

/* salient's own losses go to the "ai.salient" domain, declared in opset_import. */
static void test_loss_domain(void) {
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(th_ctx(), &g));
  if (!g) return;
  TH_OK(sal_graph_add_input(g, "x", 2, (int64_t[]){1, 4}));
  TH_OK(sal_graph_add_param(g, "target", 2, (int64_t[]){1, 4}, (float[]){1, 2, 3, 4}, false));
  TH_OK(sal_graph_add_node(g, "MSELoss", "loss", (const char *[]){"x", "target"}, 2, (const char *[]){"loss"}, 1, NULL, 0));
  TH_OK(sal_graph_add_output(g, "loss"));
  char path[600];
  th_tmp_path(path, sizeof path, "loss.onnx");
  TH_OK(sal_onnx_save(th_ctx(), g, path));
  Onnx__ModelProto *m = read_model(path);
  TH_CHECK(m && m->n_opset_import == 2 && strcmp(m->opset_import[1]->domain, "ai.salient") == 0 &&
               m->opset_import[1]->version == 1 && m->graph->n_node == 1 &&
               strcmp(m->graph->node[0]->domain, "ai.salient") == 0,
           "MSELoss not written in the ai.salient domain");
  /* No batch dimension: the input is written fixed. */
  TH_CHECK(m && m->graph->input[0]->type->tensor_type->shape->dim[0]->value_case ==
                    ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE,
           "a fixed first dimension was written symbolic");
  if (m) onnx__model_proto__free_unpacked(m, NULL);
  int c = onnx_check(path);
  if (c >= 0) TH_CHECK(c == 1, "onnx.checker rejects the ai.salient domain file %s", path);
  sal_graph_free(g);
}

/* SQLite-style fault injection: the n-th allocation of an export fails, for every n until the
 * export succeeds; each failure is OUT_OF_MEMORY, leaves no file and leaks nothing (ASan). */
static void test_alloc_failures(void) {
  sal_graph *g = many_ops();
  if (!g) return;
  char path[600];
  th_tmp_path(path, sizeof path, "oom.onnx");
  int n = 1, failures = 0;
  for (; n < 100000; n++) {
    sal_ctx_fail_alloc_after(th_ctx(), n);
    sal_status st = sal_onnx_save(th_ctx(), g, path);
    sal_ctx_fail_alloc_after(th_ctx(), 0);
    if (st == SAL_STATUS_OK) break;
    struct stat sb;
    if (st != SAL_STATUS_OUT_OF_MEMORY || stat(path, &sb) == 0) {
      TH_CHECK(0, "allocation %d failing: %s (%s), file left: %d", n, sal_status_name(st), sal_ctx_last_error(th_ctx()),
               stat(path, &sb) == 0);
      failures++;
      if (failures > 3) break;
    }
  }
  TH_CHECK(n > 10 && n < 100000, "the export never succeeded or made almost no allocations (n = %d)", n);
  printf("fault injection: the export of many_ops makes %d allocations; each failure was clean\n", n - 1);
  sal_graph_free(g);
}

static void test_errors(void) {
  sal_graph *g = builtin("resnet_small", 16);
  if (!g) return;
  TH_FAILS(sal_onnx_save(th_ctx(), g, "/nonexistent-dir/x.onnx"), SAL_STATUS_IO, "/nonexistent-dir/x.onnx");
  TH_FAILS(sal_onnx_save(th_ctx(), NULL, "x.onnx"), SAL_STATUS_BAD_INPUT, "NULL graph");
  /* A shape constant that is not an integer cannot be written as int64. */
  sal_graph *h = NULL;
  TH_OK(sal_graph_new(th_ctx(), &h));
  TH_OK(sal_graph_add_input(h, "x", 2, (int64_t[]){-1, 6}));
  TH_OK(sal_graph_add_param(h, "shape", 1, (int64_t[]){2}, (float[]){-1, 6}, false));
  TH_OK(sal_graph_add_node(h, "Reshape", "rs", (const char *[]){"x", "shape"}, 2, (const char *[]){"y"}, 1, NULL, 0));
  TH_OK(sal_graph_add_output(h, "y"));
  sal_tensor v;
  TH_OK(sal_graph_param(h, "shape", &v));
  v.data[1] = 6.5f;
  char path[600];
  th_tmp_path(path, sizeof path, "bad.onnx");
  TH_FAILS(sal_onnx_save(th_ctx(), h, path), SAL_STATUS_BAD_INPUT, "shape[1] = 6.5 is not an integer");
  struct stat sb;
  TH_CHECK(stat(path, &sb) != 0, "a failed export left %s behind", path);
  sal_graph_free(h);
  sal_graph_free(g);
}

int main(void) {
  int checked = 0;
  sal_ctx_set_log_level(th_ctx(), SAL_LOG_ERROR); /* oneDNN's "reference implementation" warnings */
  sal_graph *g = builtin("resnet_small", 32);
  static const char *const rs_weights[] = {"conv1.weight", "bn1.running_var", "layer3.1.conv2.weight", "fc.bias", NULL};
  if (g) save_and_check(g, "resnet_small.onnx", rs_weights, &checked);
  sal_graph_free(g);
  g = builtin("resnet18", 64);
  static const char *const r18_weights[] = {"conv1.weight", "layer4.0.downsample.0.weight", "fc.weight", NULL};
  if (g) save_and_check(g, "resnet18.onnx", r18_weights, &checked);
  sal_graph_free(g);
  g = many_ops();
  static const char *const mo_weights[] = {"conv.w", "bn.v", "fc2.w", "mul.s", NULL};
  if (g) save_and_check(g, "many_ops.onnx", mo_weights, &checked);
  sal_graph_free(g);
  reexport("shufflenet_v2_x1_0_op13", &checked);
  reexport("mobilenet_v3_small_op13", &checked);
  test_loss_domain();
  test_alloc_failures();
  test_errors();
  printf("onnx.checker passed on %d exported models\n", checked);
  return th_finish("test_onnx_save");
}
