/* The input gradient of a convolution with few input channels (the first layer, 3 → 64) as one
 * matmul plus a col2im gather, instead of oneDNN's backward-data, which pads 3 channels to 16 and
 * runs at a fraction of peak (PERF-NOTES, "Traps"). */
#ifndef SAL_DNNL_CONV_GEMM_H
#define SAL_DNNL_CONV_GEMM_H

#include "kernels/dnnl/util.h"
#include "ops/conv.h"

typedef struct sal_conv_gemm {
  sal_conv_geom g;
  sal_layout dy_layout; /* dy (N,M,OH,OW): plain or nChw16c */
  /* Per image, per band of `rows` output rows (P = rows*OW positions; the last band has `last`
   * rows): W^T (C*kH*kW, M) · dy band (M, P) → cols (C*kH*kW, P), then col2im of that band, so
   * the band of dy and its columns stay in the core's L2 cache. */
  int64_t rows, last;
  dnnl_memory_t wt, b, cols, b_last, cols_last;
  sal_dnnl_prim mm, mm_last; /* full bands; the last, shorter band (mm_last.p NULL when none) */
  float *b_buf;       /* a band of dy plain (M, P), masked by y > 0 when asked */
  float *cols_buf;
  /* One image of dx split by the phase of x modulo the stride: (C, H, stride, wq), x = j*stride + p
   * at [c][h][p][j], wq = ceil(W / stride); col2im adds contiguous runs into it, and it is
   * interleaved into dx once per image. */
  float *ph;
  int64_t wq;
  /* Taps per input row h: hn[h] pairs (kh, oh) with h + pad_top - kh*dil = oh*stride, 0 <= oh < OH,
   * at htap[(h*kH + i)*2 + {0,1}]. */
  int32_t *htap, *hn;
} sal_conv_gemm;

/* True when this path applies: one group and fewer than 16 input channels. */
bool sal__conv_gemm_wanted(const sal_conv_geom *g);
/* Creates the matmul primitive and the per-image buffers (resources owned by r). dy_layout: the
 * layout of dy (and of y, for the mask). */
sal_status sal__conv_gemm_prepare(sal_dnnl_res *r, sal_conv_gemm *cg, const sal_conv_geom *g, sal_layout dy_layout);
/* dx (N,C,H,W) plain (+)= the input gradient for dy and weights w (M, C, kH, kW) plain. With y
 * (the conv's output, dy's layout), dy is first masked by y > 0 (a fused ReLU), in the same pass
 * that makes each image's dy plain. */
sal_status sal__conv_gemm_run(sal_dnnl_res *r, sal_conv_gemm *cg, const float *dy, const float *y, const float *w,
                              float *dx, bool accumulate);
#endif
