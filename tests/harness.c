/* Shared test harness: loud checks, the per-op central-difference gradient check and the
 * oneDNN-vs-reference comparison used by every tests/test_ops_*.c. */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int th_passed, th_failed;
static sal_ctx *g_ctx;

sal_ctx *th_ctx(void) {
  if (!g_ctx) {
    if (sal_ctx_new(2, 1234, &g_ctx) != SAL_STATUS_OK) {
      fprintf(stderr, "cannot create context\n");
      exit(2);
    }
  }
  return g_ctx;
}

int th_quick(void) {
  const char *q = getenv("SAL_TEST_QUICK");
  return q && q[0] && q[0] != '0';
}

int th_contains(const char *hay, const char *needle) { return !needle || (hay && strstr(hay, needle)); }

static char g_tmpdir[512];

const char *th_tmpdir(void) {
  if (g_tmpdir[0]) return g_tmpdir;
  const char *base = getenv("TMPDIR");
  snprintf(g_tmpdir, sizeof g_tmpdir, "%s/sal_test_XXXXXX", base && base[0] ? base : "/tmp");
  if (!mkdtemp(g_tmpdir)) {
    g_tmpdir[0] = '\0';
    TH_CHECK(0, "cannot create a temporary directory");
    return NULL;
  }
  return g_tmpdir;
}

void th_tmp_path(char *buf, size_t n, const char *name) {
  const char *d = th_tmpdir();
  snprintf(buf, n, "%s/%s", d ? d : "/nonexistent", name);
}

sal_tensor *th_npy(const char *dir, const char *rel) {
  char path[1024];
  snprintf(path, sizeof path, "%s%s", dir, rel);
  sal_tensor *t = NULL;
  TH_OK(sal_npy_read(th_ctx(), path, &t));
  return t;
}

sal_method_params th_method_params(const char *method) {
  sal_method_params p;
  TH_OK(sal_method_params_default(th_ctx(), method, &p));
  return p;
}

unsigned char *th_read_file(const char *path, size_t *n) {
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *b = NULL;
  long sz = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  if (sz >= 0 && fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)sz + 1)) != NULL) *n = fread(b, 1, (size_t)sz, f);
  fclose(f);
  return b;
}

void th_write_file(const char *path, const void *bytes, size_t n) {
  FILE *f = fopen(path, "wb");
  TH_CHECK(f != NULL, "cannot create %s", path);
  if (!f) return;
  TH_CHECK(n == 0 || fwrite(bytes, 1, n, f) == n, "short write to %s", path);
  fclose(f);
}

int th_finish(const char *name) {
  printf("%s: %d passed, %d failed\n", name, th_passed, th_failed);
  if (g_tmpdir[0]) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_tmpdir);
    g_tmpdir[0] = '\0';
  }
  sal_ctx_free(g_ctx);
  g_ctx = NULL;
  return th_failed ? 1 : 0;
}

int th_allclose(const char *label, const float *a, const float *b, int64_t n, double rtol, double atol) {
  double maxd = 0;
  int64_t first = -1;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (!(d <= atol + rtol * fabs((double)b[i]))) {  /* NaN counts as a mismatch */
      if (first < 0) first = i;
      if (!(d <= maxd)) maxd = d;
    }
  }
  if (first >= 0) {
    th_failed++;
    fprintf(stderr, "FAIL %s: first mismatch at index %lld: %.8g vs %.8g; max diff %.3g (rtol %g atol %g)\n",
            label, (long long)first, a[first], b[first], maxd, rtol, atol);
    return 0;
  }
  th_passed++;
  return 1;
}

