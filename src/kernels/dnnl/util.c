/* Helpers shared by the oneDNN kernels of src/kernels/dnnl/: resource lists, layout ports with
 * reorders, scratchpads and the implementation check, used in prepare and to execute. */
#include "kernels/dnnl/util.h"

#include <stdio.h>
#include <string.h>

#include "tensor/layout.h"

/* Kernel buffers (sal__dnnl_buf) are zeroed. Those of 256 KB and more (reordered weights, layout
 * copies: ~100 MB for ResNet-50) come from zeroed pages (sal__pages_alloc) rather than a calloc
 * that writes every page once before the kernels do; the 64 bytes before a buffer hold its mapping
 * size (0: from the heap). */
#define BUF_HEAD 64
static void *buf_alloc(sal_ctx *ctx, size_t bytes) {
  size_t total = bytes + BUF_HEAD;
  bool pages = bytes >= ((size_t)256 << 10);
  char *base = pages ? sal__pages_alloc(ctx, total) : sal_calloc(ctx, total, 1);
  if (!base) return NULL;
  *(size_t *)base = pages ? total : 0;
  return base + BUF_HEAD;
}

static void buf_free(void *buf) {
  char *base = (char *)buf - BUF_HEAD;
  size_t total = *(size_t *)base;
  if (total) sal__pages_free(base, total);
  else sal_free(base);
}

sal_status sal__dnnl_res_init(sal_dnnl_res *r, const sal_kctx *k) {
  memset(r, 0, sizeof *r);
  r->ctx = k->ctx;
  r->env = k->dnnl;
  r->node = k->node;
  if (!r->env) return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL, "oneDNN kernel prepared without an engine");
  sal_status st = sal__dnnl_check(r->ctx, dnnl_primitive_attr_create(&r->attr), "attribute create");
  if (!st)
    st = sal__dnnl_check(r->ctx, dnnl_primitive_attr_set_scratchpad_mode(r->attr, dnnl_scratchpad_mode_user),
                         "scratchpad mode");
  return st;
}

void sal__dnnl_res_free(sal_dnnl_res *r) {
  for (int i = 0; i < r->prims.n; i++) dnnl_primitive_destroy(r->prims.v[i]);
  for (int i = 0; i < r->scratch.n; i++) dnnl_memory_destroy(r->scratch.v[i]);
  for (int i = 0; i < r->mems.n; i++) dnnl_memory_destroy(r->mems.v[i]);
  for (int i = 0; i < r->pds.n; i++) dnnl_primitive_desc_destroy(r->pds.v[i]);
  for (int i = 0; i < r->bufs.n; i++) buf_free(r->bufs.v[i]);
  sal_dnnl_list *lists[] = {&r->prims, &r->scratch, &r->mems, &r->pds, &r->bufs};
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) sal_free(lists[i]->v);
  sal_free(r->scratch_buf);
  if (r->attr) dnnl_primitive_attr_destroy(r->attr);
  memset(r, 0, sizeof *r);
}

sal_status sal__dnnl_state_new(sal_kctx *k, size_t bytes) {
  sal_dnnl_res *r = sal_calloc(k->ctx, 1, bytes);
  if (!r) return SAL_STATUS_OUT_OF_MEMORY;
  k->state = r;
  sal_status st = sal__dnnl_res_init(r, k);
  if (st) sal__dnnl_state_release(k);
  return st;
}

void sal__dnnl_state_release(sal_kctx *k) {
  sal_dnnl_res *r = k->state;
  if (!r) return;
  sal__dnnl_res_free(r);
  sal_free(r);
  k->state = NULL;
}

sal_status sal__dnnl_state_done(sal_kctx *k, sal_status st, const_dnnl_primitive_desc_t pd, char *name, size_t cap) {
  if (!st) st = sal__dnnl_res_ready(k->state);
  if (st) {
    sal__dnnl_state_release(k);
    return st;
  }
  if (pd) sal__dnnl_impl_name(pd, name, cap);
  return SAL_STATUS_OK;
}

