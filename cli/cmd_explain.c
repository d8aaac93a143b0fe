/* `salient explain --model M (--image PATH|DIR | --input X.npy) --method NAME[,NAME...] --out DIR`:
 * saliency maps of images (decoded and preprocessed) or of an already-preprocessed batch, written
 * per image and method as a PNG overlay, the raw map (.npy) and a JSON summary; --panel adds one
 * PNG per image with every method side by side; --trace DIR keeps the dynamic-mask methods' (dm, hdm)
 * per-stage masks and loss curves. An image that fails to decode is reported by name,
 * the rest are still explained, and the exit code is 1 at the end. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/method_args.h"
#include "cli/model_args.h"
#include "salient/explain.h"
#include "salient/masker.h"
#include "src/io/atomic.h"

#define MAX_METHODS CLI_MAX_METHODS
#define MAX_SETS 64

typedef struct explain_opts {
  cli_model_args a;
  const char *model, *image, *input, *methods, *target, *out, *colormap, *alpha, *max_memory, *trace, *layers, *masker;
  bool panel, quiet;
  int64_t batch;
  const char *sets[MAX_SETS];
  int n_sets;
} explain_opts;

/* One image to explain: a stem for output names, and where it came from. */
typedef struct item {
  char *path;  /* image file, or NULL for --input */
  char *stem;
  int64_t index; /* --input: the image's index in the batch */
} item;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool has_image_ext(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return false;
  const char *exts[] = {".png", ".PNG", ".jpg", ".JPG", ".jpeg", ".JPEG"};
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
    if (strcmp(dot, exts[i]) == 0) return true;
  return false;
}

/* The file name without directory and extension. */
static char *stem_of(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  char *s = strdup(base);
  if (!s) return NULL;
  char *dot = strrchr(s, '.');
  if (dot && dot != s) *dot = '\0';
  return s;
}

/* Lists --image: one file, or the PNG/JPEG files of a directory in name order. */
static int list_images(const char *path, item **items, int64_t *n) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "salient explain: --image %s: %s\n", path, strerror(errno));
    return 1;
  }
  char **names = NULL;
  int64_t cnt = 0, cap = 0;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (!d) {
      fprintf(stderr, "salient explain: --image %s: %s\n", path, strerror(errno));
      return 1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.' || !has_image_ext(e->d_name)) continue;
      if (cnt == cap) {
        cap = cap ? 2 * cap : 16;
        char **nn = realloc(names, (size_t)cap * sizeof *nn);
        if (!nn) break;
        names = nn;
      }
      size_t len = strlen(path) + strlen(e->d_name) + 2;
      names[cnt] = malloc(len);
      if (!names[cnt]) break;
      snprintf(names[cnt], len, "%s/%s", path, e->d_name);
      cnt++;
    }
    closedir(d);
    qsort(names, (size_t)cnt, sizeof *names, cmp_str);
  } else {
    names = malloc(sizeof *names);
    if (names && (names[0] = strdup(path))) cnt = 1;
  }
  if (cnt == 0) {
    fprintf(stderr, "salient explain: --image %s: no .png or .jpg files\n", path);
    free(names);
    return 1;
  }
  *items = calloc((size_t)cnt, sizeof **items);
  if (!*items) {
    for (int64_t i = 0; i < cnt; i++) free(names[i]);
    free(names);
    return 1;
  }
  for (int64_t i = 0; i < cnt; i++) {
    (*items)[i].path = names[i];
    (*items)[i].stem = stem_of(names[i]);
    (*items)[i].index = i;
  }
  free(names);
  *n = cnt;
  return 0;
}

static void print_method_help(const char *name) {
  int m = sal_method_find(name);
  printf("method %s: %s\n\nparameters (--set key=value):\n", name, sal_method_summary(m));
  sal_param_info pi;
  for (int i = 0; sal_method_param(name, i, &pi); i++) printf("  %-12s %s (default %s)\n", pi.key, pi.help, pi.def);
}