void th_fill_buf(const th_input *in, float *buf, int64_t n, uint64_t seed) {
  switch (in->fill) {
    case TH_FILL_DATA:
      memcpy(buf, in->data, (size_t)n * sizeof(float));
      break;
    case TH_FILL_POSITIVE:
      sal_rng_uniform(seed, 7, 0, buf, (size_t)n);
      for (int64_t i = 0; i < n; i++) buf[i] = 0.5f + 1.5f * buf[i];
      break;
    case TH_FILL_DISTINCT: {
      /* Values k*step - 2 for a random permutation of k: distinct by >= step. */
      double step = n > 1 ? 4.0 / (double)(n - 1) : 1.0;
      if (step < 0.05) step = 0.05;
      for (int64_t i = 0; i < n; i++) buf[i] = (float)((double)i * step - 2.0);
      for (int64_t i = n - 1; i > 0; i--) {
        uint32_t r[4];
        sal_philox(seed, 11, (uint64_t)i, r);
        int64_t j = (int64_t)(r[0] % (uint32_t)(i + 1));
        float t = buf[i];
        buf[i] = buf[j];
        buf[j] = t;
      }
      break;
    }
    case TH_FILL_AWAY:
      sal_rng_normal(seed, 13, 0, buf, (size_t)n);
      for (int64_t i = 0; i < n; i++)
        if (fabsf(buf[i]) < 0.1f) buf[i] = buf[i] < 0 ? -0.1f - buf[i] : 0.1f + buf[i];
      break;
    default:
      sal_rng_normal(seed, 17, 0, buf, (size_t)n);
  }
}

static void out_name(int j, char *buf) { snprintf(buf, 16, "y%d", j); }

sal_graph *th_build(const th_op_case *c) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  if (sal_graph_new(ctx, &g)) goto fail;
  const char *ins[8];
  for (int i = 0; i < c->n_in; i++) {
    const th_input *in = &c->in[i];
    ins[i] = in->name;
    if (!in->name || !in->name[0]) {
      ins[i] = "";
      continue;
    }
    sal_status st;
    if (in->param || in->constant) {
      sal_shape s;
      sal_shape_make(&s, in->ndim, in->dims);
      int64_t n = sal_shape_numel(&s);
      float *buf = calloc((size_t)(n ? n : 1), sizeof(float));
      th_fill_buf(in, buf, n, 100 + (uint64_t)i);
      st = sal_graph_add_param(g, in->name, in->ndim, in->dims, buf, in->param);
      free(buf);
    } else {
      st = sal_graph_add_input(g, in->name, in->ndim, in->dims);
    }
    if (st) goto fail;
  }
  char names[16][16];
  const char *outs[16];
  for (int j = 0; j < c->n_out; j++) {
    out_name(j, names[j]);
    outs[j] = names[j];
  }
  if (sal_graph_add_node(g, c->op, c->label, ins, c->n_in, outs, c->n_out, c->attrs, c->n_attrs)) goto fail;
  for (int j = 0; j < c->n_out; j++)
    if (sal_graph_add_output(g, outs[j])) goto fail;
  return g;
fail:
  th_failed++;
  fprintf(stderr, "FAIL %s: building the graph: %s\n", c->label, sal_ctx_last_error(ctx));
  sal_graph_free(g);
  return NULL;
}

/* Per-case state: a plan plus host copies of every graph input. */
typedef struct run {
  sal_graph *g;
  sal_plan *p;
  sal_tensor *inputs[8];
} run;

static void run_free(run *r) {
  for (int i = 0; i < 8; i++) sal_tensor_free(r->inputs[i]);
  sal_plan_free(r->p);
  sal_graph_free(r->g);
  memset(r, 0, sizeof *r);
}

static int run_make(const th_op_case *c, sal_kernels kernels, run *r) {
  sal_ctx *ctx = th_ctx();
  memset(r, 0, sizeof *r);
  r->g = th_build(c);
  if (!r->g) return 0;
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = 1;
  o.training = c->training;
  o.grad_inputs = true;
  o.grad_params = true;
  o.kernels = kernels;
  sal_status st = sal_plan_new(ctx, r->g, &o, &r->p);
  if (st) {
    th_failed++;
    fprintf(stderr, "FAIL %s: plan: %s\n", c->label, sal_ctx_last_error(ctx));
    run_free(r);
    return 0;
  }
  for (int i = 0; i < c->n_in; i++) {
    const th_input *in = &c->in[i];
    if (!in->name || !in->name[0] || in->param || in->constant) continue;
    if (sal_tensor_new(ctx, in->ndim, in->dims, &r->inputs[i])) {
      run_free(r);
      return 0;
    }
    th_fill_buf(in, r->inputs[i]->data, sal_tensor_numel(r->inputs[i]), 100 + (uint64_t)i);
    sal_plan_set_input(r->p, in->name, r->inputs[i]);
  }
  return 1;
}

