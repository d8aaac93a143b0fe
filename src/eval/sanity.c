/* The cascading model-parameter randomisation test (Adebayo et al., "Sanity Checks for Saliency
 * Maps", NeurIPS 2018; METHODS.md §G): a method's maps on the trained model compared with its maps
 * on copies of the model whose layers are re-initialised from the output down. Runs the methods
 * through sal_explain_run (src/saliency/explain.c) and compares maps with src/eval/similarity.c. */
#include <math.h>
#include <string.h>

#include "graph/internal.h"
#include "salient/eval.h"

sal_sanity_opts sal_sanity_opts_default(void) {
  sal_sanity_opts o;
  memset(&o, 0, sizeof o);
  return o;
}

/* How one parameter is re-initialised: the scheme of the built-in models (src/models/build.c),
 * which is torchvision's: Conv weights Kaiming-normal (fan_out, ReLU gain), Conv biases 0, Linear
 * (Gemm / MatMul) weights and biases U(-1/√fan_in, 1/√fan_in), batch-norm reset to its initial
 * state (scale 1, shift 0, running mean 0, running variance 1). */
typedef enum init_kind { INIT_ZERO, INIT_ONE, INIT_NORMAL, INIT_UNIFORM } init_kind;

typedef struct lparam {
  int value;      /* index into g->values (a PARAM) */
  init_kind kind;
  double a;       /* NORMAL: std; UNIFORM: bound */
} lparam;

#define MAX_LPARAMS 8 /* Conv/Gemm weight and bias, 4 of a batch-norm, an Add bias: 7 */

typedef struct layer {
  sal_op_type head_op; /* CONV, GEMM, MATMUL or BATCHNORM (a batch-norm without a layer before it) */
  int last;            /* index of the group's last node: a batch-norm or bias Add joins when it reads its output */
  bool has_bn, has_add;
  double fan_in;       /* Gemm / MatMul: the contraction size (bias bound 1/√fan_in) */
  const char *name;    /* the head's weight name, borrowed from the graph (".weight" removed on output) */
  lparam p[MAX_LPARAMS];
  int n_p;
} layer;

static bool is_param(const sal_graph *g, int v) { return v >= 0 && g->values[v].kind == SAL_VALUE_PARAM; }

static void add_param(layer *l, int value, init_kind kind, double a) {
  if (l->n_p < MAX_LPARAMS) l->p[l->n_p++] = (lparam){value, kind, a};
}

/* Whether node n reads the output of the layer's last node as input `slot`. */
static bool reads_layer(const sal_graph *g, const layer *l, const sal_node *n, int slot) {
  const sal_node *last = &g->nodes[l->last];
  return slot < n->n_in && last->n_out > 0 && n->in[slot] == last->out[0];
}

/* The parameterised layers of g in topological order (docs/metrics.md, "Sanity checks"): a Conv,
 * Gemm or MatMul with a weight parameter starts a layer; a BatchNormalization that reads a layer's
 * output joins that layer (the conv before it), as does an Add of a parameter (a bias exported as
 * a separate node); a BatchNormalization after anything else is a layer of its own. Other
 * parameters (shape tensors, constants of element-wise ops) are not randomised. *out has up to
 * g->n_nodes entries (caller frees). */
