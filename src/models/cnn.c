/* simple_cnn: a plain convolutional classifier for small images (the demo model of the synthetic
 * datasets), built by sal_model_build (src/models/models.c).
 *
 * Four blocks, each conv 3x3 (stride 1, pad 1, no bias) → batch-norm → ReLU → max-pool 2x2/2, with
 * w, 2w, 4w and 8w channels, then a global MAX pool and one linear layer. Values: "block<b>.conv",
 * "block<b>.bn", "block<b>.relu" and "block<b>" (the pooled block output, b = 1..4), "pool"
 * (N, 8w, 1, 1), "flatten", "logits" (the output of "fc"). Parameters "block<b>.conv.weight",
 * "block<b>.bn.{weight,bias,running_mean,running_var}", "fc.weight", "fc.bias".
 *
 * Why a global max rather than an average: in the synthetic sets the object covers 2-16 % of the
 * image and sits anywhere; averaging the last map over the whole image dilutes its evidence with
 * background, and such a net stays near chance for epochs, while the max picks the object's
 * strongest response wherever it is (docs/training.md). */
#include "models/build.h"

sal_status sal__model_simple_cnn(sal__mb *b, const sal_model_spec *spec) {
  sal_status st = SAL_STATUS_OK;
  char in[SAL__MB_NAME] = "input", conv[SAL__MB_NAME], bn[SAL__MB_NAME], relu[SAL__MB_NAME], out[SAL__MB_NAME];
  int64_t cin = spec->in_channels, cout = spec->width;
  for (int blk = 1; !st && blk <= 4; blk++, cout *= 2) {
    sal__mb_name(conv, "block%d.conv", blk), sal__mb_name(bn, "block%d.bn", blk);
    sal__mb_name(relu, "block%d.relu", blk), sal__mb_name(out, "block%d", blk);
    st = sal__mb_conv_bn(b, in, conv, bn, relu, cin, cout, 3, 1, 1);
    if (!st) st = sal__mb_maxpool(b, relu, out, 2, 2, 0);
    sal__mb_name(in, "%s", out);
    cin = cout;
  }
  if (!st) st = sal__mb_unary(b, "GlobalMaxPool", in, "pool");
  if (!st) st = sal__mb_flatten(b, "pool", "flatten");
  if (!st) st = sal__mb_linear(b, "flatten", "fc", "logits", cin, spec->num_classes, 0);
  return st;
}
