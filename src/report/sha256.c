/* SHA-256 (NIST FIPS 180-4) of memory and of files: the fingerprints of the model and the data that
 * `salient eval` records in run.json and the report (src/report/html.c) shows. */
#include "salient/report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64
 * primes. */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

typedef struct sha256_state {
  uint32_t h[8];
  uint8_t block[64];
  size_t fill;    /* bytes in block */
  uint64_t total; /* bytes hashed */
} sha256_state;

static uint32_t rotr(uint32_t x, int n) { return x >> n | x << (32 - n); }

static void sha_init(sha256_state *s) {
  /* §5.3.3: the first 32 bits of the fractional parts of the square roots of the first 8 primes */
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, h0, sizeof h0);
  s->fill = 0;
  s->total = 0;
}

/* §6.2.2: one 512-bit block, big-endian words. */
static void sha_block(uint32_t h[8], const uint8_t *p) {
  uint32_t w[64];
  for (int t = 0; t < 16; t++)
    w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 | (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
  for (int t = 16; t < 64; t++) {
    uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ w[t - 15] >> 3;
    uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ w[t - 2] >> 10;
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int t = 0; t < 64; t++) {
    uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
    uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

static void sha_update(sha256_state *s, const uint8_t *p, size_t n) {
  s->total += n;
  while (n > 0) {
    size_t take = 64 - s->fill < n ? 64 - s->fill : n;
    memcpy(s->block + s->fill, p, take);
    s->fill += take;
    p += take;
    n -= take;
    if (s->fill == 64) {
      sha_block(s->h, s->block);
      s->fill = 0;
    }
  }
}

/* §5.1.1: a 1 bit, zeros up to 56 mod 64 bytes, then the message length in bits (64-bit big-endian). */
static void sha_final(sha256_state *s, uint8_t digest[32]) {
  uint64_t bits = s->total * 8;
  uint8_t pad[72] = {0x80};
  size_t npad = (s->fill < 56 ? 56 : 120) - s->fill;
  for (int i = 0; i < 8; i++) pad[npad + i] = (uint8_t)(bits >> (56 - 8 * i));
  sha_update(s, pad, npad + 8);
  for (int i = 0; i < 8; i++)
    for (int k = 0; k < 4; k++) digest[4 * i + k] = (uint8_t)(s->h[i] >> (24 - 8 * k));
}

void sal_sha256(const void *data, size_t n, uint8_t digest[32]) {
  sha256_state s;
  sha_init(&s);
  sha_update(&s, data, n);
  sha_final(&s, digest);
}

sal_status sal_sha256_file(sal_ctx *ctx, const char *path, char hex[65], int64_t *bytes_out) {
  hex[0] = '\0';
  FILE *f = fopen(path, "rb");
  if (!f)
    return sal_ctx_error(ctx, errno == ENOENT ? SAL_STATUS_NOT_FOUND : SAL_STATUS_IO, "cannot open %s: %s", path,
                         strerror(errno));
  sha256_state s;
  sha_init(&s);
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) sha_update(&s, buf, n);
  bool err = ferror(f) != 0;
  fclose(f);
  if (err) return sal_ctx_error(ctx, SAL_STATUS_IO, "reading %s failed", path);
  uint8_t d[32];
  uint64_t total = s.total;
  sha_final(&s, d);
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
  if (bytes_out) *bytes_out = (int64_t)total;
  return SAL_STATUS_OK;
}