/* L = sum_j <r_j, y_j> in double after a forward. */
static int loss(const th_op_case *c, run *r, float *const *seeds, double *L) {
  if (sal_plan_forward(r->p)) {
    th_failed++;
    fprintf(stderr, "FAIL %s: forward: %s\n", c->label, sal_ctx_last_error(th_ctx()));
    return 0;
  }
  double acc = 0;
  for (int j = 0; j < c->n_out; j++) {
    char nm[16];
    out_name(j, nm);
    const sal_tensor *y;
    if (sal_plan_value(r->p, nm, &y)) return 0;
    int64_t n = sal_tensor_numel(y);
    for (int64_t i = 0; i < n; i++) acc += (double)seeds[j][i] * (double)y->data[i];
  }
  *L = acc;
  return 1;
}

/* Pointer to the float storage of input i (host copy for inputs, graph data for params). */
static float *input_storage(const th_op_case *c, run *r, int i, int64_t *n) {
  const th_input *in = &c->in[i];
  if (in->param) {
    sal_tensor view;
    if (sal_graph_param(r->g, in->name, &view)) return NULL;
    *n = sal_tensor_numel(&view);
    return view.data;
  }
  *n = sal_tensor_numel(r->inputs[i]);
  return r->inputs[i]->data;
}

int th_gradcheck(const th_op_case *c, sal_kernels kernels) {
  sal_ctx *ctx = th_ctx();
  double eps = c->eps > 0 ? c->eps : 1e-2;
  double rtol = c->rtol > 0 ? c->rtol : 2e-2;
  double atol_rel = c->atol > 0 ? c->atol : 2e-3;
  int max_elems = c->max_elems > 0 ? c->max_elems : (th_quick() ? 48 : 256);
  run r;
  if (!run_make(c, kernels, &r)) return 0;
  int ok = 1;
  float *seeds[16] = {0};
  float *analytic[8] = {0};
  sal_tensor *seed_t[16] = {0};
  if (sal_plan_forward(r.p)) {
    th_failed++;
    fprintf(stderr, "FAIL %s: forward: %s\n", c->label, sal_ctx_last_error(ctx));
    ok = 0;
    goto done;
  }
  for (int j = 0; j < c->n_out; j++) {
    char nm[16];
    out_name(j, nm);
    sal_shape s;
    sal_plan_shape(r.p, nm, &s);
    sal_tensor_new(ctx, s.ndim, s.d, &seed_t[j]);
    seeds[j] = seed_t[j]->data;
    sal_rng_normal(999, (uint64_t)j, 0, seeds[j], (size_t)sal_tensor_numel(seed_t[j]));
  }
  /* Analytic gradient of L: sum of the backward passes seeded at each output. */
  for (int i = 0; i < c->n_in; i++) {
    const th_input *in = &c->in[i];
    if (!in->name || !in->name[0] || in->constant) continue;
    int64_t n = 0;
    if (!input_storage(c, &r, i, &n)) {
      th_failed++;
      fprintf(stderr, "FAIL %s: no storage for input '%s'\n", c->label, in->name);
      ok = 0;
      goto done;
    }
    analytic[i] = calloc((size_t)(n ? n : 1), sizeof(float));
  }
  for (int j = 0; j < c->n_out; j++) {
    char nm[16];
    out_name(j, nm);
    if (sal_plan_forward(r.p) || sal_plan_backward(r.p, nm, seed_t[j])) {
      th_failed++;
      fprintf(stderr, "FAIL %s: backward: %s\n", c->label, sal_ctx_last_error(ctx));
      ok = 0;
      goto done;
    }
    for (int i = 0; i < c->n_in; i++) {
      if (!analytic[i]) continue;
      const sal_tensor *gt;
      if (sal_plan_grad(r.p, c->in[i].name, &gt)) {
        th_failed++;
        fprintf(stderr, "FAIL %s: grad of %s: %s\n", c->label, c->in[i].name, sal_ctx_last_error(ctx));
        ok = 0;
        goto done;
      }
      for (int64_t e = 0; e < sal_tensor_numel(gt); e++) analytic[i][e] += gt->data[e];
    }
  }
  for (int i = 0; i < c->n_in; i++) {
    if (!analytic[i]) continue;
    int64_t n = 0;
    float *x = input_storage(c, &r, i, &n);
    if (!x) continue; /* checked above */
    double gmax = 0;
    for (int64_t e = 0; e < n; e++) gmax = fmax(gmax, fabs(analytic[i][e]));
    double atol = atol_rel * fmax(1.0, gmax);
    int64_t stride = n > max_elems ? n / max_elems : 1;
    double maxd = 0;
    int64_t bad = -1;
    double bad_a = 0, bad_n = 0;
    for (int64_t e = 0; e < n; e += stride) {
      float keep = x[e];
      double lp, lm;
      x[e] = keep + (float)eps;
      if (!c->in[i].param) sal_plan_set_input(r.p, c->in[i].name, r.inputs[i]);
      if (!loss(c, &r, seeds, &lp)) { ok = 0; goto done; }
      x[e] = keep - (float)eps;
      if (!c->in[i].param) sal_plan_set_input(r.p, c->in[i].name, r.inputs[i]);
      if (!loss(c, &r, seeds, &lm)) { ok = 0; goto done; }
      x[e] = keep;
      if (!c->in[i].param) sal_plan_set_input(r.p, c->in[i].name, r.inputs[i]);
      /* central difference: the effective step is the float-rounded one */
      double h = ((double)(keep + (float)eps) - (double)(keep - (float)eps));
      double num = (lp - lm) / h;
      double d = fabs(num - analytic[i][e]);
      if (!(d <= atol + rtol * fabs(num))) {
        if (bad < 0) { bad = e; bad_a = analytic[i][e]; bad_n = num; }
        if (!(d <= maxd)) maxd = d;
      }
    }
    if (bad >= 0) {
      th_failed++;
      ok = 0;
      fprintf(stderr, "FAIL %s: gradient of input %d '%s' at index %lld: analytic %.6g, numeric %.6g; max diff %.3g (atol %.3g rtol %g)\n",
              c->label, i, c->in[i].name, (long long)bad, bad_a, bad_n, maxd, atol, rtol);
    } else {
      th_passed++;
    }
  }
done:
  for (int j = 0; j < 16; j++) sal_tensor_free(seed_t[j]);
  for (int i = 0; i < 8; i++) free(analytic[i]);
  run_free(&r);
  return ok;
}

