/* Tests of the ground-truth metrics (include/salient/metrics.h, src/eval/): every metric on small
 * maps whose answers are worked out by hand in the comments — ties, constant and empty maps, boxes
 * at the border, several boxes — and the errors on bad input. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "saliency/saliency.h"
#include "salient/metrics.h"
#include "salient/onnx.h"

#define NEAR(a, b) (fabs((double)(a) - (double)(b)) < 1e-6)

static sal_box box(float x0, float y0, float x1, float y1) { return (sal_box){x0, y0, x1, y1}; }

/* A 10 x 10 map of zeros with value v on rows [r0, r1) and columns [c0, c1). */
static void block(float *m, int r0, int r1, int c0, int c1, float v) {
  for (int y = r0; y < r1; y++)
    for (int x = c0; x < c1; x++) m[y * 10 + x] = v;
}

static void test_iou(void) {
  sal_box a = box(0, 0, 2, 2), b = box(1, 1, 3, 3), c = box(5, 5, 6, 6), e = box(1, 1, 1, 1);
  TH_CHECK(NEAR(sal_box_iou(&a, &b), 1.0 / 7), "iou of offset squares %g, want 1/7", sal_box_iou(&a, &b));
  TH_CHECK(sal_box_iou(&a, &c) == 0 && sal_box_iou(&a, &a) == 1 && sal_box_iou(&e, &e) == 0, "iou: disjoint, same, empty");
}

static void test_components(void) {
  /* Components at t = 0.5 (8-connected): A {(0,0), (0,1), (1,0)} area 3; B {(1,3), (2,4)} (a
   * diagonal pair) area 2; D {(4,3), (4,4)} area 2; C {(4,0)} area 1. Sorted: A, B (its first pixel
   * comes before D's), D, C. */
  const float m[25] = {1, 1, 0, 0, 0, /**/ 1, 0, 0, 1, 0, /**/ 0, 0, 0, 0, 1, /**/ 0, 0, 0, 0, 0, /**/ 1, 0, 0, 1, 1};
  sal_component c[4];
  int64_t n = 0;
  TH_OK(sal_map_components(th_ctx(), m, 5, 5, 0.5f, c, 4, &n));
  TH_CHECK(n == 4, "4 components, got %lld", (long long)n);
  if (n == 4) {
    TH_CHECK(c[0].area == 3 && c[0].box.x0 == 0 && c[0].box.y0 == 0 && c[0].box.x1 == 2 && c[0].box.y1 == 2, "component A");
    TH_CHECK(c[1].area == 2 && c[1].box.x0 == 3 && c[1].box.y0 == 1 && c[1].box.x1 == 5 && c[1].box.y1 == 3, "component B");
    TH_CHECK(c[2].area == 2 && c[2].box.x0 == 3 && c[2].box.y0 == 4 && c[2].box.x1 == 5 && c[2].box.y1 == 5, "component D");
    TH_CHECK(c[3].area == 1 && c[3].box.x0 == 0 && c[3].box.y0 == 4, "component C");
  }
  sal_component two[2];
  TH_OK(sal_map_components(th_ctx(), m, 5, 5, 0.5f, two, 2, &n));
  TH_CHECK(n == 4 && two[1].area == 2 && two[1].box.y0 == 1, "cap 2 still counts 4 and keeps the largest two");
  TH_OK(sal_map_components(th_ctx(), m, 5, 5, 2.0f, c, 4, &n));
  TH_CHECK(n == 0, "nothing above 2: %lld components", (long long)n);
}

