/* `salient version` / `salient --version`: the version of the tool and its oneDNN. */
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>

#include "cli/cli.h"

int cmd_version(int argc, char **argv) {
  int r = cli_parse(argc, argv, "salient version", NULL, 0);
  if (r) return r == 1 ? 0 : 2;
  const dnnl_version_t *v = dnnl_version();
  printf("salient %s (oneDNN %d.%d.%d)\n", sal_version(), v->major, v->minor, v->patch);
  return 0;
}