/* Makes room for one more entry in l (call before creating the object, so that it can always be
 * recorded and freed). */
static sal_status reserve(sal_dnnl_res *r, sal_dnnl_list *l) {
  if (l->n < l->cap) return SAL_STATUS_OK;
  int cap = l->cap ? 2 * l->cap : 16;
  void **v = sal_alloc(r->ctx, (size_t)cap * sizeof *v);
  if (!v) return SAL_STATUS_OUT_OF_MEMORY;
  if (l->n) memcpy(v, l->v, (size_t)l->n * sizeof *v);
  sal_free(l->v);
  l->v = v;
  l->cap = cap;
  return SAL_STATUS_OK;
}

static void push(sal_dnnl_list *l, void *x) { l->v[l->n++] = x; }

sal_status sal__dnnl_pd(sal_dnnl_res *r, const_dnnl_op_desc_t desc, const_dnnl_primitive_desc_t hint,
                        const char *what, dnnl_primitive_desc_t *out) {
  return sal__dnnl_pd_attr(r, desc, r->attr, hint, what, out);
}

sal_status sal__dnnl_attr_fused(sal_dnnl_res *r, const dnnl_memory_desc_t *add_md, bool relu, dnnl_primitive_attr_t *out) {
  *out = NULL;
  dnnl_post_ops_t po = NULL;
  sal_status st = sal__dnnl_check(r->ctx, dnnl_primitive_attr_clone(out, r->attr), "attribute clone");
  if (!st) st = sal__dnnl_check(r->ctx, dnnl_post_ops_create(&po), "post-ops create");
  if (!st && add_md) st = sal__dnnl_check(r->ctx, dnnl_post_ops_append_binary(po, dnnl_binary_add, add_md), "add post-op");
  if (!st && relu)
    st = sal__dnnl_check(r->ctx, dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f), "ReLU post-op");
  if (!st) st = sal__dnnl_check(r->ctx, dnnl_primitive_attr_set_post_ops(*out, po), "post-ops");
  if (po) dnnl_post_ops_destroy(po);
  if (st && *out) {
    dnnl_primitive_attr_destroy(*out);
    *out = NULL;
  }
  return st;
}

sal_status sal__dnnl_pd_attr(sal_dnnl_res *r, const_dnnl_op_desc_t desc, const_dnnl_primitive_attr_t attr,
                             const_dnnl_primitive_desc_t hint, const char *what, dnnl_primitive_desc_t *out) {
  *out = NULL;
  if (reserve(r, &r->pds)) return SAL_STATUS_OUT_OF_MEMORY;
  dnnl_status_t s = dnnl_primitive_desc_create(out, desc, attr ? attr : r->attr, r->env->engine, hint);
  if (s != dnnl_success) {
    sal__dnnl_check(r->ctx, s, what);
    return sal_ctx_error_prefix(r->ctx, s == dnnl_unimplemented ? SAL_STATUS_UNSUPPORTED : SAL_STATUS_INTERNAL,
                                "node '%s' (%s): ", r->node->name, sal__op_name(r->node->op));
  }
  push(&r->pds, *out);
  return SAL_STATUS_OK;
}

bool sal__dnnl_pd_fits(sal_dnnl_res *r, const_dnnl_op_desc_t desc, const_dnnl_primitive_attr_t attr,
                       const_dnnl_primitive_desc_t hint, int n, const dnnl_query_t *q,
                       const dnnl_memory_desc_t *const *want, dnnl_primitive_desc_t *out) {
  *out = NULL;
  dnnl_primitive_desc_t pd = NULL;
  if (reserve(r, &r->pds) ||
      dnnl_primitive_desc_create(&pd, desc, attr ? attr : r->attr, r->env->engine, hint) != dnnl_success)
    return false;
  char impl[128];
  sal__dnnl_impl_name(pd, impl, sizeof impl);
  bool ok = strncmp(impl + 5, "ref", 3) != 0;
  for (int i = 0; ok && i < n; i++) ok = dnnl_memory_desc_equal(sal__dnnl_qmd(pd, q[i]), want[i]);
  if (!ok) {
    dnnl_primitive_desc_destroy(pd);
    return false;
  }
  push(&r->pds, pd);
  *out = pd;
  return true;
}

