/* NumPy .npy read and write: the exchange format of the PyTorch golden fixtures (tools/) and of
 * tensors saved by the CLI. Reads versions 1.0/2.0/3.0 ('<f4', '<f8', '<i4', '<i8' → f32, C order);
 * writes version 1.0 '<f4' through a temporary file renamed over the target. */
#define _POSIX_C_SOURCE 200809L

#include "core/internal.h"
#include "io/atomic.h"
#include "salient/tensor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Format reference: numpy/lib/format.py ("NEP 1"): 6-byte magic "\x93NUMPY", major and minor
 * version bytes, header length (uint16 LE in 1.0, uint32 LE in 2.0/3.0), then an ASCII (3.0: UTF-8)
 * Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...), } padded with spaces
 * and a final '\n', then the raw data. */
static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* numpy itself refuses headers above 10 000 bytes by default; a dict for <= 5 dims is < 200
 * bytes, so 64 KiB is a generous bound that keeps a corrupt length from driving allocation. */
#define NPY_MAX_HEADER ((uint32_t)1 << 16)
/* Bytes converted per chunk when the file's dtype differs from f32. */
#define NPY_CHUNK_ELEMS 8192

typedef enum npy_dtype { NPY_F4, NPY_F8, NPY_I4, NPY_I8 } npy_dtype;

typedef struct npy_header {
  npy_dtype dtype;
  size_t itemsize;
  bool fortran;
  int ndim;
  int64_t dims[SAL_MAX_DIMS];
  bool have_descr, have_fortran, have_shape;
} npy_header;

static bool host_little_endian(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* ---- header parser: a cursor over [p, end), never dereferenced at or past end ---- */

typedef struct cursor {
  const char *p, *end;
} cursor;

static void skip_ws(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static bool eat(cursor *c, char ch) {
  skip_ws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return true;
  }
  return false;
}

/* A quoted Python string without escapes (numpy never writes any in these keys and dtypes), copied
 * into out (truncated to n-1 bytes; over-long strings are reported as such by the caller). */
static bool parse_str(cursor *c, char *out, size_t n, size_t *len) {
  skip_ws(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return false;
  char q = *c->p++;
  size_t k = 0;
  while (c->p < c->end && *c->p != q) {
    if (*c->p == '\\') return false;
    if (k + 1 < n) out[k] = *c->p;
    k++;
    c->p++;
  }
  if (c->p >= c->end) return false;
  c->p++;
  out[k + 1 < n ? k : n - 1] = '\0';
  *len = k;
  return true;
}

static bool parse_word(cursor *c, const char *w) {
  skip_ws(c);
  size_t n = strlen(w);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return false;
  c->p += n;
  return true;
}

/* A non-negative decimal integer bounded by 2^62 (any real dimension is far smaller; the element
 * count is bounded again against the file size). */
static bool parse_dim(cursor *c, int64_t *out) {
  skip_ws(c);
  int64_t v = 0;
  int digits = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    if (v > ((int64_t)1 << 62) / 10) return false;
    v = v * 10 + (*c->p - '0');
    c->p++;
    digits++;
  }
  if (!digits) return false;
  if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 long literal */
  *out = v;
  return true;
}

/* Parses the dict; returns the status and records an error naming path. */
static sal_status parse_header(sal_ctx *ctx, const char *path, const char *buf, size_t len, npy_header *h) {
  cursor c = {buf, buf + len};
  memset(h, 0, sizeof *h);
  if (!eat(&c, '{')) goto bad;
  for (;;) {
    if (eat(&c, '}')) break;
    char key[32];
    size_t klen;
    if (!parse_str(&c, key, sizeof key, &klen) || !eat(&c, ':')) goto bad;
    if (klen < sizeof key && strcmp(key, "descr") == 0) {
      skip_ws(&c);
      if (c.p < c.end && *c.p == '[')
        return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: structured dtype (a record array): salient reads only '<f4', '<f8', '<i4' and '<i8'", path);
      char d[16];
      size_t dlen;
      if (!parse_str(&c, d, sizeof d, &dlen)) goto bad;
      if (dlen < sizeof d && strcmp(d, "<f4") == 0) h->dtype = NPY_F4, h->itemsize = 4;
      else if (dlen < sizeof d && strcmp(d, "<f8") == 0) h->dtype = NPY_F8, h->itemsize = 8;
      else if (dlen < sizeof d && strcmp(d, "<i4") == 0) h->dtype = NPY_I4, h->itemsize = 4;
      else if (dlen < sizeof d && strcmp(d, "<i8") == 0) h->dtype = NPY_I8, h->itemsize = 8;
      else
        return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED,
                             "%s: dtype '%s%s' is not supported (salient reads '<f4', '<f8', '<i4', '<i8')",
                             path, d, dlen < sizeof d ? "" : "...");
      h->have_descr = true;
    } else if (klen < sizeof key && strcmp(key, "fortran_order") == 0) {
      if (parse_word(&c, "True")) h->fortran = true;
      else if (parse_word(&c, "False")) h->fortran = false;
      else goto bad;
      h->have_fortran = true;
    } else if (klen < sizeof key && strcmp(key, "shape") == 0) {
      if (!eat(&c, '(')) goto bad;
      h->ndim = 0;
      for (;;) {
        if (eat(&c, ')')) break;
        int64_t v;
        if (!parse_dim(&c, &v)) goto bad;
        if (h->ndim == SAL_MAX_DIMS)
          return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: more than %d dimensions", path, SAL_MAX_DIMS);
        h->dims[h->ndim++] = v;
        if (eat(&c, ')')) break;
        if (!eat(&c, ',')) goto bad;
      }
      h->have_shape = true;
    } else {
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: unexpected key '%s%s' in the .npy header", path, key,
                           klen < sizeof key ? "" : "...");
    }
    if (eat(&c, '}')) break;
    if (!eat(&c, ',')) goto bad;
  }
  /* Only padding may follow the dict. */
  skip_ws(&c);
  if (c.p != c.end) goto bad;
  if (!h->have_descr || !h->have_fortran || !h->have_shape)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: .npy header lacks %s", path,
                         !h->have_descr ? "'descr'" : !h->have_fortran ? "'fortran_order'" : "'shape'");
  if (h->fortran)
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: Fortran-order arrays are not supported (save a C-order array)", path);
  return SAL_STATUS_OK;
