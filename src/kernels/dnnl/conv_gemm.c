/* Backward-data of small-channel convolutions as matmul + col2im (see conv_gemm.h). On ResNet's
 * first layer (3 → 64, 7x7/2, 224², batch 1) this replaces oneDNN's ~4 ms backward-data. Each
 * image is done in bands of output rows: the band of dy is made plain (and masked by a fused
 * ReLU) in one pass, multiplied into its columns, and the columns gathered into dx, about 0.5 MB
 * of columns at a time (a whole image's are 7.4 MB for that layer), so they stay in L2. */
#include "kernels/dnnl/conv_gemm.h"

#include <string.h>

bool sal__conv_gemm_wanted(const sal_conv_geom *g) { return g->group == 1 && g->win.c < 16; }

/* For each input row i in 0..n: the (tap, output row) pairs that read it. */
static void taps(int64_t n, int64_t on, int64_t k, int64_t s, int64_t d, int64_t pad, int32_t *tap, int32_t *cnt) {
  for (int64_t i = 0; i < n; i++) {
    int32_t c = 0;
    for (int64_t t = 0; t < k; t++) {
      int64_t q = i + pad - t * d;
      if (q < 0 || q % s || q / s >= on) continue;
      tap[(i * k + c) * 2] = (int32_t)t;
      tap[(i * k + c) * 2 + 1] = (int32_t)(q / s);
      c++;
    }
    cnt[i] = c;
  }
}

/* One band's matmul: W^T (K, M), a strided view of W (M, K), times dy's band (M, P) → (K, P). */
static sal_status band_matmul(sal_dnnl_res *r, int64_t K, int64_t M, int64_t P, bool first, sal_conv_gemm *cg,
                              sal_dnnl_prim *mm, dnnl_memory_t *b, dnnl_memory_t *c) {
  dnnl_memory_desc_t wt_md, b_md, c_md;
  dnnl_dims_t wtd = {1, K, M}, wts = {K * M, 1, K}, bd = {1, M, P}, cd = {1, K, P};
  dnnl_matmul_desc_t mmd;
  dnnl_primitive_desc_t pd;
  sal_status st = sal__dnnl_check(r->ctx, dnnl_memory_desc_init_by_strides(&wt_md, 3, wtd, dnnl_f32, wts), "matmul md");
  if (!st) st = sal__dnnl_check(r->ctx, dnnl_memory_desc_init_by_tag(&b_md, 3, bd, dnnl_f32, dnnl_abc), "matmul md");
  if (!st) st = sal__dnnl_check(r->ctx, dnnl_memory_desc_init_by_tag(&c_md, 3, cd, dnnl_f32, dnnl_abc), "matmul md");
  if (!st) st = sal__dnnl_check(r->ctx, dnnl_matmul_desc_init(&mmd, &wt_md, &b_md, NULL, &c_md), "matmul descriptor");
  if (!st) st = sal__dnnl_pd(r, &mmd, NULL, "conv backward-data matmul", &pd);
  if (!st) st = sal__dnnl_prim(r, pd, "conv backward-data matmul", mm);
  if (st) return st;
  if (first) {
    st = sal__dnnl_mem(r, &wt_md, false, &cg->wt);
    if (!st) st = sal__dnnl_mem_buf(r, &b_md, &cg->b_buf, b);
    if (!st) st = sal__dnnl_mem_buf(r, &c_md, &cg->cols_buf, c);
    return st;
  }
  st = sal__dnnl_mem_at(r, &b_md, cg->b_buf, b); /* the last band reuses the full bands' buffers */
  return st ? st : sal__dnnl_mem_at(r, &c_md, cg->cols_buf, c);
}