sal_status sal__dnnl_attr(sal_dnnl_res *r, float out_scale, float post_scale, bool accumulate,
                          dnnl_primitive_attr_t *out) {
  *out = NULL;
  dnnl_post_ops_t po = NULL;
  sal_status st = sal__dnnl_check(r->ctx, dnnl_primitive_attr_clone(out, r->attr), "attribute clone");
  if (!st && out_scale != 1.0f)
    st = sal__dnnl_check(r->ctx, dnnl_primitive_attr_set_output_scales(*out, 1, 0, &out_scale), "output scale");
  if (!st && (post_scale != 1.0f || accumulate)) {
    st = sal__dnnl_check(r->ctx, dnnl_post_ops_create(&po), "post-ops create");
    /* The sum comes last: it adds the old destination to the finished (scaled) result. */
    if (!st && post_scale != 1.0f)
      st = sal__dnnl_check(r->ctx, dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, post_scale, 0.0f),
                           "linear post-op");
    if (!st && accumulate) st = sal__dnnl_check(r->ctx, dnnl_post_ops_append_sum(po, 1.0f), "sum post-op");
    if (!st) st = sal__dnnl_check(r->ctx, dnnl_primitive_attr_set_post_ops(*out, po), "post-ops");
  }
  if (po) dnnl_post_ops_destroy(po);
  if (st && *out) {
    dnnl_primitive_attr_destroy(*out);
    *out = NULL;
  }
  return st;
}

sal_status sal__dnnl_prim_adopt(sal_dnnl_res *r, dnnl_primitive_desc_t pd, const char *what, sal_dnnl_prim *out) {
  memset(out, 0, sizeof *out);
  if (reserve(r, &r->pds)) {
    dnnl_primitive_desc_destroy(pd);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  push(&r->pds, pd);
  return sal__dnnl_prim(r, pd, what, out);
}

sal_status sal__dnnl_op(sal_dnnl_res *r, const_dnnl_op_desc_t desc, const_dnnl_primitive_attr_t attr,
                        const_dnnl_primitive_desc_t hint, const char *what, sal_dnnl_prim *out) {
  dnnl_primitive_desc_t pd;
  memset(out, 0, sizeof *out);
  sal_status st = sal__dnnl_pd_attr(r, desc, attr, hint, what, &pd);
  return st ? st : sal__dnnl_prim(r, pd, what, out);
}

sal_status sal__dnnl_reorder(sal_dnnl_res *r, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                             float scale, bool accumulate, sal_dnnl_prim *out) {
  memset(out, 0, sizeof *out);
  dnnl_primitive_attr_t attr = r->attr, own = NULL;
  sal_status st = SAL_STATUS_OK;
  if (scale != 1.0f || accumulate) {
    st = sal__dnnl_attr(r, scale, 1.0f, accumulate, &own);
    attr = own;
  }
  dnnl_primitive_desc_t pd = NULL;
  dnnl_engine_t e = r->env->engine;
  if (!st) st = sal__dnnl_check(r->ctx, dnnl_reorder_primitive_desc_create(&pd, from, e, to, e, attr), "reorder");
  if (own) dnnl_primitive_attr_destroy(own);
  return st ? st : sal__dnnl_prim_adopt(r, pd, "a reorder", out);
}

void sal__dnnl_impl_name(const_dnnl_primitive_desc_t pd, char *buf, size_t cap) {
  const char *s = NULL;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || !s) s = "?";
  snprintf(buf, cap, "dnnl:%s", s);
}

void *sal__dnnl_buf(sal_dnnl_res *r, size_t bytes) {
  if (reserve(r, &r->bufs)) return NULL;
  void *buf = buf_alloc(r->ctx, bytes ? bytes : 64);
  if (buf) push(&r->bufs, buf);
  return buf;
}

