/* .npy reader/writer tests: round trips of every rank, files written by numpy (committed fixtures
 * from tools/make_golden.py), and a corrupt corpus built here — each a clean error naming the file. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define FIX "tests/fixtures/golden/npy/"


static int file_exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}

static long file_size(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}


/* Reads a whole file into a malloc'd buffer. */

/* A .npy file with the given version and header dict text (padded to a multiple of 64 with a
 * trailing newline, as numpy does), followed by `data`. */
static void write_npy_raw(const char *path, int major, const char *dict, const void *data, size_t ndata) {
  size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
  size_t total = (pre + dl + 1 + 63) / 64 * 64;
  size_t hlen = total - pre;
  unsigned char *b = calloc(1, total + ndata);
  memcpy(b, "\x93NUMPY", 6);
  b[6] = (unsigned char)major;
  b[7] = 0;
  for (size_t i = 0; i < pre - 8; i++) b[8 + i] = (unsigned char)(hlen >> (8 * i));
  memcpy(b + pre, dict, dl);
  memset(b + pre + dl, ' ', hlen - dl - 1);
  b[total - 1] = '\n';
  if (ndata) memcpy(b + total, data, ndata);
  th_write_file(path, b, total + ndata);
  free(b);
}

/* Reading path must fail with `want` and a message naming the file (plus `frag` if given). */
static void expect_fail(const char *path, sal_status want, const char *frag, const char *what) {
  sal_ctx *ctx = th_ctx();
  sal_tensor *t = (sal_tensor *)(uintptr_t)1;
  sal_status st = sal_npy_read(ctx, path, &t);
  const char *msg = sal_ctx_last_error(ctx);
  TH_CHECK(st == want && t == NULL && strstr(msg, path) && th_contains(msg, frag),
           "%s: got %s '%s', want %s naming %s%s%s", what, sal_status_name(st), msg, sal_status_name(want), path,
           frag ? " with " : "", frag ? frag : "");
  if (st == SAL_STATUS_OK) sal_tensor_free(t);
}

static void test_round_trip(void) {
  sal_ctx *ctx = th_ctx();
  const int64_t shapes[][SAL_MAX_DIMS] = {{0}, {7}, {2, 3}, {1, 4, 5}, {2, 3, 4, 5}, {2, 1, 3, 2, 2}};
  for (int r = 0; r <= SAL_MAX_DIMS; r++) {
    sal_tensor *t = NULL, *u = NULL;
    TH_OK(sal_tensor_new(ctx, r, shapes[r], &t));
    if (!t) continue;
    int64_t n = sal_tensor_numel(t);
    sal_rng_normal(42, (uint64_t)r, 0, t->data, (size_t)n);
    /* Special values must survive bit for bit. */
    if (n > 3) {
      t->data[0] = -0.0f;
      t->data[1] = INFINITY;
      t->data[2] = NAN;
      t->data[3] = 1e-40f; /* subnormal */
    }
    char path[400];
    snprintf(path, sizeof path, "%s/rank%d.npy", th_tmpdir(), r);
    TH_OK(sal_npy_write(ctx, path, t));
    /* The data starts at a multiple of 64 bytes: the file is header + 4n bytes. */
    long sz = file_size(path);
    TH_CHECK(sz > 0 && (sz - 4 * n) % 64 == 0, "rank %d: file size %ld for %lld elements", r, sz, (long long)n);
    char tmp[450];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    TH_CHECK(!file_exists(tmp), "temporary file %s left behind", tmp);
    TH_OK(sal_npy_read(ctx, path, &u));
    if (u) {
      TH_CHECK(sal_shape_equal(&u->shape, &t->shape), "rank %d: shape changed (ndim %d)", r, u->shape.ndim);
      TH_CHECK(memcmp(u->data, t->data, (size_t)n * 4) == 0, "rank %d: data changed", r);
    }
    sal_tensor_free(u);
    sal_tensor_free(t);
  }
  /* A zero-size array and overwriting an existing file. */
  sal_tensor *z = NULL, *u = NULL;
  char path[400];
  th_tmp_path(path, sizeof path, "rank2.npy");
  TH_OK(sal_tensor_new(ctx, 2, (int64_t[]){0, 3}, &z));
  TH_OK(sal_npy_write(ctx, path, z));
  TH_OK(sal_npy_read(ctx, path, &u));
  TH_CHECK(u && u->shape.ndim == 2 && u->shape.d[0] == 0 && u->shape.d[1] == 3, "zero-size array round trip");
  sal_tensor_free(u);
  sal_tensor_free(z);
}