int th_compare_kernels(const th_op_case *c, double rtol, double atol) {
  sal_ctx *ctx = th_ctx();
  run a, b;
  if (!run_make(c, SAL_KERNELS_REF, &a)) return 0;
  if (!run_make(c, SAL_KERNELS_DNNL, &b)) {
    run_free(&a);
    return 0;
  }
  int ok = 1;
  char lbl[256];
  for (int j = 0; j < c->n_out && ok; j++) {
    char nm[16];
    out_name(j, nm);
    if (sal_plan_forward(a.p) || sal_plan_forward(b.p)) {
      th_failed++;
      fprintf(stderr, "FAIL %s: forward: %s\n", c->label, sal_ctx_last_error(ctx));
      ok = 0;
      break;
    }
    const sal_tensor *ya, *yb;
    sal_plan_value(a.p, nm, &ya);
    sal_plan_value(b.p, nm, &yb);
    snprintf(lbl, sizeof lbl, "%s [%s] output %d", c->label, sal_plan_node_kernel(b.p, 0), j);
    ok &= th_allclose(lbl, yb->data, ya->data, sal_tensor_numel(ya), rtol, atol);
    sal_tensor *seed = NULL;
    sal_tensor_new(ctx, ya->shape.ndim, ya->shape.d, &seed);
    sal_rng_normal(999, (uint64_t)j, 0, seed->data, (size_t)sal_tensor_numel(seed));
    if (sal_plan_backward(a.p, nm, seed) || sal_plan_backward(b.p, nm, seed)) {
      th_failed++;
      fprintf(stderr, "FAIL %s: backward: %s\n", c->label, sal_ctx_last_error(ctx));
      ok = 0;
    }
    sal_tensor_free(seed);
    for (int i = 0; ok && i < c->n_in; i++) {
      const th_input *in = &c->in[i];
      if (!in->name || !in->name[0] || in->constant) continue;
      const sal_tensor *ga, *gb;
      if (sal_plan_grad(a.p, in->name, &ga) || sal_plan_grad(b.p, in->name, &gb)) continue;
      double gmax = 0;
      for (int64_t e = 0; e < sal_tensor_numel(ga); e++) gmax = fmax(gmax, fabs(ga->data[e]));
      snprintf(lbl, sizeof lbl, "%s [%s] gradient of '%s' (output %d)", c->label, sal_plan_node_kernel(b.p, 0),
               in->name, j);
      ok &= th_allclose(lbl, gb->data, ga->data, sal_tensor_numel(ga), rtol, atol * fmax(1.0, gmax));
    }
  }
  run_free(&a);
  run_free(&b);
  return ok;
}

