/* safetensors and checkpoints: round trips, files with every dtype built byte by byte, a corrupt
 * and tampered corpus (each a specific error, no crash), atomic saves that never replace a good
 * file, and a checkpoint with AdamW state that resumes bit-identically. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "salient/checkpoint.h"
#include "salient/models.h"

/* A safetensors file from a header text and raw data. */
static void write_st(const char *path, const char *header, const void *data, size_t n) {
  size_t hl = strlen(header);
  unsigned char *b = calloc(1, 8 + hl + n + 1);
  for (int k = 0; k < 8; k++) b[k] = (unsigned char)((uint64_t)hl >> (8 * k));
  memcpy(b + 8, header, hl);
  if (n) memcpy(b + 8 + hl, data, n);
  th_write_file(path, b, 8 + hl + n);
  free(b);
}


static int count_tmp_files(void) {
  DIR *d = opendir(th_tmpdir());
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
  if (d) closedir(d);
  return n;
}

static void test_round_trip(void) {
  sal_ctx *ctx = th_ctx();
  sal_tensor *a = NULL, *b = NULL, *c = NULL;
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){2, 3, 1, 2}, &a));
  TH_OK(sal_tensor_new(ctx, 1, (int64_t[]){5}, &b));
  TH_OK(sal_tensor_new(ctx, 0, NULL, &c));
  if (!a || !b || !c) return;
  for (int i = 0; i < 12; i++) a->data[i] = (float)i * 0.25f - 1.0f;
  for (int i = 0; i < 5; i++) b->data[i] = i == 3 ? -INFINITY : (float)i * 1e-30f;
  c->data[0] = 42;
  char path[512];
  th_tmp_path(path, sizeof path, "rt.safetensors");
  const char *names[] = {"conv.weight", "odd \"name\"/ü", "scalar"};
  const sal_tensor *ts[] = {a, b, c};
  const char *mk[] = {"format", "note"}, *mv[] = {"pt", "a \"quoted\" value"};
  TH_OK(sal_safetensors_write(ctx, path, names, ts, 3, mk, mv, 2));
  size_t n = 0;
  unsigned char *raw = th_read_file(path, &n);
  TH_CHECK(raw && n > 8 && (8 + raw[0]) % 8 == 0 && raw[8] == '{', "8-byte aligned header starting with '{'");
  free(raw);
  sal_safetensors *s = NULL;
  TH_OK(sal_safetensors_read(ctx, path, &s));
  if (s) {
    TH_CHECK(sal_safetensors_count(s) == 3, "3 tensors");
    for (int i = 0; i < 3; i++) {
      const sal_tensor *t = sal_safetensors_find(s, names[i]);
      TH_CHECK(t && sal_shape_equal(&t->shape, &ts[i]->shape) &&
                   !memcmp(t->data, ts[i]->data, (size_t)sal_tensor_numel(t) * sizeof(float)),
               "tensor %s bit-identical", names[i]);
    }
    TH_CHECK(!strcmp(sal_safetensors_meta(s, "note"), "a \"quoted\" value") && !sal_safetensors_meta(s, "absent"), "metadata");
    TH_CHECK(sal_safetensors_find(s, "nope") == NULL, "find of an absent name");
  }
  sal_safetensors_free(s);
  /* Writer refuses duplicates and the reserved name. */
  const char *dup[] = {"x", "x"};
  TH_FAILS(sal_safetensors_write(ctx, path, dup, (const sal_tensor *[]){b, b}, 2, NULL, NULL, 0), SAL_STATUS_BAD_INPUT,
           "duplicate");
  const char *res[] = {"__metadata__"};
  TH_FAILS(sal_safetensors_write(ctx, path, res, (const sal_tensor *[]){b}, 1, NULL, NULL, 0), SAL_STATUS_BAD_INPUT, "reserved");
  sal_tensor_free(a);
  sal_tensor_free(b);
  sal_tensor_free(c);
}

