/* Shared plumbing of the oneDNN eltwise/binary/softmax/matmul/resize/concat kernels: tensor ->
 * memory descriptor, primitive creation with a user scratchpad (prepare time), execution. */
#include "kernels/dnnl/misc_util.h"

#include <stdio.h>
#include <string.h>

#include "tensor/layout.h"

static const dnnl_format_tag_t plain_tags[] = {dnnl_a, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde};

sal_status sal__dm_md(sal_kctx *k, dnnl_memory_desc_t *md, const sal_shape *s, sal_layout l, int rank) {
  if (rank == 0) rank = s->ndim > 0 ? s->ndim : 1;
  if (rank < s->ndim || rank > SAL_MAX_DIMS)
    return sal_ctx_error(k->ctx, SAL_STATUS_INTERNAL, "oneDNN: rank %d does not hold a %d-d tensor", rank, s->ndim);
  dnnl_dims_t dims;
  int lead = rank - s->ndim;
  for (int d = 0; d < rank; d++) dims[d] = d < lead ? 1 : s->d[d - lead];
  dnnl_format_tag_t tag = plain_tags[rank];
  if (l == SAL_LAYOUT_BLOCKED16) {
    if (rank != 4 || s->ndim != 4)
      return sal_ctx_error(k->ctx, SAL_STATUS_INTERNAL, "oneDNN: a blocked tensor must be 4-d, not %d-d", s->ndim);
    tag = dnnl_nChw16c;
  }
  return sal__dnnl_check(k->ctx, dnnl_memory_desc_init_by_tag(md, rank, dims, dnnl_f32, tag), "memory descriptor");
}

sal_status sal__dm_md_dims(sal_kctx *k, dnnl_memory_desc_t *md, int ndim, const int64_t *dims) {
  if (ndim < 1 || ndim > SAL_MAX_DIMS)
    return sal_ctx_error(k->ctx, SAL_STATUS_INTERNAL, "oneDNN: %d dimensions are out of range", ndim);
  dnnl_dims_t d;
  for (int i = 0; i < ndim; i++) d[i] = dims[i];
  return sal__dnnl_check(k->ctx, dnnl_memory_desc_init_by_tag(md, ndim, d, dnnl_f32, plain_tags[ndim]),
                         "memory descriptor");
}

sal_status sal__dm_mem(sal_kctx *k, dnnl_memory_t *m, const dnnl_memory_desc_t *md, void *data) {
  return sal__dnnl_check(k->ctx, dnnl_memory_create(m, md, k->dnnl->engine, data ? data : DNNL_MEMORY_NONE),
                         "memory create");
}

void sal__dm_bind(dnnl_memory_t m, void *ptr) {
  void *cur = NULL;
  dnnl_memory_get_data_handle(m, &cur);
  if (cur != ptr) dnnl_memory_set_data_handle(m, ptr);
}

sal_status sal__dm_attr(sal_kctx *k, dnnl_primitive_attr_t *attr, float out_scale, float post_scale,
                        bool accumulate) {
  *attr = NULL;
  dnnl_post_ops_t po = NULL;
  sal_status st = sal__dnnl_check(k->ctx, dnnl_primitive_attr_create(attr), "attribute create");
  if (!st) st = sal__dnnl_check(k->ctx, dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user),
                                "scratchpad mode");
  if (!st && out_scale != 1.0f)
    st = sal__dnnl_check(k->ctx, dnnl_primitive_attr_set_output_scales(*attr, 1, 0, &out_scale), "output scale");
  if (!st && (post_scale != 1.0f || accumulate)) {
    st = sal__dnnl_check(k->ctx, dnnl_post_ops_create(&po), "post-ops create");
    /* The sum comes last: it adds the old destination to the finished (scaled) result. */
    if (!st && post_scale != 1.0f)
      st = sal__dnnl_check(k->ctx, dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, post_scale, 0.0f),
                           "linear post-op");
    if (!st && accumulate) st = sal__dnnl_check(k->ctx, dnnl_post_ops_append_sum(po, 1.0f), "sum post-op");
    if (!st) st = sal__dnnl_check(k->ctx, dnnl_primitive_attr_set_post_ops(*attr, po), "post-ops");
  }
  if (po) dnnl_post_ops_destroy(po);
  if (st && *attr) {
    dnnl_primitive_attr_destroy(*attr);
    *attr = NULL;
  }
  return st;
}

const char *sal__dm_impl(const sal_dm_prim *p) {
  const char *impl = NULL;
  if (!p->pd || dnnl_primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl)
    return "?";
  return impl;
}

void sal__dm_name(char *buf, size_t n, const sal_dm_prim *p) { snprintf(buf, n, "dnnl:%s", sal__dm_impl(p)); }