void th_graph_compare(sal_graph *g, const th_graph_cmp *c) {
  sal_ctx *ctx = th_ctx();
  sal_plan *p[2] = {NULL, NULL};
  sal_tensor *seed = NULL;
  int nb = 0;
  while (c->blocked && c->blocked[nb]) nb++;
  for (int r = 0; r < 2; r++) {
    sal_plan_opts o = sal_plan_opts_default();
    o.grad_inputs = c->grad_of != NULL;
    o.grad_params = c->grad_of != NULL;
    o.kernels = r ? SAL_KERNELS_AUTO : SAL_KERNELS_REF;
    o.keep_values = (const char **)c->blocked;
    o.n_keep_values = nb;
    sal_status st = sal_plan_new(ctx, g, &o, &p[r]);
    TH_CHECK(st == SAL_STATUS_OK, "%s: plan: %s", c->label, sal_ctx_last_error(ctx));
    if (st) goto done;
  }
  for (int i = 0; i < c->n_x; i++)
    for (int r = 0; r < 2; r++) TH_OK(sal_plan_set_input(p[r], c->x_names[i], c->x[i]));
  int n_nodes = sal_graph_num_nodes(g);
  for (int j = 0; j < n_nodes; j++) {
    const char *kn = sal_plan_node_kernel(p[1], j);
    /* "fused": the node runs inside the oneDNN kernel of the node before it */
    bool ok = kn && (strcmp(kn, "fused") == 0 || (strncmp(kn, "dnnl:", 5) == 0 && !(c->no_ref_impl && strstr(kn, "ref"))));
    TH_CHECK(ok, "%s: node %d ran '%s', not oneDNN%s", c->label, j, kn ? kn : "?",
             c->no_ref_impl ? " (or its reference implementation)" : "");
  }
  const sal_tensor *y[2] = {NULL, NULL};
  for (int r = 0; r < 2; r++) {
    TH_OK(sal_plan_forward(p[r]));
    TH_OK(sal_plan_value(p[r], c->output, &y[r]));
  }
  if (!y[0] || !y[1]) goto done;
  char lbl[160];
  snprintf(lbl, sizeof lbl, "%s: output", c->label);
  th_allclose(lbl, y[1]->data, y[0]->data, sal_tensor_numel(y[0]), c->rtol, c->atol);
  for (int i = 0; i < nb; i++) {
    const sal_tensor *v = NULL;
    TH_OK(sal_plan_value(p[1], c->blocked[i], &v));
    TH_CHECK(v && v->owns_data, "%s: value '%s' was not kept blocked", c->label, c->blocked[i]);
  }
  if (!c->grad_of) goto done;
  TH_OK(sal_tensor_new(ctx, y[0]->shape.ndim, y[0]->shape.d, &seed));
  if (!seed) goto done;
  sal_rng_normal(77, 0, 0, seed->data, (size_t)sal_tensor_numel(seed));
  for (int r = 0; r < 2; r++) TH_OK(sal_plan_backward(p[r], c->output, seed));
  for (int i = 0; c->grad_of[i]; i++) {
    const char *nm = c->grad_of[i];
    const sal_tensor *ga = NULL, *gg = NULL;
    TH_OK(sal_plan_grad(p[0], nm, &ga));
    TH_OK(sal_plan_grad(p[1], nm, &gg));
    if (!ga || !gg) continue;
    double gmax = 0;
    for (int64_t e = 0; e < sal_tensor_numel(ga); e++) gmax = fmax(gmax, fabs(ga->data[e]));
    snprintf(lbl, sizeof lbl, "%s: gradient of '%s'", c->label, nm);
    th_allclose(lbl, gg->data, ga->data, sal_tensor_numel(ga), c->rtol, c->atol * fmax(1.0, gmax));
  }
done:
  sal_tensor_free(seed);
  sal_plan_free(p[0]);
  sal_plan_free(p[1]);
}