static void list_methods(FILE *f) {
  fprintf(f, "methods:\n");
  for (int i = 0; i < sal_method_count(); i++) fprintf(f, "  %-22s %s\n", sal_method_name(i), sal_method_summary(i));
}

/* The method's parameters as a JSON object (numbers where the value is one). */
static cJSON *params_json(const sal_method_params *p) {
  char buf[1024];
  sal_method_params_str(p, buf, sizeof buf);
  cJSON *o = cJSON_CreateObject();
  char *save = NULL;
  for (char *tok = strtok_r(buf, " ", &save); tok && o; tok = strtok_r(NULL, " ", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq) continue;
    *eq = '\0';
    char *end;
    double v = strtod(eq + 1, &end);
    if (*end == '\0' && end != eq + 1) cJSON_AddNumberToObject(o, tok, v);
    else cJSON_AddStringToObject(o, tok, eq + 1);
  }
  return o;
}

static sal_status write_text(sal_ctx *ctx, const char *path, const char *text) {
  sal__atomic_file af;
  sal_status st = sal__atomic_open(ctx, path, &af);
  if (st) return st;
  bool ok = fputs(text, af.f) >= 0 && fputc('\n', af.f) != EOF;
  return sal__atomic_commit(ctx, &af, ok);
}

typedef struct run_state {
  sal_ctx *ctx;
  sal_graph *g;
  sal_model_meta *meta;
  explain_opts *o;
  const char *method_names[MAX_METHODS];
  sal_method_params params[MAX_METHODS];
  int n_methods;
  int64_t target;
  sal_colormap cm;
  float alpha;
  int64_t C, H, W, K;
  int failures;
} run_state;

