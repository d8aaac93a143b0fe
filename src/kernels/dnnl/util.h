/* Helpers shared by every oneDNN kernel of src/kernels/dnnl/: a per-node resource list
 * (primitive descriptors, primitives, memories, buffers, one user-mode scratchpad) inside a kernel
 * state created and released here, "ports" that bind a salient tensor to the layout a primitive
 * wants (with a reorder created once when the two differ), reorders that scale or accumulate,
 * attributes with output scales and post-ops, memory descriptors of any rank built from a
 * tensor's layout, and the check that warns when oneDNN falls back to a reference
 * implementation. Everything is created in a kernel's prepare; forward/backward only set data
 * handles and execute. */
#ifndef SAL_DNNL_UTIL_H
#define SAL_DNNL_UTIL_H

#include <stddef.h>

#include "graph/internal.h"
#include "kernels/dnnl/env.h"

/* A growing list of oneDNN objects or buffers (pointers), owned by a resource list. */
typedef struct sal_dnnl_list {
  void **v;
  int n, cap;
} sal_dnnl_list;

/* A primitive, the descriptor it was made from (owned by the resource list; for hints and
 * implementation names) and the memory object over its share of the scratchpad (NULL when it
 * needs none). Zero-initialised = no primitive. */
typedef struct sal_dnnl_prim {
  dnnl_primitive_t p;
  const_dnnl_primitive_desc_t pd;
  dnnl_memory_t scratch;
} sal_dnnl_prim;

/* Everything a node's oneDNN kernel created, freed at once by sal__dnnl_res_free. Primitives use
 * user-mode scratchpads that all point into one buffer (they run one after another). */
typedef struct sal_dnnl_res {
  sal_ctx *ctx;
  sal_dnnl_env *env;
  const sal_node *node;
  dnnl_primitive_attr_t attr;
  sal_dnnl_list pds, prims, mems, bufs, scratch;
  size_t scratch_bytes;
  void *scratch_buf;
} sal_dnnl_res;

/* A salient tensor as one primitive argument sees it. `user` wraps the tensor's buffer (handle set
 * at each execution). For inputs, `prim` is what the primitive reads: `user` itself when the
 * layouts match, else a buffer filled by `reorder` (user → prim). For outputs, the primitive writes
 * `prim` (when the layouts differ, then reorder prim → user) or straight into the user buffer;
 * `acc` is a buffer in the user layout where results go when they must be added to the tensor
 * (gradient accumulation), or that stands in for an unwanted output. */
typedef struct sal_dnnl_port {
  dnnl_memory_t user, prim, acc;
  sal_dnnl_prim reorder;
  size_t user_bytes;
  void *bound; /* the buffer `user` points at (set_data_handle only when it changes) */
} sal_dnnl_port;

sal_status sal__dnnl_res_init(sal_dnnl_res *r, const sal_kctx *k);
void sal__dnnl_res_free(sal_dnnl_res *r);
/* A kernel's state: a zeroed struct of `bytes` whose first member is its sal_dnnl_res
 * (initialised here), in k->state; nothing is left behind on failure. Buffers the state needs
 * come from sal__dnnl_buf, so sal__dnnl_state_release (a kernel's `release`) frees it all. */
sal_status sal__dnnl_state_new(sal_kctx *k, size_t bytes);
void sal__dnnl_state_release(sal_kctx *k);
/* The end of a kernel's prepare, st being its status so far: when OK, allocates the scratchpad
 * (sal__dnnl_res_ready) and writes "dnnl:" + pd's implementation name into name (pd NULL: no
 * name); on any failure releases the state. Returns the final status. */
sal_status sal__dnnl_state_done(sal_kctx *k, sal_status st, const_dnnl_primitive_desc_t pd, char *name, size_t cap);
/* Checks at compile time that state type T begins with its resource list `r`. */
#define SAL_DNNL_STATE_CHECK(T) _Static_assert(offsetof(T, r) == 0, #T " must begin with its sal_dnnl_res")
/* Primitive descriptor for op_desc (hint: the forward pd for backward primitives), with the
 * user-mode scratchpad attribute; owned by r. */
sal_status sal__dnnl_pd(sal_dnnl_res *r, const_dnnl_op_desc_t desc, const_dnnl_primitive_desc_t hint,
                        const char *what, dnnl_primitive_desc_t *out);
/* The same with other attributes (which must include the user-mode scratchpad; see
 * sal__dnnl_attr and sal__dnnl_attr_relu); attr NULL = r's. */
sal_status sal__dnnl_pd_attr(sal_dnnl_res *r, const_dnnl_op_desc_t desc, const_dnnl_primitive_attr_t attr,
                             const_dnnl_primitive_desc_t hint, const char *what, dnnl_primitive_desc_t *out);
