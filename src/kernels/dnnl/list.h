/* oneDNN kernels: X(OP_ENUM, symbol) declares sal__dnnl_<symbol> (src/kernels/dnnl/<family>.c).
 * An op without an entry runs its reference kernel. One fragment per family owner. */
#include "kernels/dnnl/list_conv.h"
#include "kernels/dnnl/list_misc.h"
#define SAL_DNNL_KERNELS(X) SAL_DNNL_CONV(X) SAL_DNNL_MISC(X)
