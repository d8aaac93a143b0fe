/* Plans: a graph bound to a batch size. Shapes are inferred once, activation and gradient memory
 * is laid out once from liveness (src/graph/arena.c), kernels are chosen and prepared once, and
 * forward/backward then run with no allocation. */
#include "graph/arena.h"
#include "graph/internal.h"
#include "kernels/dnnl/env.h"
#include "salient/plan.h"
#include "tensor/layout.h"

#include <math.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

#define SAL_MAX_BATCH 65536
/* Refuse plans whose memory would exceed this (a guard against absurd batch sizes). */
#define SAL_MAX_PLAN_BYTES ((size_t)64 << 30)

struct sal_plan {
  sal_ctx *ctx;
  sal_graph *g;
  sal_plan_opts opts;
  bool any_grad;
  sal_shape *shapes;    /* per value */
  sal_tensor *vals;     /* per value: forward data (params: the graph's) */
  sal_tensor *grads;    /* per value: gradient buffer, data NULL when none */
  bool *needs_grad;     /* per value: gradient flows through it to something wanted */
  bool *want_grad;      /* per value: its gradient is a result (kept to the end) */
  bool *readable;       /* per value: the caller may read it (inputs, params, outputs, keep/grad values) */
  sal_tensor **shadow;  /* per value: plain copies for reading values kept blocked (lazy) */
  sal_tensor **gshadow; /* the same for gradients */
  bool *grad_written;   /* per value, per backward */
  int *writer;          /* per value: the node that writes it (producer, or the node a chain was
                         * fused into); -1 for inputs, params and values fused away */
  bool *elided;         /* per node: fused into an earlier node, not run */
  int *out0;            /* per node: the value its output 0 really is (end of a fused chain) */
  int *add_in;          /* per node: the other operand of an Add fused into it (k->fuse.add), or -1;
                         * the node reads it in forward and writes its gradient in backward */
  sal_kctx *k;          /* per node */
  const sal_kernel **kern;
  bool *prepared;
  double *t_fwd, *t_bwd; /* per node, ms, with opts.profile */
  float *arena, *garena;
  size_t arena_bytes, garena_bytes;
  sal_dnnl_env *dnnl;
  bool forward_done, backward_done;
  uint64_t pass;
  uint64_t param_version;
  int64_t macs;
};

sal_plan_opts sal_plan_opts_default(void) {
  sal_plan_opts o;
  memset(&o, 0, sizeof o);
  o.batch = 1;
  o.kernels = SAL_KERNELS_AUTO;
  o.precision = SAL_PRECISION_F32;
  return o;
}

void sal_plan_free(sal_plan *p) {
  if (!p) return;
  if (p->k) {
    for (int i = 0; i < p->g->n_nodes; i++) {
      if (p->prepared && p->prepared[i] && p->kern[i]->release) p->kern[i]->release(&p->k[i]);
      sal_free(p->k[i].in);
    }
  }
  sal__dnnl_env_free(p->dnnl);
  sal_free(p->k);
  sal_free(p->writer);
  sal_free(p->elided);
  sal_free(p->out0);
  sal_free(p->add_in);
  sal_free(p->kern);
  sal_free(p->prepared);
  sal_free(p->t_fwd);
  sal_free(p->t_bwd);
  sal_free(p->shapes);
  sal_free(p->vals);
  sal_free(p->grads);
  sal_free(p->needs_grad);
  sal_free(p->want_grad);
  sal_free(p->readable);
  for (int v = 0; v < p->g->n_values; v++) {
    if (p->shadow) sal_tensor_free(p->shadow[v]);
    if (p->gshadow) sal_tensor_free(p->gshadow[v]);
  }
  sal_free(p->shadow);
  sal_free(p->gshadow);
  sal_free(p->grad_written);
  sal__pages_free(p->arena, p->arena_bytes);
  sal__pages_free(p->garena, p->garena_bytes);
  sal_free(p);
}

static bool in_list(const char *name, const char *const *list, int n) {
  for (int i = 0; i < n; i++)
    if (list[i] && strcmp(list[i], name) == 0) return true;
  return false;
}

static sal_status check_names(sal_ctx *ctx, const sal_graph *g, const char *what,
                              const char *const *list, int n) {
  for (int i = 0; i < n; i++)
    if (!list || !list[i] || sal__graph_find(g, list[i]) < 0)
      return sal_ctx_error(ctx, SAL_STATUS_NOT_FOUND, "plan: %s: no value named '%s'", what,
                           list && list[i] ? list[i] : "(null)");
  return SAL_STATUS_OK;
}

