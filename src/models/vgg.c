/* VGG-16 (Simonyan & Zisserman, ICLR 2015, configuration D, no batch-norm) with torchvision's
 * topology and initialisation. Built by sal_model_build (src/models/models.c).
 *
 * Parameters and activation values follow torchvision's module indices: "features.<i>" is the
 * output of features[i] (conv at 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28, each followed by
 * its ReLU at i+1, max-pools at 4, 9, 16, 23, 30; "features.29" is the last ReLU, the usual
 * Grad-CAM layer), with parameters "features.<i>.weight" / ".bias" on the convs. Then "avgpool"
 * (only when the input is larger than 224, see below), "flatten" (N, 25088), "classifier.0" ..
 * "classifier.5" (Linear, ReLU, Dropout, Linear, ReLU, Dropout; parameters "classifier.0.weight",
 * "classifier.3.weight", ...), and "logits", the output of classifier[6]. */
#include "models/build.h"
#include "ops/op.h"

/* Output channels of each conv; 0 = a 2x2/2 max-pool. */
static const int64_t cfg_d[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};

sal_status sal__model_vgg16(sal__mb *b, const sal_model_spec *spec) {
  sal_status st = SAL_STATUS_OK;
  char x[SAL__MB_NAME] = "input", y[SAL__MB_NAME], r[SAL__MB_NAME];
  int64_t cin = spec->in_channels;
  int idx = 0;
  for (size_t l = 0; !st && l < sizeof cfg_d / sizeof cfg_d[0]; l++) {
    if (cfg_d[l] == 0) {
      st = sal__mb_maxpool(b, x, sal__mb_name(y, "features.%d", idx++), 2, 2, 0);
      sal__mb_name(x, "%s", y);
      continue;
    }
    st = sal__mb_conv(b, x, sal__mb_name(y, "features.%d", idx++), cin, cfg_d[l], 3, 1, 1, true);
    if (!st) st = sal__mb_relu(b, y, sal__mb_name(r, "features.%d", idx++));
    sal__mb_name(x, "%s", r);
    cin = cfg_d[l];
  }
  if (st) return st;

  /* torchvision's AdaptiveAvgPool2d((7, 7)). The features are f x f with f = floor(S / 32)
   * (models.c admits only sizes with f a multiple of 7): at f = 7 (224 px) it is the identity and
   * is not built; at f = 7m it averages disjoint m x m windows, which is AveragePool with kernel
   * and stride m. */
  int64_t f = spec->image_size / 32;
  if (f > 7) {
    const int64_t m = f / 7, ks[2] = {m, m};
    const sal_attr attrs[] = {sal_attr_ints("kernel_shape", 2, ks), sal_attr_ints("strides", 2, ks)};
    st = sal_graph_add_node(b->g, "AveragePool", "avgpool", (const char *[]){x}, 1,
                            (const char *[]){"avgpool"}, 1, attrs, 2);
    sal__mb_name(x, "avgpool");
  }
  if (!st) st = sal__mb_flatten(b, x, "flatten");

  /* torchvision initialises VGG's Linear layers with N(0, 0.01^2) weights and zero biases. Dropout
   * (p = 0.5) is the identity at inference; it is built only when the op exists, and leaving it
   * out changes nothing but training. */
  bool dropout = sal__op_find("Dropout") != SAL_OP_COUNT;
  const sal_attr ratio = sal_attr_float("ratio", 0.5f);
  const int64_t fin[3] = {512 * 7 * 7, 4096, 4096}, fout[3] = {4096, 4096, spec->num_classes};
  sal__mb_name(x, "flatten");
  for (int i = 0; !st && i < 3; i++) {
    /* classifier[3i] Linear, [3i+1] ReLU, [3i+2] Dropout; classifier[6] gives the logits. */
    char lin[SAL__MB_NAME], relu[SAL__MB_NAME], drop[SAL__MB_NAME];
    sal__mb_name(lin, "classifier.%d", 3 * i);
    st = sal__mb_linear(b, x, lin, i == 2 ? "logits" : lin, fin[i], fout[i], 0.01f);
    if (st || i == 2) break;
    st = sal__mb_relu(b, lin, sal__mb_name(relu, "classifier.%d", 3 * i + 1));
    sal__mb_name(x, "%s", relu);
    if (!st && dropout) {
      st = sal_graph_add_node(b->g, "Dropout", sal__mb_name(drop, "classifier.%d", 3 * i + 2),
                              (const char *[]){relu}, 1, (const char *[]){drop}, 1, &ratio, 1);
      sal__mb_name(x, "%s", drop);
    }
  }
  return st;
}