static sal_status find_layers(sal_ctx *ctx, const sal_graph *g, layer **out, int64_t *n_out) {
  *out = NULL;
  *n_out = 0;
  layer *L = sal_calloc(ctx, (size_t)(g->n_nodes ? g->n_nodes : 1), sizeof(layer));
  if (!L) return SAL_STATUS_OUT_OF_MEMORY;
  int64_t n = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const sal_node *nd = &g->nodes[i];
    layer *cur = n ? &L[n - 1] : NULL;
    bool cur_linear = cur && cur->head_op != SAL_OP_BATCHNORM;
    if (nd->op == SAL_OP_CONV && nd->n_in >= 2 && is_param(g, nd->in[1])) {
      /* W is (cout, cin / group, k1, k2): Kaiming-normal, std = √(2 / fan_out), fan_out = cout k1 k2 */
      const sal_shape *ws = &g->values[nd->in[1]].shape;
      double fan_out = 1;
      for (int d = 0; d < ws->ndim; d++)
        if (d != 1) fan_out *= (double)ws->d[d];
      layer *l = &L[n++];
      *l = (layer){.head_op = SAL_OP_CONV, .last = i, .name = g->values[nd->in[1]].name};
      add_param(l, nd->in[1], INIT_NORMAL, fan_out > 0 ? sqrt(2.0 / fan_out) : 0.0);
      if (nd->n_in >= 3 && is_param(g, nd->in[2])) add_param(l, nd->in[2], INIT_ZERO, 0);
    } else if ((nd->op == SAL_OP_GEMM || nd->op == SAL_OP_MATMUL) && nd->n_in >= 2 &&
               (is_param(g, nd->in[1]) || is_param(g, nd->in[0]))) {
      /* The weight is the parameter operand, B (preferred) or A; fan_in is its contraction size:
       * Gemm B' = transB ? Bᵀ : B is (K, N), A' is (M, K); MatMul B is (..., K, N), A (..., M, K). */
      int64_t ta = 0, tb = 0;
      if (nd->op == SAL_OP_GEMM) {
        sal_status st = sal__attr_int(ctx, nd, "transA", 0, &ta);
        if (!st) st = sal__attr_int(ctx, nd, "transB", 0, &tb);
        if (st) {
          sal_free(L);
          return st;
        }
      }
      bool b_is_w = is_param(g, nd->in[1]);
      int w = b_is_w ? nd->in[1] : nd->in[0];
      const sal_shape *ws = &g->values[w].shape;
      if (ws->ndim < 2) continue;
      int kdim = b_is_w ? (tb ? ws->ndim - 1 : ws->ndim - 2) : (ta ? ws->ndim - 2 : ws->ndim - 1);
      double fan_in = (double)ws->d[kdim];
      double bound = fan_in > 0 ? 1.0 / sqrt(fan_in) : 0.0;
      layer *l = &L[n++];
      *l = (layer){.head_op = nd->op, .last = i, .fan_in = fan_in, .name = g->values[w].name};
      add_param(l, w, INIT_UNIFORM, bound);
      if (nd->op == SAL_OP_GEMM && nd->n_in >= 3 && is_param(g, nd->in[2]))
        add_param(l, nd->in[2], INIT_UNIFORM, bound);
    } else if (nd->op == SAL_OP_BATCHNORM && nd->n_in >= 5) {
      int first = 0;
      for (int k = 4; k >= 1; k--)
        if (is_param(g, nd->in[k])) first = k;
      if (!first) continue;
      layer *l = cur;
      if (!(cur_linear && !cur->has_bn && reads_layer(g, cur, nd, 0))) {
        l = &L[n++];
        *l = (layer){.head_op = SAL_OP_BATCHNORM, .name = g->values[nd->in[first]].name};
      }
      l->has_bn = true;
      l->last = i;
      /* inputs X, scale, B, input_mean, input_var (ONNX BatchNormalization) */
      static const init_kind reset[5] = {INIT_ZERO, INIT_ONE, INIT_ZERO, INIT_ZERO, INIT_ONE};
      for (int k = 1; k < 5; k++)
        if (is_param(g, nd->in[k])) add_param(l, nd->in[k], reset[k], 0);
    } else if (nd->op == SAL_OP_ADD && nd->n_in == 2 && cur_linear && !cur->has_bn && !cur->has_add) {
      for (int k = 0; k < 2; k++)
        if (is_param(g, nd->in[k]) && reads_layer(g, cur, nd, 1 - k)) {
          double bound = cur->fan_in > 0 ? 1.0 / sqrt(cur->fan_in) : 0.0;
          add_param(cur, nd->in[k], cur->head_op == SAL_OP_CONV ? INIT_ZERO : INIT_UNIFORM, bound);
          cur->has_add = true;
          cur->last = i;
          break;
        }
    }
  }
  *out = L;
  *n_out = n;
  return SAL_STATUS_OK;
}

/* A parameter's random stream is a hash (FNV-1a, 64 bit) of "sanity:" and its name: its new values
 * depend on (seed, name) only, not on which stages run, and differ from the model builders' draws
 * (which hash the bare name), so a built-in model re-initialised with its own seed still changes. */
static uint64_t name_stream(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const char *p = "sanity:"; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
  return h;
}