/* Marks which values need gradients: those on a path from a wanted leaf towards the outputs. */
static void mark_grad_flow(sal_plan *p, const sal_plan_opts *o) {
  const sal_graph *g = p->g;
  for (int v = 0; v < g->n_values; v++) {
    const sal_value *val = &g->values[v];
    bool want = (val->kind == SAL_VALUE_INPUT && p->opts.grad_inputs) ||
                (val->kind == SAL_VALUE_PARAM && val->trainable && p->opts.grad_params) ||
                in_list(val->name, o->grad_values, o->n_grad_values);
    p->want_grad[v] = want;
    p->needs_grad[v] = want;
  }
  for (int i = 0; i < g->n_nodes; i++) {
    const sal_node *n = &g->nodes[i];
    const sal_op_def *def = sal__op_def(n->op);
    bool any = false;
    for (int j = 0; j < n->n_in; j++)
      if (n->in[j] >= 0 && p->needs_grad[n->in[j]] && !(def->nograd_inputs & (1u << (j < 31 ? j : 31))))
        any = true;
    if (any)
      for (int j = 0; j < n->n_out; j++) p->needs_grad[n->out[j]] = true;
  }
}

static sal_status layout_memory(sal_plan *p) {
  sal_ctx *ctx = p->ctx;
  const sal_graph *g = p->g;
  int nv = g->n_values, nn = g->n_nodes;
  sal_status st = SAL_STATUS_OUT_OF_MEMORY;
  sal_interval *fw = sal_calloc(ctx, (size_t)nv, sizeof *fw);
  sal_interval *bw = sal_calloc(ctx, (size_t)nv, sizeof *bw);
  if (!fw || !bw) goto done;
  int last = 2 * nn + 1;
  for (int v = 0; v < nv; v++) {
    const sal_value *val = &g->values[v];
    int64_t numel = sal__storage_numel(&p->shapes[v], p->vals[v].layout);
    size_t bytes;
    if (numel < 0 || !sal_mul_size((size_t)numel, sizeof(float), &bytes) || bytes > SAL_MAX_PLAN_BYTES) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "plan: value '%s' is too large at batch %lld",
                         val->name, (long long)p->opts.batch);
      goto done;
    }
    /* Forward: params live in the graph; inputs persist (callers may forward repeatedly);
     * activations from their producer to their last consumer, or to the end when kept. */
    if (val->kind == SAL_VALUE_ACT && p->writer[v] < 0) {
      continue; /* fused away: never written, never read */
    } else if (val->kind == SAL_VALUE_ACT) {
      fw[v].bytes = bytes;
      fw[v].start = p->writer[v];
      fw[v].end = (p->readable[v] || p->any_grad) ? last : p->writer[v];
    } else if (val->kind == SAL_VALUE_INPUT) {
      fw[v].bytes = bytes;
      fw[v].start = 0;
      fw[v].end = last;
    }
    /* Backward: node i runs at step nn + (nn - 1 - i). A gradient lives from the backward of
     * its last consumer (or the start, for values without consumers: seeds) to the backward of
     * its producer, or to the end when it is a result. */
    if (p->needs_grad[v]) {
      bw[v].bytes = bytes;
      bw[v].start = nn;
      bw[v].end = val->kind == SAL_VALUE_ACT ? nn + (nn - 1 - p->writer[v]) : last;
      if (p->want_grad[v]) bw[v].end = last;
    }
  }
  /* Forward: a value lives until its last consumer. Backward: a gradient is first written by
   * its last consumer's backward, the smallest backward step among its consumers. */
  for (int v = 0; v < nv; v++)
    if (bw[v].bytes) bw[v].start = last;
  for (int i = 0; i < nn; i++) {
    const sal_node *n = &g->nodes[i];
    if (p->elided[i]) continue;
    int bstep = nn + (nn - 1 - i);
    for (int j = 0; j <= n->n_in; j++) {
      int v = j < n->n_in ? n->in[j] : p->add_in[i]; /* a fused Add's operand is read here too */
      if (v < 0) continue;
      if (fw[v].bytes && fw[v].end < i) fw[v].end = i;
      if (bw[v].bytes && bw[v].start > bstep) bw[v].start = bstep;
    }
  }
  /* Values no node consumes (outputs) can only be seeds: their gradient exists from the start. */
  for (int v = 0; v < nv; v++)
    if (bw[v].bytes && (bw[v].start == last || bw[v].start > bw[v].end)) bw[v].start = nn;

  size_t total;
  st = sal__arena_assign(ctx, fw, nv, &total);
  if (st) goto done;
  if (total > SAL_MAX_PLAN_BYTES) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "plan: %.1f GiB of activations at batch %lld is too large",
                       (double)total / (1 << 30), (long long)p->opts.batch);
    goto done;
  }
  p->arena_bytes = total ? total : 64;
  p->arena = sal__pages_alloc(ctx, p->arena_bytes); /* zero: blocked tensors' channel padding must be */
  if (!p->arena) { st = SAL_STATUS_OUT_OF_MEMORY; goto done; }
  st = sal__arena_assign(ctx, bw, nv, &total);
  if (st) goto done;
  if (total > SAL_MAX_PLAN_BYTES) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "plan: gradient memory at batch %lld is too large",
                       (long long)p->opts.batch);
    goto done;
  }
  p->garena_bytes = total ? total : 64;
  p->garena = sal__pages_alloc(ctx, p->garena_bytes);
  if (!p->garena) { st = SAL_STATUS_OUT_OF_MEMORY; goto done; }
  for (int v = 0; v < nv; v++) {
    if (g->values[v].kind == SAL_VALUE_PARAM) p->vals[v].data = g->values[v].data;
    else if (fw[v].bytes) p->vals[v].data = (float *)((char *)p->arena + fw[v].offset);
    if (bw[v].bytes) p->grads[v].data = (float *)((char *)p->garena + bw[v].offset);
  }
  st = SAL_STATUS_OK;
