/* Option parsing for every subcommand: a table of known options; unknown ones are errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void print_help(FILE *f, const char *usage_line, const cli_opt *opts, int n) {
  fprintf(f, "usage: %s\n\noptions:\n", usage_line);
  for (int i = 0; i < n; i++)
    fprintf(f, "  %-22s %s\n", opts[i].name, opts[i].help);
  fprintf(f, "  %-22s %s\n", "--help", "show this help");
}

int cli_parse(int argc, char **argv, const char *usage_line, const cli_opt *opts, int n_opts) {
  for (int a = 1; a < argc; a++) {
    const char *arg = argv[a];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      print_help(stdout, usage_line, opts, n_opts);
      return 1;
    }
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    const cli_opt *o = NULL;
    for (int i = 0; i < n_opts; i++)
      if (strlen(opts[i].name) == len && strncmp(opts[i].name, arg, len) == 0) o = &opts[i];
    if (!o) {
      fprintf(stderr, "salient %s: unknown option '%s'\n", argv[0], arg);
      print_help(stderr, usage_line, opts, n_opts);
      return 2;
    }
    if (o->kind == CLI_FLAG) {
      if (eq) {
        fprintf(stderr, "salient %s: option %s takes no value\n", argv[0], o->name);
        return 2;
      }
      *(bool *)o->dest = true;
      continue;
    }
    const char *val = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
    if (!val) {
      fprintf(stderr, "salient %s: option %s needs a value\n", argv[0], o->name);
      return 2;
    }
    if (o->kind == CLI_INT) {
      char *end;
      errno = 0;
      long long v = strtoll(val, &end, 10);
      if (errno || end == val || *end) {
        fprintf(stderr, "salient %s: option %s needs an integer, got '%s'\n", argv[0], o->name, val);
        return 2;
      }
      *(int64_t *)o->dest = v;
    } else {
      *(const char **)o->dest = val;
    }
  }
  return 0;
}

int cli_fail(sal_ctx *ctx, sal_status st, const char *what) {
  fprintf(stderr, "salient: %s: %s: %s\n", what, sal_status_name(st), ctx ? sal_ctx_last_error(ctx) : "");
  return 1;
}
