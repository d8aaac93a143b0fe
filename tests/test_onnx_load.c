/* ONNX importer: every fixture under tests/fixtures/onnx/ops (written by tools/make_onnx_fixtures.py
 * from PyTorch exports and onnx.helper models) loads, runs forward and backward at batch 2 (and at
 * the file's batch when fixed) and matches torch's output and input gradient; names survive; every
 * malformed model (committed under bad/, or built here by truncating and corrupting a good file)
 * fails with its specific error and without crashing.
 *
 * Tolerances: the references are torch f32 results; salient computes in f32 with other summation
 * orders (oneDNN, blocked layouts), so values agree to a few ulps of the largest magnitude:
 * max |err| <= 1e-4 * max |ref| for outputs and input gradients. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "salient/onnx.h"

#define OPS_DIR "tests/fixtures/onnx/ops"
#define BAD_DIR "tests/fixtures/onnx/bad"

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  if (b) b[n] = 0;
  if (len) *len = (size_t)n;
  return b;
}

static void write_all(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return;
  fwrite(data, 1, len, f);
  fclose(f);
}

/* max |a - b| <= rtol * max |b| over n values. */
static int close_rel(const char *label, const float *a, const float *b, int64_t n, double rtol) {
  double mx = 0, err = 0;
  int64_t at = 0;
  for (int64_t i = 0; i < n; i++) {
    mx = fmax(mx, fabs(b[i]));
    double e = fabs((double)a[i] - b[i]);
    if (!(e <= err)) err = e, at = i;
  }
  int ok = err <= rtol * mx + 1e-7;
  TH_CHECK(ok, "%s: max error %.3g at %lld (%g vs %g), max |ref| %.3g", label, err, (long long)at, a[at], b[at], mx);
  return ok;
}

/* Runs g at batch b on the first b images of x; compares out/grad (first b images) to refs. */
static void run_case(const char *name, sal_graph *g, const sal_tensor *x, const sal_tensor *y, const sal_tensor *gx,
                     const sal_tensor *w, int64_t b, sal_kernels kern) {
  sal_ctx *ctx = th_ctx();
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = b;
  o.grad_inputs = true;
  o.kernels = kern;
  sal_plan *p = NULL;
  char label[256];
  snprintf(label, sizeof label, "%s batch %lld %s", name, (long long)b, kern == SAL_KERNELS_REF ? "ref" : "auto");
  sal_status st = sal_plan_new(ctx, g, &o, &p);
  TH_CHECK(st == SAL_STATUS_OK, "%s: plan: %s", label, sal_ctx_last_error(ctx));
  if (st) return;
  const char *in = sal_graph_input_name(g, 0), *out = sal_graph_output_name(g, 0);
  int64_t xper = sal_tensor_numel(x) / x->shape.d[0], yper = sal_tensor_numel(y) / y->shape.d[0];
  sal_tensor *xb = NULL, *wb = NULL;
  int64_t xd[SAL_MAX_DIMS], yd[SAL_MAX_DIMS];
  memcpy(xd, x->shape.d, sizeof xd);
  memcpy(yd, y->shape.d, sizeof yd);
  xd[0] = yd[0] = b;
  TH_OK(sal_tensor_wrap(ctx, x->shape.ndim, xd, x->data, &xb));
  TH_OK(sal_tensor_wrap(ctx, y->shape.ndim, yd, w->data, &wb));
  TH_OK(sal_plan_set_input(p, in, xb));
  st = sal_plan_forward(p);
  TH_CHECK(st == SAL_STATUS_OK, "%s: forward: %s", label, sal_ctx_last_error(ctx));
  const sal_tensor *yo = NULL, *go = NULL;
  if (!st && !sal_plan_value(p, out, &yo)) {
    char l2[300];
    snprintf(l2, sizeof l2, "%s output", label);
    TH_CHECK(sal_tensor_numel(yo) == b * yper, "%s: %lld values, want %lld", l2, (long long)sal_tensor_numel(yo),
             (long long)(b * yper));
    if (sal_tensor_numel(yo) == b * yper) close_rel(l2, yo->data, y->data, b * yper, 1e-4);
    st = sal_plan_backward(p, out, wb);
    TH_CHECK(st == SAL_STATUS_OK, "%s: backward: %s", label, sal_ctx_last_error(ctx));
    if (!st && !sal_plan_grad(p, in, &go)) {
      snprintf(l2, sizeof l2, "%s input gradient", label);
      close_rel(l2, go->data, gx->data, b * xper, 1e-4);
    }
  }
  sal_tensor_free(xb);
  sal_tensor_free(wb);
  sal_plan_free(p);
}

