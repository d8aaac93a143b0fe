/* Resize: forward values against PyTorch's F.interpolate (bilinear, nearest, nearest-exact,
 * bicubic) and hand-computed 1-D cases for every coordinate mode and rounding rule; gradient
 * checks up and down in each mode (Resize is linear in x for fixed shapes, so central
 * differences are exact up to rounding and the harness defaults hold); a 7 -> 224 upsample whose
 * gradient must conserve the seed's sum; and bad inputs. */
#include <math.h>

#include "shape_cases.h"

#define I64(...) ((const int64_t[]){__VA_ARGS__})
#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define OMIT {.name = ""}

/* The PyTorch fixtures: x below, then (torch 1.13, /usr/bin/python3):
 *   import torch, torch.nn.functional as F
 *   x = torch.tensor([((i * 7) % 11) * 0.5 - 2.0 for i in range(24)]).reshape(1, 2, 3, 4)
 *   F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=False)   # bilinear_5x7
 *   F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False) # bilinear_x2
 *   F.interpolate(x, size=(2, 3), mode="bilinear", align_corners=False)   # bilinear_2x3
 *   F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=True)    # bilinear_ac_5x7
 *   F.interpolate(x, size=(5, 7), mode="nearest")                         # nearest_5x7
 *   F.interpolate(x, size=(2, 3), mode="nearest-exact")                   # nearest_exact_2x3
 *   F.interpolate(x, size=(5, 7), mode="bicubic", align_corners=False)    # bicubic_5x7
 * printed with "%.7g". PyTorch works in float (a few ulp of values below 4, ~1e-6), hence the
 * absolute tolerance 1e-5 below; a wrong tap or weight is off by 0.01 or more. */
#define X_VALS                                                                                                \
  -2, 1.5f, -0.5f, 3, 1, -1, 2.5f, 0.5f, -1.5f, 2, 0, -2, 1.5f, -0.5f, 3, 1, -1, 2.5f, 0.5f, -1.5f, 2, 0, -2, \
      1.5f
static const float x_vals[] = {X_VALS};
static const float bilinear_5x7[] = {
    -2, -0.7499998f, 1.25f, 0.4999998f, -0.2499996f, 1.750001f, 3, -0.7999999f, -0.3357142f, 0.4071428f, 0.6f,
    0.7928574f, 1.535715f, 2, 0.9999999f, 0.2857141f, -0.8571427f, 0.7500004f, 2.357142f, 1.214285f, 0.4999999f,
    -0.5000002f, -0.03571427f, 0.7071431f, 0.9f, 0.8571424f, -0.2857148f, -1, -1.5f, -0.2499998f, 1.75f,
    0.9999998f, -0.1428574f, -1.285715f, -2, 1.5f, 0.7857141f, -0.3571429f, 1.25f, 2.857143f, 1.714285f, 1,
    0.4999999f, 0.5714285f, 0.6857144f, 1.35f, 1.857143f, 0.7142853f, -5.960464e-08f, -0.9999998f, 0.2500002f,
    2.25f, 1.5f, 0.3571425f, -0.7857146f, -1.5f, 0.8000003f, 0.8714286f, 0.9857141f, -4.231929e-07f, -0.9071429f,
    -0.1642854f, 0.3000002f, 2, 1.285714f, 0.1428571f, -1, -1.75f, 0.2500006f, 1.5f};
