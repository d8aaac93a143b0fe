/* salient checkpoints: the safetensors format (named f32 tensors + a string→string metadata map),
 * and checkpoints of a graph's parameters with optional optimiser state and JSON metadata
 * (architecture, class names, preprocessing, training configuration, seed, epoch), written
 * atomically. docs/formats.md describes the layout and what is validated when reading. */
#ifndef SALIENT_CHECKPOINT_H
#define SALIENT_CHECKPOINT_H

#include "salient/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the safetensors container ---- */

typedef struct sal_safetensors sal_safetensors;

/* Reads a .safetensors file: every tensor converted to f32 (F32 as is; F64, F16, BF16, I64, I32,
 * I16, I8, U8 and BOOL converted; other dtypes UNSUPPORTED naming the tensor). The header is
 * validated before anything else is trusted: its length within the file and ≤ 100 MB, JSON syntax,
 * every entry's dtype / shape / data_offsets, offsets inside the data, sizes matching shapes, no
 * overlaps or gaps, no duplicate names, metadata values strings. Errors name the file and the
 * tensor: BAD_INPUT (malformed / truncated / tampered), NOT_FOUND, UNSUPPORTED (> 5 dims). */
sal_status sal_safetensors_read(sal_ctx *ctx, const char *path, sal_safetensors **out);
void sal_safetensors_free(sal_safetensors *st);

int sal_safetensors_count(const sal_safetensors *st);
/* Name and tensor i (borrowed, valid while st lives), in file order of their data. */
const char *sal_safetensors_name(const sal_safetensors *st, int i);
const sal_tensor *sal_safetensors_tensor(const sal_safetensors *st, int i);
/* The tensor called name, or NULL. */
const sal_tensor *sal_safetensors_find(const sal_safetensors *st, const char *name);
/* Metadata value for key, or NULL. */
const char *sal_safetensors_meta(const sal_safetensors *st, const char *key);

/* Writes n named f32 tensors (names unique, not "__metadata__") and n_meta key/value strings as
 * safetensors (little-endian data, 8-byte aligned header), through a temporary file renamed over
 * path: an interrupted write never replaces a good file. */
sal_status sal_safetensors_write(sal_ctx *ctx, const char *path, const char *const *names, const sal_tensor *const *tensors,
                                 int n, const char *const *meta_keys, const char *const *meta_values, int n_meta);

/* ---- checkpoints of a graph ---- */

/* Saves every parameter of g (trainable and not: running statistics too) under its graph name,
 * the optimiser state (when o is not NULL) under "optim/<state name>" with the step count in the
 * metadata, and metadata_json — a JSON object (NULL = {}) stored under the metadata key "salient"
 * (architecture, classes, preprocessing, training configuration, seed, epoch: the caller's). */
sal_status sal_checkpoint_save(sal_ctx *ctx, const char *path, const sal_graph *g, sal_optim *o,
                               const char *metadata_json);
/* Loads a checkpoint's parameters into g (every parameter of g must be present with its shape;
 * extra tensors are an error unless they are optimiser state) and, when o is not NULL, the
 * optimiser state and step count (which must be present). *metadata_json (optional) receives a
 * copy of the "salient" metadata (free with sal_free), "{}" when absent. */
sal_status sal_checkpoint_load(sal_ctx *ctx, const char *path, sal_graph *g, sal_optim *o, char **metadata_json);

#ifdef __cplusplus
}
#endif
#endif