sal_status sal__dnnl_mem_at(sal_dnnl_res *r, const dnnl_memory_desc_t *md, void *data, dnnl_memory_t *out) {
  *out = NULL;
  if (reserve(r, &r->mems)) return SAL_STATUS_OUT_OF_MEMORY;
  sal_status st = sal__dnnl_check(r->ctx, dnnl_memory_create(out, md, r->env->engine, data ? data : DNNL_MEMORY_NONE),
                                  "memory create");
  if (!st) push(&r->mems, *out);
  return st;
}

sal_status sal__dnnl_mem(sal_dnnl_res *r, const dnnl_memory_desc_t *md, bool alloc, dnnl_memory_t *out) {
  *out = NULL;
  void *buf = NULL;
  if (alloc) {
    buf = sal__dnnl_buf(r, dnnl_memory_desc_get_size(md));
    if (!buf) return SAL_STATUS_OUT_OF_MEMORY;
  }
  return sal__dnnl_mem_at(r, md, buf, out);
}

sal_status sal__dnnl_mem_buf(sal_dnnl_res *r, const dnnl_memory_desc_t *md, float **buf, dnnl_memory_t *out) {
  *out = NULL;
  float *b = sal__dnnl_buf(r, dnnl_memory_desc_get_size(md));
  if (buf) *buf = b;
  if (!b) return SAL_STATUS_OUT_OF_MEMORY;
  return sal__dnnl_mem_at(r, md, b, out);
}

void sal__dnnl_bind(dnnl_memory_t m, void *ptr) {
  void *cur = NULL;
  dnnl_memory_get_data_handle(m, &cur);
  if (cur != ptr) dnnl_memory_set_data_handle(m, ptr);
}

sal_status sal__dnnl_prim(sal_dnnl_res *r, const_dnnl_primitive_desc_t pd, const char *what, sal_dnnl_prim *out) {
  memset(out, 0, sizeof *out);
  out->pd = pd;
  if (reserve(r, &r->prims) || reserve(r, &r->scratch)) return SAL_STATUS_OUT_OF_MEMORY;
  char impl[128];
  sal__dnnl_impl_name(pd, impl, sizeof impl);
  if (strncmp(impl + 5, "ref", 3) == 0)
    sal_log(r->ctx, SAL_LOG_WARN,
            "node '%s' (%s): oneDNN chose its reference implementation '%s' for %s; expect it to be slow",
            r->node->name, sal__op_name(r->node->op), impl + 5, what);
  sal_status st = sal__dnnl_check(r->ctx, dnnl_primitive_create(&out->p, pd), what);
  if (st) return st;
  push(&r->prims, out->p);
  const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  size_t bytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
  if (bytes > 0) {
    st = sal__dnnl_check(r->ctx, dnnl_memory_create(&out->scratch, smd, r->env->engine, DNNL_MEMORY_NONE),
                         "scratchpad memory");
    if (st) return st;
    push(&r->scratch, out->scratch);
    if (bytes > r->scratch_bytes) r->scratch_bytes = bytes;
  }
  return SAL_STATUS_OK;
}

sal_status sal__dnnl_res_ready(sal_dnnl_res *r) {
  if (r->scratch_bytes == 0) return SAL_STATUS_OK;
  r->scratch_buf = sal_alloc(r->ctx, r->scratch_bytes);
  if (!r->scratch_buf) return SAL_STATUS_OUT_OF_MEMORY;
  for (int i = 0; i < r->scratch.n; i++) {
    sal_status st = sal__dnnl_check(r->ctx, dnnl_memory_set_data_handle(r->scratch.v[i], r->scratch_buf), "scratchpad");
    if (st) return st;
  }
  return SAL_STATUS_OK;
}

