/* salient reports: the self-contained HTML page of a `salient eval` run (report.html: metadata,
 * metrics table, comparison charts, insertion/deletion curves, overlay gallery, sanity checks), and
 * the SHA-256 digests that identify the model and data in it. docs/report.md describes the page. */
#ifndef SALIENT_REPORT_H
#define SALIENT_REPORT_H

#include "salient/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads the evaluation directory dir — summary.json (required), settings.json, run.json,
 * results.jsonl, gallery/ and sanity.json with sanity/ (each optional) — and writes
 * dir/report.html through a temporary file renamed over it: a failure leaves the previous report
 * (or none). Everything is inline (CSS, SVG plots, images as base64 data: URIs, no script), and a
 * Content-Security-Policy forbids every outside resource. Errors name the file: NOT_FOUND for a
 * missing summary.json, BAD_INPUT for a file that is not the JSON expected. */
sal_status sal_report_write(sal_ctx *ctx, const char *dir);

/* SHA-256 (FIPS 180-4) of n bytes; digest is 32 bytes. */
void sal_sha256(const void *data, size_t n, uint8_t digest[32]);
/* SHA-256 of a file as 64 lowercase hex digits and a NUL; *bytes_out (optional) gets its size.
 * Errors name the file (NOT_FOUND, IO). */
sal_status sal_sha256_file(sal_ctx *ctx, const char *path, char hex[65], int64_t *bytes_out);

#ifdef __cplusplus
}
#endif
#endif
