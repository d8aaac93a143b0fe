/* The MODEL argument shared by `salient info` and `salient run`: positional parsing, opening the
 * model (sal_model_open_ex) and the command-line preprocessing overrides. */
#define _POSIX_C_SOURCE 200809L

#include "cli/model_args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_with_model(int argc, char **argv, const char *usage_line, const cli_opt *opts, int n_opts,
                         const char **model) {
  *model = NULL;
  char **rest = malloc((size_t)(argc + 1) * sizeof(char *));
  if (!rest) {
    fprintf(stderr, "salient %s: out of memory\n", argv[0]);
    return 2;
  }
  int n = 0, extra = 0;
  const char *second = NULL;
  rest[n++] = argv[0];
  for (int a = 1; a < argc; a++) {
    const char *arg = argv[a];
    if (arg[0] != '-' || arg[1] == '\0') {
      if (!*model) *model = arg;
      else if (!extra++) second = arg;
      continue;
    }
    rest[n++] = argv[a];
    /* "--opt value": the value is not a positional. */
    if (!strchr(arg, '='))
      for (int i = 0; i < n_opts; i++)
        if (strcmp(opts[i].name, arg) == 0 && opts[i].kind != CLI_FLAG && a + 1 < argc) {
          rest[n++] = argv[++a];
          break;
        }
  }
  rest[n] = NULL;
  int r = cli_parse(n, rest, usage_line, opts, n_opts);
  free(rest);
  if (r) return r;
  if (!*model) {
    fprintf(stderr, "salient %s: missing MODEL (a .onnx file or a built-in name such as resnet18)\nusage: %s\n", argv[0],
            usage_line);
    return 2;
  }
  if (second) {
    fprintf(stderr, "salient %s: unexpected argument '%s' (one MODEL only)\n", argv[0], second);
    return 2;
  }
  return 0;
}

/* "a,b,c" into v; returns the count, -1 on a malformed list. */
static int parse_floats(const char *s, float *v, int cap) {
  int n = 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    double x = strtod(p, &end);
    if (end == p || errno || !isfinite(x) || n == cap) return -1;
    v[n++] = (float)x;
    p = end;
    if (*p == ',') p++;
    else if (*p) return -1;
  }
  return n;
}

/* Reads one class name per line (a final newline optional; CR-LF accepted). */
static int read_classes(sal_ctx *ctx, const char *path, sal_model_meta *m, int64_t want) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "salient: --classes: cannot open %s: %s\n", path, strerror(errno));
    return 1;
  }
  char **names = NULL, line[4096];
  int64_t n = 0, cap = 0, lineno = 0;
  int rc = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    size_t len = strlen(line);
    if (len == sizeof line - 1 && line[len - 1] != '\n') {
      fprintf(stderr, "salient: --classes: %s line %lld is longer than %zu bytes\n", path, (long long)lineno, sizeof line - 2);
      rc = 1;
      break;
    }
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    if (!len) {
      fprintf(stderr, "salient: --classes: %s line %lld is empty\n", path, (long long)lineno);
      rc = 1;
      break;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      char **nn = realloc(names, (size_t)cap * sizeof(char *));
      if (!nn || cap > SAL_META_MAX_CLASSES) {
        free(nn ? nn : names);
        names = NULL;
        n = 0;
        fprintf(stderr, "salient: --classes: %s has too many lines\n", path);
        rc = 1;
        break;
      }
      names = nn;
    }
    names[n] = strdup(line);
    if (!names[n]) {
      rc = 1;
      break;
    }
    n++;
  }
  fclose(f);
  if (!rc && n == 0) {
    fprintf(stderr, "salient: --classes: %s is empty\n", path);
    rc = 1;
  }
  if (!rc && want > 0 && n != want) {
    fprintf(stderr, "salient: --classes: %s has %lld names for a model with %lld outputs\n", path, (long long)n,
            (long long)want);
    rc = 1;
  }
  if (!rc && sal_model_meta_set_classes(ctx, m, (const char *const *)names, n)) rc = cli_fail(ctx, SAL_STATUS_OUT_OF_MEMORY, "--classes");
  for (int64_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

int cli_model_open(const cli_model_args *a, sal_ctx **ctx, sal_graph **g, sal_model_meta *meta) {
  *g = NULL;
  sal_model_meta_defaults(meta);
  if (a->threads < 0 || a->threads > 1024 || a->size < 0 || a->size > SAL_META_MAX_SIZE) {
    fprintf(stderr, "salient: --threads must be in 0..1024 and --size in 1..%d\n", SAL_META_MAX_SIZE);
    return 1;
  }
  if (sal_ctx_new((int)a->threads, (uint64_t)a->seed, ctx)) return cli_fail(NULL, SAL_STATUS_OUT_OF_MEMORY, "context");
  sal_ctx_set_winograd(*ctx, !a->no_winograd);
  sal_model_open_opts o = {a->size, a->meta};
  sal_status st = sal_model_open_ex(*ctx, a->model, &o, g, meta);
  if (st) return cli_fail(*ctx, st, "opening the model");
  float v[4];
  const char *lists[2] = {a->mean, a->std};
  for (int k = 0; k < 2; k++) {
    if (!lists[k]) continue;
    int n = parse_floats(lists[k], v, 4);
    if (n != meta->channels) {
      fprintf(stderr, "salient: --%s '%s' must be %lld comma-separated numbers (one per input channel)\n",
              k ? "std" : "mean", lists[k], (long long)meta->channels);
      return 1;
    }
    for (int i = 0; i < n; i++) {
      if (k == 1 && !(v[i] > 0)) {
        fprintf(stderr, "salient: --std entries must be positive, got %g\n", (double)v[i]);
        return 1;
      }
      (k ? meta->std : meta->mean)[i] = v[i];
    }
  }
  if (a->classes) {
    sal_shape s;
    int64_t want = 0;
    if (sal_graph_num_outputs(*g) > 0 && !sal_graph_value_shape(*g, sal_graph_output_name(*g, 0), &s) && s.ndim == 2)
      want = s.d[1];
    if (read_classes(*ctx, a->classes, meta, want)) return 1;
  }
  return 0;
}

int cli_model_dims(const char *cmd, const sal_graph *g, int64_t *C, int64_t *H, int64_t *W, int64_t *K) {
  sal_shape xs, ys;
  sal_status st = sal_graph_value_shape(g, sal_graph_input_name(g, 0), &xs);
  if (!st) st = sal_graph_value_shape(g, sal_graph_output_name(g, 0), &ys);
  if (st || xs.ndim != 4 || ys.ndim != 2) {
    fprintf(stderr, "salient %s: the model must map (N, C, H, W) images to (N, K) logits\n", cmd);
    return 1;
  }
  *C = xs.d[1], *H = xs.d[2], *W = xs.d[3], *K = ys.d[1];
  return 0;
}
