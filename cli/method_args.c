/* The method list and method parameters of `salient explain` and `salient eval` (cli/method_args.h):
 * parsed and checked before any model is opened, so usage errors come first. */
#define _POSIX_C_SOURCE 200809L
#include "cli/method_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cli_parse_bytes(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !(v > 0)) return false;
  double mul = 1;
  if (*end == 'K' || *end == 'k') mul = 1024.0, end++;
  else if (*end == 'M' || *end == 'm') mul = 1024.0 * 1024, end++;
  else if (*end == 'G' || *end == 'g') mul = 1024.0 * 1024 * 1024, end++;
  if (*end == 'B' || *end == 'i') end++;
  if (*end || v * mul > 9e18) return false;
  *out = (int64_t)(v * mul);
  return *out >= 1;
}

/* The work of cli_methods_set with a caller's context for the library's messages. */
static int set_all(sal_ctx *pctx, const char *cmd, sal_method_params *params, int n, const char *opt, const char *key,
                   const char *value, const char *who) {
  int used = 0;
  for (int m = 0; m < n; m++) {
    sal_status st = sal_method_params_set(pctx, &params[m], key, value);
    if (st == SAL_STATUS_OK) {
      used++;
    } else if (st != SAL_STATUS_NOT_FOUND || (!who && n == 1)) {
      fprintf(stderr, "salient %s: %s: %s\n", cmd, opt, sal_ctx_last_error(pctx));
      return 2;
    }
  }
  if (!used) {
    fprintf(stderr, "salient %s: %s: no chosen method takes %s (%s)\n", cmd, opt, key,
            who ? who : "see salient explain --method NAME --help");
    return 2;
  }
  return 0;
}

int cli_methods_set(const char *cmd, sal_method_params *params, int n, const char *opt, const char *key,
                    const char *value, const char *who) {
  sal_ctx *pctx = NULL;
  if (sal_ctx_new(1, 0, &pctx)) return 1;
  int rc = set_all(pctx, cmd, params, n, opt, key, value, who);
  sal_ctx_free(pctx);
  return rc;
}

int cli_methods_parse(const char *cmd, const char *list, const char *const *sets, int n_sets, int64_t max_memory,
                      sal_method_params *params, const char **names, int *n, int max) {
  char *copy = strdup(list), *save = NULL;
  sal_ctx *pctx = NULL;
  int rc = 0;
  *n = 0;
  if (!copy || sal_ctx_new(1, 0, &pctx)) {
    free(copy);
    return 1;
  }
  for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
    for (int m = 0; m < *n && !rc; m++)
      if (strcmp(names[m], tok) == 0) {
        fprintf(stderr, "salient %s: method '%s' listed twice\n", cmd, tok);
        rc = 2;
      }
    if (!rc && *n == max) {
      fprintf(stderr, "salient %s: at most %d methods\n", cmd, max);
      rc = 2;
    }
    if (rc) break;
    if (sal_method_params_default(pctx, tok, &params[*n])) {
      fprintf(stderr, "salient %s: %s\n", cmd, sal_ctx_last_error(pctx));
      rc = 2;
      break;
    }
    names[*n] = params[*n].method;
    params[*n].max_memory = max_memory;
    (*n)++;
  }
  if (!rc && *n == 0) {
    fprintf(stderr, "salient %s: no method given\n", cmd);
    rc = 2;
  }
  /* Each --set applies to the methods that take its key. */
  for (int k = 0; k < n_sets && !rc; k++) {
    const char *eq = strchr(sets[k], '=');
    char key[64], opt[96];
    if (!eq || eq == sets[k] || (size_t)(eq - sets[k]) >= sizeof key) {
      fprintf(stderr, "salient %s: --set '%s' is not key=value\n", cmd, sets[k]);
      rc = 2;
      break;
    }
    memcpy(key, sets[k], (size_t)(eq - sets[k]));
    key[eq - sets[k]] = '\0';
    snprintf(opt, sizeof opt, "--set %.80s", sets[k]);
    rc = set_all(pctx, cmd, params, *n, opt, key, eq + 1, NULL);
  }
  sal_ctx_free(pctx);
  free(copy);
  return rc;
}