static void test_write_errors(void) {
  sal_ctx *ctx = th_ctx();
  sal_tensor *t = NULL;
  TH_OK(sal_tensor_new(ctx, 1, (int64_t[]){3}, &t));
  char path[400];
  const char *pathp = path; /* TH_FAILS wants a pointer it can test for NULL */
  th_tmp_path(path, sizeof path, "no/such/dir/x.npy");
  TH_FAILS(sal_npy_write(ctx, path, t), SAL_STATUS_IO, pathp);
  /* Renaming over a directory fails: the error names the target and the temporary is removed. */
  th_tmp_path(path, sizeof path, "adir");
  mkdir(path, 0700);
  TH_FAILS(sal_npy_write(ctx, path, t), SAL_STATUS_IO, pathp);
  char tmp[450];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  TH_CHECK(!file_exists(tmp), "temporary %s left behind after a failed rename", tmp);
  rmdir(path);
  t->layout = SAL_LAYOUT_BLOCKED16;
  th_tmp_path(path, sizeof path, "blocked.npy");
  TH_FAILS(sal_npy_write(ctx, path, t), SAL_STATUS_BAD_INPUT, "blocked");
  TH_CHECK(!file_exists(path), "a rejected write created %s", path);
  t->layout = SAL_LAYOUT_PLAIN;
  sal_tensor_free(t);
}

/* Files written by numpy 1.24 (tools/make_golden.py, write_npy_fixtures). */
static void test_numpy_files(void) {
  sal_ctx *ctx = th_ctx();
  sal_tensor *t = NULL;

  TH_OK(sal_npy_read(ctx, FIX "f4.npy", &t));
  if (t) {
    TH_CHECK(t->shape.ndim == 3 && t->shape.d[0] == 2 && t->shape.d[1] == 3 && t->shape.d[2] == 4, "f4 shape");
    float want[24];
    for (int i = 0; i < 24; i++) want[i] = (float)i / 8.0f - 1.5f; /* exact in binary */
    th_allclose("f4 values", t->data, want, 24, 0, 0);
  }
  sal_tensor_free(t);

  TH_OK(sal_npy_read(ctx, FIX "f8.npy", &t));
  if (t) {
    TH_CHECK(t->shape.ndim == 2 && t->shape.d[0] == 2 && t->shape.d[1] == 3, "f8 shape");
    float want[6];
    for (int i = 0; i < 6; i++) want[i] = (float)((double)i * 0.1 - 0.25); /* f64 rounded once to f32 */
    th_allclose("f8 values", t->data, want, 6, 0, 0);
  }
  sal_tensor_free(t);

  TH_OK(sal_npy_read(ctx, FIX "i8.npy", &t));
  if (t) {
    /* 2^40 checks that all eight bytes are decoded; -2 checks the sign. */
    float want[6] = {0, 3, 1, 4, -2, 1099511627776.0f};
    TH_CHECK(t->shape.ndim == 1 && t->shape.d[0] == 6, "i8 shape");
    th_allclose("i8 values", t->data, want, 6, 0, 0);
  }
  sal_tensor_free(t);

  TH_OK(sal_npy_read(ctx, FIX "i4.npy", &t));
  if (t) {
    float want[4] = {7, -1, 0, 123456};
    TH_CHECK(t->shape.ndim == 2 && t->shape.d[0] == 2 && t->shape.d[1] == 2, "i4 shape");
    th_allclose("i4 values", t->data, want, 4, 0, 0);
  }
  sal_tensor_free(t);

  TH_OK(sal_npy_read(ctx, FIX "v2.npy", &t));
  if (t) {
    float want[3] = {1, 2, 3};
    TH_CHECK(t->shape.ndim == 1 && t->shape.d[0] == 3, "v2.0 shape");
    th_allclose("v2.0 values", t->data, want, 3, 0, 0);
  }
  sal_tensor_free(t);

  TH_OK(sal_npy_read(ctx, FIX "v3.npy", &t));
  if (t) {
    float want[2] = {-1.25f, 4};
    TH_CHECK(t->shape.ndim == 2 && t->shape.d[0] == 1 && t->shape.d[1] == 2, "v3.0 shape");
    th_allclose("v3.0 values", t->data, want, 2, 0, 0);
  }
  sal_tensor_free(t);

  TH_OK(sal_npy_read(ctx, FIX "scalar.npy", &t));
  if (t) TH_CHECK(t->shape.ndim == 0 && sal_tensor_numel(t) == 1 && t->data[0] == 2.5f, "0-d array");
  sal_tensor_free(t);

  expect_fail(FIX "fortran.npy", SAL_STATUS_UNSUPPORTED, "Fortran", "fortran order");
  expect_fail(FIX "u3.npy", SAL_STATUS_UNSUPPORTED, "'<U3'", "unicode dtype");
  expect_fail(FIX "be.npy", SAL_STATUS_UNSUPPORTED, "'>f4'", "big-endian dtype");
  expect_fail(FIX "rank6.npy", SAL_STATUS_UNSUPPORTED, "more than 5 dimensions", "rank 6");
  expect_fail(FIX "record.npy", SAL_STATUS_UNSUPPORTED, "structured", "record dtype");
  expect_fail(FIX "missing.npy", SAL_STATUS_NOT_FOUND, NULL, "missing file");
}