sal_status sal__dm_prim_from_pd(sal_kctx *k, sal_dm_prim *p, dnnl_primitive_desc_t pd, const char *what) {
  p->pd = pd;
  const char *impl = sal__dm_impl(p);
  /* PERF-NOTES: oneDNN's "ref" implementations run at a small fraction of the jit ones. */
  if (strncmp(impl, "ref", 3) == 0)
    sal_log(k->ctx, SAL_LOG_WARN, "node '%s': oneDNN chose the reference implementation '%s' for %s",
            sal__node_name(k->node), impl, what);
  const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  size_t bytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
  if (bytes > 0) {
    p->scratch_buf = sal_alloc(k->ctx, bytes);
    if (!p->scratch_buf) return SAL_STATUS_OUT_OF_MEMORY;
    sal_status st = sal__dm_mem(k, &p->scratch, smd, p->scratch_buf);
    if (st) return st;
  }
  char msg[96];
  snprintf(msg, sizeof msg, "%s primitive create", what);
  return sal__dnnl_check(k->ctx, dnnl_primitive_create(&p->prim, pd), msg);
}

sal_status sal__dm_prim_new(sal_kctx *k, sal_dm_prim *p, const_dnnl_op_desc_t d,
                            const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint,
                            const char *what) {
  dnnl_primitive_attr_t own = NULL;
  sal_status st = SAL_STATUS_OK;
  if (!attr) {
    st = sal__dm_attr(k, &own, 1.0f, 1.0f, false);
    if (st) return st;
    attr = own;
  }
  dnnl_primitive_desc_t pd = NULL;
  char msg[96];
  snprintf(msg, sizeof msg, "%s descriptor", what);
  st = sal__dnnl_check(k->ctx, dnnl_primitive_desc_create(&pd, d, attr, k->dnnl->engine, hint), msg);
  if (own) dnnl_primitive_attr_destroy(own);
  if (st) return st;
  return sal__dm_prim_from_pd(k, p, pd, what);
}

sal_status sal__dm_reorder_new(sal_kctx *k, sal_dm_prim *p, const dnnl_memory_desc_t *src_md,
                               const dnnl_memory_desc_t *dst_md, float scale, bool accumulate) {
  dnnl_primitive_attr_t attr = NULL;
  sal_status st = sal__dm_attr(k, &attr, scale, 1.0f, accumulate);
  if (st) return st;
  dnnl_primitive_desc_t pd = NULL;
  st = sal__dnnl_check(k->ctx,
                       dnnl_reorder_primitive_desc_create(&pd, src_md, k->dnnl->engine, dst_md, k->dnnl->engine, attr),
                       "reorder descriptor");
  dnnl_primitive_attr_destroy(attr);
  if (st) return st;
  return sal__dm_prim_from_pd(k, p, pd, "reorder");
}

void sal__dm_prim_free(sal_dm_prim *p) {
  if (p->prim) dnnl_primitive_destroy(p->prim);
  if (p->pd) dnnl_primitive_desc_destroy(p->pd);
  if (p->scratch) dnnl_memory_destroy(p->scratch);
  sal_free(p->scratch_buf);
  memset(p, 0, sizeof *p);
}

sal_status sal__dm_exec(sal_kctx *k, const sal_dm_prim *p, int nargs, const dnnl_exec_arg_t *args) {
  dnnl_exec_arg_t all[SAL_DM_MAX_ARGS + 1];
  if (nargs > SAL_DM_MAX_ARGS)
    return sal_ctx_error(k->ctx, SAL_STATUS_INTERNAL, "oneDNN: %d arguments are too many", nargs);
  memcpy(all, args, (size_t)nargs * sizeof *args);
  if (p->scratch) all[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratch};
  sal_status st = sal__dnnl_check(k->ctx, dnnl_primitive_execute(p->prim, k->dnnl->stream, nargs, all), "execute");
  if (!st) st = sal__dnnl_check(k->ctx, dnnl_stream_wait(k->dnnl->stream), "stream wait");
  return st;
}

bool sal__dm_may_accum(const sal_kctx *k, int i) {
  int v = k->node->in[i];
  if (v < 0) return false;
  int uses = 0;
  for (int n = 0; n < k->graph->n_nodes; n++) {
    const sal_node *nd = &k->graph->nodes[n];
    for (int j = 0; j < nd->n_in; j++) uses += nd->in[j] == v;
  }
  return uses > 1;
}

int64_t sal__dm_storage(const sal_tensor *t) { return sal__tensor_storage(t); }

sal_status sal__dm_unexpected_accum(sal_kctx *k, int i) {
  return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL,
                       "oneDNN kernel: gradient of input %d accumulates but its value has a single consumer", i);
}