static void test_dtypes(void) {
  /* Every dtype, little-endian, as another writer would lay them out (including header padding). */
  unsigned char data[64];
  size_t o = 0;
  float f32 = -2.5f;
  memcpy(data + o, &f32, 4), o += 4;                                       /* F32 [0, 4) */
  double f64 = 0.1;
  memcpy(data + o, &f64, 8), o += 8;                                       /* F64 [4, 12) */
  data[o++] = 0x00, data[o++] = 0x3c;                                      /* F16 1.0 */
  data[o++] = 0x01, data[o++] = 0x00;                                      /* F16 2^-24 (subnormal) */
  data[o++] = 0xc0, data[o++] = 0x3f;                                      /* BF16 1.5 [16, 18) */
  int64_t i64 = -123456789;
  memcpy(data + o, &i64, 8), o += 8;                                       /* I64 [18, 26) */
  data[o++] = 0xff, data[o++] = 0xff, data[o++] = 0xff, data[o++] = 0xff;  /* I32 -1 [26, 30) */
  data[o++] = 0x00, data[o++] = 0x80;                                      /* I16 -32768 [30, 32) */
  data[o++] = 0x80;                                                        /* I8 -128 [32, 33) */
  data[o++] = 200;                                                         /* U8 [33, 34) */
  data[o++] = 1;                                                           /* BOOL [34, 35) */
  const char *hdr =
      "{\"__metadata__\":{\"k\":\"v\"},\"f32\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"f64\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[4,12]},"
      "\"f16\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[12,16]},"
      "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[1,1],\"data_offsets\":[16,18]},"
      "\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[18,26]},"
      "\"i32\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[26,30]},"
      "\"i16\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[30,32]},"
      "\"i8\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[32,33]},"
      "\"u8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[33,34]},"
      "\"b\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[34,35]}}       ";
  char path[512];
  th_tmp_path(path, sizeof path, "dtypes.safetensors");
  write_st(path, hdr, data, o);
  sal_safetensors *s = NULL;
  TH_OK(sal_safetensors_read(th_ctx(), path, &s));
  if (!s) return;
  struct {
    const char *n;
    int idx;
    float v;
  } want[] = {{"f32", 0, -2.5f}, {"f64", 0, 0.1f},         {"f16", 0, 1.0f},  {"f16", 1, 5.9604645e-08f},
              {"bf16", 0, 1.5f}, {"i64", 0, -123456789.0f}, {"i32", 0, -1.0f}, {"i16", 0, -32768.0f},
              {"i8", 0, -128.0f}, {"u8", 0, 200.0f},          {"b", 0, 1.0f}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const sal_tensor *t = sal_safetensors_find(s, want[i].n);
    TH_CHECK(t && t->data[want[i].idx] == want[i].v, "%s[%d] = %g, want %g", want[i].n, want[i].idx,
             t ? (double)t->data[want[i].idx] : NAN, (double)want[i].v);
  }
  TH_CHECK(sal_safetensors_find(s, "f64")->shape.ndim == 0, "0-d tensor");
  sal_safetensors_free(s);
}

