/* Test harness shared by every test binary: loud checks, a per-op gradient check against central
 * differences (accumulated in double), and a oneDNN-vs-reference comparison. Every binary ends
 * with `return th_finish("name");`, which prints "N passed, M failed" and exits non-zero on any
 * failure. */
#ifndef SAL_TEST_HARNESS_H
#define SAL_TEST_HARNESS_H

#include <stdio.h>

#include "salient/salient.h"

extern int th_passed, th_failed;

/* One context per test binary (seed 1234, 2 threads), created on first use. */
sal_ctx *th_ctx(void);
/* True when SAL_TEST_QUICK is set (sanitiser builds): tests shrink their sizes. */
int th_quick(void);

#define TH_CHECK(cond, ...)                                                   \
  do {                                                                        \
    if (cond) {                                                               \
      th_passed++;                                                            \
    } else {                                                                  \
      th_failed++;                                                            \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                    \
      fprintf(stderr, __VA_ARGS__);                                           \
      fputc('\n', stderr);                                                    \
    }                                                                         \
  } while (0)

/* Checks a call returns SAL_STATUS_OK; on failure prints the context's message. */
#define TH_OK(expr)                                                                              \
  do {                                                                                           \
    sal_status th_st_ = (expr);                                                                  \
    TH_CHECK(th_st_ == SAL_STATUS_OK, "%s -> %s: %s", #expr, sal_status_name(th_st_),            \
             sal_ctx_last_error(th_ctx()));                                                      \
  } while (0)

/* Checks a call fails with `want`, and that the message contains `needle` (NULL: any). */
#define TH_FAILS(expr, want, needle)                                                             \
  do {                                                                                           \
    sal_status th_st_ = (expr);                                                                  \
    TH_CHECK(th_st_ == (want) && th_contains(sal_ctx_last_error(th_ctx()), (needle)),            \
             "%s -> %s (%s), want %s containing '%s'", #expr, sal_status_name(th_st_),            \
             sal_ctx_last_error(th_ctx()), sal_status_name(want), (needle) ? (needle) : "");     \
  } while (0)

int th_contains(const char *hay, const char *needle);
int th_finish(const char *name);
/* A fresh temporary directory for this test process (under $TMPDIR or /tmp), created on first use
 * and removed with its contents by th_finish. NULL (and a failed check) if it cannot be made. */
const char *th_tmpdir(void);
/* th_tmpdir()/name into buf. */
void th_tmp_path(char *buf, size_t n, const char *name);
/* Reads the .npy file dir + rel (a failed check, and NULL, if it cannot). Free with sal_tensor_free. */
sal_tensor *th_npy(const char *dir, const char *rel);
/* The documented defaults of a saliency method (a failed check if it is unknown). */
sal_method_params th_method_params(const char *method);
/* A whole file in a malloc'd buffer (free with free), its size in *n; NULL (and *n = 0) when it
 * cannot be read. */
unsigned char *th_read_file(const char *path, size_t *n);
/* Writes n raw bytes to path (a failed check if it cannot). */
void th_write_file(const char *path, const void *bytes, size_t n);

/* Compares two float arrays: |a-b| <= atol + rtol*|b|. On the first mismatch prints the label,
 * index, both values and the max difference; returns 1 if all agree. Counts one check. */
/* got vs want: max |got - want| <= tol * max |want| over the whole tensor (shapes must match);
 * prints the measured ratio so that the margin behind a tolerance stays visible in the log. */
void th_check_scaled(const char *label, const float *got, const sal_shape *got_shape, const sal_tensor *want, double tol);
int th_allclose(const char *label, const float *a, const float *b, int64_t n, double rtol, double atol);

typedef enum th_fill {
  TH_FILL_NORMAL = 0,   /* N(0,1) */
  TH_FILL_DISTINCT,     /* a shuffled grid with spacing >= 0.05 in [-2,2]: no ties (max-pool) */
  TH_FILL_AWAY,         /* N(0,1) with |x| >= 0.1: away from kinks at 0 (ReLU, abs) */
  TH_FILL_POSITIVE,     /* uniform [0.5, 2): logs, divisions, variances */
  TH_FILL_DATA          /* copy th_input.data */
} th_fill;