/* Explains images x (n, C, H, W) = items[0..n) with every method and writes the outputs. */
static int explain_batch(run_state *s, const sal_tensor *x, item *const *items, int64_t n) {
  sal_ctx *ctx = s->ctx;
  const int64_t HW = s->H * s->W, per = s->C * HW;
  int64_t *targets = malloc((size_t)n * sizeof *targets);
  sal_explanation *ex = calloc((size_t)s->n_methods, sizeof *ex);
  sal_image **bg = calloc((size_t)n, sizeof *bg);
  int rc = 0;
  char path[4096];
  if (!targets || !ex || !bg) {
    fprintf(stderr, "salient explain: out of memory\n");
    rc = 1;
    goto done;
  }
  for (int64_t i = 0; i < n; i++) targets[i] = s->target;
  /* trace files are named by the images' stems */
  const char **stems = malloc((size_t)n * sizeof *stems);
  if (!stems) {
    fprintf(stderr, "salient explain: out of memory\n");
    rc = 1;
    goto done;
  }
  for (int64_t i = 0; i < n; i++) stems[i] = items[i]->stem;
  for (int m = 0; m < s->n_methods; m++) {
    s->params[m].trace_names = stems;
    sal_status st = sal_explain_run(ctx, s->g, x, targets, &s->params[m], &ex[m]);
    s->params[m].trace_names = NULL;
    if (st) {
      free(stems);
      rc = cli_fail(ctx, st, s->method_names[m]);
      goto done;
    }
  }
  free(stems);
  for (int64_t i = 0; i < n; i++) {
    sal_status st = sal_denormalize_image(ctx, x->data + i * per, s->C, s->H, s->W, s->meta->mean, s->meta->std, &bg[i]);
    if (st) {
      rc = cli_fail(ctx, st, "rendering");
      goto done;
    }
    const item *it = items[i];
    sal_image *panel_parts[MAX_METHODS + 1] = {bg[i]};
    for (int m = 0; m < s->n_methods && !rc; m++) {
      const char *name = s->method_names[m];
      sal_image *ov = NULL;
      st = sal_overlay(ctx, ex[m].norm->data + i * HW, s->W, s->H, bg[i], s->cm, s->alpha, &ov);
      snprintf(path, sizeof path, "%s/%s.%s.png", s->o->out, it->stem, name);
      if (!st) st = sal_image_write(ctx, path, ov);
      if (!st) {
        snprintf(path, sizeof path, "%s/%s.%s.npy", s->o->out, it->stem, name);
        sal_tensor map = {{2, {s->H, s->W}}, ex[m].raw->data + i * HW, SAL_LAYOUT_PLAIN, false};
        st = sal_npy_write(ctx, path, &map);
      }
      if (!st) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "image", it->path ? it->path : s->o->input);
        if (!it->path) cJSON_AddNumberToObject(j, "index", (double)it->index);
        cJSON_AddStringToObject(j, "model", s->o->model);
        cJSON_AddStringToObject(j, "method", name);
        int64_t t = ex[m].targets[i];
        cJSON_AddNumberToObject(j, "target", (double)t);
        if (s->meta->class_names) cJSON_AddStringToObject(j, "target_name", s->meta->class_names[t]);
        cJSON_AddStringToObject(j, "target_rule", s->o->target ? s->o->target : "top1");
        cJSON_AddNumberToObject(j, "score", (double)ex[m].scores[i]);
        cJSON_AddItemToObject(j, "parameters", params_json(&s->params[m]));
        cJSON_AddNumberToObject(j, "seed", (double)s->params[m].seed);
        cJSON_AddNumberToObject(j, "time_ms", ex[m].ms / (double)n);
        cJSON_AddNumberToObject(j, "batch", (double)n);
        char *text = cJSON_Print(j);
        snprintf(path, sizeof path, "%s/%s.%s.json", s->o->out, it->stem, name);
        st = text ? write_text(ctx, path, text) : SAL_STATUS_OUT_OF_MEMORY;
        free(text);
        cJSON_Delete(j);
      }
      if (st) rc = cli_fail(ctx, st, "writing the outputs");
      if (s->o->panel && !st) panel_parts[m + 1] = ov;
      else sal_image_free(ov);
    }
    if (s->o->panel && !rc) {
      sal_image *pan = NULL;
      st = sal_panel(ctx, (const sal_image *const *)panel_parts, s->n_methods + 1, 4, &pan);
      snprintf(path, sizeof path, "%s/%s.panel.png", s->o->out, it->stem);
      if (!st) st = sal_image_write(ctx, path, pan);
      if (st) rc = cli_fail(ctx, st, "writing the panel");
      sal_image_free(pan);
    }
    for (int m = 0; s->o->panel && m < s->n_methods; m++) sal_image_free(panel_parts[m + 1]);
    if (rc) goto done;
    if (!s->o->quiet) {
      printf("%s:", it->path ? it->path : it->stem);
      for (int m = 0; m < s->n_methods; m++)
        printf(" %s (class %lld, %.1f ms)", s->method_names[m], (long long)ex[m].targets[i], ex[m].ms / (double)n);
      printf("\n");
    }
  }
done:
  for (int m = 0; ex && m < s->n_methods; m++) sal_explanation_clear(&ex[m]);
  for (int64_t i = 0; bg && i < n; i++) sal_image_free(bg[i]);
  free(bg);
  free(ex);
  free(targets);
  return rc;
}

