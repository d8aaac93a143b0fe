/* Shared by the commands that run saliency methods (`salient explain`, `salient eval`): the method
 * list with each method's parameters from --set and friends, and memory sizes such as "2G". */
#ifndef SAL_CLI_METHOD_ARGS_H
#define SAL_CLI_METHOD_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "salient/explain.h"

#define CLI_MAX_METHODS 16

/* "2G", "512M", "64K" or plain bytes (>= 1). */
bool cli_parse_bytes(const char *s, int64_t *out);

/* Parses NAME[,NAME...] (each at most once, at most max) into params[] with every method's
 * defaults and max_memory, names[i] its registry name, *n the count; then applies each "key=value"
 * of sets[0..n_sets) as cli_methods_set does. Messages start with "salient CMD: ". Returns 0, or
 * 2 after printing a usage error. */
int cli_methods_parse(const char *cmd, const char *list, const char *const *sets, int n_sets, int64_t max_memory,
                      sal_method_params *params, const char **names, int *n, int max);

/* Sets key = value for every chosen method that takes it. A bad value is an error; so is a key no
 * chosen method takes (who: which methods do, for the message; NULL: with a single method, the
 * library's message listing its parameters). opt names the option in messages. Returns 0 or 2. */
int cli_methods_set(const char *cmd, sal_method_params *params, int n, const char *opt, const char *key,
                    const char *value, const char *who);

#endif