static void reinit_layer(sal_graph *c, const layer *l, uint64_t seed) {
  for (int k = 0; k < l->n_p; k++) {
    sal_value *v = &c->values[l->p[k].value];
    size_t n = (size_t)sal_shape_numel(&v->shape);
    float a = (float)l->p[k].a;
    switch (l->p[k].kind) {
      case INIT_ZERO:
        memset(v->data, 0, n * sizeof(float));
        break;
      case INIT_ONE:
        for (size_t i = 0; i < n; i++) v->data[i] = 1.0f;
        break;
      case INIT_NORMAL:
        sal_rng_normal(seed, name_stream(v->name), 0, v->data, n);
        for (size_t i = 0; i < n; i++) v->data[i] *= a;
        break;
      case INIT_UNIFORM:
        sal_rng_uniform(seed, name_stream(v->name), 0, v->data, n);
        for (size_t i = 0; i < n; i++) v->data[i] = (2.0f * v->data[i] - 1.0f) * a;
        break;
    }
  }
}

/* The layer's name for stage labels: its weight's name without a trailing ".weight". */
static char *layer_name(sal_ctx *ctx, const char *w) {
  char *s = sal__strdup(ctx, w);
  size_t n = s ? strlen(s) : 0;
  if (n > 7 && strcmp(s + n - 7, ".weight") == 0) s[n - 7] = '\0';
  return s;
}

void sal_sanity_result_clear(sal_sanity_result *r) {
  if (!r) return;
  for (int64_t s = 0; r->stage_names && s < r->n_stages; s++) sal_free(r->stage_names[s]);
  sal_free(r->stage_names);
  sal_free(r->n_randomized);
  sal_free(r->targets);
  sal_free(r->spearman);
  sal_free(r->spearman_abs);
  sal_free(r->ssim);
  sal_free(r->mean_spearman);
  sal_free(r->mean_spearman_abs);
  sal_free(r->mean_ssim);
  sal_tensor_free(r->maps);
  memset(r, 0, sizeof *r);
}

/* Mean of v[0..n) without the NaN entries; NaN when all are NaN. */
static double mean_finite(const double *v, int64_t n) {
  double s = 0;
  int64_t k = 0;
  for (int64_t i = 0; i < n; i++)
    if (!isnan(v[i])) s += v[i], k++;
  return k ? s / (double)k : NAN;
}

/* Compares e0 (trained) with e (stage s) per image into the result's row s. ta, tb hold HW floats. */
static sal_status compare(sal_ctx *ctx, const sal_explanation *e0, const sal_explanation *e, int64_t s, int64_t H,
                          int64_t W, float *ta, float *tb, sal_sanity_result *r) {
  const int64_t N = r->n_images, HW = H * W;
  for (int64_t i = 0; i < N; i++) {
    const float *a = e0->raw->data + i * HW, *b = e->raw->data + i * HW;
    double *sp = &r->spearman[s * N + i], *sa = &r->spearman_abs[s * N + i], *ss = &r->ssim[s * N + i];
    sal_status st = sal_spearman(ctx, a, b, HW, sp);
    for (int64_t q = 0; q < HW; q++) ta[q] = fabsf(a[q]), tb[q] = fabsf(b[q]);
    if (!st) st = sal_spearman(ctx, ta, tb, HW, sa);
    if (!st) st = sal_ssim(ctx, e0->norm->data + i * HW, e->norm->data + i * HW, H, W, 1.0, ss);
    if (st) return st;
  }
  r->mean_spearman[s] = mean_finite(r->spearman + s * N, N);
  r->mean_spearman_abs[s] = mean_finite(r->spearman_abs + s * N, N);
  r->mean_ssim[s] = mean_finite(r->ssim + s * N, N);
  if (r->maps) memcpy(r->maps->data + s * HW, e->raw->data, (size_t)HW * sizeof(float));
  return SAL_STATUS_OK;
}

