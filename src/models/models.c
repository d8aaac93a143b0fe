/* The built-in architecture registry: default specs, spec validation (sizes each architecture can
 * take), and sal_model_build, which creates the graph and its input and calls a builder. */
#include <stdio.h>
#include <string.h>

#include "models/build.h"

typedef struct arch {
  const char *name;
  sal_status (*build)(sal__mb *b, const sal_model_spec *spec);
  int64_t min_size;     /* smallest input side */
  int64_t classes;      /* default num_classes */
  int64_t image_size;   /* default input side */
} arch;

/* Minimum sizes: the ImageNet ResNets downsample by 32, so below 32 px the last stage sees less
 * than one input-stride of image; resnet_small downsamples by 4 and needs its last stage at least
 * 2x2; VGG-16 needs its 7x7 classifier input (see vgg.c); simple_cnn halves the side four times. */
static const arch archs[] = {
    {"resnet18", sal__model_resnet18, 32, 1000, 224},
    {"resnet50", sal__model_resnet50, 32, 1000, 224},
    {"vgg16", sal__model_vgg16, 224, 1000, 224},
    {"resnet_small", sal__model_resnet_small, 8, 10, 64},
    {"simple_cnn", sal__model_simple_cnn, 16, 10, 64},
};
#define N_ARCHS ((int)(sizeof archs / sizeof archs[0]))

static const char *const arch_names[] = {"resnet18", "resnet50", "vgg16", "resnet_small", "simple_cnn", NULL};
_Static_assert(sizeof arch_names / sizeof arch_names[0] == N_ARCHS + 1, "arch name list out of step");

/* Bounds that keep every size product far from overflow and allocations sane. */
#define MAX_IMAGE 4096
#define MAX_CHANNELS 1024
#define MAX_CLASSES 1000000
#define MAX_WIDTH 1024

const char *const *sal_model_list(void) { return arch_names; }

static const arch *find_arch(const char *name) {
  for (int i = 0; name && i < N_ARCHS; i++)
    if (strcmp(archs[i].name, name) == 0) return &archs[i];
  return NULL;
}

sal_model_spec sal_model_spec_default(const char *name) {
  const arch *a = find_arch(name);
  sal_model_spec s = {name, a ? a->classes : 1000, a ? a->image_size : 224, 3, 0};
  return s;
}

sal_status sal_model_build(sal_ctx *ctx, const sal_model_spec *spec, sal_graph **out) {
  if (out) *out = NULL;
  if (!spec || !out) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_model_build: NULL spec or output");
  const arch *a = find_arch(spec->arch);
  if (!a) {
    char known[256] = "";
    for (int i = 0; i < N_ARCHS; i++)
      snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", archs[i].name);
    return sal_ctx_error(ctx, SAL_STATUS_NOT_FOUND, "unknown architecture '%s' (known: %s)",
                         spec->arch ? spec->arch : "(null)", known);
  }
  sal_model_spec s = *spec;
  if (s.width == 0) s.width = 16;
  if (s.num_classes < 1 || s.num_classes > MAX_CLASSES)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: num_classes %lld is out of range 1..%d", a->name,
                         (long long)s.num_classes, MAX_CLASSES);
  if (s.in_channels < 1 || s.in_channels > MAX_CHANNELS)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: in_channels %lld is out of range 1..%d", a->name,
                         (long long)s.in_channels, MAX_CHANNELS);
  if (s.width < 1 || s.width > MAX_WIDTH)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: width %lld is out of range 1..%d", a->name,
                         (long long)s.width, MAX_WIDTH);
  if (s.image_size < a->min_size || s.image_size > MAX_IMAGE)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: image size %lld is out of range %lld..%d", a->name,
                         (long long)s.image_size, (long long)a->min_size, MAX_IMAGE);
  if (a->build == sal__model_vgg16 && (s.image_size / 32) % 7 != 0)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                         "vgg16: image size %lld gives %lldx%lld features; the classifier's adaptive "
                         "average pool to 7x7 needs a multiple of 7 (sizes 224..255, 448..479, ...)",
                         (long long)s.image_size, (long long)(s.image_size / 32), (long long)(s.image_size / 32));

  sal__mb b = {ctx, NULL, sal_ctx_seed(ctx)};
  sal_status st = sal_graph_new(ctx, &b.g);
  if (st) return st;
  st = sal_graph_add_input(b.g, "input", 4, (int64_t[]){-1, s.in_channels, s.image_size, s.image_size});
  if (!st) st = a->build(&b, &s);
  if (!st) st = sal_graph_add_output(b.g, "logits");
  if (st) {
    sal_graph_free(b.g);
    return sal_ctx_error_prefix(ctx, st, "building %s: ", a->name);
  }
  *out = b.g;
  return SAL_STATUS_OK;
}