done:
  sal_free(fw);
  sal_free(bw);
  return st;
}

/* Keeps a 4-D activation in the blocked layout when its producer and every consumer run kernels
 * that handle it: oneDNN then never reorders between them (PERF-NOTES: the reorders around every
 * conv are where PyTorch loses ~30 ms per ResNet-50 pass). Graph outputs stay plain. */
static void choose_layouts(sal_plan *p) {
  const sal_graph *g = p->g;
  bool *ok = p->grad_written; /* scratch, reset by every backward */
  for (int v = 0; v < g->n_values; v++)
    ok[v] = g->values[v].kind == SAL_VALUE_ACT && p->writer[v] >= 0 && p->shapes[v].ndim == 4 &&
            (p->kern[p->writer[v]]->flags & SAL_KERNEL_BLOCKED);
  for (int i = 0; i < g->n_nodes; i++) {
    const sal_node *n = &g->nodes[i];
    if (p->elided[i] || (p->kern[i]->flags & SAL_KERNEL_BLOCKED)) continue;
    for (int j = 0; j < n->n_in; j++)
      if (n->in[j] >= 0) ok[n->in[j]] = false;
  }
  for (int o = 0; o < g->n_outputs; o++) ok[g->outputs[o]] = false;
  /* A fused Add's operand and the node's output share one layout (the kernel adds them
   * elementwise); a plain one makes the other plain, which may in turn unpair another. */
  for (bool changed = true; changed;) {
    changed = false;
    for (int i = 0; i < g->n_nodes; i++) {
      int a = p->add_in[i], b = p->out0[i];
      if (a >= 0 && ok[a] != ok[b]) {
        ok[a] = ok[b] = false;
        changed = true;
      }
    }
  }
  for (int v = 0; v < g->n_values; v++) {
    p->vals[v].layout = ok[v] ? SAL_LAYOUT_BLOCKED16 : SAL_LAYOUT_PLAIN;
    p->grads[v].layout = p->vals[v].layout;
    ok[v] = false;
  }
}

/* The single node consuming value v (and consuming it once), or -1. */
static int sole_consumer(const sal_plan *p, int v) {
  int who = -1;
  for (int i = 0; i < p->g->n_nodes; i++) {
    const sal_node *n = &p->g->nodes[i];
    for (int j = 0; j < n->n_in; j++)
      if (n->in[j] == v) {
        if (who >= 0) return -1;
        who = i;
      }
  }
  return who;
}

/* True when no input of node i but the first (the data) needs a gradient: folding weights would
 * make their gradients wrong. */
static bool no_param_grads(const sal_plan *p, int i) {
  const sal_node *n = &p->g->nodes[i];
  for (int j = 1; j < n->n_in; j++)
    if (n->in[j] >= 0 && p->needs_grad[n->in[j]]) return false;
  return true;
}

/* Redirects node c's output 0 to the output of node f (which consumed it) and elides f. */
static void fuse_into(sal_plan *p, int c, int f) {
  int mid = p->out0[c], end = p->g->nodes[f].out[0];
  p->elided[f] = true;
  p->writer[mid] = -1;
  p->writer[end] = c;
  p->out0[c] = end;
  p->k[c].out[0] = &p->vals[end];
}

/* For Add node a consuming v (node c's output), the Add's other operand when it can be fused into
 * c: no broadcasting, the operand exists before c runs (a graph input, a parameter, or written by
 * an earlier node) and is not also an input of c (its gradient would then have two writers in one
 * backward step). Else -1. */