/* Decodes and preprocesses the image files in batches of --batch; failures are reported by name. */
static int run_images(run_state *s, item *items, int64_t n_items) {
  sal_ctx *ctx = s->ctx;
  const int64_t per = s->C * s->H * s->W, B = s->o->batch;
  sal_preprocess pp = sal_preprocess_default();
  pp.resize = (s->H * 256 + 112) / 224; /* torchvision's Resize(256) / CenterCrop(224) ratio */
  pp.crop_w = s->W;
  pp.crop_h = s->H;
  pp.channels = (int)s->C;
  for (int c = 0; c < 3; c++) {
    pp.mean[c] = s->meta->mean[s->C == 1 ? 0 : c];
    pp.std[c] = s->meta->std[s->C == 1 ? 0 : c];
  }
  sal_tensor *x = NULL;
  item **batch = malloc((size_t)B * sizeof *batch);
  sal_status st = sal_tensor_new(ctx, 4, (int64_t[]){B, s->C, s->H, s->W}, &x);
  if (st || !batch) {
    free(batch);
    sal_tensor_free(x);
    return cli_fail(ctx, st ? st : SAL_STATUS_OUT_OF_MEMORY, "allocating the batch");
  }
  int rc = 0;
  int64_t nb = 0;
  for (int64_t i = 0; i <= n_items && !rc; i++) {
    if (i < n_items) {
      sal_image *img = NULL;
      st = sal_image_read(ctx, items[i].path, NULL, &img);
      if (!st) st = sal_preprocess_image(ctx, &pp, img, NULL, x->data + nb * per, per, NULL);
      sal_image_free(img);
      if (st) {
        fprintf(stderr, "salient explain: %s: %s: %s (skipped)\n", items[i].path, sal_status_name(st),
                sal_ctx_last_error(ctx));
        s->failures++;
        continue;
      }
      batch[nb++] = &items[i];
    }
    if (nb == B || (i == n_items && nb > 0)) {
      sal_tensor v = *x;
      v.shape.d[0] = nb;
      v.owns_data = false;
      rc = explain_batch(s, &v, batch, nb);
      nb = 0;
    }
  }
  free(batch);
  sal_tensor_free(x);
  return rc;
}

static int run_input(run_state *s, item **items_out, int64_t *n_out) {
  sal_ctx *ctx = s->ctx;
  sal_tensor *x = NULL;
  sal_status st = sal_npy_read(ctx, s->o->input, &x);
  if (st) return cli_fail(ctx, st, "reading --input");
  char a[96];
  if (x->shape.ndim != 4 || x->shape.d[0] < 1 || x->shape.d[1] != s->C || x->shape.d[2] != s->H ||
      x->shape.d[3] != s->W) {
    fprintf(stderr, "salient explain: %s has shape %s, the model takes (N, %lld, %lld, %lld)\n", s->o->input,
            sal_shape_str(&x->shape, a, sizeof a), (long long)s->C, (long long)s->H, (long long)s->W);
    sal_tensor_free(x);
    return 1;
  }
  const int64_t N = x->shape.d[0], per = s->C * s->H * s->W;
  char *base = stem_of(s->o->input);
  item *items = calloc((size_t)N, sizeof *items);
  item **ptrs = malloc((size_t)N * sizeof *ptrs);
  int rc = 0;
  if (!base || !items || !ptrs) {
    fprintf(stderr, "salient explain: out of memory\n");
    rc = 1;
  }
  for (int64_t i = 0; !rc && i < N; i++) {
    size_t len = strlen(base) + 24;
    items[i].stem = malloc(len);
    if (!items[i].stem) {
      rc = 1;
      break;
    }
    snprintf(items[i].stem, len, "%s-%lld", base, (long long)i);
    items[i].index = i;
    ptrs[i] = &items[i];
  }
  for (int64_t i0 = 0; !rc && i0 < N; i0 += s->o->batch) {
    int64_t b = N - i0 < s->o->batch ? N - i0 : s->o->batch;
    sal_tensor v = *x;
    v.shape.d[0] = b;
    v.data = x->data + i0 * per;
    v.owns_data = false;
    rc = explain_batch(s, &v, ptrs + i0, b);
  }
  free(base);
  free(ptrs);
  sal_tensor_free(x);
  *items_out = items;
  *n_out = items ? N : 0;
  return rc;
}