static const float bilinear_x2[] = {
    -2, -1.125f, 0.625f, 1, 0, 0.375f, 2.125f, 3, -1.25f, -0.71875f, 0.34375f, 0.71875f, 0.40625f, 0.78125f,
    1.84375f, 2.375f, 0.25f, 0.09375f, -0.21875f, 0.15625f, 1.21875f, 1.59375f, 1.28125f, 1.125f, 0.375f,
    0.21875f, -0.09375f, 0.28125f, 1.34375f, 1.375f, 0.375f, -0.125f, -0.875f, -0.34375f, 0.71875f, 1.09375f,
    0.78125f, 0.125f, -0.875f, -1.375f, -1.5f, -0.625f, 1.125f, 1.5f, 0.5f, -0.5f, -1.5f, -2, 1.5f, 1, 0, 0.375f,
    2.125f, 2.5f, 1.5f, 1, 0.875f, 0.71875f, 0.40625f, 0.78125f, 1.84375f, 1.875f, 0.875f, 0.375f, -0.375f,
    0.15625f, 1.21875f, 1.59375f, 1.28125f, 0.625f, -0.375f, -0.875f, -0.25f, 0.28125f, 1.34375f, 1.375f,
    0.375f, -0.28125f, -0.59375f, -0.75f, 1.25f, 1.09375f, 0.78125f, 0.125f, -0.875f, -0.84375f, 0.21875f, 0.75f,
    2, 1.5f, 0.5f, -0.5f, -1.5f, -1.125f, 0.625f, 1.5f};
static const float bilinear_2x3[] = {-0.8958333f, 0.5624999f, 2.020833f, -0.5208334f, 0.9374999f, -1.041667f,
                                     0.7708333f,  1.3125f,    0.7083331f, 1.145833f,   -0.3750001f, 0.3958335f};
static const float bilinear_ac_5x7[] = {
    -2, -0.25f, 1.5f, 0.5f, -0.5f, 1.25f, 3, -0.5f, -0.125f, 0.25f, 0.625f, 1, 1.375f, 1.75f, 1, 0, -1, 0.75f,
    2.5f, 1.5f, 0.5f, -0.25f, 0.125f, 0.5f, 0.875f, 1.25f, 0.25f, -0.75f, -1.5f, 0.25f, 2, 1, 0, -1, -2, 1.5f,
    0.5f, -0.5f, 1.25f, 3, 2, 1, 0.25f, 0.625f, 1, 1.375f, 1.75f, 0.75f, -0.25f, -1, 0.75f, 2.5f, 1.5f, 0.5f,
    -0.5f, -1.5f, 0.5f, 0.875f, 1.25f, 0.25f, -0.75f, -0.375f, 0, 2, 1, 0, -1, -2, -0.25f, 1.5f};
static const float nearest_5x7[] = {
    -2, -2, 1.5f, 1.5f, -0.5f, -0.5f, 3, -2, -2, 1.5f, 1.5f, -0.5f, -0.5f, 3, 1, 1, -1, -1, 2.5f, 2.5f, 0.5f, 1,
    1, -1, -1, 2.5f, 2.5f, 0.5f, -1.5f, -1.5f, 2, 2, 0, 0, -2, 1.5f, 1.5f, -0.5f, -0.5f, 3, 3, 1, 1.5f, 1.5f,
    -0.5f, -0.5f, 3, 3, 1, -1, -1, 2.5f, 2.5f, 0.5f, 0.5f, -1.5f, -1, -1, 2.5f, 2.5f, 0.5f, 0.5f, -1.5f, 2, 2,
    0, 0, -2, -2, 1.5f};
static const float nearest_exact_2x3[] = {-2, -0.5f, 3, -1.5f, 0, -2, 1.5f, 3, 1, 2, -2, 1.5f};
static const float bicubic_5x7[] = {
    -2.687645f, -0.760019f, 1.626307f, 0.4759997f, -0.6743078f, 1.712019f, 3.639644f, -0.7522398f,
    -0.3580729f, 0.2340188f, 0.5418752f, 0.9466382f, 1.777137f, 2.345528f, 1.198433f, 0.10327f,
    -1.04724f, 0.7500005f, 2.547239f, 1.396728f, 0.301567f, -0.4102408f, -0.0160733f, 0.5760192f,
    1.236563f, 1.073393f, -0.3609849f, -1.447722f, -2.139645f, -0.2120191f, 2.174308f, 1.589125f,
    -0.4712037f, -1.713979f, -2.438433f, 1.99082f, 0.6308866f, -0.8294192f, 1.176501f, 3.311628f,
    2.169199f, 1.041567f, 0.2614153f, 0.4105875f, 0.7505776f, 1.801312f, 2.136007f, 0.7144263f,
    -0.4237225f, -1.347258f, 0.3155976f, 2.392128f, 2.015625f, 0.2931851f, -0.9415085f, -1.698433f,
    0.6034161f, 0.9839436f, 1.266351f, -0.0903753f, -1.242518f, -0.4568035f, 0.29153f, 2.538821f,
    1.549598f, -0.002974254f, -1.854625f, -2.101919f, 0.2924901f, 2.187644f};

