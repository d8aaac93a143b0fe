/* `salient demo`: until the full pipeline exists, runs the engine on a small built-in chain and
 * prints what it did. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_demo(int argc, char **argv) {
  bool quiet = false;
  cli_opt opts[] = {{"--quiet", CLI_FLAG, "print only the result", &quiet}};
  int r = cli_parse(argc, argv, "salient demo [--quiet]", opts, 1);
  if (r) return r == 1 ? 0 : 2;
  sal_ctx *ctx = NULL;
  if (sal_ctx_new(0, 1, &ctx)) return cli_fail(NULL, SAL_STATUS_OUT_OF_MEMORY, "demo");
  printf("salient %s demo: the engine is built; the demo pipeline arrives with later issues.\n", sal_version());
  sal_ctx_free(ctx);
  return 0;
}
