/* `salient run MODEL --input X.npy --out LOGITS.npy [--grad-target K|top1 --grad-out G.npy]`: the
 * model's logits for an (N, C, H, W) batch, and optionally the gradient of one logit per image
 * (class K, or the image's own top-1) with respect to the input, processed in chunks of --batch.
 * Nothing is written unless every chunk succeeded. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/model_args.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

typedef struct run_job {
  sal_graph *g;
  const char *in_name, *out_name;
  const sal_tensor *x; /* (N, C, H, W) */
  sal_tensor *logits;  /* (N, K) */
  sal_tensor *grad;    /* (N, C, H, W) or NULL */
  int64_t target;      /* class, or -1 = each image's top-1 */
} run_job;

/* Runs images [first, first + b) through plan p (bound to batch b). */
static sal_status run_chunk(sal_ctx *ctx, sal_plan *p, const run_job *j, int64_t first, int64_t b) {
  int64_t per = sal_tensor_numel(j->x) / j->x->shape.d[0], K = j->logits->shape.d[1];
  sal_shape xs = j->x->shape;
  xs.d[0] = b;
  sal_tensor *chunk = NULL, *seed = NULL;
  sal_status st = sal_tensor_wrap(ctx, xs.ndim, xs.d, j->x->data + first * per, &chunk);
  if (!st) st = sal_plan_set_input(p, j->in_name, chunk);
  if (!st) st = sal_plan_forward(p);
  const sal_tensor *y = NULL, *gx = NULL;
  if (!st) st = sal_plan_value(p, j->out_name, &y);
  if (st) goto done;
  memcpy(j->logits->data + first * K, y->data, (size_t)(b * K) * sizeof(float));
  if (j->grad) {
    st = sal_tensor_new(ctx, 2, (int64_t[]){b, K}, &seed);
    if (st) goto done;
    for (int64_t i = 0; i < b; i++) {
      int64_t k = j->target;
      if (k < 0) {
        k = 0;
        for (int64_t c = 1; c < K; c++)
          if (y->data[i * K + c] > y->data[i * K + k]) k = c;
      }
      seed->data[i * K + k] = 1.0f;
    }
    st = sal_plan_backward(p, j->out_name, seed);
    if (!st) st = sal_plan_grad(p, j->in_name, &gx);
    if (!st) memcpy(j->grad->data + first * per, gx->data, (size_t)(b * per) * sizeof(float));
  }
done:
  sal_tensor_free(chunk);
  sal_tensor_free(seed);
  return st;
}

static int run(sal_ctx *ctx, run_job *j, int64_t batch, sal_plan **plans) {
  int64_t N = j->x->shape.d[0];
  int64_t B = batch < N ? batch : N, rest = N % B;
  sal_plan_opts o = sal_plan_opts_default();
  o.grad_inputs = j->grad != NULL;
  o.batch = B;
  sal_status st = sal_plan_new(ctx, j->g, &o, &plans[0]);
  if (!st && rest) {
    o.batch = rest;
    st = sal_plan_new(ctx, j->g, &o, &plans[1]);
  }
  if (st) return cli_fail(ctx, st, "planning");
  for (int64_t first = 0; first < N; first += B) {
    int64_t b = first + B <= N ? B : rest;
    st = run_chunk(ctx, b == B ? plans[0] : plans[1], j, first, b);
    if (st) {
      char what[64];
      snprintf(what, sizeof what, "running images %lld..%lld", (long long)first, (long long)(first + b - 1));
      return cli_fail(ctx, st, what);
    }
  }
  return 0;
}