sal_status sal__conv_gemm_prepare(sal_dnnl_res *r, sal_conv_gemm *cg, const sal_conv_geom *g, sal_layout dy_layout) {
  const sal_window *w = &g->win;
  cg->g = *g;
  cg->dy_layout = dy_layout;
  int64_t K = w->c * w->k[0] * w->k[1], M = g->m;
  /* Output rows per band: about 128 Ki floats (512 KB) of columns, a quarter of a 2 MB L2. */
  cg->rows = (128 * 1024) / (K * w->ow);
  if (cg->rows < 1) cg->rows = 1;
  if (cg->rows > w->oh) cg->rows = w->oh;
  cg->last = w->oh % cg->rows;
  sal_status st = band_matmul(r, K, M, cg->rows * w->ow, true, cg, &cg->mm, &cg->b, &cg->cols);
  if (!st && cg->last) st = band_matmul(r, K, M, cg->last * w->ow, false, cg, &cg->mm_last, &cg->b_last, &cg->cols_last);
  if (st) return st;
  cg->wq = (w->w + w->s[1] - 1) / w->s[1];
  cg->ph = sal__dnnl_buf(r, (size_t)(w->c * w->h * w->s[1] * cg->wq) * sizeof(float));
  cg->htap = sal__dnnl_buf(r, (size_t)(w->h * w->k[0] * 2) * sizeof(int32_t));
  cg->hn = sal__dnnl_buf(r, (size_t)w->h * sizeof(int32_t));
  if (!cg->ph || !cg->htap || !cg->hn) return SAL_STATUS_OUT_OF_MEMORY;
  taps(w->h, w->oh, w->k[0], w->s[0], w->d[0], w->pad[0], cg->htap, cg->hn);
  return SAL_STATUS_OK;
}

/* col2im of one band (output rows o0 .. o0+rows-1) of one image into cg->ph, which holds the sum
 * of the earlier bands: input row (c, h) collects, for each tap (kh, oh) reading it with oh in the
 * band and each kw, the column row cols[(c, kh, kw)][oh - o0][:] at x = ow*stride + off,
 * off = kw*dil - pad_left. In the phase split, that is the contiguous run j = ow + (off - p)/stride
 * of phase p = off mod stride, so the adds vectorise (scattered with the stride into dx they ran
 * scalar: ~3 ms of ResNet's 4 ms stem gradient per image). Each row is written by one thread. */
static void col2im(const sal_conv_gemm *cg, int64_t o0, int64_t rows) {
  const sal_window *g = &cg->g.win;
  const int64_t C = g->c, H = g->h, W = g->w, OW = g->ow, wq = cg->wq;
  const int64_t KH = g->k[0], KW = g->k[1], s = g->s[1], dil = g->d[1], pad = g->pad[1];
  /* the input rows this band reaches */
  int64_t h0 = o0 * g->s[0] - g->pad[0], h1 = (o0 + rows - 1) * g->s[0] - g->pad[0] + (KH - 1) * g->d[0] + 1;
  if (h0 < 0) h0 = 0;
  if (h1 > H) h1 = H;
  const float *cols = cg->cols_buf;
  #pragma omp parallel for collapse(2) schedule(static)
  for (int64_t c = 0; c < C; c++)
    for (int64_t h = h0; h < h1; h++) {
      float *row = cg->ph + (c * H + h) * s * wq;
      const int32_t *ht = cg->htap + h * KH * 2;
      for (int32_t i = 0; i < cg->hn[h]; i++) {
        int64_t kh = ht[2 * i], oh = ht[2 * i + 1] - o0;
        if (oh < 0 || oh >= rows) continue;
        for (int64_t kw = 0; kw < KW; kw++) {
          const float *src = cols + (((c * KH + kh) * KW + kw) * rows + oh) * OW;
          /* ow range with 0 <= ow*s + off < W */
          int64_t off = kw * dil - pad, p = ((off % s) + s) % s;
          int64_t ow0 = off >= 0 ? 0 : (-off + s - 1) / s;
          int64_t ow1 = (W - 1 - off) / s + 1;
          if (W - 1 - off < 0) ow1 = 0;
          if (ow1 > OW) ow1 = OW;
          float *restrict dst = row + p * wq + (off - p) / s + ow0; /* j of ow0 (>= 0) */
          for (int64_t i = 0; i < ow1 - ow0; i++) dst[i] += src[ow0 + i];
        }
      }
    }
}

/* dx (C, H, W) += the phase split image cg->ph. */
static void unsplit(const sal_conv_gemm *cg, float *dx) {
  const sal_window *g = &cg->g.win;
  const int64_t W = g->w, s = g->s[1], wq = cg->wq, R = g->c * g->h;
  #pragma omp parallel for schedule(static)
  for (int64_t rc = 0; rc < R; rc++) {
    const float *src = cg->ph + rc * s * wq;
    float *row = dx + rc * W;
    for (int64_t p = 0; p < s; p++)
      for (int64_t j = 0; j * s + p < W; j++) row[j * s + p] += src[p * wq + j];
  }
}