static void test_corrupt(void) {
  char path[512];
  th_tmp_path(path, sizeof path, "bad.safetensors");
  float d4[4] = {1, 2, 3, 4};
  static const struct {
    const char *hdr, *needle;
    size_t ndata;
    sal_status st;
  } bad[] = {
      {"[1,2]", "not a JSON object", 16, SAL_STATUS_BAD_INPUT},
      {"{\"a\":", "not valid JSON", 16, SAL_STATUS_BAD_INPUT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
       "overlap or gap", 16, SAL_STATUS_BAD_INPUT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}",
       "tensor 'b' starts at 12, expected 8", 16, SAL_STATUS_BAD_INPUT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "do not hold 3 x 4 bytes", 16, SAL_STATUS_BAD_INPUT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]}}", "within the 16-byte data", 16, SAL_STATUS_BAD_INPUT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "8 bytes of data after the last tensor", 16,
       SAL_STATUS_BAD_INPUT},
      {"{\"a\":{\"dtype\":\"C64\",\"shape\":[2],\"data_offsets\":[0,16]}}", "dtype C64 is not supported", 16, SAL_STATUS_UNSUPPORTED},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,4],\"data_offsets\":[0,16]}}", "6 dimensions", 16, SAL_STATUS_UNSUPPORTED},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,16]}}", "absurd shape", 16,
       SAL_STATUS_BAD_INPUT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", "absurd shape", 16, SAL_STATUS_BAD_INPUT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}", "needs dtype, shape and data_offsets", 16, SAL_STATUS_BAD_INPUT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
       "'a' appears twice", 16, SAL_STATUS_BAD_INPUT},
      {"{\"__metadata__\":{\"k\":3},\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", "metadata 'k' is not a string",
       16, SAL_STATUS_BAD_INPUT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0.5,16]}}", "data_offsets", 16, SAL_STATUS_BAD_INPUT},
  };
  sal_safetensors *s = NULL;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_st(path, bad[i].hdr, d4, bad[i].ndata);
    TH_FAILS(sal_safetensors_read(th_ctx(), path, &s), bad[i].st, bad[i].needle);
  }
  /* Header length beyond the file, and absurdly large. */
  unsigned char b[24] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
  th_write_file(path, b, sizeof b);
  TH_FAILS(sal_safetensors_read(th_ctx(), path, &s), SAL_STATUS_BAD_INPUT, "header length 65535 runs past the end");
  memset(b, 0xff, 8);
  th_write_file(path, b, sizeof b);
  TH_FAILS(sal_safetensors_read(th_ctx(), path, &s), SAL_STATUS_BAD_INPUT, "exceeds 100 MB");
  th_write_file(path, b, 5);
  TH_FAILS(sal_safetensors_read(th_ctx(), path, &s), SAL_STATUS_BAD_INPUT, "too short");
  th_tmp_path(path, sizeof path, "missing.safetensors");
  TH_FAILS(sal_safetensors_read(th_ctx(), path, &s), SAL_STATUS_NOT_FOUND, "missing.safetensors");
  TH_CHECK(s == NULL, "no result on error");

  /* Every truncation and many byte flips of a good file: a clean status, never a crash. */
  th_tmp_path(path, sizeof path, "rt.safetensors");
  size_t n = 0;
  unsigned char *good = th_read_file(path, &n);
  if (!good) return;
  char cut[512];
  th_tmp_path(cut, sizeof cut, "cut.safetensors");
  for (size_t k = 0; k < n; k += th_quick() ? 5 : 1) {
    th_write_file(cut, good, k);
    sal_status st = sal_safetensors_read(th_ctx(), cut, &s);
    TH_CHECK(st == SAL_STATUS_BAD_INPUT, "cut at %zu of %zu: %s", k, n, sal_status_name(st));
    sal_safetensors_free(s);
    s = NULL;
  }
  uint64_t r = 12345;
  for (int k = 0; k < (th_quick() ? 200 : 2000); k++) {
    unsigned char *m = malloc(n);
    memcpy(m, good, n);
    r = r * 6364136223846793005ull + 1442695040888963407ull;
    m[(r >> 33) % n] ^= (unsigned char)(1 + (r >> 20) % 255);
    th_write_file(cut, m, n);
    sal_status st = sal_safetensors_read(th_ctx(), cut, &s);
    TH_CHECK(st == SAL_STATUS_OK || st == SAL_STATUS_BAD_INPUT || st == SAL_STATUS_UNSUPPORTED, "flip %d: %s", k, sal_status_name(st));
    sal_safetensors_free(s);
    s = NULL;
    free(m);
  }
  free(good);
}