/* Like sal__dnnl_pd_attr for an alternative the caller can do without: the descriptor is made and
 * recorded in r only when oneDNN implements it by a non-reference kernel whose memory descriptors
 * for the n queries q[i] equal want[i]; otherwise false, *out = NULL and no error is recorded. */
bool sal__dnnl_pd_fits(sal_dnnl_res *r, const_dnnl_op_desc_t desc, const_dnnl_primitive_attr_t attr,
                       const_dnnl_primitive_desc_t hint, int n, const dnnl_query_t *q,
                       const dnnl_memory_desc_t *const *want, dnnl_primitive_desc_t *out);
/* r's attributes plus post-ops for a fused chain: a binary add of a tensor described by add_md (the
 * destination's shape; skipped when NULL), then a ReLU (when relu). The caller destroys *out. */
sal_status sal__dnnl_attr_fused(sal_dnnl_res *r, const dnnl_memory_desc_t *add_md, bool relu, dnnl_primitive_attr_t *out);
/* The primitive for pd, with its scratchpad memory; logs a warning naming the node when oneDNN
 * picked an implementation whose name starts with "ref" (slow fallback, PERF-NOTES). */
sal_status sal__dnnl_prim(sal_dnnl_res *r, const_dnnl_primitive_desc_t pd, const char *what, sal_dnnl_prim *out);
/* A memory for md: with a zeroed buffer owned by r (alloc) or with no buffer (handle set later). */
sal_status sal__dnnl_mem(sal_dnnl_res *r, const dnnl_memory_desc_t *md, bool alloc, dnnl_memory_t *out);
/* A memory for md over data (NULL: no buffer yet), owned by r. */
sal_status sal__dnnl_mem_at(sal_dnnl_res *r, const dnnl_memory_desc_t *md, void *data, dnnl_memory_t *out);
/* A zeroed buffer of `bytes` owned by r (freed with it); NULL on failure (recorded in ctx). */
void *sal__dnnl_buf(sal_dnnl_res *r, size_t bytes);
/* A buffer for md (sal__dnnl_buf) and a memory over it: *buf may be NULL. */
sal_status sal__dnnl_mem_buf(sal_dnnl_res *r, const dnnl_memory_desc_t *md, float **buf, dnnl_memory_t *out);
/* Points m at ptr when it points elsewhere. oneDNN zero-fills the padding of a blocked memory
 * on every set_data_handle, so handles are only set when they change. */
void sal__dnnl_bind(dnnl_memory_t m, void *ptr);
/* r's attributes (user scratchpad) plus: an output scale when out_scale != 1 (matmul, reorder);
 * an eltwise linear post-op y = post_scale*y when post_scale != 1; last, when accumulate, a sum
 * post-op (dst = result + dst). The caller destroys *out. */
sal_status sal__dnnl_attr(sal_dnnl_res *r, float out_scale, float post_scale, bool accumulate,
                          dnnl_primitive_attr_t *out);
/* Primitive descriptor and primitive for op_desc in one (attr NULL: r's attributes). */
sal_status sal__dnnl_op(sal_dnnl_res *r, const_dnnl_op_desc_t desc, const_dnnl_primitive_attr_t attr,
                        const_dnnl_primitive_desc_t hint, const char *what, sal_dnnl_prim *out);
/* The primitive for a descriptor made elsewhere (concat); r takes ownership of pd. */
sal_status sal__dnnl_prim_adopt(sal_dnnl_res *r, dnnl_primitive_desc_t pd, const char *what, sal_dnnl_prim *out);
/* A reorder from -> to: to = scale*from (+ to when accumulate); converts layouts. */
sal_status sal__dnnl_reorder(sal_dnnl_res *r, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                             float scale, bool accumulate, sal_dnnl_prim *out);
/* Allocates the shared scratchpad once every primitive exists. Call at the end of prepare. */
sal_status sal__dnnl_res_ready(sal_dnnl_res *r);
/* Most arguments sal__dnnl_run takes (the scratchpad comes on top): a concat of up to
 * SAL_DNNL_MAX_ARGS - 1 inputs and its destination. */
#define SAL_DNNL_MAX_ARGS 130
/* Executes p with args (plus its scratchpad). */
sal_status sal__dnnl_run(sal_dnnl_res *r, const sal_dnnl_prim *p, int nargs, const dnnl_exec_arg_t *args);
sal_status sal__dnnl_wait(sal_dnnl_res *r);
/* sal__dnnl_run, then waits for the stream: for kernels that read results in C right after. */
sal_status sal__dnnl_exec(sal_dnnl_res *r, const sal_dnnl_prim *p, int nargs, const dnnl_exec_arg_t *args);
/* A reorder p from -> to, executed and waited for. */
sal_status sal__dnnl_exec_reorder(sal_dnnl_res *r, const sal_dnnl_prim *p, dnnl_memory_t from, dnnl_memory_t to);