static void test_localization(void) {
  float m[100] = {0};
  /* 12 pixels of 1: the mean is 0.12 and selects exactly the block, box (3, 2, 7, 5). */
  block(m, 2, 5, 3, 7, 1);
  bool ok = false;
  double iou = 0;
  sal_box same = box(3, 2, 7, 5), off = box(0, 0, 4, 4), half = box(3, 2, 7, 8);
  TH_OK(sal_metric_localization(th_ctx(), m, 10, 10, &same, 1, &ok, &iou));
  TH_CHECK(ok && NEAR(iou, 1), "block on its own box: correct %d, iou %g", ok, iou);
  /* (0,0,4,4): intersection 1 x 2 = 2, union 12 + 16 - 2 = 26. */
  TH_OK(sal_metric_localization(th_ctx(), m, 10, 10, &off, 1, &ok, &iou));
  TH_CHECK(!ok && NEAR(iou, 2.0 / 26), "offset box: correct %d, iou %g", ok, iou);
  /* Several boxes: the best counts, (3,2,7,6) gives 12 / 16. */
  sal_box two[2] = {box(0, 0, 4, 4), box(3, 2, 7, 6)};
  TH_OK(sal_metric_localization(th_ctx(), m, 10, 10, two, 2, &ok, &iou));
  TH_CHECK(ok && NEAR(iou, 0.75), "two boxes: correct %d, iou %g", ok, iou);
  /* IoU exactly 0.5 is not > 0.5. */
  TH_OK(sal_metric_localization(th_ctx(), m, 10, 10, &half, 1, &ok, &iou));
  TH_CHECK(!ok && NEAR(iou, 0.5), "iou 0.5 is an error: correct %d, iou %g", ok, iou);
  /* A block at the border. */
  float edge[100] = {0};
  block(edge, 0, 2, 8, 10, 3);
  sal_box corner = box(8, 0, 10, 2);
  TH_OK(sal_metric_localization(th_ctx(), edge, 10, 10, &corner, 1, &ok, &iou));
  TH_CHECK(ok && NEAR(iou, 1), "border block: correct %d, iou %g", ok, iou);
  /* A constant map selects the whole image. */
  float flat[100];
  for (int i = 0; i < 100; i++) flat[i] = 0.3f;
  sal_box whole = box(0, 0, 10, 10);
  TH_OK(sal_metric_localization(th_ctx(), flat, 10, 10, &whole, 1, &ok, &iou));
  TH_CHECK(ok && NEAR(iou, 1), "constant map: the whole image (iou %g)", iou);
  TH_OK(sal_metric_localization(th_ctx(), flat, 10, 10, &same, 1, &ok, &iou));
  TH_CHECK(!ok && NEAR(iou, 0.12), "constant map against a small box: iou %g", iou);
  /* No boxes: never correct. */
  TH_OK(sal_metric_localization(th_ctx(), m, 10, 10, NULL, 0, &ok, &iou));
  TH_CHECK(!ok && iou == 0, "no ground truth");
}

static void test_boxacc(void) {
  /* Image 1: a 12-pixel block of 1 and a 4-pixel block of 0.5 (the object, box (0,7,2,9)).
   * τ = 0 selects everything (IoU 4/100); τ in 0.01..0.50 selects both blocks, the largest is the
   * wrong one (V1 misses) but the small one matches exactly (V2 hits at every δ); τ > 0.5 keeps
   * only the big block. Image 2: the big block is the object: V1 and V2 hit for τ >= 0.01. */
  float m1[100] = {0}, m2[100] = {0};
  block(m1, 2, 5, 3, 7, 1);
  block(m1, 7, 9, 0, 2, 0.5f);
  block(m2, 2, 5, 3, 7, 1);
  sal_box g1 = box(0, 7, 2, 9), g2 = box(3, 2, 7, 5);
  sal_boxacc a;
  sal_boxacc_init(&a);
  TH_OK(sal_boxacc_add(th_ctx(), &a, m1, 10, 10, &g1, 1));
  double tau = -1;
  TH_CHECK(sal_boxacc_max(&a, &tau) == 0 && NEAR(sal_boxacc_max_v2(&a), 1), "image 1: MaxBoxAcc %g, V2 %g",
           sal_boxacc_max(&a, NULL), sal_boxacc_max_v2(&a));
  TH_CHECK(a.hits_v2[1][50] == 1 && a.hits_v2[1][51] == 0 && a.hits_v2[1][0] == 0, "image 1: V2 hits for τ in 0.01..0.50");
  TH_OK(sal_boxacc_add(th_ctx(), &a, m2, 10, 10, &g2, 1));
  TH_CHECK(NEAR(sal_boxacc_max(&a, &tau), 0.5) && NEAR(tau, 0.01), "two images: MaxBoxAcc %g at τ %g, want 0.5 at 0.01",
           sal_boxacc_max(&a, NULL), tau);
  TH_CHECK(NEAR(sal_boxacc_max_v2(&a), 1), "two images: MaxBoxAccV2 %g", sal_boxacc_max_v2(&a));
}