/* resnet_small at 32 px with 3 classes; a 2-image batch and labels. */
static sal_graph *small_model(uint64_t seed) {
  sal_ctx_set_seed(th_ctx(), seed);
  sal_model_spec sp = sal_model_spec_default("resnet_small");
  sp.num_classes = 3;
  sp.image_size = 32;
  sp.width = 8;
  sal_graph *g = NULL;
  TH_OK(sal_model_build(th_ctx(), &sp, &g));
  return g;
}

/* One AdamW step on a fixed batch with a cross-entropy loss seeded on the logits' gradient. */
static void adam_step(sal_graph *g, sal_optim *o, sal_plan *p) {
  sal_tensor *x = NULL, *seed = NULL;
  TH_OK(sal_tensor_new(th_ctx(), 4, (int64_t[]){2, 3, 32, 32}, &x));
  TH_OK(sal_tensor_new(th_ctx(), 2, (int64_t[]){2, 3}, &seed));
  if (!x || !seed) return;
  sal_rng_normal(99, 1, 0, x->data, (size_t)sal_tensor_numel(x));
  for (int i = 0; i < 6; i++) seed->data[i] = (float)(i % 3) - 1.0f;
  TH_OK(sal_plan_set_input(p, "input", x));
  TH_OK(sal_plan_forward(p));
  TH_OK(sal_plan_backward(p, "logits", seed));
  TH_OK(sal_optim_step(o, p, 1e-3f));
  (void)g;
  sal_tensor_free(x);
  sal_tensor_free(seed);
}

static bool params_equal(sal_graph *a, sal_graph *b, const char *name) {
  sal_tensor va, vb;
  if (sal_graph_param(a, name, &va) || sal_graph_param(b, name, &vb)) return false;
  return sal_shape_equal(&va.shape, &vb.shape) && !memcmp(va.data, vb.data, (size_t)sal_tensor_numel(&va) * sizeof(float));
}

