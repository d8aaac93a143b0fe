/* Memory layouts inside plans: plain NCHW and oneDNN's channel-blocked nChw16c, with the
 * conversions used when a caller reads or seeds a value the plan keeps blocked. */
#ifndef SAL_TENSOR_LAYOUT_H
#define SAL_TENSOR_LAYOUT_H
#include "salient/tensor.h"

#define SAL_BLOCK 16

/* Elements of storage a tensor of shape s needs in layout l (blocked pads C up to 16). */
int64_t sal__storage_numel(const sal_shape *s, sal_layout l);
/* Storage elements of t (its shape in its layout). */
static inline int64_t sal__tensor_storage(const sal_tensor *t) { return sal__storage_numel(&t->shape, t->layout); }
/* src is (N,C,H,W) BLOCKED16; dst receives N*C*H*W plain floats. */
void sal__blocked_to_plain(const sal_tensor *src, float *dst);
/* src holds N*C*H*W plain floats; dst is (N,C,H,W) BLOCKED16 (padding channels set to 0). */
void sal__plain_to_blocked(const float *src, sal_tensor *dst);
#endif