static int add_operand(const sal_plan *p, int c, int a, int v) {
  const sal_node *n = &p->g->nodes[a];
  if (n->op != SAL_OP_ADD || n->n_in != 2 || n->in[0] < 0 || n->in[1] < 0 || n->in[0] == n->in[1]) return -1;
  int w = n->in[0] == v ? n->in[1] : n->in[0];
  if (!sal_shape_equal(&p->shapes[w], &p->shapes[v]) || !sal_shape_equal(&p->shapes[n->out[0]], &p->shapes[v]))
    return -1;
  if (p->g->values[w].kind == SAL_VALUE_ACT && (p->writer[w] < 0 || p->writer[w] >= c)) return -1;
  const sal_node *cn = &p->g->nodes[c];
  for (int j = 0; j < cn->n_in; j++)
    if (cn->in[j] == w) return -1;
  return w;
}

/* Folds inference batch-norm, a residual Add and ReLU into the convolution before them when its
 * kernel can (PERF-NOTES: separate batch-norm, ReLU and Add passes are where PyTorch loses time),
 * in that order: y = relu(bn(conv(x)) + r). Only in inference plans without parameter gradients;
 * never fuses away a value the caller may read. */
static void fuse_nodes(sal_plan *p) {
  const sal_graph *g = p->g;
  if (p->opts.training || p->opts.grad_params) return;
  sal_op_type conv = sal__op_find("Conv"), bn = sal__op_find("BatchNormalization"), relu = SAL_OP_RELU;
  for (int c = 0; c < g->n_nodes; c++) {
    if (g->nodes[c].op != conv || conv == SAL_OP_COUNT) continue;
    sal_kctx *k = &p->k[c];
    unsigned fl = p->kern[c]->flags;
    if (!no_param_grads(p, c)) continue;
    int v = p->out0[c], b = p->readable[v] ? -1 : sole_consumer(p, v);
    if ((fl & SAL_KERNEL_FUSE_BN) && b >= 0 && g->nodes[b].op == bn && g->nodes[b].n_in == 5 &&
        g->nodes[b].in[0] == v) {
      const sal_node *bnode = &g->nodes[b];
      bool consts = no_param_grads(p, b);
      for (int j = 1; j < 5; j++) consts &= bnode->in[j] >= 0 && g->values[bnode->in[j]].kind == SAL_VALUE_PARAM;
      float eps;
      if (consts && sal__attr_float(p->ctx, bnode, "epsilon", 1e-5f, &eps) == SAL_STATUS_OK) {
        k->fuse.bn = true;
        k->fuse.bn_scale = &p->vals[bnode->in[1]];
        k->fuse.bn_bias = &p->vals[bnode->in[2]];
        k->fuse.bn_mean = &p->vals[bnode->in[3]];
        k->fuse.bn_var = &p->vals[bnode->in[4]];
        k->fuse.bn_eps = eps;
        fuse_into(p, c, b);
      }
    }
    v = p->out0[c];
    int a = p->readable[v] ? -1 : sole_consumer(p, v), w = -1;
    if ((fl & SAL_KERNEL_FUSE_ADD) && a >= 0 && (w = add_operand(p, c, a, v)) >= 0) {
      k->fuse.add = true;
      k->fuse.add_in = &p->vals[w];
      k->fuse.add_din_wanted = p->needs_grad[w];
      p->add_in[c] = w;
      fuse_into(p, c, a);
    }
    v = p->out0[c];
    int r = p->readable[v] ? -1 : sole_consumer(p, v);
    if ((fl & SAL_KERNEL_FUSE_RELU) && r >= 0 && g->nodes[r].op == relu) {
      k->fuse.relu = true;
      fuse_into(p, c, r);
    }
  }
}

static sal_status prepare_nodes(sal_plan *p) {
  for (int i = 0; i < p->g->n_nodes; i++) {
    sal_kctx *k = &p->k[i];
    if (p->elided[i]) continue;
    /* The gradient of a node's output is read by its own backward only, unless it is a result. */
    k->dout_writable = p->out0[i] >= 0 && !p->want_grad[p->out0[i]];
    if (p->kern[i]->prepare) {
      sal_status st = p->kern[i]->prepare(k);
      if (st) return sal_ctx_error_prefix(p->ctx, st, "plan: preparing node '%s': ", k->node->name);
    }
    p->prepared[i] = true;
  }
  return SAL_STATUS_OK;
}