/* Resize(X, roi omitted, scales omitted, sizes) with the given attributes. x is x_vals; sizes
 * must outlive the returned case. */
static th_op_case sizes_case(const char *label, int n_attrs, const sal_attr *attrs, const float *sizes) {
  th_op_case c = {.label = label, .op = "Resize", .n_in = 4, .n_out = 1, .n_attrs = n_attrs};
  c.in[0] = (th_input){.name = "x", .ndim = 4, .dims = {1, 2, 3, 4}, .fill = TH_FILL_DATA, .data = x_vals};
  c.in[1] = (th_input)OMIT;
  c.in[2] = (th_input)OMIT;
  c.in[3] = (th_input){.name = "sz", .ndim = 1, .dims = {4}, .constant = true, .fill = TH_FILL_DATA, .data = sizes};
  for (int i = 0; i < n_attrs; i++) c.attrs[i] = attrs[i];
  return c;
}

static void test_pytorch(void) {
  const float s57[] = {1, 2, 5, 7}, s23[] = {1, 2, 2, 3};
  sal_attr lin = sal_attr_string("mode", "linear");
  th_op_case c = sizes_case("bilinear 5x7 half_pixel", 1, &lin, s57);
  th_check_values(&c, 0, bilinear_5x7, 70, NULL, 0, 1e-5);
  c = sizes_case("bilinear 5x7 pytorch_half_pixel", 2,
                 (sal_attr[]){lin, sal_attr_string("coordinate_transformation_mode", "pytorch_half_pixel")}, s57);
  th_check_values(&c, 0, bilinear_5x7, 70, NULL, 0, 1e-5);
  c = sizes_case("bilinear 2x3 (down)", 1, &lin, s23);
  th_check_values(&c, 0, bilinear_2x3, 12, NULL, 0, 1e-5);
  c = sizes_case("bilinear 5x7 align_corners", 2,
                 (sal_attr[]){lin, sal_attr_string("coordinate_transformation_mode", "align_corners")}, s57);
  th_check_values(&c, 0, bilinear_ac_5x7, 70, NULL, 0, 1e-5);
  c = sizes_case("nearest 5x7 asymmetric floor", 2,
                 (sal_attr[]){sal_attr_string("coordinate_transformation_mode", "asymmetric"),
                              sal_attr_string("nearest_mode", "floor")},
                 s57);
  th_check_values(&c, 0, nearest_5x7, 70, NULL, 0, 0);
  c = sizes_case("nearest-exact 2x3", 1, (sal_attr[]){sal_attr_string("nearest_mode", "round_prefer_ceil")}, s23);
  th_check_values(&c, 0, nearest_exact_2x3, 12, NULL, 0, 0);
  c = sizes_case("bicubic 5x7", 1, (sal_attr[]){sal_attr_string("mode", "cubic")}, s57);
  th_check_values(&c, 0, bicubic_5x7, 70, NULL, 0, 1e-5);
  /* Scales instead of sizes: the given scale (2) enters the coordinate transform. */
  c = sizes_case("bilinear x2 scales", 2,
                 (sal_attr[]){lin, sal_attr_string("coordinate_transformation_mode", "pytorch_half_pixel")}, s57);
  c.in[2] = (th_input){.name = "sc", .ndim = 1, .dims = {4}, .constant = true, .fill = TH_FILL_DATA,
                       .data = (const float[]){1, 1, 2, 2}};
  c.n_in = 3;
  th_check_values(&c, 0, bilinear_x2, 96, NULL, 0, 1e-5);
}