int cmd_explain(int argc, char **argv) {
  explain_opts o = {0};
  o.a.seed = 1;
  o.batch = 8;
  o.target = "top1";
  o.colormap = "jet";
  o.alpha = "0.5";
  cli_opt opts[] = {
      {"--model", CLI_STRING, "a .onnx file or a built-in architecture name (required)", &o.model},
      {"--image", CLI_STRING, "a PNG/JPEG file or a directory of them (decoded and preprocessed)", &o.image},
      {"--input", CLI_STRING, "an already-preprocessed (N, C, H, W) float .npy; image i is named X-i", &o.input},
      {"--method", CLI_STRING, "NAME[,NAME...] (required; 'salient explain --method NAME --help' lists its parameters)", &o.methods},
      {"--target", CLI_STRING, "top1, a class index or a class name (default top1)", &o.target},
      {"--out", CLI_STRING, "output directory, created if missing (required)", &o.out},
      {"--set", CLI_STRING, "key=value method parameter, repeatable (applies to every method that takes the key)", NULL},
      {"--colormap", CLI_STRING, "jet, viridis, inferno or gray (default jet)", &o.colormap},
      {"--alpha", CLI_STRING, "overlay opacity in [0, 1] (default 0.5)", &o.alpha},
      {"--panel", CLI_FLAG, "also write <stem>.panel.png: the image and every method side by side", &o.panel},
      {"--layers", CLI_STRING, "NAME[,NAME...] layers masked by method reliable (= --set layers=...; default auto)",
       &o.layers},
      {"--max-memory", CLI_STRING, "memory budget of one method's passes, e.g. 512M (default 2G)", &o.max_memory},
      {"--masker", CLI_STRING, "method masker: the masker trained for MODEL by salient train-masker (default none)", &o.masker},
      {"--batch", CLI_INT, "images explained together (default 8)", &o.batch},
      {"--trace", CLI_STRING, "dm, hdm: write every stage's masks (.npy, .png) and loss curves (.csv) here", &o.trace},
      {"--quiet", CLI_FLAG, "print nothing on success", &o.quiet},
      CLI_MODEL_OPTS(o.a),
  };
  int n_opts = (int)(sizeof opts / sizeof opts[0]);
  const char *usage = "salient explain --model M (--image PATH|DIR | --input X.npy) --method NAME[,NAME...] --out DIR "
                      "[--target top1|K|NAME] [--set key=value ...] [options]";
  /* --set may repeat: take every occurrence out before cli_parse (which keeps one value per option);
   * --method NAME --help describes the method's parameters. */
  char **rest = malloc((size_t)(argc + 1) * sizeof *rest);
  if (!rest) return 1;
  int nr = 0;
  bool help = false;
  const char *help_method = NULL;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--set") == 0 || strncmp(argv[i], "--set=", 6) == 0) {
      const char *v = argv[i][5] == '=' ? argv[i] + 6 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v || o.n_sets == MAX_SETS) {
        fprintf(stderr, "salient explain: --set needs key=value (at most %d)\n", MAX_SETS);
        free(rest);
        return 2;
      }
      o.sets[o.n_sets++] = v;
      continue;
    }
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) help = true;
    if (strcmp(argv[i], "--method") == 0 && i + 1 < argc) help_method = argv[i + 1];
    else if (strncmp(argv[i], "--method=", 9) == 0) help_method = argv[i] + 9;
    rest[nr++] = argv[i];
  }
  rest[nr] = NULL;
  if (help && help_method) {
    free(rest);
    char *list = strdup(help_method);
    int rc = 0;
    char *save = NULL;
    for (char *tok = list ? strtok_r(list, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save)) {
      if (sal_method_find(tok) < 0) {
        fprintf(stderr, "salient explain: unknown method '%s'\n", tok);
        list_methods(stderr);
        rc = 2;
        break;
      }
      print_method_help(tok);
    }
    free(list);
    return rc;
  }
  int r = cli_parse(nr, rest, usage, opts, n_opts);
  free(rest);
  if (r == 1) {
    printf("\n");
    list_methods(stdout);
    return 0;
  }
  if (r) return 2;
  if (!o.model || !o.methods || !o.out || (!o.image == !o.input)) {
    fprintf(stderr, "salient explain: --model, --method, --out and one of --image / --input are required\nusage: %s\n",
            usage);
    return 2;
  }
  if (o.batch < 1 || o.batch > 4096) {
    fprintf(stderr, "salient explain: --batch must be in 1..4096\n");
    return 2;
  }
  o.a.model = o.model;

  run_state s = {0};
  s.o = &o;
  char *alpha_end;
  s.alpha = strtof(o.alpha, &alpha_end);
  if (*alpha_end || !(s.alpha >= 0 && s.alpha <= 1)) {
    fprintf(stderr, "salient explain: --alpha must be a number in [0, 1], got '%s'\n", o.alpha);
    return 2;
  }
  int64_t max_memory = SAL_EXPLAIN_DEFAULT_MEMORY;
  if (o.max_memory && !cli_parse_bytes(o.max_memory, &max_memory)) {
    fprintf(stderr, "salient explain: --max-memory must be a size such as 512M or 2G, got '%s'\n", o.max_memory);
    return 2;
  }
  /* Methods and parameters are checked before the model is opened: usage errors come first. --trace
   * and --layers are the parameters `trace` (dm, hdm) and `layers` (reliable). */
  int rc = cli_methods_parse("explain", o.methods, o.sets, o.n_sets, max_memory, s.params, s.method_names, &s.n_methods,
                             MAX_METHODS);
  if (!rc && o.trace) rc = cli_methods_set("explain", s.params, s.n_methods, "--trace", "trace", o.trace, "dm and hdm do");
  if (!rc && o.layers)
    rc = cli_methods_set("explain", s.params, s.n_methods, "--layers", "layers", o.layers, "reliable does");
  sal_ctx *pctx = NULL;
  if (!rc && sal_ctx_new(1, 0, &pctx)) rc = 1;
  if (!rc && sal_colormap_parse(pctx, o.colormap, &s.cm)) {
    fprintf(stderr, "salient explain: --colormap: %s\n", sal_ctx_last_error(pctx));
    rc = 2;
  }
  sal_ctx_free(pctx);
  if (rc) return rc;

  sal_model_meta meta;
  item *items = NULL;
  int64_t n_items = 0;
  sal_masker *masker = NULL;
  rc = cli_model_open(&o.a, &s.ctx, &s.g, &meta);
  s.meta = &meta;
  if (!rc) rc = cli_masker_setup(s.ctx, "explain", o.masker, s.g, s.params, s.n_methods, &masker);
  if (rc) goto done;
  if (o.quiet) sal_ctx_set_log_level(s.ctx, SAL_LOG_ERROR);
  if ((rc = cli_model_dims("explain", s.g, &s.C, &s.H, &s.W, &s.K))) goto done;
  sal_status st = SAL_STATUS_OK;
  if (meta.class_names && meta.n_classes != s.K) {
    fprintf(stderr, "salient explain: %lld class names for a model with %lld outputs\n", (long long)meta.n_classes,
            (long long)s.K);
    rc = 1;
    goto done;
  }
  st = sal_target_parse(s.ctx, o.target, (const char *const *)meta.class_names, s.K, &s.target);
  if (st) {
    rc = cli_fail(s.ctx, st, "--target");
    goto done;
  }
  if (mkdir(o.out, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "salient explain: cannot create %s: %s\n", o.out, strerror(errno));
    rc = 1;
    goto done;
  }
  if (o.image) {
    rc = list_images(o.image, &items, &n_items);
    if (!rc) rc = run_images(&s, items, n_items);
  } else {
    rc = run_input(&s, &items, &n_items);
  }
  if (!rc && s.failures) {
    fprintf(stderr, "salient explain: %d image%s could not be read\n", s.failures, s.failures == 1 ? "" : "s");
    rc = 1;
  }
done:
  for (int64_t i = 0; items && i < n_items; i++) {
    free(items[i].path);
    free(items[i].stem);
  }
  free(items);
  sal_masker_free(masker);
  sal_model_meta_clear(&meta);
  sal_graph_free(s.g);
  sal_ctx_free(s.ctx);
  return rc;
}
