/* Gradient checks and edge cases for the core ops: Identity, Relu, broadcasting Add/Sub/Mul/Div. */
#include "harness.h"

int main(void) {
  th_op_case cases[] = {
      {.label = "identity", .op = "Identity", .n_in = 1, .in = {{"x", 3, {2, 3, 4}}}, .n_out = 1},
      /* ReLU's kink at 0: inputs kept >= 0.1 away from it (eps = 0.01 never crosses). */
      {.label = "relu", .op = "Relu", .n_in = 1, .in = {{"x", 4, {2, 3, 5, 5}, .fill = TH_FILL_AWAY}}, .n_out = 1},
      {.label = "add same", .op = "Add", .n_in = 2, .in = {{"a", 2, {3, 4}}, {"b", 2, {3, 4}}}, .n_out = 1},
      {.label = "add bias", .op = "Add", .n_in = 2, .in = {{"a", 4, {2, 3, 4, 4}}, {"b", 4, {1, 3, 1, 1}, .param = true}}, .n_out = 1},
      {.label = "add rank", .op = "Add", .n_in = 2, .in = {{"a", 3, {2, 3, 4}}, {"b", 1, {4}}}, .n_out = 1},
      {.label = "sub both", .op = "Sub", .n_in = 2, .in = {{"a", 3, {2, 1, 4}}, {"b", 3, {1, 3, 1}}}, .n_out = 1},
      {.label = "mul", .op = "Mul", .n_in = 2, .in = {{"a", 4, {2, 3, 2, 2}}, {"b", 4, {2, 3, 1, 1}}}, .n_out = 1},
      {.label = "div", .op = "Div", .n_in = 2, .in = {{"a", 2, {3, 4}}, {"b", 2, {3, 1}, .fill = TH_FILL_POSITIVE}}, .n_out = 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) th_gradcheck(&cases[i], SAL_KERNELS_REF);

  /* The same value feeding both inputs: gradients of both uses must add. y = x*x → dy/dx = 2x. */
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  TH_OK(sal_graph_add_input(g, "x", 1, (int64_t[]){5}));
  TH_OK(sal_graph_add_node(g, "Mul", "sq", (const char *[]){"x", "x"}, 2, (const char *[]){"y"}, 1, NULL, 0));
  sal_plan_opts o = sal_plan_opts_default();
  o.grad_inputs = true;
  sal_plan *p = NULL;
  TH_OK(sal_plan_new(ctx, g, &o, &p));
  float xs[5] = {1, -2, 3, 0.5f, 0};
  sal_tensor *xt = NULL;
  TH_OK(sal_tensor_wrap(ctx, 1, (int64_t[]){5}, xs, &xt));
  TH_OK(sal_plan_set_input(p, "x", xt));
  TH_OK(sal_plan_forward(p));
  TH_OK(sal_plan_backward(p, "y", NULL));
  const sal_tensor *gx = NULL;
  TH_OK(sal_plan_grad(p, "x", &gx));
  float want[5] = {2, -4, 6, 1, 0};
  if (gx) th_allclose("x*x gradient", gx->data, want, 5, 0, 0);
  sal_tensor_free(xt);
  sal_plan_free(p);

  /* Broadcast errors name the node and both shapes. */
  TH_OK(sal_graph_add_input(g, "z", 1, (int64_t[]){4}));
  TH_FAILS(sal_graph_add_node(g, "Add", "bad_add", (const char *[]){"x", "z"}, 2, (const char *[]){"w"}, 1, NULL, 0),
           SAL_STATUS_SHAPE, "node 'bad_add' (Add): shapes (5) and (4) do not broadcast");
  sal_graph_free(g);
  return th_finish("test_ops_core");
}
