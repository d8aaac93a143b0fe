/* Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11, "Parallel random numbers:
 * as easy as 1, 2, 3"). Element i of stream (seed, stream) is a pure function of the three, so
 * every random choice in salient is reproducible whatever the batching or threading. */
#include "core/internal.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void sal_philox(uint64_t seed, uint64_t stream, uint64_t counter, uint32_t out[4]) {
  uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32);
  uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
    uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = (uint32_t)p0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* 24 high bits → [0, 1) exactly representable in f32. */
static inline float u32_to_unit(uint32_t u) { return (float)(u >> 8) * (1.0f / 16777216.0f); }

void sal_rng_uniform(uint64_t seed, uint64_t stream, uint64_t offset, float *out, size_t n) {
  #pragma omp parallel for if (n > 65536) schedule(static)
  for (size_t i = 0; i < n; i++) {
    uint64_t e = offset + i;
    uint32_t r[4];
    sal_philox(seed, stream, e >> 2, r);
    out[i] = u32_to_unit(r[e & 3]);
  }
}

void sal_rng_normal(uint64_t seed, uint64_t stream, uint64_t offset, float *out, size_t n) {
  /* Block b (one Philox call) gives elements 4b..4b+3: two Box–Muller pairs (u1, u2) → cosine
   * and sine branches. Element e is a function of (seed, stream, e) only. */
  if (n == 0) return;
  const uint64_t s2 = stream ^ 0x6E6F726D616C0000ull;
  const uint64_t first = offset >> 2, last = (offset + n + 3) >> 2;
  #pragma omp parallel for if (n > 65536) schedule(static)
  for (uint64_t b = first; b < last; b++) {
    uint32_t r[4];
    sal_philox(seed, s2, b, r);
    double z[4];
    for (int q = 0; q < 2; q++) {
      double u1 = ((double)(r[2 * q] >> 8) + 1.0) / 16777217.0; /* (0, 1]: log is finite */
      double u2 = (double)(r[2 * q + 1] >> 8) / 16777216.0;
      double rad = sqrt(-2.0 * log(u1)), ang = 6.283185307179586 * u2;
      z[2 * q] = rad * cos(ang);
      z[2 * q + 1] = rad * sin(ang);
    }
    for (uint64_t j = 0; j < 4; j++) {
      uint64_t e = 4 * b + j;
      if (e >= offset && e - offset < n) out[e - offset] = (float)z[j];
    }
  }
}