static void test_checkpoint(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = small_model(1), *h = small_model(2);
  if (!g || !h) return;
  sal_plan_opts po = sal_plan_opts_default();
  po.batch = 2;
  po.training = true;
  po.grad_params = true;
  sal_plan *p = NULL, *q = NULL;
  sal_optim *o = NULL, *oh = NULL;
  sal_optim_opts oo = sal_optim_opts_default(SAL_OPTIM_ADAMW);
  TH_OK(sal_plan_new(ctx, g, &po, &p));
  TH_OK(sal_plan_new(ctx, h, &po, &q));
  TH_OK(sal_optim_new(ctx, g, &oo, NULL, 0, &o));
  TH_OK(sal_optim_new(ctx, h, &oo, NULL, 0, &oh));
  if (!p || !q || !o || !oh) goto done;
  adam_step(g, o, p);
  adam_step(g, o, p);
  char path[512];
  th_tmp_path(path, sizeof path, "model.safetensors");
  const char *meta = "{\"architecture\":\"resnet_small\",\"epoch\":2,\"classes\":[\"a\",\"b\",\"c\"]}";
  TH_OK(sal_checkpoint_save(ctx, path, g, o, meta));
  /* A different model (seed 2) takes the checkpoint: identical parameters, state and steps. */
  char *m = NULL;
  TH_OK(sal_checkpoint_load(ctx, path, h, oh, &m));
  TH_CHECK(m && !strcmp(m, meta), "metadata returned: %s", m ? m : "(null)");
  sal_free(m);
  TH_CHECK(sal_optim_steps(oh) == 2, "step count restored");
  const char *names[] = {"conv1.weight", "bn1.running_var", "fc.weight", "fc.bias"};
  for (int i = 0; i < 4; i++) TH_CHECK(params_equal(g, h, names[i]), "parameter %s restored bit-identically", names[i]);
  sal_plan_params_changed(q);
  /* One more step on both: the resumed run stays bit-identical. */
  adam_step(g, o, p);
  adam_step(h, oh, q);
  bool same = true;
  for (int i = 0; i < 4; i++) same = same && params_equal(g, h, names[i]);
  TH_CHECK(same, "a step after resuming equals the uninterrupted step, bit for bit");

  /* Interrupted saves never replace the good file, and leave no temporary behind. */
  size_t n0 = 0, n1 = 0;
  unsigned char *before = th_read_file(path, &n0);
  bool failed = false;
  for (int64_t k = 1; k < 60; k++) {
    sal_ctx_fail_alloc_after(ctx, k);
    sal_status st = sal_checkpoint_save(ctx, path, h, oh, "{\"changed\":true}");
    sal_ctx_fail_alloc_after(ctx, 0);
    if (st == SAL_STATUS_OK) break;
    failed = true;
    unsigned char *after = th_read_file(path, &n1);
    TH_CHECK(after && n1 == n0 && !memcmp(after, before, n0), "failed save %lld left the old checkpoint intact", (long long)k);
    free(after);
  }
  TH_CHECK(failed && count_tmp_files() == 0, "fault injection hit the save; no temporary files remain");
  free(before);
  char bad_dir[600];
  snprintf(bad_dir, sizeof bad_dir, "%s/no/such/dir/x.safetensors", th_tmpdir());
  TH_FAILS(sal_checkpoint_save(ctx, bad_dir, g, NULL, NULL), SAL_STATUS_IO, "cannot create");
  TH_FAILS(sal_checkpoint_save(ctx, path, g, NULL, "[1]"), SAL_STATUS_BAD_INPUT, "not a JSON object");

  /* Loading into the wrong model, without optimiser state, or with tensors missing. */
  sal_model_spec sp = sal_model_spec_default("resnet_small");
  sp.num_classes = 4;
  sp.image_size = 32;
  sp.width = 8;
  sal_graph *other = NULL;
  TH_OK(sal_model_build(ctx, &sp, &other));
  if (other) TH_FAILS(sal_checkpoint_load(ctx, path, other, NULL, NULL), SAL_STATUS_SHAPE, "'fc.weight' is (3, 32) in the checkpoint, (4, 32) in the model");
  sal_graph_free(other);
  char plain[512];
  th_tmp_path(plain, sizeof plain, "plain.safetensors");
  TH_OK(sal_checkpoint_save(ctx, plain, g, NULL, NULL));
  TH_FAILS(sal_checkpoint_load(ctx, plain, h, oh, NULL), SAL_STATUS_BAD_INPUT, "no optimiser step count");
  float one = 1;
  sal_tensor *t1 = NULL;
  TH_OK(sal_tensor_wrap(ctx, 1, (int64_t[]){1}, &one, &t1));
  const char *nm[] = {"conv1.weight"};
  TH_OK(sal_safetensors_write(ctx, plain, nm, (const sal_tensor *[]){t1}, 1, NULL, NULL, 0));
  TH_FAILS(sal_checkpoint_load(ctx, plain, h, NULL, NULL), SAL_STATUS_SHAPE, "'conv1.weight' is (1) in the checkpoint");
  const char *nm2[] = {"stray"};
  TH_OK(sal_safetensors_write(ctx, plain, nm2, (const sal_tensor *[]){t1}, 1, NULL, NULL, 0));
  TH_FAILS(sal_checkpoint_load(ctx, plain, h, NULL, NULL), SAL_STATUS_BAD_INPUT, "parameter 'conv1.weight' is missing");
  sal_tensor_free(t1);
done:
  sal_optim_free(o);
  sal_optim_free(oh);
  sal_plan_free(p);
  sal_plan_free(q);
  sal_graph_free(g);
  sal_graph_free(h);
}

int main(void) {
  if (!th_tmpdir()) return th_finish("test_checkpoint");
  test_round_trip();
  test_dtypes();
  test_corrupt();
  test_checkpoint();
  return th_finish("test_checkpoint");
}
