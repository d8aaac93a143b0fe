/* Small helpers shared by reference kernels. */
#ifndef SAL_REF_UTIL_H
#define SAL_REF_UTIL_H
#include "salient/tensor.h"

/* dst = src (accum false) or dst += src (accum true); src NULL counts as zeros. Same numel. */
void sal__ref_accumulate(sal_tensor *dst, const sal_tensor *src, bool accum);
#endif
