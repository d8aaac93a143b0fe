/* Helpers shared by the oneDNN kernels of src/kernels/dnnl/: resource lists, layout ports with
 * reorders, scratchpads and the implementation check, used in prepare and to execute. */
#include "kernels/dnnl/util.h"

#include <stdio.h>
#include <string.h>

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
  for (int i = 0; i < r->n_prims; i++) dnnl_primitive_destroy(r->prims[i]);
  for (int i = 0; i < r->n_scratch; i++) dnnl_memory_destroy(r->scratch[i]);
  for (int i = 0; i < r->n_mems; i++) dnnl_memory_destroy(r->mems[i]);
  for (int i = 0; i < r->n_pds; i++) dnnl_primitive_desc_destroy(r->pds[i]);
  for (int i = 0; i < r->n_bufs; i++) sal_free(r->bufs[i]);
  sal_free(r->scratch_buf);
  if (r->attr) dnnl_primitive_attr_destroy(r->attr);
  memset(r, 0, sizeof *r);
}

static sal_status full(sal_dnnl_res *r) {
  return sal__op_error(r->ctx, r->node, SAL_STATUS_INTERNAL, "oneDNN kernel needs more than %d objects", SAL_DNNL_MAX_OBJS);
}

sal_status sal__dnnl_pd(sal_dnnl_res *r, const_dnnl_op_desc_t desc, const_dnnl_primitive_desc_t hint,
                        const char *what, dnnl_primitive_desc_t *out) {
  return sal__dnnl_pd_attr(r, desc, r->attr, hint, what, out);
}

sal_status sal__dnnl_attr_relu(sal_dnnl_res *r, dnnl_primitive_attr_t *out) {
  *out = NULL;
  dnnl_post_ops_t po = NULL;
  sal_status st = sal__dnnl_check(r->ctx, dnnl_primitive_attr_clone(out, r->attr), "attribute clone");
  if (!st) st = sal__dnnl_check(r->ctx, dnnl_post_ops_create(&po), "post-ops create");
  if (!st) st = sal__dnnl_check(r->ctx, dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f), "ReLU post-op");
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
  if (r->n_pds == SAL_DNNL_MAX_OBJS) return full(r);
  dnnl_status_t s = dnnl_primitive_desc_create(out, desc, attr, r->env->engine, hint);
  if (s != dnnl_success) {
    sal__dnnl_check(r->ctx, s, what);
    return sal_ctx_error_prefix(r->ctx, s == dnnl_unimplemented ? SAL_STATUS_UNSUPPORTED : SAL_STATUS_INTERNAL,
                                "node '%s' (%s): ", r->node->name, sal__op_name(r->node->op));
  }
  r->pds[r->n_pds++] = *out;
  return SAL_STATUS_OK;
}

static sal_status reorder_pd(sal_dnnl_res *r, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                             dnnl_primitive_desc_t *out) {
  *out = NULL;
  if (r->n_pds == SAL_DNNL_MAX_OBJS) return full(r);
  dnnl_engine_t e = r->env->engine;
  sal_status st = sal__dnnl_check(r->ctx, dnnl_reorder_primitive_desc_create(out, from, e, to, e, r->attr), "reorder");
  if (!st) r->pds[r->n_pds++] = *out;
  return st;
}

void sal__dnnl_impl_name(const_dnnl_primitive_desc_t pd, char *buf, size_t cap) {
  const char *s = NULL;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || !s) s = "?";
  snprintf(buf, cap, "dnnl:%s", s);
}

void *sal__dnnl_buf(sal_dnnl_res *r, size_t bytes) {
  if (r->n_bufs == SAL_DNNL_MAX_OBJS) {
    full(r);
    return NULL;
  }
  void *buf = sal_calloc(r->ctx, bytes ? bytes : 64, 1);
  if (buf) r->bufs[r->n_bufs++] = buf;
  return buf;
}

