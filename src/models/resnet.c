/* ResNets (He et al., CVPR 2016, "Deep residual learning") with torchvision's topology: ResNet-18
 * (BasicBlock), ResNet-50 (Bottleneck, stride on the 3x3 conv: torchvision's "v1.5") and a small
 * ResNet for 32–128 px images. Built by sal_model_build (src/models/models.c).
 *
 * Parameters carry torchvision's state_dict keys ("conv1.weight", "layer1.0.bn2.running_var",
 * "layer2.0.downsample.0.weight", "fc.bias"; num_batches_tracked is not kept). Activation values,
 * for hooks and Grad-CAM (s = stage 1..4, i = block index in the stage):
 *   input (N,C,S,S) → conv1 → bn1 → relu → maxpool (ImageNet models only)
 *   block "layer<s>.<i>": layer<s>.<i>.conv1, .bn1, .relu1, .conv2, .bn2 (Bottleneck also .relu2,
 *     .conv3, .bn3), .downsample.0 and .downsample.1 (conv and BN of the shortcut, when present),
 *     .add (residual sum before the last ReLU); the block's output (after that ReLU) is
 *     "layer<s>.<i>", except the last block of a stage, whose output is named "layer<s>" — the
 *     stage output ("layer4" is Grad-CAM's default layer; "layer3" for resnet_small).
 *   avgpool (N,F,1,1) → flatten (N,F) → logits (N,num_classes), the output of "fc". */
#include "models/build.h"

typedef struct resnet_cfg {
  bool bottleneck;     /* Bottleneck (expansion 4) instead of BasicBlock (expansion 1) */
  bool imagenet_stem;  /* 7x7/2 conv + 3x3/2 max-pool; else a 3x3/1 conv and no pool */
  int n_stages;
  int64_t blocks[4], width[4], stride[4];
  int64_t stem_width;
} resnet_cfg;

/* One residual block with prefix p (e.g. "layer2.0") from value `in` (cin channels) to value
 * `out`. torchvision puts the stride on conv1 of a BasicBlock and on conv2 (the 3x3) of a
 * Bottleneck; a shortcut 1x1 conv + BN ("downsample") exists when the stride or the width changes. */
static sal_status block(sal__mb *b, const resnet_cfg *c, const char *p, const char *in, const char *out,
                        int64_t cin, int64_t width, int64_t stride) {
  char c1[SAL__MB_NAME], b1[SAL__MB_NAME], r1[SAL__MB_NAME], c2[SAL__MB_NAME], b2[SAL__MB_NAME];
  char r2[SAL__MB_NAME], c3[SAL__MB_NAME], b3[SAL__MB_NAME], d0[SAL__MB_NAME], d1[SAL__MB_NAME];
  char add[SAL__MB_NAME];
  int64_t cout = c->bottleneck ? 4 * width : width;
  sal__mb_name(c1, "%s.conv1", p), sal__mb_name(b1, "%s.bn1", p), sal__mb_name(r1, "%s.relu1", p);
  sal__mb_name(c2, "%s.conv2", p), sal__mb_name(b2, "%s.bn2", p), sal__mb_name(r2, "%s.relu2", p);
  sal__mb_name(c3, "%s.conv3", p), sal__mb_name(b3, "%s.bn3", p), sal__mb_name(add, "%s.add", p);
  sal__mb_name(d0, "%s.downsample.0", p), sal__mb_name(d1, "%s.downsample.1", p);
  sal_status st;
  const char *main_out;
  if (c->bottleneck) {
    st = sal__mb_conv_bn(b, in, c1, b1, r1, cin, width, 1, 1, 0);
    if (!st) st = sal__mb_conv_bn(b, r1, c2, b2, r2, width, width, 3, stride, 1);
    if (!st) st = sal__mb_conv_bn(b, r2, c3, b3, NULL, width, cout, 1, 1, 0);
    main_out = b3;
  } else {
    st = sal__mb_conv_bn(b, in, c1, b1, r1, cin, width, 3, stride, 1);
    if (!st) st = sal__mb_conv_bn(b, r1, c2, b2, NULL, width, width, 3, 1, 1);
    main_out = b2;
  }
  const char *shortcut = in;
  if (!st && (stride != 1 || cin != cout)) {
    st = sal__mb_conv_bn(b, in, d0, d1, NULL, cin, cout, 1, stride, 0);
    shortcut = d1;
  }
  if (!st) st = sal_graph_add_node(b->g, "Add", add, (const char *[]){main_out, shortcut}, 2, (const char *[]){add}, 1, NULL, 0);
  if (!st) st = sal__mb_relu(b, add, out);
  return st;
}

static sal_status resnet(sal__mb *b, const sal_model_spec *spec, const resnet_cfg *c) {
  sal_status st;
  const char *x;
  if (c->imagenet_stem) {
    st = sal__mb_conv_bn(b, "input", "conv1", "bn1", "relu", spec->in_channels, c->stem_width, 7, 2, 3);
    if (!st) st = sal__mb_maxpool(b, "relu", "maxpool", 3, 2, 1);
    x = "maxpool";
  } else {
    st = sal__mb_conv_bn(b, "input", "conv1", "bn1", "relu", spec->in_channels, c->stem_width, 3, 1, 1);
    x = "relu";
  }
  int64_t cin = c->stem_width;
  char prev[SAL__MB_NAME], p[SAL__MB_NAME], out[SAL__MB_NAME];
  for (int s = 0; !st && s < c->n_stages; s++) {
    for (int64_t i = 0; !st && i < c->blocks[s]; i++) {
      sal__mb_name(p, "layer%d.%lld", s + 1, (long long)i);
      if (i == c->blocks[s] - 1)
        sal__mb_name(out, "layer%d", s + 1);
      else
        sal__mb_name(out, "%s", p);
      st = block(b, c, p, x, out, cin, c->width[s], i == 0 ? c->stride[s] : 1);
      cin = c->bottleneck ? 4 * c->width[s] : c->width[s];
      sal__mb_name(prev, "%s", out);
      x = prev;
    }
  }
  /* torchvision's AdaptiveAvgPool2d((1, 1)) is a global average pool. */
  if (!st) st = sal__mb_unary(b, "GlobalAveragePool", x, "avgpool");
  if (!st) st = sal__mb_flatten(b, "avgpool", "flatten");
  if (!st) st = sal__mb_linear(b, "flatten", "fc", "logits", cin, spec->num_classes, 0);
  return st;
}

sal_status sal__model_resnet18(sal__mb *b, const sal_model_spec *spec) {
  const resnet_cfg c = {false, true, 4, {2, 2, 2, 2}, {64, 128, 256, 512}, {1, 2, 2, 2}, 64};
  return resnet(b, spec, &c);
}

sal_status sal__model_resnet50(sal__mb *b, const sal_model_spec *spec) {
  const resnet_cfg c = {true, true, 4, {3, 4, 6, 3}, {64, 128, 256, 512}, {1, 2, 2, 2}, 64};
  return resnet(b, spec, &c);
}

sal_status sal__model_resnet_small(sal__mb *b, const sal_model_spec *spec) {
  int64_t w = spec->width;
  const resnet_cfg c = {false, false, 3, {2, 2, 2}, {w, 2 * w, 4 * w}, {1, 2, 2}, w};
  return resnet(b, spec, &c);
}
