/* Shared pieces of the CLI: the command table entry, option parsing helpers, and the commands. */
#ifndef SAL_CLI_H
#define SAL_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "salient/salient.h"

typedef struct cli_command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the command name */
} cli_command;

/* Option table for cli_parse: every option of a command is listed; anything else is an error. */
typedef enum { CLI_FLAG, CLI_INT, CLI_STRING } cli_opt_kind;
typedef struct cli_opt {
  const char *name; /* "--batch" */
  cli_opt_kind kind;
  const char *help; /* "batch size (default 1)" */
  void *dest;       /* bool*, int64_t*, const char** */
} cli_opt;

/* Parses argv[1..] against opts. Returns 0 on success, 1 if --help was printed (exit 0), 2 on a
 * usage error (message printed, exit 2). */
int cli_parse(int argc, char **argv, const char *usage_line, const cli_opt *opts, int n_opts);
/* Prints "salient: <what>: <status>: <ctx message>" to stderr; returns 1. */
int cli_fail(sal_ctx *ctx, sal_status st, const char *what);

int cmd_demo(int argc, char **argv);
int cmd_engine(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_train_masker(int argc, char **argv);
/* `--masker PATH` of explain and eval (cli/cmd_train_masker.c): loads the masker, checks it against
 * model g and hands it to every method "masker" in params[0..n); a masker method without --masker
 * (and g without a "mask" output) is an error. Returns 0, or 1 after printing the error; the caller
 * frees *out with sal_masker_free. */
int cli_masker_setup(sal_ctx *ctx, const char *cmd, const char *path, const sal_graph *g, sal_method_params *params,
                     int n, sal_masker **out);
int cmd_detect_adv(int argc, char **argv);

#endif