bad:
  return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: malformed .npy header near byte %zu of %zu", path,
                       (size_t)(c.p - buf), len);
}

static uint64_t load_le(const unsigned char *b, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | b[i];
  return v;
}

/* Decodes n little-endian items of dtype into f32. */
static void convert(npy_dtype dt, const unsigned char *src, float *dst, size_t n) {
  for (size_t i = 0; i < n; i++) {
    switch (dt) {
      case NPY_F4: {
        uint32_t u = (uint32_t)load_le(src + 4 * i, 4);
        float f;
        memcpy(&f, &u, 4);
        dst[i] = f;
        break;
      }
      case NPY_F8: {
        uint64_t u = load_le(src + 8 * i, 8);
        double d;
        memcpy(&d, &u, 8);
        dst[i] = (float)d;
        break;
      }
      case NPY_I4:
        dst[i] = (float)(int32_t)(uint32_t)load_le(src + 4 * i, 4);
        break;
      case NPY_I8:
        dst[i] = (float)(int64_t)load_le(src + 8 * i, 8);
        break;
    }
  }
}

sal_status sal_npy_read(sal_ctx *ctx, const char *path, sal_tensor **out) {
  sal_status st = SAL_STATUS_OK;
  FILE *f = NULL;
  char *hbuf = NULL;
  unsigned char *stage = NULL;
  sal_tensor *t = NULL;
  if (!out) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_npy_read: out is NULL");
  *out = NULL;
  if (!path) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_npy_read: path is NULL");

  f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    return sal_ctx_error(ctx, e == ENOENT ? SAL_STATUS_NOT_FOUND : SAL_STATUS_IO, "%s: cannot open: %s", path,
                         strerror(e));
  }
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    st = sal_ctx_error(ctx, SAL_STATUS_IO, "%s: not a regular file", path);
    goto done;
  }
  uint64_t fsize = (uint64_t)sb.st_size;

  unsigned char pre[12];
  size_t got = fread(pre, 1, 8, f);
  if (got < 8 || memcmp(pre, npy_magic, 6) != 0) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: not a .npy file (%s)", path,
                       got < 8 ? "shorter than the 8-byte preamble" : "bad magic");
    goto done;
  }
  unsigned major = pre[6], minor = pre[7];
  size_t lenbytes;
  if (major == 1) lenbytes = 2;
  else if (major == 2 || major == 3) lenbytes = 4;
  else {
    st = sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: .npy format version %u.%u is not supported (1.0-3.0)",
                       path, major, minor);
    goto done;
  }
  if (fread(pre + 8, 1, lenbytes, f) != lenbytes) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: truncated .npy preamble", path);
    goto done;
  }
  uint64_t hlen = load_le(pre + 8, lenbytes);
  uint64_t data_off = 8 + lenbytes + hlen;
  if (data_off > fsize) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: header length %llu is beyond the file (%llu bytes)", path,
                       (unsigned long long)hlen, (unsigned long long)fsize);
    goto done;
  }
  if (hlen > NPY_MAX_HEADER) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: header length %llu exceeds %u bytes", path,
                       (unsigned long long)hlen, (unsigned)NPY_MAX_HEADER);
    goto done;
  }
  hbuf = sal_alloc(ctx, (size_t)hlen + 1);
  if (!hbuf) {
    st = sal_ctx_error_prefix(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: ", path);
    goto done;
  }
  if (fread(hbuf, 1, (size_t)hlen, f) != (size_t)hlen) {
    st = sal_ctx_error(ctx, SAL_STATUS_IO, "%s: read error in the header", path);
    goto done;
  }
  hbuf[hlen] = '\0';
  npy_header h;
  st = parse_header(ctx, path, hbuf, (size_t)hlen, &h);
  if (st != SAL_STATUS_OK) goto done;

  /* Bound the element count by the bytes actually present before allocating anything. */
  int64_t numel = 1;
  for (int i = 0; i < h.ndim; i++) {
    if (h.dims[i] != 0 && numel > INT64_MAX / h.dims[i]) {
      numel = -1;
      break;
    }
    numel *= h.dims[i];
  }
  uint64_t avail = fsize - data_off;
  if (numel < 0 || (uint64_t)numel > avail / h.itemsize) {
    sal_shape s;
    char sbuf[128] = "(?)";
    if (sal_shape_make(&s, h.ndim, h.dims)) sal_shape_str(&s, sbuf, sizeof sbuf);
    char need[48] = "more than 2^64";
    if (numel >= 0 && (uint64_t)numel <= UINT64_MAX / h.itemsize)
      snprintf(need, sizeof need, "%llu", (unsigned long long)((uint64_t)numel * h.itemsize));
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: truncated: shape %s needs %s bytes of data, the file has %llu",
                       path, sbuf, need, (unsigned long long)avail);
    goto done;
  }
  st = sal_tensor_new(ctx, h.ndim, h.dims, &t);
  if (st != SAL_STATUS_OK) {
    sal_ctx_error_prefix(ctx, st, "%s: ", path);
    goto done;
  }
  size_t n = (size_t)numel;
  if (h.dtype == NPY_F4 && host_little_endian()) {
    if (fread(t->data, 4, n, f) != n) {
      st = sal_ctx_error(ctx, SAL_STATUS_IO, "%s: read error in the data", path);
      goto done;
    }
  } else {
    stage = sal_alloc(ctx, NPY_CHUNK_ELEMS * h.itemsize);
    if (!stage) {
      st = sal_ctx_error_prefix(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: ", path);
      goto done;
    }
    for (size_t i = 0; i < n; i += NPY_CHUNK_ELEMS) {
      size_t m = n - i < NPY_CHUNK_ELEMS ? n - i : NPY_CHUNK_ELEMS;
      if (fread(stage, h.itemsize, m, f) != m) {
        st = sal_ctx_error(ctx, SAL_STATUS_IO, "%s: read error in the data", path);
        goto done;
      }
      convert(h.dtype, stage, t->data + i, m);
    }
  }
  *out = t;
  t = NULL;
done:
  sal_tensor_free(t);
  sal_free(stage);
  sal_free(hbuf);
  if (f) fclose(f);
  return st;
}