static void test_pxap(void) {
  /* Normalised scores (max 0.9): 1, 0.111, 0.556, 0. Object pixels ranked first: AP 1. */
  const float m[4] = {0.9f, 0.1f, 0.5f, 0.0f};
  const uint8_t good[4] = {1, 0, 1, 0}, mixed[4] = {0, 1, 1, 0};
  sal_pxap a;
  sal_pxap_init(&a);
  TH_OK(sal_pxap_add(th_ctx(), &a, m, 2, 2, good));
  TH_CHECK(NEAR(sal_pxap_value(&a), 1), "PxAP of a perfect ranking %g", sal_pxap_value(&a));
  /* Ranked: 1 (background), 0.556 (object), 0.111 (object), 0 (background): recall steps of 1/2
   * at precisions 1/2 and 2/3, so AP = 0.25 + 1/3. */
  sal_pxap_init(&a);
  TH_OK(sal_pxap_add(th_ctx(), &a, m, 2, 2, mixed));
  TH_CHECK(NEAR(sal_pxap_value(&a), 0.25 + 1.0 / 3), "PxAP %g, want 0.58333", sal_pxap_value(&a));
  sal_pxap_init(&a);
  const uint8_t none[4] = {0};
  TH_OK(sal_pxap_add(th_ctx(), &a, m, 2, 2, none));
  TH_CHECK(sal_pxap_value(&a) == 0, "PxAP without object pixels is 0");
}

static void test_pointing(void) {
  static float m[40 * 40];
  static uint8_t mask[40 * 40];
  bool hit = true;
  memset(m, 0, sizeof m);
  m[5 * 40 + 5] = 1; /* the peak at row 5, column 5 */
  struct {
    int y, x;
    bool hit;
  } cases[] = {{5, 20, true},    /* distance 15: within the tolerance (<=) */
               {5, 21, false},   /* 16 */
               {16, 16, false},  /* sqrt(121 + 121) = 15.56 */
               {15, 16, true},   /* sqrt(100 + 121) = 14.87 */
               {5, 5, true}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memset(mask, 0, sizeof mask);
    mask[cases[i].y * 40 + cases[i].x] = 1;
    TH_OK(sal_pointing_hit(th_ctx(), m, 40, 40, mask, 15, &hit));
    TH_CHECK(hit == cases[i].hit, "pointing: object at (%d, %d) gives %d", cases[i].y, cases[i].x, hit);
  }
  /* Ties: the first maximum in row-major order, (2, 30), not (30, 2). */
  memset(m, 0, sizeof m);
  m[2 * 40 + 30] = m[30 * 40 + 2] = 1;
  memset(mask, 0, sizeof mask);
  mask[30 * 40 + 2] = 1;
  TH_OK(sal_pointing_hit(th_ctx(), m, 40, 40, mask, 15, &hit));
  TH_CHECK(!hit, "tie: the first maximum is pointed at");
  mask[2 * 40 + 30] = 1;
  TH_OK(sal_pointing_hit(th_ctx(), m, 40, 40, mask, 15, &hit));
  TH_CHECK(hit, "tie: hit at the first maximum");
  /* A peak in the corner, the object along the edge 15 px away; a constant map misses. */
  memset(m, 0, sizeof m);
  m[0] = 2;
  memset(mask, 0, sizeof mask);
  mask[15] = 1;
  TH_OK(sal_pointing_hit(th_ctx(), m, 40, 40, mask, 15, &hit));
  TH_CHECK(hit, "corner peak");
  memset(m, 0, sizeof m);
  memset(mask, 1, sizeof mask);
  TH_OK(sal_pointing_hit(th_ctx(), m, 40, 40, mask, 15, &hit));
  TH_CHECK(!hit, "a constant map points nowhere");
  TH_FAILS(sal_pointing_hit(th_ctx(), m, 40, 40, mask, -1, &hit), SAL_STATUS_BAD_INPUT, "tolerance");
  /* Per-class mean: class 0 2/3, class 1 0, class 2 no trials -> 1/3. */
  sal_pointing *p = NULL;
  TH_OK(sal_pointing_new(th_ctx(), 3, &p));
  if (p) {
    TH_OK(sal_pointing_add(th_ctx(), p, 0, true));
    TH_OK(sal_pointing_add(th_ctx(), p, 0, true));
    TH_OK(sal_pointing_add(th_ctx(), p, 0, false));
    TH_OK(sal_pointing_add(th_ctx(), p, 1, false));
    TH_CHECK(NEAR(sal_pointing_value(p), 1.0 / 3), "per-class mean %g, want 1/3", sal_pointing_value(p));
    TH_FAILS(sal_pointing_add(th_ctx(), p, 3, true), SAL_STATUS_BAD_INPUT, "class 3 is out of range 0..2");
    sal_pointing_free(p);
  }
}

