/* Model metadata tests: ImageNet defaults, the sidecar path convention, sidecar JSON read (every
 * key, partial files) and strict validation errors naming the file and the key, write → read round
 * trips, and sal_model_open on built-in names, checkpoints and unknown specs. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "salient/meta.h"

static void write_text(const char *path, const char *text) { th_write_file(path, text, strlen(text)); }

static void test_defaults(void) {
  sal_model_meta m;
  sal_model_meta_defaults(&m);
  TH_CHECK(m.channels == 3 && m.height == 224 && m.width == 224, "default size");
  TH_CHECK(m.mean[0] == 0.485f && m.mean[1] == 0.456f && m.mean[2] == 0.406f, "default mean");
  TH_CHECK(m.std[0] == 0.229f && m.std[1] == 0.224f && m.std[2] == 0.225f, "default std");
  TH_CHECK(m.n_classes == 0 && !m.class_names, "no class names by default");
  sal_model_meta_set_channels(&m, 1);
  TH_CHECK(m.channels == 1 && m.mean[0] == 0.449f && m.std[0] == 0.226f, "grayscale defaults");
  sal_model_meta_clear(&m);
}

static void test_sidecar_path(void) {
  char b[256];
  TH_CHECK(sal_model_meta_sidecar_path("nets/resnet.onnx", b, sizeof b) && strcmp(b, "nets/resnet.json") == 0, "%s", b);
  TH_CHECK(sal_model_meta_sidecar_path("a.b/model", b, sizeof b) && strcmp(b, "a.b/model.json") == 0, "%s", b);
  TH_CHECK(sal_model_meta_sidecar_path("dir/.hidden", b, sizeof b) && strcmp(b, "dir/.hidden.json") == 0, "%s", b);
  TH_CHECK(!sal_model_meta_sidecar_path("model.onnx", b, 5), "a too small buffer is refused");
}

static void test_read(void) {
  char path[600];
  th_tmp_path(path, sizeof path, "m.json");
  write_text(path, "{\n  \"input_size\": [3, 32, 48],\n  \"mean\": [0.5, 0.25, 0.125],\n  \"std\": [0.5, 0.5, 2],\n"
                   "  \"classes\": [\"cat\", \"dog\"],\n  \"description\": \"toy\"\n}\n");
  sal_model_meta m;
  sal_model_meta_defaults(&m);
  TH_OK(sal_model_meta_read(th_ctx(), path, &m));
  TH_CHECK(m.channels == 3 && m.height == 32 && m.width == 48, "size read");
  TH_CHECK(m.mean[1] == 0.25f && m.std[2] == 2.0f, "mean/std read");
  TH_CHECK(m.n_classes == 2 && strcmp(m.class_names[1], "dog") == 0, "classes read");
  TH_CHECK(m.source && strcmp(m.source, "toy") == 0, "description read");

  /* A partial file keeps the other values; a 1-channel file takes one mean and one std. */
  write_text(path, "{\"input_size\": [1, 28, 28], \"mean\": [0.1307], \"std\": [0.3081]}");
  TH_OK(sal_model_meta_read(th_ctx(), path, &m));
  TH_CHECK(m.channels == 1 && m.height == 28 && m.mean[0] == 0.1307f && m.std[0] == 0.3081f, "grayscale sidecar");
  TH_CHECK(m.n_classes == 2, "classes kept from before");

  /* Round trip through the writer. */
  char out[600];
  th_tmp_path(out, sizeof out, "w.json");
  TH_OK(sal_model_meta_write(th_ctx(), out, &m));
  sal_model_meta r;
  sal_model_meta_defaults(&r);
  TH_OK(sal_model_meta_read(th_ctx(), out, &r));
  TH_CHECK(r.channels == 1 && r.height == 28 && r.width == 28 && r.mean[0] == m.mean[0] && r.std[0] == m.std[0] &&
               r.n_classes == 2 && strcmp(r.class_names[0], "cat") == 0 && strcmp(r.source, "toy") == 0,
           "write/read round trip");
  sal_model_meta_clear(&r);
  sal_model_meta_defaults(&r);
  TH_OK(sal_model_meta_write(th_ctx(), out, &r));
  char *text = NULL;
  size_t n = 0;
  FILE *f = fopen(out, "rb");
  if (f) {
    text = calloc(1, 4096);
    n = fread(text, 1, 4095, f);
    fclose(f);
  }
  TH_CHECK(text && n > 0 && strstr(text, "0.485") && !strstr(text, "0.48500"), "floats written shortest: %s", text ? text : "");
  free(text);
  sal_model_meta_clear(&r);
  sal_model_meta_clear(&m);
}