static sal_tensor *npy(const char *dir, const char *file) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  sal_tensor *t = NULL;
  TH_OK(sal_npy_read(th_ctx(), path, &t));
  return t;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int test_fixtures(void) {
  sal_ctx *ctx = th_ctx();
  DIR *dir = opendir(OPS_DIR);
  TH_CHECK(dir != NULL, "cannot open %s", OPS_DIR);
  if (!dir) return 0;
  char *names[512];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(dir)) && n < 512)
    if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  closedir(dir);
  qsort(names, (size_t)n, sizeof names[0], cmp_str);
  for (int i = 0; i < n; i++) {
    char d[600], path[700];
    snprintf(d, sizeof d, "%s/%s", OPS_DIR, names[i]);
    snprintf(path, sizeof path, "%s/model.onnx", d);
    sal_graph *g = NULL;
    sal_status st = sal_onnx_load(ctx, path, NULL, &g);
    TH_CHECK(st == SAL_STATUS_OK, "%s: load: %s", names[i], sal_ctx_last_error(ctx));
    if (st) continue;
    /* Intermediate names survive import (saliency methods address them). */
    snprintf(path, sizeof path, "%s/values.txt", d);
    char *vals = read_all(path, NULL);
    int missing = 0;
    for (char *s = vals ? strtok(vals, "\n") : NULL; s; s = strtok(NULL, "\n"))
      if (!sal_graph_has_value(g, s)) {
        missing++;
        fprintf(stderr, "  %s: value '%s' is missing\n", names[i], s);
      }
    TH_CHECK(vals && missing == 0, "%s: %d ONNX value names lost", names[i], missing);
    free(vals);
    /* Weights are trainable, shape constants not: ConvNet has Conv (4,3,3,3)+(4) (torch's
     * exporter folds the eval-mode BatchNormalization into them) and Linear (5,16)+(5). */
    if (strncmp(names[i], "convnet", 7) == 0)
      TH_CHECK(sal_graph_param_count(g, true) == 108 + 4 + 85, "%s: %lld trainable parameters, want 197", names[i],
               (long long)sal_graph_param_count(g, true));
    sal_tensor *x = npy(d, "input.npy"), *y = npy(d, "output.npy"), *gx = npy(d, "grad.npy"), *w = npy(d, "weight.npy");
    if (x && y && gx && w) {
      run_case(names[i], g, x, y, gx, w, 2, SAL_KERNELS_AUTO);
      run_case(names[i], g, x, y, gx, w, 2, SAL_KERNELS_REF);
      snprintf(path, sizeof path, "%s/batch.txt", d);
      char *bt = read_all(path, NULL);
      if (bt) {
        int64_t fb = atoll(bt);
        if (fb >= 1 && fb != 2) run_case(names[i], g, x, y, gx, w, fb, SAL_KERNELS_AUTO);
        free(bt);
      } else {
        run_case(names[i], g, x, y, gx, w, 1, SAL_KERNELS_AUTO);
      }
    }
    sal_tensor_free(x);
    sal_tensor_free(y);
    sal_tensor_free(gx);
    sal_tensor_free(w);
    sal_graph_free(g);
  }
  for (int i = 0; i < n; i++) free(names[i]);
  TH_CHECK(n >= 40, "only %d fixtures in %s", n, OPS_DIR);
  return n;
}

typedef struct bad_case {
  const char *file;
  sal_status want;
  const char *needle;
} bad_case;