/* b (M, n) plain = positions q0 .. q0+n-1 of one image of dy (P positions), times (y > 0) when y
 * is given. dy and y hold that image in the layout `l`: plain (M, P), or nChw16c, (ceil(M/16), P, 16). */
static void plain_band(float *b, const float *dy, const float *y, int64_t M, int64_t P, int64_t q0, int64_t n,
                       sal_layout l) {
  if (l != SAL_LAYOUT_BLOCKED16) {
    #pragma omp parallel for schedule(static)
    for (int64_t m = 0; m < M; m++)
      for (int64_t q = 0; q < n; q++) {
        int64_t i = m * P + q0 + q;
        float d = dy[i], k = y ? y[i] : 1.0f;
        b[m * n + q] = k > 0.0f ? d : 0.0f;
      }
    return;
  }
  /* Per position, the 16 channels of a block are one contiguous read; each goes to its channel's
   * row. The mask is a select over values loaded unconditionally (a branch on the sign of y
   * mispredicts half the time: 5 ms against 0.8 ms per image of ResNet's first layer). */
  const int64_t T = 256, nt = (n + T - 1) / T, CB = (M + 15) / 16;
  #pragma omp parallel for collapse(2) schedule(static)
  for (int64_t cb = 0; cb < CB; cb++)
    for (int64_t t = 0; t < nt; t++) {
      int64_t a = t * T, e = a + T < n ? a + T : n, cn = M - cb * 16 < 16 ? M - cb * 16 : 16;
      const float *s = dy + (cb * P + q0) * 16, *ys = y ? y + (cb * P + q0) * 16 : NULL;
      float *rows = b + cb * 16 * n;
      for (int64_t q = a; q < e; q++) {
        float v[16];
        if (ys)
          for (int c = 0; c < 16; c++) {
            float d = s[q * 16 + c], m = ys[q * 16 + c];
            v[c] = m > 0.0f ? d : 0.0f;
          }
        else
          for (int c = 0; c < 16; c++) v[c] = s[q * 16 + c];
        for (int64_t c = 0; c < cn; c++) rows[c * n + q] = v[c];
      }
    }
}

sal_status sal__conv_gemm_run(sal_dnnl_res *r, sal_conv_gemm *cg, const float *dy, const float *y, const float *w,
                              float *dx, bool accumulate) {
  const sal_window *g = &cg->g.win;
  sal_status st = sal__dnnl_check(r->ctx, dnnl_memory_set_data_handle(cg->wt, (void *)w), "matmul src handle");
  if (st) return st;
  const int64_t M = cg->g.m, P = g->oh * g->ow, image = g->c * g->h * g->w;
  /* floats of one image of dy in its layout (channels padded to 16 when blocked) */
  const int64_t dy_image = (cg->dy_layout == SAL_LAYOUT_BLOCKED16 ? (M + 15) / 16 * 16 : M) * P;
  if (!accumulate) memset(dx, 0, (size_t)(g->n * image) * sizeof(float));
  const size_t ph_bytes = (size_t)(g->c * g->h * g->s[1] * cg->wq) * sizeof(float);
  for (int64_t n = 0; n < g->n; n++) {
    memset(cg->ph, 0, ph_bytes);
    for (int64_t o0 = 0; o0 < g->oh; o0 += cg->rows) {
      bool last = o0 + cg->rows > g->oh;
      int64_t rows = last ? cg->last : cg->rows;
      plain_band(cg->b_buf, dy + n * dy_image, y ? y + n * dy_image : NULL, M, P, o0 * g->ow, rows * g->ow, cg->dy_layout);
      dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, cg->wt}, {DNNL_ARG_WEIGHTS, last ? cg->b_last : cg->b},
                                 {DNNL_ARG_DST, last ? cg->cols_last : cg->cols}};
      st = sal__dnnl_run(r, last ? &cg->mm_last : &cg->mm, 3, args);
      if (!st) st = sal__dnnl_wait(r);
      if (st) return st;
      col2im(cg, o0, rows);
    }
    unsplit(cg, dx + n * image);
  }
  return SAL_STATUS_OK;
}