sal_status sal__dnnl_mem(sal_dnnl_res *r, const dnnl_memory_desc_t *md, bool alloc, dnnl_memory_t *out) {
  *out = NULL;
  if (r->n_mems == SAL_DNNL_MAX_OBJS || r->n_bufs == SAL_DNNL_MAX_OBJS) return full(r);
  void *buf = DNNL_MEMORY_NONE;
  if (alloc) {
    size_t bytes = dnnl_memory_desc_get_size(md);
    buf = sal_calloc(r->ctx, bytes ? bytes : 64, 1);
    if (!buf) return SAL_STATUS_OUT_OF_MEMORY;
    r->bufs[r->n_bufs++] = buf;
  }
  sal_status st = sal__dnnl_check(r->ctx, dnnl_memory_create(out, md, r->env->engine, buf), "memory create");
  if (!st) r->mems[r->n_mems++] = *out;
  return st;
}

sal_status sal__dnnl_prim(sal_dnnl_res *r, const_dnnl_primitive_desc_t pd, const char *what, sal_dnnl_prim *out) {
  memset(out, 0, sizeof *out);
  if (r->n_prims == SAL_DNNL_MAX_OBJS || r->n_scratch == SAL_DNNL_MAX_OBJS) return full(r);
  char impl[128];
  sal__dnnl_impl_name(pd, impl, sizeof impl);
  if (strncmp(impl + 5, "ref", 3) == 0)
    sal_log(r->ctx, SAL_LOG_WARN,
            "node '%s' (%s): oneDNN chose its reference implementation '%s' for %s; expect it to be slow",
            r->node->name, sal__op_name(r->node->op), impl + 5, what);
  sal_status st = sal__dnnl_check(r->ctx, dnnl_primitive_create(&out->p, pd), what);
  if (st) return st;
  r->prims[r->n_prims++] = out->p;
  const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  size_t bytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
  if (bytes > 0) {
    st = sal__dnnl_check(r->ctx, dnnl_memory_create(&out->scratch, smd, r->env->engine, DNNL_MEMORY_NONE),
                         "scratchpad memory");
    if (st) return st;
    r->scratch[r->n_scratch++] = out->scratch;
    if (bytes > r->scratch_bytes) r->scratch_bytes = bytes;
  }
  return SAL_STATUS_OK;
}

sal_status sal__dnnl_res_ready(sal_dnnl_res *r) {
  if (r->scratch_bytes == 0) return SAL_STATUS_OK;
  r->scratch_buf = sal_alloc(r->ctx, r->scratch_bytes);
  if (!r->scratch_buf) return SAL_STATUS_OUT_OF_MEMORY;
  for (int i = 0; i < r->n_scratch; i++) {
    sal_status st = sal__dnnl_check(r->ctx, dnnl_memory_set_data_handle(r->scratch[i], r->scratch_buf), "scratchpad");
    if (st) return st;
  }
  return SAL_STATUS_OK;
}

sal_status sal__dnnl_run(sal_dnnl_res *r, const sal_dnnl_prim *p, int nargs, const dnnl_exec_arg_t *args) {
  dnnl_exec_arg_t a[16];
  if (nargs > 15) return sal_ctx_error(r->ctx, SAL_STATUS_INTERNAL, "oneDNN: too many arguments");
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

static sal_status make_reorder(sal_dnnl_res *r, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                               sal_dnnl_prim *out) {
  dnnl_primitive_desc_t pd;
  sal_status st = reorder_pd(r, from, to, &pd);
  if (!st) st = sal__dnnl_prim(r, pd, "a reorder", out);
  return st;
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

dnnl_format_tag_t sal__dnnl_layout_tag(sal_layout layout) {
  return layout == SAL_LAYOUT_BLOCKED16 ? dnnl_nChw16c : dnnl_nchw;
}

sal_status sal__dnnl_act_md(sal_ctx *ctx, const sal_shape *s, sal_layout layout, dnnl_memory_desc_t *md) {
  if (s->ndim != 4) return sal_ctx_error(ctx, SAL_STATUS_INTERNAL, "oneDNN: activation is not 4-D");
  dnnl_dims_t d = {s->d[0], s->d[1], s->d[2], s->d[3]};
  return sal__dnnl_check(ctx, dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, sal__dnnl_layout_tag(layout)),
                         "memory descriptor");
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

bool sal__dnnl_input_frozen(const sal_kctx *k, int i) {
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