static void test_read_errors(void) {
  static const struct {
    const char *json, *needle;
  } cases[] = {
      {"{\"inputsize\": [3, 8, 8]}", "key \"inputsize\": unknown key"},
      {"{\"mean\": [0.5, 0.5]}", "key \"mean\": has 2 values for 3 input channels"},
      {"{\"std\": [0.5, 0, 0.5]}", "key \"std\": entries must be positive"},
      {"{\"std\": \"x\"}", "key \"std\": must be an array"},
      {"{\"mean\": [0.5, \"a\", 0.5]}", "key \"mean\": holds a non-number"},
      {"{\"input_size\": [3, 8]}", "key \"input_size\": must have 3 numbers"},
      {"{\"input_size\": [2, 8, 8]}", "channels (first entry) must be 1 or 3"},
      {"{\"input_size\": [3, 8.5, 8]}", "whole numbers"},
      {"{\"input_size\": [3, 0, 8]}", "whole numbers"},
      {"{\"classes\": [\"a\", 3]}", "key \"classes\": entries must be non-empty strings"},
      {"{\"classes\": []}", "key \"classes\": must list"},
      {"{\"classes\": [\"a\", \"\"]}", "non-empty strings"},
      {"{\"description\": 4}", "key \"description\": must be a string"},
      {"{\"mean\": [0.5, 0.5, 0.5], \"mean\": [0.5, 0.5, 0.5]}", "key \"mean\": appears twice"},
      {"[1, 2]", "the top level must be a JSON object"},
      {"{\"mean\": [0.5, 0.5, 0.5]", "not valid JSON"},
      {"{} {}", "text after the JSON object"},
      {"", "not valid JSON"},
  };
  char path[600];
  th_tmp_path(path, sizeof path, "bad.json");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_text(path, cases[i].json);
    sal_model_meta m;
    sal_model_meta_defaults(&m);
    TH_FAILS(sal_model_meta_read(th_ctx(), path, &m), SAL_STATUS_BAD_INPUT, cases[i].needle);
    TH_CHECK(th_contains(sal_ctx_last_error(th_ctx()), path), "error does not name the file: %s",
             sal_ctx_last_error(th_ctx()));
    TH_CHECK(m.channels == 3 && m.mean[0] == 0.485f && m.n_classes == 0, "a failed read changed the metadata");
    sal_model_meta_clear(&m);
  }
  sal_model_meta m;
  sal_model_meta_defaults(&m);
  TH_FAILS(sal_model_meta_read(th_ctx(), "/nonexistent/x.json", &m), SAL_STATUS_NOT_FOUND, "/nonexistent/x.json");
  sal_model_meta_clear(&m);
}

/* Fault injection: every allocation of a sidecar read fails in turn; each failure is reported,
 * leaves the metadata as it was and leaks nothing (ASan). */
static void test_alloc_failures(void) {
  char path[600];
  th_tmp_path(path, sizeof path, "oom.json");
  write_text(path, "{\"input_size\": [3, 8, 8], \"classes\": [\"a\", \"b\", \"c\"], \"description\": \"d\"}");
  int n = 1;
  for (; n < 1000; n++) {
    sal_model_meta m;
    sal_model_meta_defaults(&m);
    sal_ctx_fail_alloc_after(th_ctx(), n);
    sal_status st = sal_model_meta_read(th_ctx(), path, &m);
    sal_ctx_fail_alloc_after(th_ctx(), 0);
    bool ok = st == SAL_STATUS_OK;
    if (!ok)
      TH_CHECK(st == SAL_STATUS_OUT_OF_MEMORY && m.n_classes == 0 && !m.source && m.height == 224,
               "allocation %d failing: %s, metadata changed", n, sal_status_name(st));
    sal_model_meta_clear(&m);
    if (ok) break;
  }
  TH_CHECK(n > 3 && n < 1000, "the read never succeeded or allocated almost nothing (n = %d)", n);
}

static void test_open(void) {
  sal_graph *g = NULL;
  sal_model_meta m;
  TH_OK(sal_model_open(th_ctx(), "resnet_small", &g, &m));
  TH_CHECK(g && m.channels == 3 && m.height == 64 && m.width == 64, "resnet_small meta size %lldx%lld",
           (long long)m.height, (long long)m.width);
  TH_CHECK(m.source && strstr(m.source, "untrained"), "built-in source says untrained: %s", m.source ? m.source : "");
  sal_graph_free(g);
  sal_model_meta_clear(&m);

  sal_model_open_opts o = {40, NULL};
  TH_OK(sal_model_open_ex(th_ctx(), "resnet_small", &o, &g, &m));
  TH_CHECK(m.height == 40 && m.width == 40, "image size option");
  sal_graph_free(g);
  sal_model_meta_clear(&m);

  /* An explicit sidecar must agree with the model. */
  char path[600];
  th_tmp_path(path, sizeof path, "side.json");
  write_text(path, "{\"input_size\": [3, 40, 40], \"classes\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\"]}");
  o.meta_path = path;
  TH_OK(sal_model_open_ex(th_ctx(), "resnet_small", &o, &g, &m));
  TH_CHECK(m.n_classes == 10 && m.source && strstr(m.source, path), "sidecar applied: %s", m.source ? m.source : "");
  sal_graph_free(g);
  sal_model_meta_clear(&m);
  write_text(path, "{\"input_size\": [3, 32, 32]}");
  TH_FAILS(sal_model_open_ex(th_ctx(), "resnet_small", &o, &g, &m), SAL_STATUS_BAD_INPUT,
           "(3, 32, 32) does not match the model's input (3, 40, 40)");
  TH_CHECK(g == NULL, "graph left after a failed open");
  write_text(path, "{\"classes\": [\"a\", \"b\"]}");
  TH_FAILS(sal_model_open_ex(th_ctx(), "resnet_small", &o, &g, &m), SAL_STATUS_BAD_INPUT,
           "key \"classes\": 2 names for a model with 10 outputs");

  TH_FAILS(sal_model_open(th_ctx(), "ckpt/model.safetensors", &g, &m), SAL_STATUS_UNSUPPORTED,
           "checkpoints are not supported yet");
  TH_FAILS(sal_model_open(th_ctx(), "resnet7", &g, &m), SAL_STATUS_NOT_FOUND, "resnet18");
  TH_FAILS(sal_model_open(th_ctx(), "/nonexistent/model.onnx", &g, &m), SAL_STATUS_NOT_FOUND, "/nonexistent/model.onnx");
  sal_model_meta_clear(&m);
}

int main(void) {
  test_defaults();
  test_sidecar_path();
  test_read();
  test_read_errors();
  test_alloc_failures();
  test_open();
  return th_finish("test_meta");
}