typedef struct th_input {
  const char *name;
  int ndim;
  int64_t dims[SAL_MAX_DIMS];
  bool param;        /* a trainable parameter (gradient checked through grad_params) */
  bool constant;     /* a non-trainable parameter (shape tensors, indices): never differentiated */
  th_fill fill;
  const float *data; /* TH_FILL_DATA */
} th_input;

typedef struct th_op_case {
  const char *label;
  const char *op;
  int n_in;
  th_input in[8];
  int n_out;
  sal_attr attrs[8];
  int n_attrs;
  bool training;
  /* Gradient check settings; 0 = defaults (eps 1e-2, rtol 2e-2, atol 2e-3 relative to the
   * largest analytic gradient, at most 256 elements checked per input). */
  double eps, rtol, atol;
  int max_elems;
} th_op_case;

/* Builds a one-node graph for c (output names "y0", "y1", ...). Returns NULL on failure
 * (counted as a failed check). */
sal_graph *th_build(const th_op_case *c);
/* A linear classifier of (N, 1, side, side) images: input "input" -> Conv with a side x side kernel
 * (classes filters w, (classes, side, side), no bias) -> Flatten -> "logits" (N, classes), i.e.
 * logit k = Σ w_k ⊙ x. The saliency tests' models whose evidence is known. NULL (and a failed
 * check) on error. */
sal_graph *th_linear_image_model(int64_t side, int64_t classes, const float *w);
/* Fills a buffer per the input's fill rule (deterministic in seed). */
void th_fill_buf(const th_input *in, float *buf, int64_t n, uint64_t seed);

/* Gradient check: analytic input/parameter gradients from sal_plan_backward (kernels as given)
 * against central differences of L = sum_j <r_j, y_j> (r_j random, L in double). */
int th_gradcheck(const th_op_case *c, sal_kernels kernels);

/* Runs c with reference kernels and with oneDNN kernels (SAL_KERNELS_DNNL: the node must pick a
 * oneDNN kernel) and compares outputs and all input gradients within rtol/atol. */
int th_compare_kernels(const th_op_case *c, double rtol, double atol);

/* A multi-node graph run twice, with reference and with automatic (oneDNN) kernels. */
typedef struct th_graph_cmp {
  const char *label;
  const char *output;           /* the value compared; must be an output of the graph */
  int n_x;                      /* graph inputs set on both plans: names and tensors */
  const char *const *x_names;
  sal_tensor *const *x;
  /* Values whose gradients are compared after a backward from `output` seeded N(0,1) (seed 77),
   * NULL-terminated; NULL = forward only (plans without gradients). */
  const char *const *grad_of;
  const char *const *blocked;   /* values the plan must keep blocked (NULL-terminated; NULL: none) */
  bool no_ref_impl;             /* also fail a node whose oneDNN implementation is a "ref" one */
  double rtol, atol;            /* gradients: atol scaled by max(1, max |reference gradient|) */
} th_graph_cmp;

/* Runs g per c with SAL_KERNELS_REF and SAL_KERNELS_AUTO: checks every node of the second plan
 * ran a oneDNN kernel ("dnnl:..." or "fused" into one), compares the output, checks the `blocked` values were stored
 * blocked (sal_plan_value hands out the plan's own storage for a plain value and an owning plain
 * copy of a blocked one, which is how the test sees the layout), then compares the gradients of
 * c->grad_of. The graph stays the caller's. */
void th_graph_compare(sal_graph *g, const th_graph_cmp *c);

/* Runs c with reference kernels and checks output j against want[0..n) within atol; when want_dx
 * is given, also runs backward from output j seeded with ones and checks the gradient of input 0
 * (ndx values). */
void th_check_values(const th_op_case *c, int j, const float *want, int64_t n, const float *want_dx, int64_t ndx,
                     double atol);
/* Builds c's inputs and returns the status of adding its node (for bad-input cases). */
sal_status th_try_node(const th_op_case *c);
/* The shape of output j of c (ndim -1 when the node does not build). */
sal_shape th_out_shape(const th_op_case *c, int j);
/* Checks output j of c has shape want (ndim dims). */
void th_check_shape(const th_op_case *c, int j, int ndim, const int64_t *want);
/* Gradient accumulation (din_accum): two copies of c's node, a and b, read the same inputs and
 * a+b = the sum of their outputs 0; backward from a+b runs b (overwrite) then a (add), so the
 * gradient of input 0 must be exactly twice the one from a alone. */
void th_check_accumulate(const th_op_case *c);

#endif