static void test_bad_files(void) {
  sal_ctx *ctx = th_ctx();
  const bad_case cases[] = {
      {"dims_2e40", SAL_STATUS_BAD_INPUT, "initialiser 'w' declares dim 0 = 1099511627776"},
      {"missing_init", SAL_STATUS_BAD_INPUT, "node 'Conv_12' (Conv, opset 13): input 'w' is undefined"},
      {"cycle", SAL_STATUS_BAD_INPUT, "cycle"},
      {"unknown_op", SAL_STATUS_UNSUPPORTED, "node 'fancy' (FancyOp, opset 13): op 'FancyOp' is not supported"},
      {"wrong_attr_type", SAL_STATUS_BAD_INPUT, "node 'Conv_12' (Conv, opset 13): attribute 'strides' has type FLOAT, expected INTS"},
      {"opset_8", SAL_STATUS_UNSUPPORTED, "opset 8 of domain ai.onnx is not supported"},
      {"opset_19", SAL_STATUS_UNSUPPORTED, "opset 19 of domain ai.onnx is not supported"},
      {"int8_weight", SAL_STATUS_UNSUPPORTED, "initialiser 'w' has data type INT8"},
      {"external_escape", SAL_STATUS_BAD_INPUT, "location '../escape.bin' escapes the model directory"},
      {"custom_domain", SAL_STATUS_UNSUPPORTED, "domain 'com.example' is not supported"},
      {"dup_names", SAL_STATUS_BAD_INPUT, "duplicate value name 't'"},
      {"no_outputs", SAL_STATUS_BAD_INPUT, "the graph has no outputs"},
      {"short_raw_data", SAL_STATUS_BAD_INPUT, "initialiser 'w' has 8 bytes of raw_data, its dims need 432"},
      {"no_graph", SAL_STATUS_BAD_INPUT, "the model has no graph"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char path[300];
    snprintf(path, sizeof path, "%s/%s.onnx", BAD_DIR, cases[i].file);
    sal_graph *g = (sal_graph *)&g; /* must be reset to NULL on failure */
    TH_FAILS(sal_onnx_load(ctx, path, NULL, &g), cases[i].want, cases[i].needle);
    TH_CHECK(g == NULL, "%s: *out not NULL after failure", cases[i].file);
    /* Every message names the file. */
    TH_CHECK(th_contains(sal_ctx_last_error(ctx), path), "%s: message does not name the file: %s", cases[i].file,
             sal_ctx_last_error(ctx));
  }
}

/* Truncated, corrupted and non-protobuf files built from a good model; limits and missing files. */
static void test_corrupt(void) {
  sal_ctx *ctx = th_ctx();
  const char *good = OPS_DIR "/convnet_o13/model.onnx";
  size_t len = 0;
  char *buf = read_all(good, &len);
  TH_CHECK(buf && len > 100, "cannot read %s", good);
  if (!buf) return;
  char tmp[64];
  snprintf(tmp, sizeof tmp, "/tmp/sal_onnx_test_%d.onnx", (int)getpid());
  sal_graph *g = NULL;
  /* Truncations: at every 1/32 of the file each load must fail cleanly (a cut at a field boundary
   * can still parse, but then the graph is incomplete). */
  for (int k = 1; k < 32; k++) {
    write_all(tmp, buf, len * (size_t)k / 32);
    sal_status st = sal_onnx_load(ctx, tmp, NULL, &g);
    TH_CHECK(st != SAL_STATUS_OK && g == NULL, "truncated to %d/32: loaded (%s)", k, sal_status_name(st));
    sal_graph_free(g);
    g = NULL;
  }
  write_all(tmp, buf, len - 3);
  TH_FAILS(sal_onnx_load(ctx, tmp, NULL, &g), SAL_STATUS_BAD_INPUT, "truncated or not protobuf");
  const char text[] = "this is a text file, not an ONNX model\n";
  write_all(tmp, text, sizeof text - 1);
  TH_FAILS(sal_onnx_load(ctx, tmp, NULL, &g), SAL_STATUS_BAD_INPUT, "not protobuf");
  write_all(tmp, "", 0);
  TH_FAILS(sal_onnx_load(ctx, tmp, NULL, &g), SAL_STATUS_BAD_INPUT, "empty");
  /* Random byte corruption: any status, no crash, no leak (ASan checks the latter two). */
  uint32_t seed = 12345;
  int trials = th_quick() ? 60 : 300;
  for (int t = 0; t < trials; t++) {
    char *c = malloc(len);
    memcpy(c, buf, len);
    for (int j = 0; j < 4; j++) {
      seed = seed * 1664525u + 1013904223u;
      c[(seed >> 8) % len] = (char)(seed >> 3);
    }
    write_all(tmp, c, len);
    free(c);
    if (sal_onnx_load(ctx, tmp, NULL, &g) == SAL_STATUS_OK) sal_graph_free(g);
    g = NULL;
  }
  /* Size limit and missing files. */
  sal_onnx_load_opts lo = {0};
  lo.max_bytes = 100;
  TH_FAILS(sal_onnx_load(ctx, good, &lo, &g), SAL_STATUS_BAD_INPUT, "more than the limit of 100");
  TH_FAILS(sal_onnx_load(ctx, "tests/fixtures/onnx/none.onnx", NULL, &g), SAL_STATUS_NOT_FOUND, "none.onnx");
  /* External data: found relative to external_dir; a wrong directory is NOT_FOUND. */
  lo.max_bytes = 0;
  lo.external_dir = "/nonexistent-dir";
  TH_FAILS(sal_onnx_load(ctx, OPS_DIR "/external_data_o13/model.onnx", &lo, &g), SAL_STATUS_NOT_FOUND, "weights.bin");
  lo.external_dir = OPS_DIR "/external_data_o13";
  TH_OK(sal_onnx_load(ctx, OPS_DIR "/external_data_o13/model.onnx", &lo, &g));
  sal_graph_free(g);
  g = NULL;
  /* An external file smaller than offset + length. */
  lo.external_dir = OPS_DIR "/typed_float_data_o13";
  char ext_path[128];
  snprintf(ext_path, sizeof ext_path, "/tmp/sal_onnx_ext_%d", (int)getpid());
  mkdir(ext_path, 0700);
  char wpath[200];
  snprintf(wpath, sizeof wpath, "%s/weights.bin", ext_path);
  write_all(wpath, "short", 5);
  lo.external_dir = ext_path;
  TH_FAILS(sal_onnx_load(ctx, OPS_DIR "/external_data_o13/model.onnx", &lo, &g), SAL_STATUS_BAD_INPUT,
           "exceeds");
  remove(wpath);
  rmdir(ext_path);
  remove(tmp);
  free(buf);
}

/* Allocation failures at every point of a small import: clean errors, nothing leaks. */
static void test_alloc_failures(void) {
  sal_ctx *ctx = th_ctx();
  const char *path = OPS_DIR "/shuffle_o13/model.onnx";
  int fails = 0;
  bool loaded = false;
  for (int n = 1; n < 5000 && !loaded; n++) {
    sal_ctx_fail_alloc_after(ctx, n);
    sal_graph *g = NULL;
    sal_status st = sal_onnx_load(ctx, path, NULL, &g);
    sal_ctx_fail_alloc_after(ctx, 0);
    if (st == SAL_STATUS_OK) {
      sal_graph_free(g);
      loaded = true;
    } else {
      TH_CHECK(g == NULL && st == SAL_STATUS_OUT_OF_MEMORY, "allocation %d failed: %s (%s)", n, sal_status_name(st),
               sal_ctx_last_error(ctx));
      fails++;
    }
  }
  TH_CHECK(loaded && fails > 10, "allocation failure injection: %d failures, loaded %d", fails, loaded);
}

int main(void) {
  /* oneDNN's "reference implementation chosen" warnings are expected for these tiny shapes. */
  sal_ctx_set_log_level(th_ctx(), SAL_LOG_ERROR);
  test_fixtures();
  test_bad_files();
  test_corrupt();
  test_alloc_failures();
  return th_finish("test_onnx_load");
}