sal_status sal_sanity_cascade(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const int64_t *targets,
                              const sal_method_params *p, const sal_sanity_opts *o, sal_sanity_result *out) {
  memset(out, 0, sizeof *out);
  if (!g || !images || !p || !o)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sanity: no model, images, method parameters or options");
  if (o->max_stages < 0)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sanity: max_stages is %lld; it must be >= 0 (0 = one stage per "
                         "layer)", (long long)o->max_stages);
  if (sal_graph_num_inputs(g) < 1 || sal_graph_num_outputs(g) < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sanity: the model needs an input and an output");
  sal_shape xs;
  sal_status st = sal_graph_value_shape(g, sal_graph_input_name(g, 0), &xs);
  if (st) return st;
  const sal_shape *is = &images->shape;
  char sa[96], sb[96];
  if (xs.ndim != 4 || is->ndim != 4 || is->d[0] < 1 || is->d[1] != xs.d[1] || is->d[2] != xs.d[2] ||
      is->d[3] != xs.d[3])
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sanity: images %s do not fit the model's input %s (N >= 1)",
                         sal_shape_str(is, sa, sizeof sa), sal_shape_str(&xs, sb, sizeof sb));
  const int64_t N = is->d[0], H = is->d[2], W = is->d[3], HW = H * W;
  if (H < 11 || W < 11)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sanity: SSIM needs maps of at least 11 x 11; the model's input is "
                         "%lld x %lld", (long long)H, (long long)W);
  layer *L = NULL;
  int64_t nL = 0;
  st = find_layers(ctx, g, &L, &nL);
  if (st) return st;
  if (nL == 0) {
    sal_free(L);
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sanity: the model has no parameterised layers (Conv, Gemm, MatMul "
                         "or BatchNormalization with parameters)");
  }
  const int64_t S = o->max_stages == 0 || o->max_stages > nL ? nL : o->max_stages;
  const int64_t NS = S + 1;
  out->n_images = N;
  out->n_stages = NS;
  out->n_layers = nL;
  out->stage_names = sal_calloc(ctx, (size_t)NS, sizeof(char *));
  out->n_randomized = sal_calloc(ctx, (size_t)NS, sizeof(int64_t));
  out->targets = sal_calloc(ctx, (size_t)N, sizeof(int64_t));
  out->spearman = sal_calloc(ctx, (size_t)(NS * N), sizeof(double));
  out->spearman_abs = sal_calloc(ctx, (size_t)(NS * N), sizeof(double));
  out->ssim = sal_calloc(ctx, (size_t)(NS * N), sizeof(double));
  out->mean_spearman = sal_calloc(ctx, (size_t)NS, sizeof(double));
  out->mean_spearman_abs = sal_calloc(ctx, (size_t)NS, sizeof(double));
  out->mean_ssim = sal_calloc(ctx, (size_t)NS, sizeof(double));
  float *ta = sal_alloc(ctx, (size_t)HW * sizeof(float)), *tb = sal_alloc(ctx, (size_t)HW * sizeof(float));
  if (!out->stage_names || !out->n_randomized || !out->targets || !out->spearman || !out->spearman_abs || !out->ssim ||
      !out->mean_spearman || !out->mean_spearman_abs || !out->mean_ssim || !ta || !tb)
    st = SAL_STATUS_OUT_OF_MEMORY;
  if (!st && o->keep_maps) st = sal_tensor_new(ctx, 4, (int64_t[]){NS, 1, H, W}, &out->maps);
  if (!st && !(out->stage_names[0] = sal__strdup(ctx, "none"))) st = SAL_STATUS_OUT_OF_MEMORY;
  /* Stage 0: the trained model's maps, compared with themselves (1 exactly, or NaN for a constant
   * map); they are the reference of every later stage, explained for the same classes. */
  sal_explanation e0, e;
  memset(&e0, 0, sizeof e0);
  memset(&e, 0, sizeof e);
  if (!st) st = sal_explain_run(ctx, g, images, targets, p, &e0);
  if (!st) {
    memcpy(out->targets, e0.targets, (size_t)N * sizeof(int64_t));
    st = compare(ctx, &e0, &e0, 0, H, W, ta, tb, out);
  }
  sal_graph *c = NULL;
  if (!st) st = sal_graph_clone(g, &c);
  /* Stage k re-initialises the top round(k nL / S) layers, cumulatively: with S <= nL the counts
   * grow by at least one per stage and the last stage randomises every layer. */
  int64_t done = 0;
  for (int64_t k = 1; !st && k <= S; k++) {
    const int64_t cnt = (k * nL + S / 2) / S;
    for (int64_t l = nL - 1 - done; l >= nL - cnt; l--) reinit_layer(c, &L[l], o->seed);
    done = cnt;
    out->n_randomized[k] = cnt;
    if (!(out->stage_names[k] = layer_name(ctx, L[nL - cnt].name))) st = SAL_STATUS_OUT_OF_MEMORY;
    if (!st) st = sal_explain_run(ctx, c, images, out->targets, p, &e);
    if (!st) st = compare(ctx, &e0, &e, k, H, W, ta, tb, out);
    sal_explanation_clear(&e);
  }
  sal_graph_free(c);
  sal_explanation_clear(&e0);
  sal_free(ta);
  sal_free(tb);
  sal_free(L);
  if (st) {
    sal_ctx_error_prefix(ctx, st, "sanity: ");
    sal_sanity_result_clear(out);
  }
  return st;
}