int cmd_run(int argc, char **argv) {
  cli_model_args a = {0};
  a.seed = 1;
  const char *input = NULL, *out = NULL, *grad_target = NULL, *grad_out = NULL;
  int64_t batch = 16;
  bool quiet = false;
  cli_opt opts[] = {
      {"--input", CLI_STRING, "input batch, an (N, C, H, W) float .npy (required)", &input},
      {"--out", CLI_STRING, "where to write the logits, an (N, K) .npy (required)", &out},
      {"--grad-target", CLI_STRING, "K (a class index) or top1: the logit to differentiate (default top1 with --grad-out)", &grad_target},
      {"--grad-out", CLI_STRING, "where to write d(target logit)/d(input), an (N, C, H, W) .npy (default: none)", &grad_out},
      {"--batch", CLI_INT, "images per pass (default 16)", &batch},
      {"--quiet", CLI_FLAG, "print nothing on success", &quiet},
      CLI_MODEL_OPTS(a),
  };
  const char *usage = "salient run MODEL --input X.npy --out LOGITS.npy [--grad-target K|top1 --grad-out G.npy] [options]";
  int r = cli_parse_with_model(argc, argv, usage, opts, (int)(sizeof opts / sizeof opts[0]), &a.model);
  if (r) return r == 1 ? 0 : 2;
  if (!input || !out) {
    fprintf(stderr, "salient run: --input and --out are required\nusage: %s\n", usage);
    return 2;
  }
  if (grad_target && !grad_out) {
    fprintf(stderr, "salient run: --grad-target needs --grad-out (where to write the gradient)\n");
    return 2;
  }
  if (batch < 1 || batch > 65536) {
    fprintf(stderr, "salient run: --batch must be in 1..65536\n");
    return 2;
  }
  int64_t target = -1;
  if (grad_target && strcmp(grad_target, "top1") != 0) {
    char *end;
    errno = 0;
    long long k = strtoll(grad_target, &end, 10);
    if (errno || end == grad_target || *end || k < 0) {
      fprintf(stderr, "salient run: --grad-target must be a class index (0, 1, ...) or top1, got '%s'\n", grad_target);
      return 2;
    }
    target = k;
  }

  sal_ctx *ctx = NULL;
  sal_graph *g = NULL;
  sal_model_meta meta;
  sal_tensor *x = NULL, *logits = NULL, *grad = NULL;
  sal_plan *plans[2] = {NULL, NULL};
  int rc = cli_model_open(&a, &ctx, &g, &meta);
  if (rc) goto done;
  if (quiet) sal_ctx_set_log_level(ctx, SAL_LOG_ERROR);
  run_job j = {g, sal_graph_input_name(g, 0), sal_graph_output_name(g, 0), NULL, NULL, NULL, target};
  sal_shape want, ys;
  char ws[96], xs[96];
  sal_status st = sal_graph_value_shape(g, j.in_name, &want);
  if (!st) st = sal_graph_value_shape(g, j.out_name, &ys);
  if (st) { rc = cli_fail(ctx, st, "reading the model's shapes"); goto done; }
  if (ys.ndim != 2) {
    fprintf(stderr, "salient run: the model's output '%s' is %s, not (N, classes) logits\n", j.out_name,
            sal_shape_str(&ys, ws, sizeof ws));
    rc = 1;
    goto done;
  }
  int64_t K = ys.d[1];
  if (target >= K) {
    fprintf(stderr, "salient run: --grad-target %lld is out of range: the model has %lld classes (0..%lld)\n",
            (long long)target, (long long)K, (long long)K - 1);
    rc = 1;
    goto done;
  }
  st = sal_npy_read(ctx, input, &x);
  if (st) { rc = cli_fail(ctx, st, "reading the input"); goto done; }
  want.d[0] = x->shape.ndim > 0 ? x->shape.d[0] : 0;
  if (!sal_shape_equal(&x->shape, &want) || x->shape.d[0] < 1) {
    /* The model's shape with its batch dimension shown as N. */
    size_t used = (size_t)snprintf(ws, sizeof ws, "(N");
    for (int d = 1; d < want.ndim && used < sizeof ws; d++)
      used += (size_t)snprintf(ws + used, sizeof ws - used, ", %lld", (long long)want.d[d]);
    if (used < sizeof ws) snprintf(ws + used, sizeof ws - used, ")");
    fprintf(stderr, "salient run: %s has shape %s, but the model's input '%s' is %s (N >= 1)\n", input,
            sal_shape_str(&x->shape, xs, sizeof xs), j.in_name, ws);
    rc = 1;
    goto done;
  }
  for (int64_t i = 0; i < sal_tensor_numel(x); i++)
    if (!isfinite(x->data[i])) {
      int64_t per = sal_tensor_numel(x) / x->shape.d[0];
      fprintf(stderr, "salient run: %s holds %s at image %lld (flat index %lld); the input must be finite\n", input,
              isnan(x->data[i]) ? "NaN" : "an infinity", (long long)(i / per), (long long)i);
      rc = 1;
      goto done;
    }
  int64_t N = x->shape.d[0];
  st = sal_tensor_new(ctx, 2, (int64_t[]){N, K}, &logits);
  if (!st && grad_out) st = sal_tensor_new(ctx, x->shape.ndim, x->shape.d, &grad);
  if (st) { rc = cli_fail(ctx, st, "allocating the outputs"); goto done; }
  j.x = x;
  j.logits = logits;
  j.grad = grad;
  double t0 = now_ms();
  rc = run(ctx, &j, batch, plans);
  if (rc) goto done;
  double ms = now_ms() - t0;
  st = sal_npy_write(ctx, out, logits);
  if (!st && grad) st = sal_npy_write(ctx, grad_out, grad);
  if (st) { rc = cli_fail(ctx, st, "writing the results"); goto done; }
  if (!quiet) {
    printf("run: %s: %lld images, %lld classes, %.1f ms (%s); logits -> %s", a.model, (long long)N, (long long)K, ms,
           grad ? "forward + backward" : "forward", out);
    if (grad)
      printf(", d(%s logit)/d(input) -> %s", target < 0 ? "top-1" : grad_target, grad_out);
    printf("\n");
  }
done:
  sal_plan_free(plans[0]);
  sal_plan_free(plans[1]);
  sal_tensor_free(x);
  sal_tensor_free(logits);
  sal_tensor_free(grad);
  sal_model_meta_clear(&meta);
  sal_graph_free(g);
  sal_ctx_free(ctx);
  return rc;
}