static sal_status choose_kernels(sal_plan *p) {
  sal_ctx *ctx = p->ctx;
  sal_graph *g = p->g;
  for (int i = 0; i < g->n_nodes; i++) {
    const sal_node *n = &g->nodes[i];
    sal_kctx *k = &p->k[i];
    k->ctx = ctx;
    k->graph = g;
    k->node = n;
    k->node_index = i;
    k->n_in = n->n_in;
    k->n_out = n->n_out;
    k->training = p->opts.training;
    k->seed = sal_ctx_seed(ctx);
    k->param_version = 1;
    /* One block: in, out, din, dout pointer arrays and din_accum flags. */
    size_t nio = (size_t)(2 * n->n_in + 2 * n->n_out);
    size_t bytes = nio * sizeof(sal_tensor *) + (size_t)n->n_in * sizeof(bool);
    void *blk = sal_calloc(ctx, 1, bytes);
    if (!blk) return SAL_STATUS_OUT_OF_MEMORY;
    k->in = blk;
    k->out = k->in + n->n_in;
    k->din = k->out + n->n_out;
    k->dout = k->din + n->n_in;
    k->din_accum = (bool *)(k->dout + n->n_out);
    for (int j = 0; j < n->n_in; j++) k->in[j] = n->in[j] >= 0 ? &p->vals[n->in[j]] : NULL;
    for (int j = 0; j < n->n_out; j++) k->out[j] = &p->vals[n->out[j]];

    const sal_op_def *odef = sal__op_def(n->op);
    for (int j = 0; j < n->n_in; j++)
      if (n->in[j] >= 0 && p->needs_grad[n->in[j]] && !(odef->nograd_inputs & (1u << (j < 31 ? j : 31))))
        k->din_wanted |= 1u << (j < 31 ? j : 31);
    /* Kernel choice: oneDNN where it supports the node, unless reference kernels are asked for. */
    const sal_kernel *ref = sal__op_ref_kernel(n->op);
    const sal_kernel *dk = p->opts.kernels == SAL_KERNELS_REF ? NULL : sal__op_dnnl_kernel(n->op);
    const sal_kernel *chosen = ref;
    if (dk && (!dk->supports || dk->supports(k))) {
      if (!p->dnnl) {
        sal_status st = sal__dnnl_env_new(ctx, &p->dnnl);
        if (st) return st;
      }
      chosen = dk;
    } else if (p->opts.kernels == SAL_KERNELS_DNNL) {
      return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED, "no oneDNN kernel supports this node");
    }
    k->dnnl = p->dnnl;
    p->kern[i] = chosen;
    const sal_op_def *def = sal__op_def(n->op);
    if (def->macs) {
      sal_shape ins[64], outs[16];
      int nin = n->n_in < 64 ? n->n_in : 64;
      for (int j = 0; j < nin; j++) {
        if (n->in[j] >= 0) ins[j] = p->shapes[n->in[j]];
        else ins[j].ndim = -1;
      }
      for (int j = 0; j < n->n_out; j++) outs[j] = p->shapes[n->out[j]];
      p->macs += def->macs(n, ins, outs);
    }
  }
  return SAL_STATUS_OK;
}