sal_status sal__dnnl_run(sal_dnnl_res *r, const sal_dnnl_prim *p, int nargs, const dnnl_exec_arg_t *args) {
  dnnl_exec_arg_t a[SAL_DNNL_MAX_ARGS + 1];
  if (nargs > SAL_DNNL_MAX_ARGS)
    return sal_ctx_error(r->ctx, SAL_STATUS_INTERNAL, "oneDNN: %d arguments are too many", nargs);
  memcpy(a, args, (size_t)nargs * sizeof *a);
  if (p->scratch) a[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratch};
  dnnl_status_t s = dnnl_primitive_execute(p->p, r->env->stream, nargs, a);
  if (s != dnnl_success) {
    sal__dnnl_check(r->ctx, s, "execute");
    return sal_ctx_error_prefix(r->ctx, SAL_STATUS_INTERNAL, "node '%s' (%s): ", r->node->name, sal__op_name(r->node->op));
  }
  return SAL_STATUS_OK;
}

sal_status sal__dnnl_wait(sal_dnnl_res *r) {
  return sal__dnnl_check(r->ctx, dnnl_stream_wait(r->env->stream), "stream wait");
}

sal_status sal__dnnl_exec(sal_dnnl_res *r, const sal_dnnl_prim *p, int nargs, const dnnl_exec_arg_t *args) {
  sal_status st = sal__dnnl_run(r, p, nargs, args);
  return st ? st : sal__dnnl_wait(r);
}

sal_status sal__dnnl_exec_reorder(sal_dnnl_res *r, const sal_dnnl_prim *p, dnnl_memory_t from, dnnl_memory_t to) {
  dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  return sal__dnnl_exec(r, p, 2, a);
}

static sal_status make_reorder(sal_dnnl_res *r, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                               sal_dnnl_prim *out) {
  return sal__dnnl_reorder(r, from, to, 1.0f, false, out);
}

sal_status sal__dnnl_port_in(sal_dnnl_res *r, sal_dnnl_port *p, const dnnl_memory_desc_t *user_md,
                             const dnnl_memory_desc_t *prim_md) {
  memset(p, 0, sizeof *p);
  p->user_bytes = dnnl_memory_desc_get_size(user_md);
  sal_status st = sal__dnnl_mem(r, user_md, false, &p->user);
  if (st) return st;
  if (dnnl_memory_desc_equal(user_md, prim_md)) {
    p->prim = p->user;
    return SAL_STATUS_OK;
  }
  st = sal__dnnl_mem(r, prim_md, true, &p->prim);
  if (!st) st = make_reorder(r, user_md, prim_md, &p->reorder);
  return st;
}

sal_status sal__dnnl_port_out(sal_dnnl_res *r, sal_dnnl_port *p, const dnnl_memory_desc_t *user_md,
                              const dnnl_memory_desc_t *prim_md, bool with_acc) {
  memset(p, 0, sizeof *p);
  p->user_bytes = dnnl_memory_desc_get_size(user_md);
  sal_status st = sal__dnnl_mem(r, user_md, false, &p->user);
  if (!st && with_acc) st = sal__dnnl_mem(r, user_md, true, &p->acc);
  if (st) return st;
  if (dnnl_memory_desc_equal(user_md, prim_md)) {
    p->prim = p->user;
    return SAL_STATUS_OK;
  }
  st = sal__dnnl_mem(r, prim_md, true, &p->prim);
  if (!st) st = make_reorder(r, prim_md, user_md, &p->reorder);
  return st;
}

/* Points the port's user memory at data. oneDNN zero-fills the channel padding of a blocked
 * memory on every set_data_handle, so the handle is set only when it changes. */
static sal_status bind(sal_dnnl_res *r, sal_dnnl_port *p, void *data) {
  if (p->bound == data) return SAL_STATUS_OK;
  sal_status st = sal__dnnl_check(r->ctx, dnnl_memory_set_data_handle(p->user, data), "set data handle");
  if (!st) p->bound = data;
  return st;
}

sal_status sal__dnnl_port_load(sal_dnnl_res *r, sal_dnnl_port *p, void *data, bool convert) {
  sal_status st = bind(r, p, data);
  if (st || !convert || !p->reorder.p) return st;
  dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, p->user}, {DNNL_ARG_TO, p->prim}};
  return sal__dnnl_run(r, &p->reorder, 2, a);
}