static void test_overlap(void) {
  const float m[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
  const uint8_t g[10] = {1, 1, 1, 0, 0, 0, 0, 0, 1, 1}; /* 5 object pixels */
  sal_overlap o;
  /* p = 80: the top 2 are both object: Dice 4/7, IoU 2/5, PPV 1, sensitivity 2/5. */
  TH_OK(sal_metric_overlap(th_ctx(), m, 1, 10, g, 80, &o));
  TH_CHECK(o.selected == 2 && NEAR(o.dice, 4.0 / 7) && NEAR(o.iou, 0.4) && NEAR(o.ppv, 1) && NEAR(o.sensitivity, 0.4),
           "p80: k %lld dice %g iou %g ppv %g sens %g", (long long)o.selected, o.dice, o.iou, o.ppv, o.sensitivity);
  /* p = 50: the top 5 hold 3 object pixels: Dice 0.6, IoU 3/7, PPV 0.6, sensitivity 0.6. */
  TH_OK(sal_metric_overlap(th_ctx(), m, 1, 10, g, 50, &o));
  TH_CHECK(o.selected == 5 && NEAR(o.dice, 0.6) && NEAR(o.iou, 3.0 / 7) && NEAR(o.ppv, 0.6) && NEAR(o.sensitivity, 0.6),
           "p50: dice %g iou %g ppv %g sens %g", o.dice, o.iou, o.ppv, o.sensitivity);
  /* Ties: a constant map selects the first k pixels in row-major order (3 object pixels). */
  const float flat[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  TH_OK(sal_metric_overlap(th_ctx(), flat, 1, 10, g, 70, &o));
  TH_CHECK(o.selected == 3 && NEAR(o.ppv, 1), "ties: k %lld, ppv %g", (long long)o.selected, o.ppv);
  /* Empty mask and empty selection. */
  const uint8_t none[10] = {0};
  TH_OK(sal_metric_overlap(th_ctx(), m, 1, 10, none, 50, &o));
  TH_CHECK(o.dice == 0 && o.iou == 0 && o.ppv == 0 && o.sensitivity == 0, "empty mask");
  TH_OK(sal_metric_overlap(th_ctx(), m, 1, 10, g, 100, &o));
  TH_CHECK(o.selected == 0 && o.dice == 0 && o.ppv == 0 && o.sensitivity == 0, "empty selection");
  TH_FAILS(sal_metric_overlap(th_ctx(), m, 1, 10, g, 101, &o), SAL_STATUS_BAD_INPUT, "percentile 101");

  /* F1 of the continuous map (1, 0.5, 0, 0) against (1, 0, 0, 0): precision 1/1.5, recall 1. */
  const float c[4] = {1, 0.5f, 0, 0};
  const uint8_t g1[4] = {1, 0, 0, 0};
  double f1 = 0;
  TH_OK(sal_metric_f1(th_ctx(), c, 2, 2, g1, &f1));
  TH_CHECK(NEAR(f1, 0.8), "F1 %g, want 0.8", f1);
  TH_OK(sal_metric_f1(th_ctx(), flat, 2, 2, g1, &f1));
  TH_CHECK(f1 == 0, "F1 of a constant map %g", f1);

  /* False saliency: energies 3 (absent class) over 6 (true class). */
  const float absent[3] = {1, -1, 2}, truth[3] = {3, 3, -5}, zero[3] = {0, -1, 0};
  TH_CHECK(NEAR(sal_metric_false_saliency(absent, truth, 3), 0.5), "false saliency 0.5");
  TH_CHECK(isinf(sal_metric_false_saliency(absent, zero, 3)) && sal_metric_false_saliency(zero, zero, 3) == 0,
           "false saliency with a zero true map");
}

static void test_dwsol(void) {
  float m[100] = {0};
  block(m, 2, 5, 3, 7, 1);
  sal_box b = box(3, 2, 7, 5);
  uint8_t other[100] = {0};
  bool hit = false;
  other[9 * 10 + 9] = 1;
  TH_OK(sal_metric_dwsol_hit(th_ctx(), m, 10, 10, &b, other, &hit));
  TH_CHECK(hit, "D-WSOL: box matched, peak off the other object");
  other[2 * 10 + 3] = 1; /* the first maximum (2, 3) lies on the other object */
  TH_OK(sal_metric_dwsol_hit(th_ctx(), m, 10, 10, &b, other, &hit));
  TH_CHECK(!hit, "D-WSOL: peak on the other object");
  sal_box wrong = box(0, 6, 3, 10);
  TH_OK(sal_metric_dwsol_hit(th_ctx(), m, 10, 10, &wrong, NULL, &hit));
  TH_CHECK(!hit, "D-WSOL: box not matched");
}

static void test_sparsity(void) {
  sal_sparsity s;
  /* One value holds everything: Gini (2·4 − 5)·4 / (4·4) = 0.75, entropy 0, area 1/4. */
  const float one[4] = {0, 0, 0, 4}, neg[4] = {-4, 0, 0, 0}, flat[4] = {1, 1, 1, 1}, ramp[4] = {4, 2, 3, 1};
  TH_OK(sal_metric_sparsity(th_ctx(), one, 4, &s));
  TH_CHECK(NEAR(s.gini, 0.75) && s.entropy == 0 && NEAR(s.area, 0.25), "one-hot: gini %g entropy %g area %g", s.gini,
           s.entropy, s.area);
  TH_OK(sal_metric_sparsity(th_ctx(), neg, 4, &s));
  TH_CHECK(NEAR(s.gini, 0.75), "Gini uses |v|: %g", s.gini);
  TH_OK(sal_metric_sparsity(th_ctx(), flat, 4, &s));
  TH_CHECK(s.gini == 0 && NEAR(s.entropy, 1) && s.area == 0, "uniform: gini %g entropy %g area %g", s.gini, s.entropy, s.area);
  /* 1..4 in any order: Gini (−3·1 − 1·2 + 1·3 + 3·4) / (4·10) = 0.25; entropy of (.1, .2, .3, .4)
   * over log 4 = 0.9232197; normalised (0, 1/3, 2/3, 1) has mean 0.5. */
  TH_OK(sal_metric_sparsity(th_ctx(), ramp, 4, &s));
  TH_CHECK(NEAR(s.gini, 0.25) && fabs(s.entropy - 0.9232197) < 1e-6 && NEAR(s.area, 0.5), "ramp: gini %g entropy %g area %g",
           s.gini, s.entropy, s.area);
  const float zeros[3] = {0, 0, 0};
  TH_OK(sal_metric_sparsity(th_ctx(), zeros, 3, &s));
  TH_CHECK(s.gini == 0 && s.entropy == 0 && s.area == 0, "all-zero map");
}

/* A linear model on (1, 1, 1, 4) inputs: z0 = Σ w_i x_i, z1 = 0, so p0 = sigmoid(z0). */
static sal_graph *linear_model(const float w[4]) {
  sal_graph *g = NULL;
  const float W[8] = {w[0], w[1], w[2], w[3], 0, 0, 0, 0}, b[2] = {0, 0};
  TH_OK(sal_graph_new(th_ctx(), &g));
  if (!g) return NULL;
  TH_OK(sal_graph_add_input(g, "x", 4, (int64_t[]){-1, 1, 1, 4}));
  TH_OK(sal_graph_add_param(g, "W", 2, (int64_t[]){2, 4}, W, false));
  TH_OK(sal_graph_add_param(g, "b", 1, (int64_t[]){2}, b, false));
  TH_OK(sal_graph_add_node(g, "Flatten", "flat", (const char *[]){"x"}, 1, (const char *[]){"f"}, 1, NULL, 0));
  const sal_attr tb = sal_attr_int("transB", 1);
  TH_OK(sal_graph_add_node(g, "Gemm", "fc", (const char *[]){"f", "W", "b"}, 3, (const char *[]){"z"}, 1, &tb, 1));
  TH_OK(sal_graph_add_output(g, "z"));
  return g;
}

static double sigmoid(double z) { return 1 / (1 + exp(-z)); }

static void test_insertion_deletion(void) {
  const float w[4] = {3, 2, 1, 0}, x[4] = {1, 1, 1, 1}, map[4] = {0.1f, 0.9f, 0.5f, 0.2f};
  sal_graph *g = linear_model(w);
  sal_scorer *sc = NULL, *tiny = NULL;
  if (g) TH_OK(sal_scorer_new(th_ctx(), g, 0, &sc));
  if (!sc) {
    sal_graph_free(g);
    return;
  }
  /* Order by saliency: pixels 1, 2, 3, 0. Deletion, one pixel per step: z = 6, 4, 3, 3, 0; the
   * AUC is (Σ p − p_0/2 − p_4/2) / 4. */
  double z[5] = {6, 4, 3, 3, 0}, sum = 0;
  for (int k = 0; k < 5; k++) sum += sigmoid(z[k]);
  double want_del = (sum - sigmoid(6) / 2 - sigmoid(0) / 2) / 4;
  sal_causal_opts o = sal_causal_opts_default();
  o.step = 1;
  double ins = 0, del = 0;
  float ic[5], dc[5];
  TH_CHECK(sal_causal_curve_length(1, 4, 1) == 5 && sal_causal_curve_length(1, 4, 3) == 3 && sal_causal_curve_length(1, 4, 0) == 2,
           "curve lengths");
  TH_OK(sal_metric_insertion_deletion(sc, x, map, 0, &o, &ins, &del, ic, dc));
  TH_CHECK(fabs(del - want_del) < 1e-6, "deletion AUC %.7f, want %.7f", del, want_del);
  for (int k = 0; k < 5; k++) TH_CHECK(fabs(dc[k] - sigmoid(z[k])) < 1e-6, "deletion curve [%d] %g", k, dc[k]);
  /* A constant image blurs to itself: insertion is flat at sigmoid(6). */
  TH_CHECK(fabs(ins - sigmoid(6)) < 1e-6, "insertion AUC of a constant image %g", ins);
  /* Insertion from the blurred image (sal__gauss_blur, tested with the saliency methods) puts back
   * pixels 1, 2, 3, 0; with step 3: states 0, 3 and 4 pixels moved. */
  const float y[4] = {2, -1, 0.5f, 3};
  float bl[4];
  TH_OK(sal__gauss_blur(th_ctx(), y, 1, 1, 4, 5.0f * 1 / 224.0f, bl));
  o.step = 3;
  TH_OK(sal_metric_insertion_deletion(sc, y, map, 0, &o, &ins, &del, ic, dc));
  float s1[4] = {bl[0], y[1], y[2], y[3]};
  double zi[3] = {3 * bl[0] + 2 * bl[1] + bl[2], 3 * s1[0] + 2 * s1[1] + s1[2], 3 * y[0] + 2 * y[1] + y[2]};
  double zd[3] = {3 * y[0] + 2 * y[1] + y[2], 3 * y[0], 0};
  double wi = (sigmoid(zi[0]) / 2 + sigmoid(zi[1]) + sigmoid(zi[2]) / 2) / 2;
  double wd = (sigmoid(zd[0]) / 2 + sigmoid(zd[1]) + sigmoid(zd[2]) / 2) / 2;
  TH_CHECK(fabs(ins - wi) < 1e-6 && fabs(del - wd) < 1e-6, "step 3: insertion %.7f (want %.7f), deletion %.7f (want %.7f)", ins,
           wi, del, wd);
  /* Batches of one state (a tiny memory budget) give the same numbers. */
  double ins1 = 0, del1 = 0;
  TH_OK(sal_scorer_new(th_ctx(), g, 1, &tiny));
  if (tiny) TH_OK(sal_metric_insertion_deletion(tiny, y, map, 0, &o, &ins1, &del1, NULL, NULL));
  TH_CHECK(ins1 == ins && del1 == del, "batch size changes the result: %g %g vs %g %g", ins1, del1, ins, del);
  TH_FAILS(sal_metric_insertion_deletion(sc, y, map, 2, &o, &ins, &del, NULL, NULL), SAL_STATUS_BAD_INPUT,
           "target 2 is out of range 0..1");
  o.step = 5;
  TH_FAILS(sal_metric_insertion_deletion(sc, y, map, 0, &o, &ins, &del, NULL, NULL), SAL_STATUS_BAD_INPUT,
           "step 5 is out of range");
  /* Saliency metric. Map (0, 1, 1, 0): the box is columns 1..2, area 0.5. On (1, 1, 1, 1) the crop
   * resized back is (1, 1, 1, 1): z0 = 6. On (0, 2, 4, 0) the crop (2, 4) resized to 4 columns
   * (align_corners false: sources -0.25, 0.25, 0.75, 1.25, clamped) is (2, 2.5, 3.5, 4): z0 = 14.5. */
  const float box_map[4] = {0, 1, 1, 0}, ramp[4] = {0, 2, 4, 0};
  double sm = 0, area = 0, prob = 0;
  TH_OK(sal_metric_saliency_metric(sc, x, box_map, 0, 0.5f, &sm, &area, &prob));
  TH_CHECK(NEAR(area, 0.5) && fabs(prob - sigmoid(6)) < 1e-6 && fabs(sm - (log(0.5) - log(sigmoid(6)))) < 1e-6,
           "saliency metric %g (area %g, p %g)", sm, area, prob);
  TH_OK(sal_metric_saliency_metric(sc, ramp, box_map, 0, 0.5f, &sm, &area, &prob));
  TH_CHECK(fabs(prob - sigmoid(14.5)) < 1e-6, "saliency metric: crop resized, p %.7f want %.7f", prob, sigmoid(14.5));
  /* A constant map selects the whole image: area 1, log 1 = 0, so s = −log p (class 1: 1 − σ(6)). */
  const float flat[4] = {2, 2, 2, 2};
  TH_OK(sal_metric_saliency_metric(sc, x, flat, 1, 0.5f, &sm, &area, &prob));
  TH_CHECK(NEAR(area, 1) && fabs(sm + log(1 - sigmoid(6))) < 1e-6, "saliency metric of a constant map %g", sm);
  TH_FAILS(sal_metric_saliency_metric(sc, x, flat, 0, 1.5f, &sm, NULL, NULL), SAL_STATUS_BAD_INPUT, "threshold 1.5");
  sal_scorer_free(sc);
  sal_scorer_free(tiny);
  sal_graph_free(g);
}

/* Agreement with tools/make_metric_refs.py's PyTorch implementations of the published protocols. */
#define REFS "tests/fixtures/metric_refs/"
static void test_references(void) {
  sal_tensor *pm = th_npy(REFS, "pg_maps.npy"), *pk = th_npy(REFS, "pg_masks.npy"), *ph = th_npy(REFS, "pg_hits.npy");
  if (pm && pk && ph) {
    static uint8_t mask[40 * 40];
    const double tol[2] = {15, 4};
    int agree = 0;
    for (int t = 0; t < 2; t++)
      for (int i = 0; i < 6; i++) {
        for (int q = 0; q < 1600; q++) mask[q] = pk->data[i * 1600 + q] != 0;
        bool hit = false;
        TH_OK(sal_pointing_hit(th_ctx(), pm->data + i * 1600, 40, 40, mask, tol[t], &hit));
        agree += hit == (ph->data[t * 6 + i] != 0);
      }
    TH_CHECK(agree == 12, "pointing game: %d of 12 cases agree with PyTorch", agree);
  }
  sal_tensor_free(pm), sal_tensor_free(pk), sal_tensor_free(ph);

  /* Insertion / deletion curves: float32 forward passes against float64 ones of the same weights,
   * so probabilities agree to ~1e-6 (measured 3e-8); 2e-5 leaves room for the blur's float32 rounding. */
  sal_graph *g = NULL;
  sal_scorer *sc = NULL;
  TH_OK(sal_onnx_load(th_ctx(), REFS "model.onnx", NULL, &g));
  if (g) TH_OK(sal_scorer_new(th_ctx(), g, 0, &sc));
  sal_tensor *im = th_npy(REFS, "images.npy"), *mp = th_npy(REFS, "maps.npy"), *tg = th_npy(REFS, "targets.npy");
  const char *cases[2] = {"causal_default.npy", "causal_step37.npy"};
  const int64_t steps[2] = {16, 37};
  const float sigmas[2] = {5.0f * 16 / 224, 1.5f};
  for (int c = 0; sc && im && mp && tg && c < 2; c++) {
    sal_tensor *ref = th_npy(REFS, cases[c]);
    if (!ref) continue;
    int64_t len = sal_causal_curve_length(16, 16, steps[c]);
    TH_CHECK(ref->shape.d[2] == len, "%s: curve length %lld, want %lld", cases[c], (long long)ref->shape.d[2], (long long)len);
    sal_causal_opts o = sal_causal_opts_default();
    o.step = steps[c];
    o.blur_sigma = sigmas[c];
    double worst = 0;
    for (int i = 0; i < 2 && ref->shape.d[2] == len; i++) {
      float ic[17], dc[17];
      double ins = 0, del = 0;
      TH_OK(sal_metric_insertion_deletion(sc, im->data + i * 768, mp->data + i * 256, (int64_t)tg->data[i], &o, &ins,
                                          &del, ic, dc));
      for (int64_t k = 0; k < len; k++) {
        worst = fmax(worst, fabs(ic[k] - ref->data[(i * 2 + 0) * len + k]));
        worst = fmax(worst, fabs(dc[k] - ref->data[(i * 2 + 1) * len + k]));
      }
    }
    fprintf(stderr, "%s: max |salient - PyTorch| over the curves %.2e\n", cases[c], worst);
    TH_CHECK(worst < 2e-5, "%s: curves differ from PyTorch by %.2e", cases[c], worst);
    sal_tensor_free(ref);
  }
  sal_tensor_free(im), sal_tensor_free(mp), sal_tensor_free(tg);
  sal_scorer_free(sc);
  sal_graph_free(g);
}

static void test_bad_input(void) {
  float m[6] = {0, 1, 2, 3, 4, 5};
  m[5] = NAN;
  bool ok;
  sal_box b = box(0, 0, 1, 1);
  TH_FAILS(sal_metric_localization(th_ctx(), m, 2, 3, &b, 1, &ok, NULL), SAL_STATUS_BAD_INPUT, "(row 1, column 2) is not finite");
  TH_FAILS(sal_metric_localization(th_ctx(), m, 0, 3, &b, 1, &ok, NULL), SAL_STATUS_BAD_INPUT, "0x3");
  m[5] = INFINITY;
  sal_sparsity s;
  TH_FAILS(sal_metric_sparsity(th_ctx(), m, 6, &s), SAL_STATUS_BAD_INPUT, "not finite");
  TH_FAILS(sal_pointing_new(th_ctx(), 0, NULL), SAL_STATUS_BAD_INPUT, "0 classes");
  sal_scorer *sc = NULL;
  TH_FAILS(sal_scorer_new(th_ctx(), NULL, 0, &sc), SAL_STATUS_BAD_INPUT, "NULL model");
}

int main(void) {
  test_iou();
  test_components();
  test_localization();
  test_boxacc();
  test_pxap();
  test_pointing();
  test_overlap();
  test_dwsol();
  test_sparsity();
  test_insertion_deletion();
  test_references();
  test_bad_input();
  return th_finish("test_metrics");
}
