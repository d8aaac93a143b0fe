/* Built-in models: parameter counts and names as torchvision's, activation shapes, torchvision's
 * initialisation, determinism, a resnet_small forward/backward (reference vs default kernels, and
 * the head checked by hand), and spec errors. */
#include <math.h>
#include <string.h>

#include "graph/internal.h"
#include "harness.h"
#include "ops/op.h"

static sal_graph *build(const char *arch, int64_t size, int64_t classes, int64_t cin, int64_t width) {
  sal_model_spec s = sal_model_spec_default(arch);
  if (size) s.image_size = size;
  if (classes) s.num_classes = classes;
  if (cin) s.in_channels = cin;
  s.width = width;
  sal_graph *g = NULL;
  TH_OK(sal_model_build(th_ctx(), &s, &g));
  return g;
}

/* Checks value `name` has shape dims (at batch 1). */
static void check_shape(const sal_graph *g, const char *name, int ndim, const int64_t *dims) {
  sal_shape s, want;
  char a[64] = "?", b[64];
  sal_shape_make(&want, ndim, dims);
  sal_status st = sal_graph_value_shape(g, name, &s);
  if (!st) sal_shape_str(&s, a, sizeof a);
  TH_CHECK(!st && sal_shape_equal(&s, &want), "'%s' has shape %s, want %s", name, a,
           sal_shape_str(&want, b, sizeof b));
}
#define SHAPE(g, name, ...) \
  check_shape(g, name, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

/* Number of parameter tensors (trainable only if trainable_only). */
static int count_params(const sal_graph *g, bool trainable_only) {
  int n = 0;
  for (int i = 0; i < g->n_values; i++)
    n += g->values[i].kind == SAL_VALUE_PARAM && (!trainable_only || g->values[i].trainable);
  return n;
}

static const float *param(sal_graph *g, const char *name, int64_t *numel) {
  sal_tensor v;
  if (sal_graph_param(g, name, &v)) return NULL;
  *numel = sal_tensor_numel(&v);
  return v.data;
}

/* Sample mean and standard deviation of a parameter, in double. */
static void moments(sal_graph *g, const char *name, double *mean, double *sd) {
  int64_t n = 0;
  const float *x = param(g, name, &n);
  double s = 0, s2 = 0;
  for (int64_t i = 0; x && i < n; i++) s += x[i], s2 += (double)x[i] * x[i];
  *mean = n ? s / (double)n : NAN;
  *sd = n ? sqrt(s2 / (double)n - *mean * *mean) : NAN;
}

static bool all_equal(sal_graph *g, const char *name, float v) {
  int64_t n = 0;
  const float *x = param(g, name, &n);
  for (int64_t i = 0; x && i < n; i++)
    if (x[i] != v) return false;
  return x && n > 0;
}

/* Counts and names that must match torchvision's (checked against torchvision's definitions with
 * bench/engine_torch.py --keys: every state_dict key except num_batches_tracked, same order and
 * shapes). all = parameters + BN running statistics. */
static void check_imagenet(const char *arch, int64_t params, int64_t all, int tensors, int trainable) {
  sal_graph *g = build(arch, 0, 0, 0, 0);
  if (!g) return;
  TH_CHECK(sal_graph_param_count(g, true) == params, "%s: %lld trainable parameters, want %lld", arch,
           (long long)sal_graph_param_count(g, true), (long long)params);
  TH_CHECK(sal_graph_param_count(g, false) == all, "%s: %lld parameters with buffers, want %lld", arch,
           (long long)sal_graph_param_count(g, false), (long long)all);
  TH_CHECK(count_params(g, false) == tensors && count_params(g, true) == trainable,
           "%s: %d parameter tensors (%d trainable), want %d (%d)", arch, count_params(g, false),
           count_params(g, true), tensors, trainable);
  TH_CHECK(sal_graph_num_inputs(g) == 1 && strcmp(sal_graph_input_name(g, 0), "input") == 0 &&
               sal_graph_num_outputs(g) == 1 && strcmp(sal_graph_output_name(g, 0), "logits") == 0,
           "%s: input 'input', output 'logits'", arch);
  SHAPE(g, "input", 1, 3, 224, 224);
  SHAPE(g, "logits", 1, 1000);
  if (strcmp(arch, "vgg16") == 0) {
    SHAPE(g, "features.0.weight", 64, 3, 3, 3);
    SHAPE(g, "features.28.bias", 512);
    SHAPE(g, "features.29", 1, 512, 14, 14); /* last ReLU: Grad-CAM's layer */
    SHAPE(g, "features.30", 1, 512, 7, 7);
    SHAPE(g, "flatten", 1, 25088);
    SHAPE(g, "classifier.0.weight", 4096, 25088);
    SHAPE(g, "classifier.6.weight", 1000, 4096);
    SHAPE(g, "classifier.4", 1, 4096);
    TH_CHECK(!sal_graph_has_value(g, "avgpool"), "vgg16 at 224: the 7x7 adaptive pool is not built");
    TH_CHECK(sal_graph_has_value(g, "classifier.2") == (sal__op_find("Dropout") != SAL_OP_COUNT),
             "vgg16: Dropout built exactly when the op exists");
    /* torchvision: conv bias 0, Linear N(0, 0.01^2) and bias 0. 25088 x 4096 samples: the sample
     * sd is within 0.1 % of 0.01; 2 % leaves room for nothing but a wrong scale. */
    double m, sd;
    moments(g, "classifier.0.weight", &m, &sd);
    TH_CHECK(fabs(sd - 0.01) < 2e-4 && fabs(m) < 1e-4, "classifier.0.weight mean %g sd %g, want 0, 0.01", m, sd);
    TH_CHECK(all_equal(g, "classifier.0.bias", 0) && all_equal(g, "features.0.bias", 0), "vgg16 biases 0");
  } else {
    bool r50 = strcmp(arch, "resnet50") == 0;
    int64_t e = r50 ? 4 : 1;
    SHAPE(g, "conv1.weight", 64, 3, 7, 7);
    SHAPE(g, "bn1.running_var", 64);
    SHAPE(g, "maxpool", 1, 64, 56, 56);
    SHAPE(g, "layer1", 1, 64 * e, 56, 56);
    SHAPE(g, "layer2", 1, 128 * e, 28, 28);
    SHAPE(g, "layer3", 1, 256 * e, 14, 14);
    SHAPE(g, "layer4", 1, 512 * e, 7, 7);
    SHAPE(g, "layer4.0", 1, 512 * e, 7, 7);
    SHAPE(g, "layer2.0.downsample.0.weight", 128 * e, 64 * e, 1, 1);
    SHAPE(g, "avgpool", 1, 512 * e, 1, 1);
    SHAPE(g, "flatten", 1, 512 * e);
    SHAPE(g, "fc.weight", 1000, 512 * e);
    SHAPE(g, "fc.bias", 1000);
    if (r50) {
      /* v1.5: the stride sits on the 3x3 conv2, not on the 1x1 conv1. */
      SHAPE(g, "layer2.0.conv1", 1, 128, 56, 56);
      SHAPE(g, "layer2.0.conv2", 1, 128, 28, 28);
      SHAPE(g, "layer1.0.downsample.0.weight", 256, 64, 1, 1); /* width change only */
      SHAPE(g, "layer3.5.bn3.running_mean", 1024);
    } else {
      SHAPE(g, "layer2.0.conv1", 1, 128, 28, 28);
      TH_CHECK(!sal_graph_has_value(g, "layer1.0.downsample.0.weight"), "resnet18: no shortcut conv in layer1");
    }
    /* Kaiming normal, fan_out: conv1 sd sqrt(2 / (64 * 49)); 9408 samples give a sample sd within
     * ~1.5 % (2 standard errors); 5 % catches a fan_in/fan_out or gain mix-up (those are >= 2x). */
    double m, sd, want = sqrt(2.0 / (64 * 49));
    moments(g, "conv1.weight", &m, &sd);
    TH_CHECK(fabs(sd / want - 1) < 0.05 && fabs(m) < 0.1 * want, "conv1.weight mean %g sd %g, want 0, %g", m, sd, want);
    /* Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias; sd = bound/sqrt(3). */
    double bound = 1.0 / sqrt(512.0 * (double)e);
    moments(g, "fc.weight", &m, &sd);
    TH_CHECK(fabs(sd / (bound / sqrt(3.0)) - 1) < 0.02, "fc.weight sd %g, want %g", sd, bound / sqrt(3.0));
    int64_t n = 0;
    const float *w = param(g, "fc.bias", &n);
    float mx = 0;
    for (int64_t i = 0; w && i < n; i++) mx = fmaxf(mx, fabsf(w[i]));
    TH_CHECK(w && mx <= bound && mx > 0.9 * bound, "fc.bias max |b| %g, want just under %g", mx, bound);
    TH_CHECK(all_equal(g, "layer3.1.bn2.weight", 1) && all_equal(g, "layer3.1.bn2.bias", 0) &&
                 all_equal(g, "layer3.1.bn2.running_mean", 0) && all_equal(g, "layer3.1.bn2.running_var", 1),
             "%s: batch-norm initialised to 1, 0, 0, 1", arch);
  }
  sal_graph_free(g);
}

/* Every parameter of a and b identical (same names, shapes, bytes). */
static bool same_params(const sal_graph *a, const sal_graph *b) {
  if (a->n_values != b->n_values) return false;
  for (int i = 0; i < a->n_values; i++) {
    const sal_value *x = &a->values[i], *y = &b->values[i];
    if (strcmp(x->name, y->name) != 0 || x->kind != y->kind) return false;
    if (x->kind == SAL_VALUE_PARAM &&
        (!sal_shape_equal(&x->shape, &y->shape) ||
         memcmp(x->data, y->data, (size_t)sal_shape_numel(&x->shape) * sizeof(float)) != 0))
      return false;
  }
  return true;
}

/* resnet_small forward + backward to the input at batch 2 with reference and with default
 * kernels. Returns the plans' logits and input gradients in the given buffers. */
static void run_small(sal_graph *g, sal_kernels kernels, const sal_tensor *x, float *logits,
                      float *dx, int64_t nl, int64_t nx, bool check_head) {
  sal_ctx *ctx = th_ctx();
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = 2;
  o.kernels = kernels;
  o.grad_inputs = true;
  const char *keep[] = {"layer3", "avgpool", "flatten", "bn1", "conv1"};
  o.keep_values = keep;
  o.n_keep_values = 5;
  sal_plan *p = NULL;
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  if (!p) return;
  TH_OK(sal_plan_set_input(p, "input", x));
  TH_OK(sal_plan_forward(p));
  const sal_tensor *v = NULL, *d = NULL;
  TH_OK(sal_plan_value(p, "logits", &v));
  if (v) memcpy(logits, v->data, (size_t)nl * sizeof(float));
  if (check_head && v) {
    /* The head by hand: avgpool = spatial mean of layer3, logits = fc.weight flatten + fc.bias
     * (Gemm with transB). Sums of <= 256 terms of O(1) values in double vs the kernels' f32:
     * 1e-4 relative to the largest |logit| is ~100x the expected f32 rounding. */
    const sal_tensor *l3 = NULL, *fl = NULL, *bn = NULL, *cv = NULL;
    TH_OK(sal_plan_value(p, "layer3", &l3));
    TH_OK(sal_plan_value(p, "flatten", &fl));
    TH_OK(sal_plan_value(p, "bn1", &bn));
    TH_OK(sal_plan_value(p, "conv1", &cv));
    if (l3 && fl && bn && cv) {
      int64_t c = l3->shape.d[1], hw = l3->shape.d[2] * l3->shape.d[3], k = v->shape.d[1];
      float *pool = sal_alloc(ctx, (size_t)(2 * c) * sizeof(float));
      float *want = sal_alloc(ctx, (size_t)(2 * k) * sizeof(float));
      int64_t nw, nb;
      const float *w = param(g, "fc.weight", &nw), *b = param(g, "fc.bias", &nb);
      double mx = 0;
      for (int64_t i = 0; i < 2 * c; i++) {
        double s = 0;
        for (int64_t j = 0; j < hw; j++) s += l3->data[i * hw + j];
        pool[i] = (float)(s / (double)hw);
      }
      for (int64_t n = 0; n < 2; n++)
        for (int64_t o2 = 0; o2 < k; o2++) {
          double s = b[o2];
          for (int64_t i = 0; i < c; i++) s += (double)w[o2 * c + i] * fl->data[n * c + i];
          want[n * k + o2] = (float)s;
          mx = fmax(mx, fabs(s));
        }
      th_allclose("avgpool = mean(layer3)", fl->data, pool, 2 * c, 1e-5, 1e-6);
      th_allclose("logits = fc(flatten)", v->data, want, 2 * k, 0, 1e-4 * mx);
      /* Batch-norm at initialisation in inference: (x - 0) / sqrt(1 + 1e-5) * 1 + 0. */
      int64_t ncv = sal_tensor_numel(cv);
      float *bnw = sal_alloc(ctx, (size_t)ncv * sizeof(float));
      for (int64_t i = 0; i < ncv; i++) bnw[i] = cv->data[i] / sqrtf(1.0f + 1e-5f);
      th_allclose("bn1 at init", bn->data, bnw, ncv, 1e-5, 1e-6);
      sal_free(bnw);
      sal_free(pool);
      sal_free(want);
    }
  }
  /* Seed: one-hot of sample 0's class 1 and sample 1's class 3, as a saliency method seeds. */
  sal_tensor *seed = NULL;
  TH_OK(sal_tensor_new(ctx, 2, (int64_t[]){2, nl / 2}, &seed));
  if (seed) {
    seed->data[1] = 1.0f;
    seed->data[nl / 2 + 3] = 1.0f;
    TH_OK(sal_plan_backward(p, "logits", seed));
    TH_OK(sal_plan_grad(p, "input", &d));
    if (d) memcpy(dx, d->data, (size_t)nx * sizeof(float));
  }
  sal_tensor_free(seed);
  sal_plan_free(p);
}

int main(void) {
  sal_ctx *ctx = th_ctx();

  const char *const *list = sal_model_list();
  int nlist = 0;
  while (list[nlist]) nlist++;
  TH_CHECK(nlist == 5 && strcmp(list[0], "resnet18") == 0 && strcmp(list[3], "resnet_small") == 0 &&
               strcmp(list[4], "simple_cnn") == 0,
           "model list has 5 entries, got %d", nlist);

  /* torchvision's counts: resnet18 11,689,512; resnet50 25,557,032; vgg16 138,357,544. */
  check_imagenet("resnet18", 11689512, 11699112, 102, 62);
  check_imagenet("resnet50", 25557032, 25610152, 267, 161);
  /* VGG-16 allocates 553 MB of weights and initialises them in ~1 s (much longer with sanitisers). */
  if (!th_quick()) check_imagenet("vgg16", 138357544, 138357544, 32, 32);

  /* resnet_small: defaults (64 px, 10 classes, width 16) and a grayscale, width 8 variant. Counts
   * from the same network written in PyTorch (BasicBlocks [2, 2, 2], widths w, 2w, 4w). */
  sal_model_spec d = sal_model_spec_default("resnet_small");
  TH_CHECK(d.image_size == 64 && d.num_classes == 10 && d.in_channels == 3 && d.width == 0,
           "resnet_small defaults");
  sal_graph *g = build("resnet_small", 0, 0, 0, 0);
  if (g) {
    TH_CHECK(sal_graph_param_count(g, true) == 175258 && sal_graph_param_count(g, false) == 176378,
             "resnet_small: %lld parameters", (long long)sal_graph_param_count(g, true));
    SHAPE(g, "relu", 1, 16, 64, 64);
    SHAPE(g, "layer1", 1, 16, 64, 64);
    SHAPE(g, "layer2.0", 1, 32, 32, 32);
    SHAPE(g, "layer2", 1, 32, 32, 32);
    SHAPE(g, "layer3", 1, 64, 16, 16);
    SHAPE(g, "layer3.0.downsample.1", 1, 64, 16, 16);
    SHAPE(g, "logits", 1, 10);
    TH_CHECK(!sal_graph_has_value(g, "maxpool") && !sal_graph_has_value(g, "layer4"), "resnet_small: no max-pool, 3 stages");
    sal_graph_free(g);
  }
  g = build("resnet_small", 32, 5, 1, 8);
  if (g) {
    TH_CHECK(sal_graph_param_count(g, true) == 44061 && sal_graph_param_count(g, false) == 44621,
             "resnet_small w8: %lld parameters", (long long)sal_graph_param_count(g, true));
    SHAPE(g, "conv1.weight", 8, 1, 3, 3);
    SHAPE(g, "layer3", 1, 32, 8, 8);
    SHAPE(g, "logits", 1, 5);
    sal_graph_free(g);
  }

  /* simple_cnn: the count of the same network in PyTorch (tools/synth_accuracy.py's: 4 blocks of
   * conv 3x3 without bias, BN, ReLU, max-pool; widths w..8w; global max pool; Linear), 98,970
   * trainable + 480 running statistics at width 16; blocks halve the side. */
  g = build("simple_cnn", 0, 0, 0, 0);
  if (g) {
    TH_CHECK(sal_graph_param_count(g, true) == 98970 && sal_graph_param_count(g, false) == 99450,
             "simple_cnn: %lld parameters", (long long)sal_graph_param_count(g, true));
    SHAPE(g, "block1.relu", 1, 16, 64, 64);
    SHAPE(g, "block1", 1, 16, 32, 32);
    SHAPE(g, "block4", 1, 128, 4, 4);
    SHAPE(g, "pool", 1, 128, 1, 1);
    SHAPE(g, "logits", 1, 10);
    sal_graph_free(g);
  }
  g = build("simple_cnn", 16, 5, 1, 8);
  if (g) {
    SHAPE(g, "block1.conv.weight", 8, 1, 3, 3);
    SHAPE(g, "block4", 1, 64, 1, 1);
    SHAPE(g, "logits", 1, 5);
    sal_graph_free(g);
  }

  /* Determinism: same seed → identical weights; another seed → different ones. */
  sal_graph *a = build("resnet_small", 32, 0, 0, 0), *b = build("resnet_small", 32, 0, 0, 0);
  if (a && b) TH_CHECK(same_params(a, b), "same seed gives identical parameters");
  sal_graph_free(b);
  uint64_t seed0 = sal_ctx_seed(ctx);
  sal_ctx_set_seed(ctx, seed0 + 1);
  b = build("resnet_small", 32, 0, 0, 0);
  sal_ctx_set_seed(ctx, seed0);
  if (a && b) TH_CHECK(!same_params(a, b), "another seed gives other parameters");
  sal_graph_free(b);

  /* Forward + backward of resnet_small at batch 2: reference kernels (the oracle) vs the default
   * (oneDNN where supported, possibly fused conv+BN+ReLU). f32 sums of up to 576 products per conv
   * through 15 layers in another order: observed differences are ~5e-7 of the largest magnitude;
   * 1e-4 of it leaves 200x margin, while any wiring or kernel bug shows as O(1). */
  if (a) {
    int64_t s = 32, nx = 2 * 3 * s * s, nl = 2 * 10;
    sal_tensor *x = NULL;
    TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){2, 3, s, s}, &x));
    float *l_ref = sal_calloc(ctx, (size_t)nl, sizeof(float)), *l_def = sal_calloc(ctx, (size_t)nl, sizeof(float));
    float *d_ref = sal_calloc(ctx, (size_t)nx, sizeof(float)), *d_def = sal_calloc(ctx, (size_t)nx, sizeof(float));
    if (x && l_ref && l_def && d_ref && d_def) {
      sal_rng_normal(7, 1, 0, x->data, (size_t)nx);
      run_small(a, SAL_KERNELS_REF, x, l_ref, d_ref, nl, nx, true);
      run_small(a, SAL_KERNELS_AUTO, x, l_def, d_def, nl, nx, false);
      double ml = 0, md = 0;
      bool finite = true;
      for (int64_t i = 0; i < nl; i++) ml = fmax(ml, fabs(l_ref[i])), finite &= isfinite(l_ref[i]);
      for (int64_t i = 0; i < nx; i++) md = fmax(md, fabs(d_ref[i])), finite &= isfinite(d_ref[i]);
      TH_CHECK(finite && ml > 1e-3 && md > 1e-6, "resnet_small: logits (max %g) and input gradient (max %g) finite, non-zero", ml, md);
      TH_CHECK(l_ref[0] != l_ref[nl / 2] || l_ref[1] != l_ref[nl / 2 + 1], "the two images get different logits");
      th_allclose("resnet_small logits: default vs ref", l_def, l_ref, nl, 1e-4, 1e-4 * ml);
      th_allclose("resnet_small d input: default vs ref", d_def, d_ref, nx, 1e-4, 1e-4 * md);
    }
    sal_free(l_ref), sal_free(l_def), sal_free(d_ref), sal_free(d_def);
    sal_tensor_free(x);
  }
  sal_graph_free(a);

  /* Spec errors. */
  sal_model_spec s = sal_model_spec_default("resnet34");
  sal_graph *bad = (sal_graph *)&s; /* must be reset to NULL on failure */
  TH_FAILS(sal_model_build(ctx, &s, &bad), SAL_STATUS_NOT_FOUND,
           "unknown architecture 'resnet34' (known: resnet18, resnet50, vgg16, resnet_small, simple_cnn)");
  TH_CHECK(bad == NULL, "failed build leaves *out NULL");
  s.arch = NULL;
  TH_FAILS(sal_model_build(ctx, &s, &bad), SAL_STATUS_NOT_FOUND, "known: resnet18");
  TH_FAILS(sal_model_build(ctx, NULL, &bad), SAL_STATUS_BAD_INPUT, "NULL spec");
  s = sal_model_spec_default("resnet18");
  s.image_size = 16;
  TH_FAILS(sal_model_build(ctx, &s, &bad), SAL_STATUS_BAD_INPUT, "resnet18: image size 16 is out of range 32..4096");
  s.image_size = 224, s.num_classes = 0;
  TH_FAILS(sal_model_build(ctx, &s, &bad), SAL_STATUS_BAD_INPUT, "num_classes 0");
  s.num_classes = 1000, s.in_channels = -3;
  TH_FAILS(sal_model_build(ctx, &s, &bad), SAL_STATUS_BAD_INPUT, "in_channels -3");
  s = sal_model_spec_default("resnet_small");
  s.image_size = 4;
  TH_FAILS(sal_model_build(ctx, &s, &bad), SAL_STATUS_BAD_INPUT, "image size 4");
  s.image_size = 32, s.width = -1;
  TH_FAILS(sal_model_build(ctx, &s, &bad), SAL_STATUS_BAD_INPUT, "width -1");
  s = sal_model_spec_default("vgg16");
  s.image_size = 128;
  TH_FAILS(sal_model_build(ctx, &s, &bad), SAL_STATUS_BAD_INPUT, "vgg16: image size 128 is out of range 224..");
  s.image_size = 256;
  TH_FAILS(sal_model_build(ctx, &s, &bad), SAL_STATUS_BAD_INPUT, "8x8 features");
  TH_CHECK(bad == NULL, "failed builds leave *out NULL");

  /* Clean failure when any allocation fails: every n-th allocation in turn (SQLite-style), until
   * the build succeeds. ASan reports any leak on the failure paths. */
  sal_model_spec fs = sal_model_spec_default("resnet_small");
  fs.image_size = 8, fs.width = 2;
  int n_fail = 0;
  sal_status st = SAL_STATUS_OUT_OF_MEMORY;
  for (int64_t n = 1; st == SAL_STATUS_OUT_OF_MEMORY && n < 100000; n += th_quick() ? 7 : 1) {
    sal_ctx_fail_alloc_after(ctx, n);
    sal_graph *fg = NULL;
    st = sal_model_build(ctx, &fs, &fg);
    sal_ctx_fail_alloc_after(ctx, 0);
    if (st == SAL_STATUS_OUT_OF_MEMORY) {
      n_fail++;
      if (fg) st = SAL_STATUS_INTERNAL;
    }
    sal_graph_free(fg);
  }
  TH_CHECK(st == SAL_STATUS_OK && n_fail > 10, "allocation faults: %d clean failures then %s", n_fail, sal_status_name(st));
  return th_finish("test_models");
}