dnnl_memory_t sal__dnnl_port_target(sal_dnnl_res *r, sal_dnnl_port *p, void *data, bool accum) {
  if (accum && !p->acc) {
    sal__op_error(r->ctx, r->node, SAL_STATUS_INTERNAL, "gradient accumulation into an input with a single consumer");
    return NULL;
  }
  if (bind(r, p, data)) return NULL;
  if (p->reorder.p) return p->prim;
  return accum ? p->acc : p->user;
}

void sal__dnnl_accumulate(float *dst, const float *src, int64_t n) {
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

sal_status sal__dnnl_port_store(sal_dnnl_res *r, sal_dnnl_port *p, bool accum) {
  if (p->reorder.p) {
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, p->prim}, {DNNL_ARG_TO, accum ? p->acc : p->user}};
    sal_status st = sal__dnnl_run(r, &p->reorder, 2, a);
    if (st) return st;
  }
  if (!accum) return SAL_STATUS_OK;
  void *dst, *src;
  sal_status st = sal__dnnl_wait(r);
  if (!st) st = sal__dnnl_check(r->ctx, dnnl_memory_get_data_handle(p->user, &dst), "get data handle");
  if (!st) st = sal__dnnl_check(r->ctx, dnnl_memory_get_data_handle(p->acc, &src), "get data handle");
  if (!st) sal__dnnl_accumulate(dst, src, (int64_t)(p->user_bytes / sizeof(float)));
  return st;
}

sal_status sal__dnnl_run_io(sal_dnnl_res *r, const sal_dnnl_prim *p, sal_dnnl_port *in, int in_arg, void *in_data,
                            sal_dnnl_port *out, int out_arg, void *out_data, bool accum, int n_extra,
                            const dnnl_exec_arg_t *extra) {
  dnnl_exec_arg_t a[SAL_DNNL_MAX_ARGS];
  if (n_extra > SAL_DNNL_MAX_ARGS - 2)
    return sal_ctx_error(r->ctx, SAL_STATUS_INTERNAL, "oneDNN: %d arguments are too many", n_extra + 2);
  sal_status st = sal__dnnl_port_load(r, in, in_data, true);
  if (st) return st;
  dnnl_memory_t target = sal__dnnl_port_target(r, out, out_data, accum);
  if (!target) return SAL_STATUS_INTERNAL;
  a[0] = (dnnl_exec_arg_t){in_arg, in->prim};
  a[1] = (dnnl_exec_arg_t){out_arg, target};
  if (n_extra) memcpy(a + 2, extra, (size_t)n_extra * sizeof *a);
  st = sal__dnnl_run(r, p, n_extra + 2, a);
  if (!st) st = sal__dnnl_port_store(r, out, accum);
  if (!st) st = sal__dnnl_wait(r);
  return st;
}

const dnnl_memory_desc_t *sal__dnnl_qmd(const_dnnl_primitive_desc_t pd, dnnl_query_t what) {
  return dnnl_primitive_desc_query_md(pd, what, 0);
}

bool sal__dnnl_grad_trivial(sal_kctx *k, int i) {
  if (!k->din[i]) return true;
  if (k->dout[0]) return false;
  sal__grad_prepare(k, i);
  return true;
}

dnnl_format_tag_t sal__dnnl_layout_tag(sal_layout layout) {
  return layout == SAL_LAYOUT_BLOCKED16 ? dnnl_nChw16c : dnnl_nchw;
}

sal_status sal__dnnl_act_md(sal_ctx *ctx, const sal_shape *s, sal_layout layout, dnnl_memory_desc_t *md) {
  if (s->ndim != 4) return sal_ctx_error(ctx, SAL_STATUS_INTERNAL, "oneDNN: activation is not 4-D");
  return sal__dnnl_md(ctx, s, layout, 4, md);
}

static const dnnl_format_tag_t plain_tags[] = {dnnl_a, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde};

