/* `salient report DIR`: (re)writes DIR/report.html from the files of a `salient eval` run
 * (summary.json, settings.json, run.json, results.jsonl, gallery/, sanity.json) with
 * sal_report_write (src/report/html.c); `salient eval` writes the same page at the end of a run. */
#include <stdio.h>

#include "cli/cli.h"
#include "salient/report.h"

int cmd_report(int argc, char **argv) {
  bool quiet = false;
  cli_opt opts[] = {
      {"--quiet", CLI_FLAG, "print nothing on success (default off)", &quiet},
  };
  const char *usage = "salient report DIR [--quiet]\n\n"
                      "Writes DIR/report.html, a self-contained page (no network, no script) of the salient eval run\n"
                      "in DIR: run metadata, the metrics table, comparison charts, insertion/deletion curves, the\n"
                      "overlay gallery and the sanity checks (docs/report.md).";
  /* DIR is the one positional argument: take it out before cli_parse, which knows only options. */
  const char *dir = NULL;
  char *rest[64];
  int nr = 0;
  for (int i = 0; i < argc; i++) {
    if (i > 0 && argv[i][0] != '-' && !dir) dir = argv[i];
    else if (nr < 63) rest[nr++] = argv[i];
  }
  rest[nr] = NULL;
  if (argc > 63) {
    fprintf(stderr, "salient report: too many arguments\nusage: %s\n", usage);
    return 2;
  }
  int r = cli_parse(nr, rest, usage, opts, (int)(sizeof opts / sizeof opts[0]));
  if (r) return r == 1 ? 0 : 2;
  if (!dir) {
    fprintf(stderr, "salient report: the evaluation directory is required\nusage: salient report DIR [--quiet]\n");
    return 2;
  }
  sal_ctx *ctx = NULL;
  sal_status st = sal_ctx_new(1, 0, &ctx);
  if (st) {
    fprintf(stderr, "salient report: %s\n", sal_status_name(st));
    return 1;
  }
  st = sal_report_write(ctx, dir);
  int rc = st ? cli_fail(ctx, st, "report") : 0;
  if (!rc && !quiet) printf("report: %s/report.html\n", dir);
  sal_ctx_free(ctx);
  return rc;
}
