/* The per-plan oneDNN engine and stream, and oneDNN status translation. oneDNN kernels for each
 * op family live beside this file and are listed in list.h. */
#include "kernels/dnnl/env.h"

static const char *dnnl_status_str(dnnl_status_t s) {
  switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "unknown";
  }
}

sal_status sal__dnnl_check(sal_ctx *ctx, dnnl_status_t s, const char *what) {
  if (s == dnnl_success) return SAL_STATUS_OK;
  sal_status st = s == dnnl_out_of_memory ? SAL_STATUS_OUT_OF_MEMORY
                  : s == dnnl_unimplemented ? SAL_STATUS_UNSUPPORTED
                                            : SAL_STATUS_INTERNAL;
  return sal_ctx_error(ctx, st, "oneDNN: %s failed: %s", what, dnnl_status_str(s));
}

sal_status sal__dnnl_env_new(sal_ctx *ctx, sal_dnnl_env **out) {
  *out = NULL;
  sal_dnnl_env *env = sal_calloc(ctx, 1, sizeof *env);
  if (!env) return SAL_STATUS_OUT_OF_MEMORY;
  sal_status st = sal__dnnl_check(ctx, dnnl_engine_create(&env->engine, dnnl_cpu, 0), "engine create");
  if (!st) st = sal__dnnl_check(ctx, dnnl_stream_create(&env->stream, env->engine, dnnl_stream_default_flags),
                                "stream create");
  if (st) {
    sal__dnnl_env_free(env);
    return st;
  }
  *out = env;
  return SAL_STATUS_OK;
}

void sal__dnnl_env_free(sal_dnnl_env *env) {
  if (!env) return;
  if (env->stream) dnnl_stream_destroy(env->stream);
  if (env->engine) dnnl_engine_destroy(env->engine);
  sal_free(env);
}