sal_status sal_plan_new(sal_ctx *ctx, sal_graph *g, const sal_plan_opts *opts, sal_plan **out) {
  *out = NULL;
  sal_plan_opts o = opts ? *opts : sal_plan_opts_default();
  if (o.batch < 1 || o.batch > SAL_MAX_BATCH)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "plan: batch size %lld is out of range 1..%d",
                         (long long)o.batch, SAL_MAX_BATCH);
  if (o.precision != SAL_PRECISION_F32)
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "plan: only f32 precision is implemented");
  if ((unsigned)o.kernels > SAL_KERNELS_DNNL)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "plan: unknown kernel choice %d", (int)o.kernels);
  if (g->n_nodes == 0) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "plan: the graph has no nodes");
  sal_status st = check_names(ctx, g, "grad_values", o.grad_values, o.n_grad_values);
  if (!st) st = check_names(ctx, g, "keep_values", o.keep_values, o.n_keep_values);
  if (st) return st;

  sal_plan *p = sal_calloc(ctx, 1, sizeof *p);
  if (!p) return SAL_STATUS_OUT_OF_MEMORY;
  p->ctx = ctx;
  p->g = g;
  p->opts = o;
  p->opts.grad_values = NULL; /* the caller's lists are not kept */
  p->opts.keep_values = NULL;
  p->param_version = 1;
  p->any_grad = o.grad_inputs || o.grad_params || o.n_grad_values > 0;
  int nv = g->n_values, nn = g->n_nodes;
  st = SAL_STATUS_OUT_OF_MEMORY;
  p->shapes = sal_calloc(ctx, (size_t)nv, sizeof *p->shapes);
  p->vals = sal_calloc(ctx, (size_t)nv, sizeof *p->vals);
  p->grads = sal_calloc(ctx, (size_t)nv, sizeof *p->grads);
  p->needs_grad = sal_calloc(ctx, (size_t)nv, sizeof(bool));
  p->want_grad = sal_calloc(ctx, (size_t)nv, sizeof(bool));
  p->readable = sal_calloc(ctx, (size_t)nv, sizeof(bool));
  p->grad_written = sal_calloc(ctx, (size_t)nv, sizeof(bool));
  p->shadow = sal_calloc(ctx, (size_t)nv, sizeof(sal_tensor *));
  p->gshadow = sal_calloc(ctx, (size_t)nv, sizeof(sal_tensor *));
  p->k = sal_calloc(ctx, (size_t)nn, sizeof *p->k);
  p->kern = sal_calloc(ctx, (size_t)nn, sizeof *p->kern);
  p->prepared = sal_calloc(ctx, (size_t)nn, sizeof(bool));
  p->writer = sal_calloc(ctx, (size_t)nv, sizeof(int));
  p->elided = sal_calloc(ctx, (size_t)nn, sizeof(bool));
  p->out0 = sal_calloc(ctx, (size_t)nn, sizeof(int));
  p->add_in = sal_calloc(ctx, (size_t)nn, sizeof(int));
  p->t_fwd = sal_calloc(ctx, (size_t)nn, sizeof(double));
  p->t_bwd = sal_calloc(ctx, (size_t)nn, sizeof(double));
  if (!p->shapes || !p->vals || !p->grads || !p->needs_grad || !p->want_grad || !p->readable ||
      !p->grad_written || !p->k || !p->kern || !p->prepared || !p->shadow || !p->gshadow ||
      !p->writer || !p->elided || !p->out0 || !p->add_in || !p->t_fwd || !p->t_bwd)
    goto fail;

  /* Shapes at the bound batch size. */
  for (int v = 0; v < nv; v++) {
    p->shapes[v] = g->values[v].shape;
    if (g->values[v].kind == SAL_VALUE_INPUT && p->shapes[v].d[0] < 0) p->shapes[v].d[0] = o.batch;
  }
  for (int i = 0; i < nn; i++) {
    st = sal__infer_node(ctx, g, &g->nodes[i], p->shapes);
    if (st) {
      sal_ctx_error_prefix(ctx, st, "plan (batch %lld): ", (long long)o.batch);
      goto fail;
    }
  }
  mark_grad_flow(p, &o);
  for (int v = 0; v < nv; v++) {
    p->readable[v] = g->values[v].kind != SAL_VALUE_ACT || p->want_grad[v] ||
                     in_list(g->values[v].name, o.keep_values, o.n_keep_values);
    p->vals[v].shape = p->shapes[v];
    p->grads[v].shape = p->shapes[v];
  }
  for (int i = 0; i < g->n_outputs; i++) p->readable[g->outputs[i]] = true;
  for (int v = 0; v < nv; v++) p->writer[v] = g->values[v].producer;
  for (int i = 0; i < nn; i++) p->out0[i] = g->nodes[i].n_out > 0 ? g->nodes[i].out[0] : -1;
  for (int i = 0; i < nn; i++) p->add_in[i] = -1;
  st = choose_kernels(p);
  if (st) goto fail;
  fuse_nodes(p);
  choose_layouts(p);
  st = layout_memory(p);
  if (!st) st = prepare_nodes(p);
  if (st) goto fail;
  *out = p;
  return SAL_STATUS_OK;
fail:
  sal_plan_free(p);
  return st;
}

/* The plain copy of value v used to read (or seed) a value kept blocked; allocated on first use,
 * outside forward/backward loops, and kept until the plan is freed. */
static sal_status shadow_of(sal_plan *p, sal_tensor **slot, int v) {
  if (slot[v]) return SAL_STATUS_OK;
  return sal_tensor_new(p->ctx, p->shapes[v].ndim, p->shapes[v].d, &slot[v]);
}

static int find_value(sal_plan *p, const char *name) {
  int v = name ? sal__graph_find(p->g, name) : -1;
  if (v < 0) sal_ctx_error(p->ctx, SAL_STATUS_NOT_FOUND, "plan: no value named '%s'", name ? name : "(null)");
  return v;
}

sal_status sal_plan_set_input(sal_plan *p, const char *name, const sal_tensor *t) {
  int v = find_value(p, name);
  if (v < 0) return SAL_STATUS_NOT_FOUND;
  if (p->g->values[v].kind != SAL_VALUE_INPUT)
    return sal_ctx_error(p->ctx, SAL_STATUS_BAD_INPUT, "plan: '%s' is not a graph input", name);
  if (!sal_shape_equal(&t->shape, &p->shapes[v])) {
    char a[96], b[96];
    return sal_ctx_error(p->ctx, SAL_STATUS_SHAPE, "plan: input '%s' has shape %s, the plan expects %s", name,
                         sal_shape_str(&t->shape, a, sizeof a), sal_shape_str(&p->shapes[v], b, sizeof b));
  }
  memcpy(p->vals[v].data, t->data, (size_t)sal_tensor_numel(t) * sizeof(float));
  return SAL_STATUS_OK;
}