/* Adds c's inputs to g (parameters and constants filled per their rule, seed 100 + i) and their
 * names to ins ("" for an absent optional input); the first failing status. */
static sal_status add_case_inputs(sal_graph *g, const th_op_case *c, const char **ins) {
  sal_status st = SAL_STATUS_OK;
  for (int i = 0; i < c->n_in && !st; i++) {
    const th_input *in = &c->in[i];
    ins[i] = in->name && in->name[0] ? in->name : "";
    if (!ins[i][0]) continue;
    if (in->param || in->constant) {
      int64_t n = 1;
      for (int d = 0; d < in->ndim; d++) n *= in->dims[d];
      float *buf = calloc((size_t)(n ? n : 1), sizeof(float));
      th_fill_buf(in, buf, n, 100 + (uint64_t)i);
      st = sal_graph_add_param(g, in->name, in->ndim, in->dims, buf, in->param);
      free(buf);
    } else {
      st = sal_graph_add_input(g, in->name, in->ndim, in->dims);
    }
  }
  return st;
}

/* Runs c with reference kernels and checks output j against want[0..n) within atol; when want_dx
 * is given, also runs backward from output j seeded with ones and checks the gradient of input 0
 * (ndx values). */
void th_check_values(const th_op_case *c, int j, const float *want, int64_t n, const float *want_dx, int64_t ndx,
                     double atol) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = th_build(c);
  if (!g) return;
  sal_plan_opts o = sal_plan_opts_default();
  o.kernels = SAL_KERNELS_REF;
  o.grad_inputs = want_dx != NULL;
  sal_plan *p = NULL;
  sal_tensor *ts[8] = {0};
  char nm[16], label[160];
  snprintf(nm, sizeof nm, "y%d", j);
  sal_status st = sal_plan_new(ctx, g, &o, &p);
  TH_CHECK(st == SAL_STATUS_OK, "%s: plan: %s", c->label, sal_ctx_last_error(ctx));
  if (st) goto done;
  for (int i = 0; i < c->n_in; i++) {
    const th_input *in = &c->in[i];
    if (!in->name || !in->name[0] || in->param || in->constant) continue;
    st = sal_tensor_new(ctx, in->ndim, in->dims, &ts[i]);
    TH_CHECK(st == SAL_STATUS_OK, "%s: input %d: %s", c->label, i, sal_ctx_last_error(ctx));
    if (st) goto done;
    th_fill_buf(in, ts[i]->data, sal_tensor_numel(ts[i]), 100 + (uint64_t)i);
    TH_OK(sal_plan_set_input(p, in->name, ts[i]));
  }
  TH_OK(sal_plan_forward(p));
  const sal_tensor *y = NULL;
  TH_OK(sal_plan_value(p, nm, &y));
  if (!y) goto done;
  TH_CHECK(sal_tensor_numel(y) == n, "%s: output %d has %lld values, want %lld", c->label, j,
           (long long)sal_tensor_numel(y), (long long)n);
  snprintf(label, sizeof label, "%s: output %d", c->label, j);
  if (sal_tensor_numel(y) == n) th_allclose(label, y->data, want, n, 0, atol);
  if (want_dx) {
    const sal_tensor *gx = NULL;
    TH_OK(sal_plan_backward(p, nm, NULL));
    TH_OK(sal_plan_grad(p, c->in[0].name, &gx));
    snprintf(label, sizeof label, "%s: gradient of %s", c->label, c->in[0].name);
    if (gx && sal_tensor_numel(gx) == ndx) th_allclose(label, gx->data, want_dx, ndx, 0, atol);
    else TH_CHECK(0, "%s: gradient has the wrong size", c->label);
  }