/* Input port from the tensor's layout (user_md) to the primitive's (prim_md). */
sal_status sal__dnnl_port_in(sal_dnnl_res *r, sal_dnnl_port *p, const dnnl_memory_desc_t *user_md,
                             const dnnl_memory_desc_t *prim_md);
/* Output port; with_acc allocates `acc` (needed when the output may have to be accumulated). */
sal_status sal__dnnl_port_out(sal_dnnl_res *r, sal_dnnl_port *p, const dnnl_memory_desc_t *user_md,
                              const dnnl_memory_desc_t *prim_md, bool with_acc);
/* Points the port at data and, when `convert`, runs the user → prim reorder (if any). */
sal_status sal__dnnl_port_load(sal_dnnl_res *r, sal_dnnl_port *p, void *data, bool convert);
/* Points the output port at data; returns the memory the primitive must write, or NULL (with an
 * INTERNAL error recorded) when accumulation is asked for and the port has no acc buffer. */
dnnl_memory_t sal__dnnl_port_target(sal_dnnl_res *r, sal_dnnl_port *p, void *data, bool accum);
/* After the primitive ran: reorder into the tensor (or acc), and add acc into it when accum. */
sal_status sal__dnnl_port_store(sal_dnnl_res *r, sal_dnnl_port *p, bool accum);
/* One primitive from one input port to one output port: loads `in` from in_data (running its
 * reorder), points `out` at out_data, executes p with in_arg = in's primitive memory, out_arg =
 * the output target and the n_extra arguments `extra`, stores the result (adding it into
 * out_data when accum) and waits. */
sal_status sal__dnnl_run_io(sal_dnnl_res *r, const sal_dnnl_prim *p, sal_dnnl_port *in, int in_arg, void *in_data,
                            sal_dnnl_port *out, int out_arg, void *out_data, bool accum, int n_extra,
                            const dnnl_exec_arg_t *extra);
/* dst += src over n floats. */
void sal__dnnl_accumulate(float *dst, const float *src, int64_t n);

/* f32 memory descriptor of a 4-D activation in the tensor's layout: PLAIN → nchw,
 * BLOCKED16 → nChw16c. */
sal_status sal__dnnl_act_md(sal_ctx *ctx, const sal_shape *s, sal_layout layout, dnnl_memory_desc_t *md);
/* Memory descriptor of shape s in layout l, right-aligned to `rank` dimensions (leading 1s;
 * rank 0 = the shape's own rank, and a 0-d shape becomes (1)). PLAIN uses the row-major tag of
 * the rank (a, ab, abc, abcd, abcde); BLOCKED16 is nChw16c and only valid for 4-D shapes. */
sal_status sal__dnnl_md(sal_ctx *ctx, const sal_shape *s, sal_layout l, int rank, dnnl_memory_desc_t *md);
/* Row-major descriptor with explicit dims (ndim 1..SAL_MAX_DIMS). */
sal_status sal__dnnl_md_dims(sal_ctx *ctx, int ndim, const int64_t *dims, dnnl_memory_desc_t *md);
/* The memory descriptor pd reports for `what` (dnnl_query_src_md, ...). */
const dnnl_memory_desc_t *sal__dnnl_qmd(const_dnnl_primitive_desc_t pd, dnnl_query_t what);
/* For backward (one output): true when din[i] needs no primitive: it is not wanted, or dy is
 * absent (zero), in which case din[i] is made zero (sal__grad_prepare: left as is when it
 * accumulates). */
bool sal__dnnl_grad_trivial(sal_kctx *k, int i);
/* dnnl_format_tag for a salient layout. */
dnnl_format_tag_t sal__dnnl_layout_tag(sal_layout layout);
/* true if the value feeding input i has several consumers in the graph, or the node reads some
 * value twice: only then can backward be asked to accumulate into its gradient (din_accum), so
 * only then is a scratch needed. */
bool sal__dnnl_input_shared(const sal_kctx *k, int i);
/* true if backward never asks for din[i] in this plan (frozen weights, inference plans, inputs no
 * requested gradient depends on): its backward primitives and buffers need not exist. */
bool sal__dnnl_grad_unwanted(const sal_kctx *k, int i);
/* Error for din_accum on input i, whose gradient was not expected to accumulate. */
sal_status sal__dnnl_unexpected_accum(const sal_kctx *k, int i);
/* "dnnl:" + the implementation name of pd into buf. */
void sal__dnnl_impl_name(const_dnnl_primitive_desc_t pd, char *buf, size_t cap);
/* For `supports`: true if oneDNN has an implementation of the forward op and, with that as the
 * hint, of each backward op (on the plan's engine, or a temporary one before the plan has any). */
bool sal__dnnl_probe(const sal_kctx *k, const_dnnl_op_desc_t fwd, const const_dnnl_op_desc_t *bwd, int n_bwd);

#endif