/* Formats the version-1.0 header for shape s into buf (preamble included), padded with spaces and
 * a final '\n' so that the data starts at a multiple of 64 bytes (numpy's alignment). Returns the
 * total length. */
static size_t format_header(const sal_shape *s, char *buf, size_t cap) {
  char shape[160];
  size_t k = 0;
  k += (size_t)snprintf(shape + k, sizeof shape - k, "(");
  for (int i = 0; i < s->ndim; i++)
    k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%lld", i ? ", " : "", (long long)s->d[i]);
  snprintf(shape + k, sizeof shape - k, "%s)", s->ndim == 1 ? "," : "");
  char dict[256];
  int dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape);
  size_t total = 10 + (size_t)dl + 1;
  total = (total + 63) / 64 * 64;
  if (total > cap) return 0;
  size_t hlen = total - 10;
  memcpy(buf, npy_magic, 6);
  buf[6] = 1;
  buf[7] = 0;
  buf[8] = (char)(hlen & 0xff);
  buf[9] = (char)(hlen >> 8);
  memcpy(buf + 10, dict, (size_t)dl);
  memset(buf + 10 + dl, ' ', hlen - (size_t)dl - 1);
  buf[total - 1] = '\n';
  return total;
}

sal_status sal_npy_write(sal_ctx *ctx, const char *path, const sal_tensor *t) {
  if (!path || !t) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_npy_write: NULL %s", path ? "tensor" : "path");
  if (t->layout != SAL_LAYOUT_PLAIN)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: cannot write a tensor in a blocked layout", path);
  int64_t numel = sal_tensor_numel(t);
  if (numel < 0 || t->shape.ndim < 0 || t->shape.ndim > SAL_MAX_DIMS)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: bad tensor shape", path);
  if (numel > 0 && !t->data) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: tensor has no data", path);
  char head[320];
  size_t hl = format_header(&t->shape, head, sizeof head);
  if (!hl) return sal_ctx_error(ctx, SAL_STATUS_INTERNAL, "%s: .npy header does not fit", path);

  sal__atomic_file af;
  sal_status st = sal__atomic_open(ctx, path, &af);
  if (st != SAL_STATUS_OK) return st;
  FILE *f = af.f;
  bool ok = fwrite(head, 1, hl, f) == hl;
  if (ok && host_little_endian()) {
    ok = fwrite(t->data, sizeof(float), (size_t)numel, f) == (size_t)numel;
  } else {
    for (int64_t i = 0; ok && i < numel; i++) {
      uint32_t u;
      memcpy(&u, &t->data[i], 4);
      unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                            (unsigned char)(u >> 24)};
      ok = fwrite(b, 1, 4, f) == 4;
    }
  }
  return sal__atomic_commit(ctx, &af, ok);
}
