/* Internal interface of the resamplers (src/data/resize.c) used by the preprocessing pipeline
 * (src/data/preprocess.c): per-thread workspace slots and windowed resizes that compute only a
 * rectangle of the output (the centre crop), bit-identical to computing the whole output. */
#ifndef SAL_DATA_RESIZE_H
#define SAL_DATA_RESIZE_H

#include "salient/data.h"

enum {
  SAL__WS_HBOUND, SAL__WS_HCOEF, SAL__WS_VBOUND, SAL__WS_VCOEF, SAL__WS_TMP, /* resize */
  SAL__WS_CONV, SAL__WS_WIN,                                                /* pipeline */
  SAL__WS_SLOTS
};

struct sal_workspace {
  void *buf[SAL__WS_SLOTS];
  size_t cap[SAL__WS_SLOTS];
};

/* Slot `slot` with at least `bytes` bytes (grown, contents not kept); NULL on allocation failure
 * (an OUT_OF_MEMORY message is recorded in ctx). */
void *sal__ws_get(sal_ctx *ctx, sal_workspace *ws, int slot, size_t bytes);

/* Output pixels [x0, x0 + nx) × [y0, y0 + ny) of the dw × dh resize of src (sh rows of sw pixels,
 * ps samples per pixel of which the first c are resampled) into dst (ny, nx, c). The window must lie
 * inside the output. u8: PIL's 8-bit path; f32: torch's antialiased float path. */
sal_status sal__resize_u8_window(sal_ctx *ctx, sal_workspace *ws, const uint8_t *src, int64_t sw, int64_t sh, int ps,
                                 int c, int64_t dw, int64_t dh, sal_interp interp, int64_t x0, int64_t nx, int64_t y0,
                                 int64_t ny, uint8_t *dst);
sal_status sal__resize_f32_window(sal_ctx *ctx, sal_workspace *ws, const float *src, int64_t sw, int64_t sh, int ps,
                                  int c, int64_t dw, int64_t dh, sal_interp interp, int64_t x0, int64_t nx, int64_t y0,
                                  int64_t ny, float *dst);

#endif
