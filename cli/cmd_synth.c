/* `salient synth FAMILY --out DIR`: writes a synthetic dataset (images, exact masks, manifests)
 * with sal_synth_generate; see docs/synth.md for the families and the layout. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "salient/synth.h"

int cmd_synth(int argc, char **argv) {
  const char *out = NULL;
  int64_t seed = 0, size = 64, threads = 0;
  int64_t train = -1, val = -1, test = -1;
  bool preview = false, force = false, quiet = false, omit = false;
  cli_opt opts[] = {
      {"--out", CLI_STRING, "output directory (required; created if missing)", &out},
      {"--seed", CLI_INT, "random seed, >= 0 (default 0)", &seed},
      {"--size", CLI_INT, "image side in pixels, 32..512 (default 64)", &size},
      {"--train", CLI_INT, "training images (default 20000)", &train},
      {"--val", CLI_INT, "validation images (default 1000)", &val},
      {"--test", CLI_INT, "test images (default 2000)", &test},
      {"--threads", CLI_INT, "concurrent workers (default 0 = 2 per core; the files do not depend on it)", &threads},
      {"--preview", CLI_FLAG, "also write preview.png (8 x 8 training images, masks outlined)", &preview},
      {"--force", CLI_FLAG, "write into a non-empty output directory", &force},
      {"--omit-objects", CLI_FLAG, "counterfactual: the same images with the objects left unpainted (labels and masks kept)", &omit},
      {"--quiet", CLI_FLAG, "no progress, print only the summary line", &quiet},
  };
  const char *usage = "salient synth FAMILY --out DIR [options]   (FAMILY: shapes, lesions, pairs)";
  /* The family is the first positional argument; cli_parse sees only the options. */
  const char *family = NULL;
  if (argc >= 2 && argv[1][0] != '-') {
    family = argv[1];
    argv[1] = argv[0];
    argv++;
    argc--;
  }
  int r = cli_parse(argc, argv, usage, opts, (int)(sizeof opts / sizeof opts[0]));
  if (r) return r == 1 ? 0 : 2;
  if (!family) {
    fprintf(stderr, "salient synth: missing FAMILY (shapes, lesions or pairs)\nusage: %s\n", usage);
    return 2;
  }
  if (!out) {
    fprintf(stderr, "salient synth: --out DIR is required\nusage: %s\n", usage);
    return 2;
  }
  if (seed < 0 || threads < 0 || threads > 256) {
    fprintf(stderr, "salient synth: --seed must be >= 0 and --threads in 0..256\n");
    return 2;
  }
  if (size < SAL_SYNTH_MIN_SIZE || size > SAL_SYNTH_MAX_SIZE) {
    fprintf(stderr, "salient synth: --size %lld is outside %d..%d\n", (long long)size, SAL_SYNTH_MIN_SIZE,
            SAL_SYNTH_MAX_SIZE);
    return 2;
  }
  const int64_t counts[3] = {train, val, test};
  const char *names[3] = {"--train", "--val", "--test"};
  for (int s = 0; s < 3; s++)
    if (counts[s] != -1 && (counts[s] < 0 || counts[s] > SAL_SYNTH_MAX_COUNT)) {
      fprintf(stderr, "salient synth: %s %lld is outside 0..%lld\n", names[s], (long long)counts[s],
              (long long)SAL_SYNTH_MAX_COUNT);
      return 2;
    }
  sal_ctx *ctx = NULL;
  if (sal_ctx_new(0, (uint64_t)seed, &ctx)) return cli_fail(NULL, SAL_STATUS_OUT_OF_MEMORY, "synth");
  if (quiet) sal_ctx_set_log_level(ctx, SAL_LOG_QUIET);
  int rc = 1;
  sal_synth_family fam;
  sal_status st = sal_synth_family_from_name(ctx, family, &fam);
  if (st) {
    fprintf(stderr, "salient synth: %s\n", sal_ctx_last_error(ctx));
    rc = 2;
    goto done;
  }
  sal_synth_params p = sal_synth_params_default(fam);
  p.seed = (uint64_t)seed;
  p.size = size;
  for (int s = 0; s < 3; s++)
    if (counts[s] != -1) p.count[s] = counts[s];
  p.threads = (int)threads;
  p.preview = preview;
  p.force = force;
  p.omit_objects = omit;
  st = sal_synth_generate(ctx, &p, out);
  if (st) {
    rc = cli_fail(ctx, st, "synth");
    goto done;
  }
  printf("synth: %s, seed %lld, %lldx%lld, %lld train / %lld val / %lld test images in %s\n", family, (long long)seed,
         (long long)size, (long long)size, (long long)p.count[0], (long long)p.count[1], (long long)p.count[2], out);
  rc = 0;
done:
  sal_ctx_free(ctx);
  return rc;
}
