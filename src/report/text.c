/* Text building for the HTML report: a growing buffer, HTML escaping of text taken from files, and
 * base64 for the images embedded as data: URIs. Used by src/report/html.c and src/report/svg.c. */
#include "report/report_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sal__buf_free(sal__buf *b) {
  free(b->s);
  memset(b, 0, sizeof *b);
}

/* Room for n more bytes and the NUL. */
static bool reserve(sal__buf *b, size_t n) {
  if (b->failed) return false;
  if (n > SIZE_MAX / 4 - b->len) {
    b->failed = true;
    return false;
  }
  if (b->len + n + 1 <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + n + 1) cap *= 2;
  char *s = realloc(b->s, cap);
  if (!s) {
    b->failed = true;
    return false;
  }
  b->s = s;
  b->cap = cap;
  return true;
}

void sal__buf_put(sal__buf *b, const char *s, size_t n) {
  if (!reserve(b, n)) return;
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

void sal__buf_puts(sal__buf *b, const char *s) { sal__buf_put(b, s, strlen(s)); }

void sal__buf_printf(sal__buf *b, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (w < 0 || (size_t)w >= sizeof line) {
    b->failed = true; /* the report's formats are short: an over-long one is a bug, not truncated */
    return;
  }
  sal__buf_put(b, line, (size_t)w);
}

void sal__buf_html(sal__buf *b, const char *s) {
  if (!s) return;
  const char *run = s;
  for (const char *p = s; *p; p++) {
    const char *ref = NULL;
    switch (*p) {
    case '&': ref = "&amp;"; break;
    case '<': ref = "&lt;"; break;
    case '>': ref = "&gt;"; break;
    case '"': ref = "&quot;"; break;
    case '\'': ref = "&#39;"; break;
    default: continue;
    }
    sal__buf_put(b, run, (size_t)(p - run));
    sal__buf_puts(b, ref);
    run = p + 1;
  }
  sal__buf_puts(b, run);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sal__base64_encode(const void *data, size_t n, char *out) {
  const uint8_t *p = data;
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = b64[v >> 18 & 63];
    out[o++] = b64[v >> 12 & 63];
    out[o++] = b64[v >> 6 & 63];
    out[o++] = b64[v & 63];
  }
  if (i < n) { /* one or two bytes left: pad the quantum with '=' (RFC 4648 §4) */
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
    out[o++] = b64[v >> 18 & 63];
    out[o++] = b64[v >> 12 & 63];
    out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

void sal__buf_base64(sal__buf *b, const void *data, size_t n) {
  size_t len = (n + 2) / 3 * 4;
  if (!reserve(b, len)) return;
  b->len += sal__base64_encode(data, n, b->s + b->len);
}