done:
  for (int i = 0; i < 8; i++) sal_tensor_free(ts[i]);
  sal_plan_free(p);
  sal_graph_free(g);
}

/* Builds c's inputs and returns the status of adding its node (for bad-input cases). */
sal_status th_try_node(const th_op_case *c) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  sal_status st = sal_graph_new(ctx, &g);
  if (st) return st;
  const char *ins[8];
  st = add_case_inputs(g, c, ins);
  const char *outs[16] = {"y0", "y1", "y2", "y3", "y4", "y5", "y6", "y7",
                          "y8", "y9", "y10", "y11", "y12", "y13", "y14", "y15"};
  if (!st) st = sal_graph_add_node(g, c->op, c->label, ins, c->n_in, outs, c->n_out, c->attrs, c->n_attrs);
  sal_graph_free(g);
  return st;
}

/* The shape of output j of c (ndim -1 when the node does not build). */
sal_shape th_out_shape(const th_op_case *c, int j) {
  sal_shape s = {.ndim = -1};
  sal_graph *g = th_build(c);
  if (!g) return s;
  char nm[16];
  snprintf(nm, sizeof nm, "y%d", j);
  sal_graph_value_shape(g, nm, &s);
  sal_graph_free(g);
  return s;
}

/* Checks output j of c has shape want (ndim dims). */
void th_check_shape(const th_op_case *c, int j, int ndim, const int64_t *want) {
  sal_shape s = th_out_shape(c, j), w;
  sal_shape_make(&w, ndim, want);
  char a[96], b[96];
  TH_CHECK(s.ndim >= 0 && sal_shape_equal(&s, &w), "%s: output %d has shape %s, want %s", c->label, j,
           s.ndim >= 0 ? sal_shape_str(&s, a, sizeof a) : "(none)", sal_shape_str(&w, b, sizeof b));
}

/* Gradient accumulation (din_accum): two copies of c's node, a and b, read the same inputs and
 * a+b = the sum of their outputs 0. Backward from a+b runs b first (which overwrites the input
 * gradients) then a (which must add), so the gradient of input 0 must be exactly twice the one
 * from a alone. */
void th_check_accumulate(const th_op_case *c) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  sal_plan *p = NULL;
  sal_tensor *x = NULL, *seed = NULL;
  float *once = NULL;
  char label[160];
  snprintf(label, sizeof label, "%s: accumulated gradient", c->label);
  sal_status st = sal_graph_new(ctx, &g);
  const char *ins[8];
  if (!st) st = add_case_inputs(g, c, ins);
  const char *outa[16] = {"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7",
                          "a8", "a9", "a10", "a11", "a12", "a13", "a14", "a15"};
  const char *outb[16] = {"b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7",
                          "b8", "b9", "b10", "b11", "b12", "b13", "b14", "b15"};
  if (!st) st = sal_graph_add_node(g, c->op, "a", ins, c->n_in, outa, c->n_out, c->attrs, c->n_attrs);
  if (!st) st = sal_graph_add_node(g, c->op, "b", ins, c->n_in, outb, c->n_out, c->attrs, c->n_attrs);
  if (!st) st = sal_graph_add_node(g, "Add", "a+b", (const char *[]){"a0", "b0"}, 2, (const char *[]){"a+b"}, 1, NULL, 0);
  sal_plan_opts o = sal_plan_opts_default();
  o.grad_inputs = true;
  o.kernels = SAL_KERNELS_REF;
  if (!st) st = sal_plan_new(ctx, g, &o, &p);
  sal_shape ys;
  if (!st) st = sal_plan_shape(p, "a+b", &ys);
  if (!st) st = sal_tensor_new(ctx, c->in[0].ndim, c->in[0].dims, &x);
  if (!st) st = sal_tensor_new(ctx, ys.ndim, ys.d, &seed);
  TH_CHECK(st == SAL_STATUS_OK, "%s: setup: %s", label, sal_ctx_last_error(ctx));
  if (st) goto done;
  th_fill_buf(&c->in[0], x->data, sal_tensor_numel(x), 100);
  sal_rng_normal(77, 0, 0, seed->data, (size_t)sal_tensor_numel(seed));
  const sal_tensor *gx = NULL;
  TH_OK(sal_plan_set_input(p, c->in[0].name, x));
  TH_OK(sal_plan_forward(p));
  TH_OK(sal_plan_backward(p, "a0", seed));
  TH_OK(sal_plan_grad(p, c->in[0].name, &gx));
  if (!gx) goto done;
  int64_t n = sal_tensor_numel(gx);
  once = calloc((size_t)(n ? n : 1), sizeof(float));
  for (int64_t e = 0; e < n; e++) once[e] = 2.0f * gx->data[e];
  TH_OK(sal_plan_backward(p, "a+b", seed));
  TH_OK(sal_plan_grad(p, c->in[0].name, &gx));
  /* 2*g and g + g are both exact in float; 1e-6 leaves room only for scatters (Pad, Resize)
   * that add an element's several terms in another order. A missed accumulation is off by g. */
  if (gx) th_allclose(label, gx->data, once, n, 1e-6, 1e-6);