static void test_corrupt(void) {
  sal_ctx *ctx = th_ctx();
  char good[400], path[400];
  th_tmp_path(good, sizeof good, "good.npy");
  sal_tensor *t = NULL;
  TH_OK(sal_tensor_new(ctx, 3, (int64_t[]){2, 3, 4}, &t));
  if (!t) return;
  TH_OK(sal_npy_write(ctx, good, t));
  sal_tensor_free(t);
  size_t n = 0;
  unsigned char *b = th_read_file(good, &n);
  TH_CHECK(b && n == 128 + 96, "good file is %zu bytes, want 224", n);
  if (!b || n != 224) {
    free(b);
    return;
  }

  /* Truncated at every interesting point: inside the magic, the version, the header length, the
   * header, exactly at the data, inside the data, one byte short. */
  const size_t cuts[] = {0, 3, 7, 9, 10, 40, 127, 128, 129, 200, 223};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    snprintf(path, sizeof path, "%s/cut%zu.npy", th_tmpdir(), cuts[i]);
    th_write_file(path, b, cuts[i]);
    char what[64];
    snprintf(what, sizeof what, "truncated at %zu", cuts[i]);
    expect_fail(path, SAL_STATUS_BAD_INPUT, cuts[i] >= 128 ? "truncated" : NULL, what);
  }
  /* Header cut off: the declared header length runs past the end. */
  th_tmp_path(path, sizeof path, "cut40b.npy");
  th_write_file(path, b, 40);
  expect_fail(path, SAL_STATUS_BAD_INPUT, "beyond the file", "header cut");

  unsigned char *c = malloc(n);
  /* Bad magic. */
  memcpy(c, b, n);
  c[1] = 'X';
  th_tmp_path(path, sizeof path, "magic.npy");
  th_write_file(path, c, n);
  expect_fail(path, SAL_STATUS_BAD_INPUT, "bad magic", "bad magic");
  /* Unknown version. */
  memcpy(c, b, n);
  c[6] = 9;
  th_tmp_path(path, sizeof path, "version.npy");
  th_write_file(path, c, n);
  expect_fail(path, SAL_STATUS_UNSUPPORTED, "version 9.0", "version 9");
  /* Header length beyond the file. */
  memcpy(c, b, n);
  c[8] = 0x60;
  c[9] = 0xea; /* 60000 */
  th_tmp_path(path, sizeof path, "hlen.npy");
  th_write_file(path, c, n);
  expect_fail(path, SAL_STATUS_BAD_INPUT, "header length 60000 is beyond the file", "header length");
  /* Garbage header bytes (binary noise in the dict). */
  memcpy(c, b, n);
  for (int i = 10; i < 80; i++) c[i] = (unsigned char)(i * 37 + 11);
  th_tmp_path(path, sizeof path, "garbage.npy");
  th_write_file(path, c, n);
  expect_fail(path, SAL_STATUS_BAD_INPUT, "malformed", "garbage header");
  free(c);

  /* Headers that parse as text but are wrong. */
  float data[8] = {0};
  struct {
    const char *name, *dict, *frag;
    sal_status st;
  } bad[] = {
      {"huge.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }", "truncated", SAL_STATUS_BAD_INPUT},
      {"huge2.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1024, 1024, 1024, 1024), }", "truncated", SAL_STATUS_BAD_INPUT},
      {"ovf.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", "truncated", SAL_STATUS_BAD_INPUT},
      {"bigdim.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", "malformed", SAL_STATUS_BAD_INPUT},
      {"negdim.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", "malformed", SAL_STATUS_BAD_INPUT},
      {"nodescr.npy", "{'fortran_order': False, 'shape': (2,), }", "lacks 'descr'", SAL_STATUS_BAD_INPUT},
      {"noshape.npy", "{'descr': '<f4', 'fortran_order': False, }", "lacks 'shape'", SAL_STATUS_BAD_INPUT},
      {"extra.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", "unexpected key 'x'", SAL_STATUS_BAD_INPUT},
      {"unterm.npy", "{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", NULL, SAL_STATUS_UNSUPPORTED},
      {"noclose.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,", "malformed", SAL_STATUS_BAD_INPUT},
      {"trail.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk", "malformed", SAL_STATUS_BAD_INPUT},
      {"fo.npy", "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", "malformed", SAL_STATUS_BAD_INPUT},
      {"i2.npy", "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }", "'<i2'", SAL_STATUS_UNSUPPORTED},
      {"longdt.npy", "{'descr': '<f4aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'fortran_order': False, 'shape': (2,), }", "not supported", SAL_STATUS_UNSUPPORTED},
      {"empty.npy", "", "malformed", SAL_STATUS_BAD_INPUT},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    th_tmp_path(path, sizeof path, bad[i].name);
    write_npy_raw(path, 1, bad[i].dict, data, sizeof data);
    expect_fail(path, bad[i].st, bad[i].frag, bad[i].name);
  }
  /* A 2.0 file with a zero-padded 4-byte length, and keys in another order with double quotes:
   * both valid. */
  th_tmp_path(path, sizeof path, "v2order.npy");
  write_npy_raw(path, 2, "{\"shape\": (2, 4), \"fortran_order\": False, \"descr\": \"<f4\"}", data, sizeof data);
  TH_OK(sal_npy_read(ctx, path, &t));
  TH_CHECK(t && t->shape.ndim == 2 && t->shape.d[1] == 4, "v2.0 file with reordered keys");
  sal_tensor_free(t);

  /* Random byte corruption of a good file: every variant either reads or fails cleanly, naming
   * the file (ASan/UBSan watch the rest). */
  unsigned char *d = malloc(n);
  int rounds = th_quick() ? 200 : 1000, clean = 1;
  th_tmp_path(path, sizeof path, "fuzz.npy");
  for (int r = 0; r < rounds; r++) {
    memcpy(d, b, n);
    uint32_t rnd[4];
    sal_philox(77, 0, (uint64_t)r, rnd);
    int flips = 1 + (int)(rnd[0] % 4);
    for (int k = 0; k < flips; k++) {
      sal_philox(77, 1 + (uint64_t)k, (uint64_t)r, rnd);
      d[rnd[0] % 128] = (unsigned char)rnd[1]; /* the preamble and header */
    }
    size_t len = r % 3 == 0 ? rnd[2] % (n + 1) : n;
    th_write_file(path, d, len);
    sal_tensor *u = NULL;
    sal_status st = sal_npy_read(ctx, path, &u);
    if (st != SAL_STATUS_OK && !strstr(sal_ctx_last_error(ctx), path)) {
      clean = 0;
      fprintf(stderr, "fuzz round %d: message does not name the file: %s\n", r, sal_ctx_last_error(ctx));
    }
    if (st == SAL_STATUS_OK && (!u || sal_tensor_numel(u) * 4 > (int64_t)n)) clean = 0;
    sal_tensor_free(u);
  }
  TH_CHECK(clean, "fuzzed files: every failure names the file");
  free(d);

  /* Allocation failure at every allocation of a read: OUT_OF_MEMORY naming the file, no leak. */
  int failed_once = 0, succeeded = 0;
  for (int k = 1; k < 10 && !succeeded; k++) {
    sal_ctx_fail_alloc_after(ctx, k);
    sal_tensor *u = NULL;
    sal_status st = sal_npy_read(ctx, FIX "f8.npy", &u);
    sal_ctx_fail_alloc_after(ctx, 0);
    if (st == SAL_STATUS_OK) {
      succeeded = 1;
    } else {
      failed_once = 1;
      TH_CHECK(st == SAL_STATUS_OUT_OF_MEMORY && u == NULL && strstr(sal_ctx_last_error(ctx), "f8.npy"),
               "allocation %d failing: %s '%s'", k, sal_status_name(st), sal_ctx_last_error(ctx));
    }
    sal_tensor_free(u);
  }
  TH_CHECK(failed_once && succeeded, "fault injection reached the reader's allocations and then succeeded");
  free(b);
}

int main(void) {
  if (!th_tmpdir()) return th_finish("test_npy");
  test_round_trip();
  test_write_errors();
  test_numpy_files();
  test_corrupt();
  return th_finish("test_npy");
}
