/* The dynamic-mask engine shared by `dm` (src/saliency/dm.c) and `hdm` (src/saliency/hdm.c): one DM
 * level (stage 1 benchmark masks, stage 2 auxiliary masks) over a list of images, every buffer
 * allocated before the optimisation loops, plus the trace writers. */
#ifndef SAL_SALIENCY_DM_H
#define SAL_SALIENCY_DM_H

#include "saliency/saliency.h"

typedef struct sal__dm {
  sal__xjob *job;
  sal__runner r;
  int64_t C, H, W, HW, per, K, B; /* B: items per model pass */
  int nb, na;                     /* benchmark and auxiliary grid counts */
  int64_t gb[SAL_MAX_GRIDS], ga[SAL_MAX_GRIDS]; /* their sides */
  int64_t cells;                  /* mask cells one item holds: max(max gb², Σ ga²) */
  uint64_t stream;                /* Philox stream of the noise baseline */
  /* per batch item */
  float *xb, *gx, *d;             /* (B, C, H, W): composite, its gradient, x − b(x) */
  float *up, *gup, *Mi;           /* (B, H, W): upsampled mask / Σ_t up(a_t), its gradient, M */
  float *m, *gm, *m1, *m2;        /* (B, cells): masks, gradients, Adam moments */
  float *z, *seed;                /* (B, K): logits, backward seed */
  double *best;                   /* (B) lowest loss so far */
  int64_t *since, *stop;          /* (B) steps since the lowest loss; steps taken */
  float *curve;                   /* trace only: (B, iterations, 4) loss terms per step */
} sal__dm;

/* Resolves the grids (0 = scaled defaults), checks the parameters (BAD_INPUT naming the key) and
 * allocates everything for batches of up to n_images · (grid count) items (the memory budget permitting). */
sal_status sal__dm_init(sal__dm *w, sal__xjob *job, int64_t n_images);
void sal__dm_free(sal__dm *w);

/* One DM on images idx[0..n) of the job (classes job->targets). x and base are (N, C, H, W): the
 * inputs explained and their baselines b(x); z0[N] the logits z_c to preserve. Writes the
 * benchmark map B and the superimposed mask M into rows idx[i] of Bmap and M (both (N, H, W)).
 * level (1-based) names the trace files. */
sal_status sal__dm_level(sal__dm *w, const int64_t *idx, int64_t n, const float *x, const float *base,
                         const float *z0, float *Bmap, float *M, int level);

/* Trace writers (no-ops without p->trace_dir), files <dir>/<stem>.<method>.<what>.<ext> with stem
 * trace_names[i] or "image<i>": an (h, w) map as .npy, plus a colour-mapped .png of clip(map, 0, 1)
 * when png; a .csv of a header line and n_rows rows "step,v0,...,v(n_cols-1)" (rows: stride floats
 * apart). */
sal_status sal__dm_trace_map(const sal__dm *w, int64_t i, const char *what, const float *map, int64_t h, int64_t wd,
                             bool png);
sal_status sal__dm_trace_csv(const sal__dm *w, int64_t i, const char *what, const char *header, const float *rows,
                             int64_t n_rows, int n_cols, int stride);

#endif