done:
  free(once);
  sal_tensor_free(x);
  sal_tensor_free(seed);
  sal_plan_free(p);
  sal_graph_free(g);
}


/* got vs want: max |got - want| <= tol * max |want|. Prints the measured ratio so that the margin
 * behind each tolerance stays visible in the test log. */
void th_check_scaled(const char *label, const float *got, const sal_shape *got_shape, const sal_tensor *want,
                         double tol) {
  if (!want || !got) {
    TH_CHECK(0, "%s: missing data", label);
    return;
  }
  char a[64], b[64];
  if (!sal_shape_equal(got_shape, &want->shape)) {
    TH_CHECK(0, "%s: shape %s, fixture %s", label, sal_shape_str(got_shape, a, sizeof a),
             sal_shape_str(&want->shape, b, sizeof b));
    return;
  }
  int64_t n = sal_tensor_numel(want);
  double mx = 0, err = 0;
  for (int64_t i = 0; i < n; i++) {
    mx = fmax(mx, fabs(want->data[i]));
    double d = fabs((double)got[i] - want->data[i]);
    err = d > err || isnan(d) ? d : err;
  }
  printf("  %-44s max err %.2e = %.2e x max %.3g (tol %.0e)\n", label, err, mx > 0 ? err / mx : err, mx, tol);
  th_allclose(label, got, want->data, n, 0, tol * mx);
}

sal_graph *th_linear_image_model(int64_t side, int64_t classes, const float *w) {
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(th_ctx(), &g));
  if (!g) return NULL;
  const int64_t k[2] = {side, side};
  const sal_attr conv[] = {sal_attr_ints("kernel_shape", 2, k)};
  const sal_attr flat[] = {sal_attr_int("axis", 1)};
  const char *cin[2] = {"input", "w"}, *fin[1] = {"c"};
  const char *cout[1] = {"c"}, *fout[1] = {"logits"};
  sal_status st = sal_graph_add_input(g, "input", 4, (int64_t[]){-1, 1, side, side});
  if (!st) st = sal_graph_add_param(g, "w", 4, (int64_t[]){classes, 1, side, side}, w, false);
  if (!st) st = sal_graph_add_node(g, "Conv", "conv", cin, 2, cout, 1, conv, 1);
  if (!st) st = sal_graph_add_node(g, "Flatten", "flat", fin, 1, fout, 1, flat, 1);
  if (!st) st = sal_graph_add_output(g, "logits");
  TH_CHECK(st == SAL_STATUS_OK, "th_linear_image_model: %s", sal_ctx_last_error(th_ctx()));
  if (st) {
    sal_graph_free(g);
    return NULL;
  }
  return g;
}