void sal_plan_params_changed(sal_plan *p) { p->param_version++; }

sal_status sal_plan_forward(sal_plan *p) {
  p->forward_done = false;
  p->backward_done = false;
  p->pass++;
  for (int i = 0; i < p->g->n_nodes; i++) {
    sal_kctx *k = &p->k[i];
    if (p->elided[i]) continue;
    k->pass = p->pass;
    k->param_version = p->param_version;
    k->training = p->opts.training;
    double t0 = p->opts.profile ? now_ms() : 0;
    sal_status st = p->kern[i]->forward(k);
    if (p->opts.profile) p->t_fwd[i] += now_ms() - t0;
    if (st) return sal_ctx_error_prefix(p->ctx, st, "forward: ");
  }
  p->forward_done = true;
  return SAL_STATUS_OK;
}

sal_status sal_plan_backward(sal_plan *p, const char *name, const sal_tensor *seed) {
  sal_ctx *ctx = p->ctx;
  const sal_graph *g = p->g;
  if (!p->any_grad)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_STATE, "backward: the plan was created without gradients "
                                                    "(set grad_inputs, grad_params or grad_values)");
  if (!p->forward_done) return sal_ctx_error(ctx, SAL_STATUS_BAD_STATE, "backward: call forward first");
  int sv = find_value(p, name);
  if (sv < 0) return SAL_STATUS_NOT_FOUND;
  if (seed && !sal_shape_equal(&seed->shape, &p->shapes[sv])) {
    char a[96], b[96];
    return sal_ctx_error(ctx, SAL_STATUS_SHAPE, "backward: seed has shape %s, value '%s' has %s",
                         sal_shape_str(&seed->shape, a, sizeof a), name, sal_shape_str(&p->shapes[sv], b, sizeof b));
  }
  memset(p->grad_written, 0, (size_t)g->n_values * sizeof(bool));
  if (p->needs_grad[sv]) {
    sal_tensor *gt = &p->grads[sv];
    int64_t n = sal_shape_numel(&p->shapes[sv]);
    if (gt->layout == SAL_LAYOUT_BLOCKED16) {
      if (seed) {
        sal__plain_to_blocked(seed->data, gt);
      } else {
        /* ones in the real channels, zeros in the padding */
        sal_tensor *sh;
        sal_status st = shadow_of(p, p->gshadow, sv);
        if (st) return st;
        sh = p->gshadow[sv];
        for (int64_t i = 0; i < n; i++) sh->data[i] = 1.0f;
        sal__plain_to_blocked(sh->data, gt);
      }
    } else if (seed) {
      memcpy(gt->data, seed->data, (size_t)n * sizeof(float));
    } else {
      for (int64_t i = 0; i < n; i++) gt->data[i] = 1.0f;
    }
    p->grad_written[sv] = true;
  }
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    const sal_node *n = &g->nodes[i];
    sal_kctx *k = &p->k[i];
    if (p->elided[i]) continue;
    bool reached = false;
    for (int j = 0; j < n->n_out; j++) {
      int v = j == 0 ? p->out0[i] : n->out[j];
      k->dout[j] = p->grad_written[v] ? &p->grads[v] : NULL;
      reached |= p->grad_written[v];
    }
    if (!reached) continue;
    const sal_op_def *def = sal__op_def(n->op);
    bool any_din = false, dup = false;
    for (int j = 0; j < n->n_in; j++) {
      int v = n->in[j];
      bool want = v >= 0 && p->needs_grad[v] && !(def->nograd_inputs & (1u << (j < 31 ? j : 31)));
      k->din[j] = want ? &p->grads[v] : NULL;
      k->din_accum[j] = want && p->grad_written[v];
      any_din |= want;
      for (int q = 0; q < j && want; q++)
        if (n->in[q] == v && k->din[q]) dup = true;
    }
    int av = p->add_in[i]; /* a fused Add's operand: its gradient is written here too */
    if (av >= 0) {
      bool want = p->needs_grad[av];
      k->fuse.add_din = want ? &p->grads[av] : NULL;
      k->fuse.add_din_accum = want && p->grad_written[av];
      any_din |= want;
    }
    if (!any_din) continue;
    if (dup) {
      /* The same value feeds two inputs: both must add into one zeroed buffer. */
      for (int j = 0; j < n->n_in; j++)
        if (k->din[j]) {
          if (!k->din_accum[j] && !p->grad_written[n->in[j]]) {
            memset(k->din[j]->data, 0, (size_t)sal__tensor_storage(k->din[j]) * sizeof(float));
            p->grad_written[n->in[j]] = true;
          }
          k->din_accum[j] = true;
        }
    }
    double t0 = p->opts.profile ? now_ms() : 0;
    sal_status st = p->kern[i]->backward(k);
    if (p->opts.profile) p->t_bwd[i] += now_ms() - t0;
    if (st) return sal_ctx_error_prefix(ctx, st, "backward: ");
    for (int j = 0; j < n->n_in; j++)
      if (k->din[j]) p->grad_written[n->in[j]] = true;
    if (av >= 0 && k->fuse.add_din) p->grad_written[av] = true;
  }
  /* Results no path reached are zero. */
  for (int v = 0; v < g->n_values; v++)
    if (p->want_grad[v] && !p->grad_written[v])
      memset(p->grads[v].data, 0, (size_t)sal__tensor_storage(&p->grads[v]) * sizeof(float));
  p->backward_done = true;
  return SAL_STATUS_OK;
}

