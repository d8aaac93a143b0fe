/* Internal helpers shared by the metric families of src/eval/. */
#ifndef SAL_EVAL_INTERNAL_H
#define SAL_EVAL_INTERNAL_H

#include "salient/metrics.h"

/* BAD_INPUT unless map is a non-NULL h × w plane (1..2^30 values) of finite values; the message
 * names the first bad position. */
sal_status sal__eval_check_map(sal_ctx *ctx, const float *map, int64_t h, int64_t w);
/* Index of the first maximum of n values in row-major order; -1 when all n are equal. */
int64_t sal__eval_argmax(const float *map, int64_t n);
/* out = (map − min) / (max − min); all 0 for a constant map. out may alias map. */
void sal__eval_minmax(const float *map, int64_t n, float *out);

/* order[0..n) = the indices of map sorted by decreasing value, equal values in increasing index
 * (row-major) order. BAD_INPUT/OUT_OF_MEMORY as usual. */
sal_status sal__eval_rank(sal_ctx *ctx, const float *map, int64_t n, int64_t *order);

#endif