/* 1-D resize of x (n values) to `out` elements with the given attributes. */
static void check_1d(const char *label, const float *x, int64_t n, int64_t out, const char *mode, const char *coord,
                     const char *round, const float *want, const float *want_dx) {
  th_op_case c = {.label = label, .op = "Resize", .n_in = 4, .n_out = 1, .n_attrs = 3,
                  .attrs = {sal_attr_string("mode", mode), sal_attr_string("coordinate_transformation_mode", coord),
                            sal_attr_string("nearest_mode", round)}};
  c.in[0] = (th_input){.name = "x", .ndim = 1, .dims = {n}, .fill = TH_FILL_DATA, .data = x};
  c.in[1] = (th_input)OMIT;
  c.in[2] = (th_input)OMIT;
  float sz = (float)out;
  c.in[3] = (th_input){.name = "sz", .ndim = 1, .dims = {1}, .constant = true, .fill = TH_FILL_DATA, .data = &sz};
  th_check_values(&c, 0, want, out, want_dx, want_dx ? n : 0, 1e-6);
}

static void test_hand(void) {
  const float x01[] = {0, 1};
  /* half_pixel: sources -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1). */
  check_1d("linear half_pixel 2->4", x01, 2, 4, "linear", "half_pixel", "floor", (const float[]){0, 0.25f, 0.75f, 1},
           (const float[]){2, 2});
  /* asymmetric: sources 0, 0.5, 1, 1.5 (clamped to 1). */
  check_1d("linear asymmetric 2->4", x01, 2, 4, "linear", "asymmetric", "floor", (const float[]){0, 0.5f, 1, 1},
           (const float[]){1.5f, 2.5f});
  check_1d("linear align_corners 2->4", x01, 2, 4, "linear", "align_corners", "floor",
           (const float[]){0, 1.0f / 3, 2.0f / 3, 1}, (const float[]){2, 2});
  /* Nearest, 5 -> 2 with half_pixel: sources 0.75 and 3.25. */
  const float x5[] = {10, 20, 30, 40, 50};
  check_1d("nearest prefer_floor", x5, 5, 2, "nearest", "half_pixel", "round_prefer_floor", (const float[]){20, 40},
           (const float[]){0, 1, 0, 1, 0});
  check_1d("nearest floor", x5, 5, 2, "nearest", "half_pixel", "floor", (const float[]){10, 40}, NULL);
  check_1d("nearest ceil", x5, 5, 2, "nearest", "half_pixel", "ceil", (const float[]){20, 50}, NULL);
  check_1d("nearest prefer_ceil", x5, 5, 2, "nearest", "half_pixel", "round_prefer_ceil", (const float[]){20, 40}, NULL);
  /* Ties: 4 -> 2, sources exactly 0.5 and 2.5. */
  const float x4[] = {10, 20, 30, 40};
  check_1d("nearest tie prefer_floor", x4, 4, 2, "nearest", "half_pixel", "round_prefer_floor", (const float[]){10, 30},
           NULL);
  check_1d("nearest tie prefer_ceil", x4, 4, 2, "nearest", "half_pixel", "round_prefer_ceil", (const float[]){20, 40},
           NULL);
  /* tf_half_pixel_for_nn: sources (o + 0.5) * 2 = 1, 3. */
  check_1d("nearest tf_half_pixel_for_nn", x4, 4, 2, "nearest", "tf_half_pixel_for_nn", "round_prefer_floor",
           (const float[]){20, 40}, NULL);

  /* Opset 10 form (X, scales): asymmetric nearest, each pixel repeated 2x2. */
  th_op_case o10 = {.label = "resize opset 10", .op = "Resize", .n_in = 2, .n_out = 1,
                    .in = {{"x", 4, {1, 1, 2, 2}, TH_VALS(1, 2, 3, 4)}, TH_CONST("sc", 4, 1, 1, 2, 2)}};
  th_check_values(&o10, 0, (const float[]){1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 16,
               (const float[]){4, 4, 4, 4}, 4, 0);
  /* Nearest along the batch: both copies read the one input plane; its gradient doubles. */
  th_op_case nb = {.label = "resize batch nearest", .op = "Resize", .n_in = 3, .n_out = 1,
                   .in = {{"x", 4, {1, 2, 1, 2}, TH_VALS(1, 2, 3, 4)}, OMIT, TH_CONST("sc", 4, 2, 1, 1, 1)}};
  th_check_values(&nb, 0, (const float[]){1, 2, 3, 4, 1, 2, 3, 4}, 8, (const float[]){2, 2, 2, 2}, 4, 0);
}

static void test_gradients(void) {
#define RS(lbl, nd, dims, sizes_n, ...) \
  .label = lbl, .op = "Resize", .n_in = 4, .n_out = 1, \
  .in = {{"x", nd, dims}, OMIT, OMIT, TH_CONST("sz", sizes_n, __VA_ARGS__)}
#define RSC(lbl, nd, dims, scales_n, ...) \
  .label = lbl, .op = "Resize", .n_in = 3, .n_out = 1, .in = {{"x", nd, dims}, OMIT, TH_CONST("sc", scales_n, __VA_ARGS__)}
#define D3(a, b, c) {a, b, c}
#define D4(a, b, c, d) {a, b, c, d}
#define D5(a, b, c, d, e) {a, b, c, d, e}
#define MODE(m) sal_attr_string("mode", m)
#define COORD(m) sal_attr_string("coordinate_transformation_mode", m)
#define ROUND(m) sal_attr_string("nearest_mode", m)
  th_op_case cases[] = {
      {RS("linear half_pixel up/down", 4, D4(2, 3, 5, 7), 4, 2, 3, 9, 4), .attrs = {MODE("linear")}, .n_attrs = 1},
      {RSC("linear pytorch_half_pixel down", 4, D4(1, 2, 8, 9), 4, 1, 1, 0.5f, 0.6f),
       .attrs = {MODE("linear"), COORD("pytorch_half_pixel")}, .n_attrs = 2},
      {RS("linear align_corners", 4, D4(2, 1, 4, 5), 4, 2, 1, 7, 3), .attrs = {MODE("linear"), COORD("align_corners")},
       .n_attrs = 2},
      {RSC("linear asymmetric up", 4, D4(1, 3, 5, 5), 4, 1, 1, 1.5f, 2.5f),
       .attrs = {MODE("linear"), COORD("asymmetric")}, .n_attrs = 2},
      {RS("linear exclude_outside", 4, D4(1, 2, 4, 3), 4, 1, 2, 7, 5),
       .attrs = {MODE("linear"), sal_attr_int("exclude_outside", 1)}, .n_attrs = 2},
      {RS("nearest half_pixel", 4, D4(2, 3, 5, 6), 4, 2, 3, 3, 11), .n_attrs = 0},
      {RSC("nearest asymmetric x3", 4, D4(1, 2, 3, 4), 4, 1, 1, 3, 3), .attrs = {COORD("asymmetric"), ROUND("floor")},
       .n_attrs = 2},
      {RS("nearest align_corners ceil down", 4, D4(1, 2, 7, 6), 4, 1, 2, 3, 4),
       .attrs = {COORD("align_corners"), ROUND("ceil")}, .n_attrs = 2},
      {RSC("nearest leading dims", 4, D4(1, 2, 3, 4), 4, 2, 1.5f, 1.5f, 1), .n_attrs = 0},
      {RS("cubic half_pixel", 4, D4(1, 2, 5, 6), 4, 1, 2, 8, 4), .attrs = {MODE("cubic")}, .n_attrs = 1},
      {RS("cubic exclude a=-0.5", 4, D4(2, 1, 4, 4), 4, 2, 1, 6, 3),
       .attrs = {MODE("cubic"), COORD("align_corners"), sal_attr_float("cubic_coeff_a", -0.5f),
                 sal_attr_int("exclude_outside", 1)}, .n_attrs = 4},
      {RS("linear rank 3", 3, D3(3, 5, 6), 3, 3, 7, 4), .attrs = {MODE("linear")}, .n_attrs = 1},
      {RS("linear rank 1", 1, {5}, 1, 8), .attrs = {MODE("linear")}, .n_attrs = 1},
      {RSC("nearest 5-D", 5, D5(1, 2, 3, 4, 5), 5, 1, 1, 2, 0.5f, 1.2f), .n_attrs = 0},
      {.label = "linear opset 10", .op = "Resize", .n_in = 2, .n_out = 1,
       .in = {{"x", 4, {1, 2, 3, 3}}, TH_CONST("sc", 4, 1, 1, 2, 1.5f)}, .attrs = {MODE("linear")}, .n_attrs = 1},
      {.label = "linear axes opset 18", .op = "Resize", .n_in = 4, .n_out = 1,
       .in = {{"x", 4, {1, 2, 4, 5}}, OMIT, OMIT, TH_CONST("sz", 2, 7, 3)},
       .attrs = {MODE("linear"), sal_attr_ints("axes", 2, I64(-2, -1))}, .n_attrs = 2},
  };
  for (int i = 0; i < NELEM(cases); i++) th_gradcheck(&cases[i], SAL_KERNELS_REF);
  th_check_shape(&cases[1], 0, 4, I64(1, 2, 4, 5));
  for (int i = 0; i < NELEM(cases); i++) th_check_accumulate(&cases[i]);
  th_check_shape(&cases[3], 0, 4, I64(1, 3, 7, 12));
  th_check_shape(&cases[8], 0, 4, I64(2, 3, 4, 4));
  th_check_shape(&cases[11], 0, 3, I64(3, 7, 4));
  th_check_shape(&cases[13], 0, 5, I64(1, 2, 6, 2, 6));
  th_check_shape(&cases[14], 0, 4, I64(1, 2, 6, 4));
  th_check_shape(&cases[15], 0, 4, I64(1, 2, 7, 3));

  /* A saliency-sized upsample, 7x7 -> 224x224 over batch 2: every output's weights sum to 1,
   * so the gradient of sum(y) must sum to 2*224*224 = 100352 (exact in double; the float
   * result of 98 sums of ~1024 is good to ~1e-3). */
  sal_ctx *ctx = th_ctx();
  th_op_case up = {RS("upsample 224", 4, D4(2, 1, 7, 7), 4, 2, 1, 224, 224), .attrs = {MODE("linear")}, .n_attrs = 1};
  sal_graph *g = th_build(&up);
  sal_plan_opts o = sal_plan_opts_default();
  o.grad_inputs = true;
  o.kernels = SAL_KERNELS_REF;
  sal_plan *p = NULL;
  sal_tensor *x = NULL;
  if (g) TH_OK(sal_plan_new(ctx, g, &o, &p));
  TH_OK(sal_tensor_new(ctx, 4, I64(2, 1, 7, 7), &x));
  if (p && x) {
    const sal_tensor *gx = NULL;
    TH_OK(sal_plan_set_input(p, "x", x));
    TH_OK(sal_plan_forward(p));
    TH_OK(sal_plan_backward(p, "y0", NULL));
    TH_OK(sal_plan_grad(p, "x", &gx));
    double sum = 0;
    for (int i = 0; gx && i < 98; i++) sum += gx->data[i];
    TH_CHECK(fabs(sum - 100352.0) < 1e-2, "upsample 224: gradient sums to %.6f, want 100352", sum);
  }
  sal_tensor_free(x);
  sal_plan_free(p);
  sal_graph_free(g);
}

static void test_bad(void) {
  const float s57[] = {1, 2, 5, 7};
  th_op_case c = sizes_case("bad_resize", 0, NULL, s57);
  c.in[2] = (th_input){.name = "sc", .ndim = 1, .dims = {4}, .constant = true, .fill = TH_FILL_DATA,
                       .data = (const float[]){1, 1, 2, 2}};
  TH_FAILS(th_try_node(&c), SAL_STATUS_BAD_INPUT,
           "node 'bad_resize' (Resize): both scales and sizes are given; exactly one is allowed");
  c.in[2] = (th_input)OMIT;
  c.in[3] = (th_input)OMIT;
  TH_FAILS(th_try_node(&c), SAL_STATUS_BAD_INPUT, "one of scales (input 2) and sizes (input 3) is required");
  c.in[2] = (th_input){.name = "sc", .ndim = 1, .dims = {4}};
  TH_FAILS(th_try_node(&c), SAL_STATUS_UNSUPPORTED, "input 2 'sc' (scales) is computed by the graph");
  c.in[2] = (th_input){.name = "sc", .ndim = 1, .dims = {4}, .constant = true, .fill = TH_FILL_DATA,
                       .data = (const float[]){1, 2, 2, 2}};
  c.attrs[0] = sal_attr_string("mode", "linear");
  c.n_attrs = 1;
  TH_FAILS(th_try_node(&c), SAL_STATUS_UNSUPPORTED, "linear mode resizes only the last two axes; axis 1 of input (1, 2, 3, 4) has scale 2");
  c.attrs[0] = sal_attr_string("coordinate_transformation_mode", "tf_crop_and_resize");
  TH_FAILS(th_try_node(&c), SAL_STATUS_UNSUPPORTED, "'tf_crop_and_resize' (roi cropping) is not supported");
  c.attrs[0] = sal_attr_string("mode", "bilinear");
  TH_FAILS(th_try_node(&c), SAL_STATUS_BAD_INPUT, "unknown mode 'bilinear' (known: nearest, linear, cubic)");
  c.attrs[0] = sal_attr_int("antialias", 1);
  TH_FAILS(th_try_node(&c), SAL_STATUS_UNSUPPORTED, "antialias = 1 is not supported");
  c.attrs[0] = sal_attr_string("keep_aspect_ratio_policy", "not_larger");
  TH_FAILS(th_try_node(&c), SAL_STATUS_UNSUPPORTED, "keep_aspect_ratio_policy 'not_larger' is not supported");
  c.n_attrs = 0;
  c.in[2] = (th_input){.name = "sc", .ndim = 1, .dims = {2}, .constant = true, .fill = TH_FILL_DATA,
                       .data = (const float[]){2, 2}};
  TH_FAILS(th_try_node(&c), SAL_STATUS_SHAPE, "scales has 2 values for input (1, 2, 3, 4) of rank 4");
  c.in[2] = (th_input){.name = "sc", .ndim = 1, .dims = {4}, .constant = true, .fill = TH_FILL_DATA,
                       .data = (const float[]){1, 1, 1, 0.2f}};
  TH_FAILS(th_try_node(&c), SAL_STATUS_SHAPE, "scale 0.2 on axis 3 of input (1, 2, 3, 4) gives 0 elements");
  c.in[2] = (th_input){.name = "sc", .ndim = 1, .dims = {4}, .constant = true, .fill = TH_FILL_DATA,
                       .data = (const float[]){1, 1, -2, 1}};
  TH_FAILS(th_try_node(&c), SAL_STATUS_BAD_INPUT, "scales[2] = -2 must be positive");
  c.in[2] = (th_input)OMIT;
  c.in[3] = (th_input){.name = "sz", .ndim = 1, .dims = {4}, .constant = true, .fill = TH_FILL_DATA,
                       .data = (const float[]){1, 2, 0, 4}};
  TH_FAILS(th_try_node(&c), SAL_STATUS_BAD_INPUT, "sizes[2] = 0 is outside 1..");
}

/* Every shape op's prepare allocates: a chain through all of them, planned under an allocation
 * fault at each site in turn, must fail cleanly with OUT_OF_MEMORY (the sanitiser build checks
 * nothing leaks or is freed twice) until it succeeds. */
static void test_faults(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  if (!g) return;
  TH_OK(sal_graph_add_input(g, "x", 4, I64(-1, 2, 5, 6)));
  TH_OK(sal_graph_add_param(g, "pads", 1, I64(8), (const float[]){0, 0, 1, 1, 0, 0, 1, 1}, false));
  TH_OK(sal_graph_add_param(g, "sc", 1, I64(4), (const float[]){1, 1, 2, 2}, false));
  TH_OK(sal_graph_add_param(g, "st", 1, I64(1), (const float[]){1}, false));
  TH_OK(sal_graph_add_param(g, "en", 1, I64(1), (const float[]){-1}, false));
  TH_OK(sal_graph_add_param(g, "ax", 1, I64(1), (const float[]){3}, false));
  TH_OK(sal_graph_add_param(g, "shape", 1, I64(2), (const float[]){0, -1}, false));
  const sal_attr refl = sal_attr_string("mode", "reflect"), lin = sal_attr_string("mode", "linear");
  const sal_attr ax1 = sal_attr_int("axis", 1), perm = sal_attr_ints("perm", 4, I64(0, 1, 3, 2));
  TH_OK(sal_graph_add_node(g, "Pad", "pad", (const char *[]){"x", "pads"}, 2, (const char *[]){"a"}, 1, &refl, 1));
  TH_OK(sal_graph_add_node(g, "Resize", "rs", (const char *[]){"a", "", "sc"}, 3, (const char *[]){"b"}, 1, &lin, 1));
  TH_OK(sal_graph_add_node(g, "Slice", "sl", (const char *[]){"b", "st", "en", "ax"}, 4, (const char *[]){"c"}, 1, NULL, 0));
  TH_OK(sal_graph_add_node(g, "Transpose", "tr", (const char *[]){"c"}, 1, (const char *[]){"d"}, 1, &perm, 1));
  TH_OK(sal_graph_add_node(g, "Split", "sp", (const char *[]){"d"}, 1, (const char *[]){"e", "f"}, 2, &ax1, 1));
  TH_OK(sal_graph_add_node(g, "Concat", "cat", (const char *[]){"f", "e"}, 2, (const char *[]){"h"}, 1, &ax1, 1));
  TH_OK(sal_graph_add_node(g, "Reshape", "rh", (const char *[]){"h", "shape"}, 2, (const char *[]){"y"}, 1, NULL, 0));
  TH_OK(sal_graph_add_output(g, "y"));
  int failures_seen = 0;
  for (int k = 1; k < 400; k++) {
    sal_plan *p = NULL;
    sal_plan_opts o = sal_plan_opts_default();
    o.batch = 2;
    o.grad_inputs = true;
    o.kernels = SAL_KERNELS_REF;
    sal_ctx_fail_alloc_after(ctx, k);
    sal_status st = sal_plan_new(ctx, g, &o, &p);
    sal_ctx_fail_alloc_after(ctx, 0);
    if (st == SAL_STATUS_OK) {
      /* pad (2,2,7,8) -> resize (2,2,14,16) -> slice W [1,-1) (2,2,14,14) -> transpose ->
       * split / concat along C -> reshape (2, 392). */
      sal_shape s;
      TH_OK(sal_plan_shape(p, "y", &s));
      TH_CHECK(s.ndim == 2 && s.d[0] == 2 && s.d[1] == 392, "fault chain: output shape");
      TH_OK(sal_plan_forward(p));
      TH_OK(sal_plan_backward(p, "y", NULL));
      sal_plan_free(p);
      break;
    }
    failures_seen++;
    TH_CHECK(st == SAL_STATUS_OUT_OF_MEMORY, "fault %d: got %s (%s)", k, sal_status_name(st), sal_ctx_last_error(ctx));
  }
  TH_CHECK(failures_seen > 7, "fault injection exercised %d allocation sites", failures_seen);
  sal_graph_free(g);
}

int main(void) {
  test_pytorch();
  test_hand();
  test_gradients();
  test_bad();
  test_faults();
  return th_finish("test_ops_resize");
}
