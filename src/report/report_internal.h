/* Internal pieces of the HTML report (src/report/html.c): a growing text buffer with HTML escaping
 * and base64, and the inline SVG plots (src/report/svg.c). Exposed to tests/test_report.c. */
#ifndef SAL_REPORT_INTERNAL_H
#define SAL_REPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growing text. failed records an allocation failure or an over-long printf: later appends are
 * dropped and the writer reports OUT_OF_MEMORY at the end. */
typedef struct sal__buf {
  char *s; /* NUL-terminated when len > 0 */
  size_t len, cap;
  bool failed;
} sal__buf;

void sal__buf_free(sal__buf *b);
void sal__buf_put(sal__buf *b, const char *s, size_t n);
void sal__buf_puts(sal__buf *b, const char *s);
void sal__buf_printf(sal__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s with & < > " ' as character references (safe in element text and quoted attributes); NULL
 * appends nothing. */
void sal__buf_html(sal__buf *b, const char *s);
/* n bytes as base64 (RFC 4648 §4, '=' padding, no line breaks). */
void sal__buf_base64(sal__buf *b, const void *data, size_t n);
/* The base64 text of n bytes into out (4 ceil(n / 3) characters and a NUL). Returns its length. */
size_t sal__base64_encode(const void *data, size_t n, char *out);

/* The series' colours, in order (8, then repeating). */
const char *sal__plot_color(int i);

/* A line plot: each series is n points (x[i], y[i]); a NaN y breaks the line (an undefined point).
 * With x_labels (categorical x), x[i] is i and the labels name the ticks. Axis ranges: y_min/y_max
 * when finite, else from the data with "nice" ticks; x from the data. */
typedef struct sal__series {
  const char *name; /* legend text (escaped) */
  const double *x, *y;
  int64_t n;
  bool dashed;
} sal__series;

typedef struct sal__line_plot {
  const char *title, *x_label, *y_label; /* escaped; NULL = none */
  const char *const *x_labels;           /* optional: n_x_labels tick labels at x = 0, 1, … */
  int n_x_labels;
  double y_min, y_max; /* NAN = from the data */
  const sal__series *series;
  int n_series;
  int width, height; /* pixels; 0 = 480 × 300 */
} sal__line_plot;
void sal__svg_line_plot(sal__buf *b, const sal__line_plot *p);

/* A grouped bar chart: n_groups groups (e.g. metrics) of n_series bars (e.g. methods). value, lo
 * and hi are n_groups × n_series (group-major); NaN value = no bar; lo/hi (optional, NaN = none)
 * draw the interval as a whisker. */
typedef struct sal__bar_chart {
  const char *title, *y_label;
  const char *const *group_names;
  int n_groups;
  const char *const *series_names;
  int n_series;
  const double *value, *lo, *hi;
  int width, height; /* 0 = sized to the bars, 300 high */
} sal__bar_chart;
void sal__svg_bar_chart(sal__buf *b, const sal__bar_chart *c);

/* "Nice" axis ticks covering [lo, hi]: *step from {1, 2, 5} × 10^k, giving 3..10 ticks; the range is
 * widened to multiples of the step. Returns the number of ticks (first at *t0). */
int sal__nice_ticks(double lo, double hi, double *t0, double *step, double *t1);

#endif