sal_status sal_plan_value(sal_plan *p, const char *name, const sal_tensor **out) {
  *out = NULL;
  int v = find_value(p, name);
  if (v < 0) return SAL_STATUS_NOT_FOUND;
  if (!p->readable[v])
    return sal_ctx_error(p->ctx, SAL_STATUS_BAD_STATE,
                         "plan: value '%s' is not kept after forward (list it in keep_values)", name);
  if (p->g->values[v].kind == SAL_VALUE_ACT && !p->forward_done)
    return sal_ctx_error(p->ctx, SAL_STATUS_BAD_STATE, "plan: value '%s' read before forward", name);
  if (p->vals[v].layout == SAL_LAYOUT_BLOCKED16) {
    sal_status st = shadow_of(p, p->shadow, v);
    if (st) return st;
    sal__blocked_to_plain(&p->vals[v], p->shadow[v]->data);
    *out = p->shadow[v];
    return SAL_STATUS_OK;
  }
  *out = &p->vals[v];
  return SAL_STATUS_OK;
}

sal_status sal_plan_grad(sal_plan *p, const char *name, const sal_tensor **out) {
  *out = NULL;
  int v = find_value(p, name);
  if (v < 0) return SAL_STATUS_NOT_FOUND;
  if (!p->want_grad[v])
    return sal_ctx_error(p->ctx, SAL_STATUS_BAD_STATE,
                         "plan: the gradient of '%s' was not requested (grad_inputs, grad_params or grad_values)", name);
  if (!p->backward_done) return sal_ctx_error(p->ctx, SAL_STATUS_BAD_STATE, "plan: gradient of '%s' read before backward", name);
  if (p->grads[v].layout == SAL_LAYOUT_BLOCKED16) {
    sal_status st = shadow_of(p, p->gshadow, v);
    if (st) return st;
    sal__blocked_to_plain(&p->grads[v], p->gshadow[v]->data);
    *out = p->gshadow[v];
    return SAL_STATUS_OK;
  }
  *out = &p->grads[v];
  return SAL_STATUS_OK;
}

sal_status sal_plan_shape(const sal_plan *p, const char *name, sal_shape *out) {
  int v = sal__graph_find(p->g, name);
  if (v < 0) return sal_ctx_error(p->ctx, SAL_STATUS_NOT_FOUND, "plan: no value named '%s'", name);
  *out = p->shapes[v];
  return SAL_STATUS_OK;
}

const char *sal_plan_node_kernel(const sal_plan *p, int node) {
  if (node < 0 || node >= p->g->n_nodes) return NULL;
  if (p->elided[node]) return "fused";
  const sal_kernel *kr = p->kern[node];
  return kr->impl_name ? kr->impl_name(&p->k[node]) : kr->name;
}

int64_t sal_plan_forward_macs(const sal_plan *p) { return p->macs; }

sal_status sal_plan_node_time(const sal_plan *p, int node, double *fwd_ms, double *bwd_ms) {
  if (node < 0 || node >= p->g->n_nodes)
    return sal_ctx_error(p->ctx, SAL_STATUS_NOT_FOUND, "plan: no node %d", node);
  if (!p->opts.profile)
    return sal_ctx_error(p->ctx, SAL_STATUS_BAD_STATE, "plan: created without opts.profile");
  *fwd_ms = p->t_fwd[node];
  *bwd_ms = p->t_bwd[node];
  return SAL_STATUS_OK;
}

const char *sal_plan_node_name(const sal_plan *p, int node) {
  return node >= 0 && node < p->g->n_nodes ? p->g->nodes[node].name : NULL;
}

const char *sal_plan_node_op(const sal_plan *p, int node) {
  return node >= 0 && node < p->g->n_nodes ? sal__op_name(p->g->nodes[node].op) : NULL;
}
