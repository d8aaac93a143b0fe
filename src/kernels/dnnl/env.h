/* The oneDNN engine and stream a plan's oneDNN kernels share (one per plan, created only when a
 * node picks a oneDNN kernel), and helpers every oneDNN kernel uses. */
#ifndef SAL_DNNL_ENV_H
#define SAL_DNNL_ENV_H

#include <oneapi/dnnl/dnnl.h>

#include "core/internal.h"

typedef struct sal_dnnl_env {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
} sal_dnnl_env;

sal_status sal__dnnl_env_new(sal_ctx *ctx, sal_dnnl_env **out);
void sal__dnnl_env_free(sal_dnnl_env *env);
/* Turns a oneDNN status into a salient one with a message naming what failed. */
sal_status sal__dnnl_check(sal_ctx *ctx, dnnl_status_t s, const char *what);

#endif
