/* Helpers shared by the oneDNN kernels of the non-convolution families (eltwise, binary,
 * softmax, matmul, resize, concat): memory descriptors from salient tensors, primitives with a
 * user-owned scratchpad created once per plan, layout-converting copies that can accumulate. */
#ifndef SAL_DNNL_MISC_UTIL_H
#define SAL_DNNL_MISC_UTIL_H

#include "graph/internal.h"
#include "kernels/dnnl/env.h"

/* One primitive with its descriptor and its scratchpad (allocated in prepare, so execution never
 * allocates: the scratchpad mode is dnnl_scratchpad_mode_user). Zero-initialised = empty. */
typedef struct sal_dm_prim {
  dnnl_primitive_desc_t pd;
  dnnl_primitive_t prim;
  dnnl_memory_t scratch; /* NULL when the primitive needs none */
  void *scratch_buf;
} sal_dm_prim;

/* Memory descriptor of shape s in layout l, right-aligned to `rank` dimensions (leading 1s;
 * rank 0 = the shape's own rank, and a 0-d shape becomes (1)). PLAIN uses the row-major tag of
 * the rank (a, ab, abc, abcd, abcde); BLOCKED16 is nChw16c and only valid for 4-D shapes. */
sal_status sal__dm_md(sal_kctx *k, dnnl_memory_desc_t *md, const sal_shape *s, sal_layout l, int rank);
/* Row-major descriptor with explicit dims (ndim 1..DNNL_MAX_NDIMS). */
sal_status sal__dm_md_dims(sal_kctx *k, dnnl_memory_desc_t *md, int ndim, const int64_t *dims);
/* A memory object for md (data: the initial handle, may be NULL). */
sal_status sal__dm_mem(sal_kctx *k, dnnl_memory_t *m, const dnnl_memory_desc_t *md, void *data);
/* Points m at ptr when it points elsewhere. oneDNN zero-fills the padding of a blocked memory
 * on every set_data_handle, so handles are only set when they change. */
void sal__dm_bind(dnnl_memory_t m, void *ptr);

/* Attributes: user scratchpad; an output scale when out_scale != 1 (matmul, reorder); an eltwise
 * linear post-op y = post_scale*y when post_scale != 1 (binary, reduction); last, when
 * accumulate, a sum post-op (dst = result + dst). Free with dnnl_primitive_attr_destroy. */
sal_status sal__dm_attr(sal_kctx *k, dnnl_primitive_attr_t *attr, float out_scale, float post_scale,
                        bool accumulate);

/* Creates p from an op descriptor (attr NULL = user scratchpad only; hint = forward pd for
 * backward primitives). Warns when oneDNN picks a reference implementation. `what` names the
 * primitive in errors and warnings. */
sal_status sal__dm_prim_new(sal_kctx *k, sal_dm_prim *p, const_dnnl_op_desc_t d,
                            const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint,
                            const char *what);
/* Wraps a primitive descriptor made elsewhere (concat, reorder); takes ownership of pd. */
sal_status sal__dm_prim_from_pd(sal_kctx *k, sal_dm_prim *p, dnnl_primitive_desc_t pd, const char *what);
/* A reorder src_md -> dst_md: dst = scale*src (+ dst when accumulate); converts layouts. */
sal_status sal__dm_reorder_new(sal_kctx *k, sal_dm_prim *p, const dnnl_memory_desc_t *src_md,
                               const dnnl_memory_desc_t *dst_md, float scale, bool accumulate);
void sal__dm_prim_free(sal_dm_prim *p);
/* oneDNN's implementation name of p ("jit:avx512_core", "ref:any"...). */
const char *sal__dm_impl(const sal_dm_prim *p);
/* Most arguments sal__dm_exec takes (the scratchpad comes on top): a concat of up to
 * SAL_DM_MAX_ARGS - 1 inputs and its destination. */
#define SAL_DM_MAX_ARGS 130
/* Executes p with args (at most SAL_DM_MAX_ARGS; the scratchpad is added here). */
sal_status sal__dm_exec(sal_kctx *k, const sal_dm_prim *p, int nargs, const dnnl_exec_arg_t *args);

/* True when input i's value is read by more than one node input of the graph, so its gradient
 * may arrive with din_accum set (the plan accumulates from the second writer on). Kernels whose
 * primitives overwrite allocate their accumulation scratch only then. */
bool sal__dm_may_accum(const sal_kctx *k, int i);
/* Storage size in floats of tensor t in its layout. */
int64_t sal__dm_storage(const sal_tensor *t);
/* Error for din_accum on an input whose gradient was not expected to accumulate. */
sal_status sal__dm_unexpected_accum(sal_kctx *k, int i);
/* Formats "dnnl:<impl>" into buf. */
void sal__dm_name(char *buf, size_t n, const sal_dm_prim *p);

#endif