sal_status sal__dnnl_md(sal_ctx *ctx, const sal_shape *s, sal_layout l, int rank, dnnl_memory_desc_t *md) {
  if (rank == 0) rank = s->ndim > 0 ? s->ndim : 1;
  if (rank < s->ndim || rank > SAL_MAX_DIMS)
    return sal_ctx_error(ctx, SAL_STATUS_INTERNAL, "oneDNN: rank %d does not hold a %d-d tensor", rank, s->ndim);
  dnnl_dims_t dims;
  int lead = rank - s->ndim;
  for (int d = 0; d < rank; d++) dims[d] = d < lead ? 1 : s->d[d - lead];
  dnnl_format_tag_t tag = plain_tags[rank];
  if (l == SAL_LAYOUT_BLOCKED16) {
    if (rank != 4 || s->ndim != 4)
      return sal_ctx_error(ctx, SAL_STATUS_INTERNAL, "oneDNN: a blocked tensor must be 4-d, not %d-d", s->ndim);
    tag = sal__dnnl_layout_tag(l);
  }
  return sal__dnnl_check(ctx, dnnl_memory_desc_init_by_tag(md, rank, dims, dnnl_f32, tag), "memory descriptor");
}

sal_status sal__dnnl_md_dims(sal_ctx *ctx, int ndim, const int64_t *dims, dnnl_memory_desc_t *md) {
  if (ndim < 1 || ndim > SAL_MAX_DIMS)
    return sal_ctx_error(ctx, SAL_STATUS_INTERNAL, "oneDNN: %d dimensions are out of range", ndim);
  dnnl_dims_t d;
  for (int i = 0; i < ndim; i++) d[i] = dims[i];
  return sal__dnnl_check(ctx, dnnl_memory_desc_init_by_tag(md, ndim, d, dnnl_f32, plain_tags[ndim]),
                         "memory descriptor");
}

sal_status sal__dnnl_unexpected_accum(const sal_kctx *k, int i) {
  return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL,
                       "oneDNN kernel: gradient of input %d accumulates but its value has a single consumer", i);
}

bool sal__dnnl_input_shared(const sal_kctx *k, int i) {
  const sal_node *nd = k->node;
  int v = nd->in[i];
  if (v < 0) return false;
  /* A value feeding two inputs of this node makes the plan accumulate into every gradient of the
   * node (sal_plan_backward zeroes them all first). */
  for (int a = 0; a < nd->n_in; a++)
    for (int b = a + 1; b < nd->n_in; b++)
      if (nd->in[a] >= 0 && nd->in[a] == nd->in[b]) return true;
  int uses = 0;
  for (int n = 0; n < k->graph->n_nodes; n++)
    for (int j = 0; j < k->graph->nodes[n].n_in; j++) uses += k->graph->nodes[n].in[j] == v;
  return uses > 1;
}

bool sal__dnnl_grad_unwanted(const sal_kctx *k, int i) {
  if (i >= k->n_in || k->node->in[i] < 0) return true;
  return !(k->din_wanted & (1u << (i < 31 ? i : 31)));
}

bool sal__dnnl_probe(const sal_kctx *k, const_dnnl_op_desc_t fwd, const const_dnnl_op_desc_t *bwd, int n_bwd) {
  dnnl_engine_t e = k->dnnl ? k->dnnl->engine : NULL;
  bool own = !e;
  if (own && dnnl_engine_create(&e, dnnl_cpu, 0) != dnnl_success) return false;
  dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
  bool ok = dnnl_primitive_desc_create(&fpd, fwd, NULL, e, NULL) == dnnl_success;
  for (int i = 0; ok && i < n_bwd; i++) {
    ok = dnnl_primitive_desc_create(&bpd, bwd[i], NULL, e, fpd) == dnnl_success;
    if (bpd) dnnl_primitive_desc_destroy(bpd);
    bpd = NULL;
  }
  if (fpd) dnnl_primitive_desc_destroy(fpd);
  if (own) dnnl_engine_destroy(e);
  return ok;
}
