/* Inline SVG plots for the HTML report (src/report/html.c): line plots with axes, ticks and a legend
 * (insertion/deletion curves, sanity-check cascades), and grouped bar charts with 95 % interval
 * whiskers (metric comparisons). Text is escaped; numbers are written with fixed precision. */
#include "report/report_internal.h"

#include <math.h>
#include <stdio.h>

/* A palette of distinguishable hues (blue, orange, green, red, purple, brown, pink, grey). */
static const char *const palette[8] = {"#1f6fb4", "#e8801a", "#2f9e44", "#d43d3d",
                                       "#8a5cc2", "#8c5a3c", "#d6529c", "#6f6f6f"};

const char *sal__plot_color(int i) { return palette[(i < 0 ? 0 : i) % 8]; }

int sal__nice_ticks(double lo, double hi, double *t0, double *step, double *t1) {
  if (!isfinite(lo) || !isfinite(hi)) lo = 0, hi = 1;
  if (hi < lo) {
    double t = lo;
    lo = hi;
    hi = t;
  }
  if (hi - lo < 1e-12 * (fabs(lo) + fabs(hi)) || hi == lo) { /* a constant: a unit range around it */
    double pad = lo == 0 ? 1 : fabs(lo) * 0.5;
    lo -= pad;
    hi += pad;
  }
  double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
  double s = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
  /* a relative epsilon keeps a bound that is a multiple of the step from adding a tick */
  double a = floor(lo / s + 1e-9) * s, b = ceil(hi / s - 1e-9) * s;
  *t0 = a;
  *step = s;
  *t1 = b;
  return (int)lround((b - a) / s) + 1;
}

/* Tick text: as few decimals as the step needs. */
static void tick_text(char *out, size_t n, double v, double step) {
  int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
  if (dec > 6) dec = 6;
  if (fabs(v) < step * 1e-6) v = 0; /* no "-0.0" */
  snprintf(out, n, "%.*f", dec, v);
}

typedef struct frame {
  double x0, x1, y0, y1;    /* the plot area in pixels (y0 top) */
  double xa, xb, ya, yb;    /* the data ranges mapped onto it */
} frame;

static double px(const frame *f, double x) { return f->x0 + (x - f->xa) / (f->xb - f->xa) * (f->x1 - f->x0); }
static double py(const frame *f, double y) { return f->y1 - (y - f->ya) / (f->yb - f->ya) * (f->y1 - f->y0); }

static void open_svg(sal__buf *b, int w, int h, const char *title) {
  sal__buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"%d\" height=\"%d\" "
                     "viewBox=\"0 0 %d %d\" role=\"img\">", w, h, w, h);
  if (title) {
    sal__buf_puts(b, "<title>");
    sal__buf_html(b, title);
    sal__buf_printf(b, "</title><text x=\"%d\" y=\"18\" class=\"pt\" text-anchor=\"middle\">", w / 2);
    sal__buf_html(b, title);
    sal__buf_puts(b, "</text>");
  }
}

/* The y axis with grid lines and tick labels, and the axis titles. */
static void y_axis(sal__buf *b, const frame *f, double t0, double step, int nt, const char *label) {
  for (int i = 0; i < nt; i++) {
    double v = t0 + i * step, y = py(f, v);
    char t[32];
    tick_text(t, sizeof t, v, step);
    sal__buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", f->x0, y, f->x1, y);
    sal__buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%s</text>", f->x0 - 5, y + 4, t);
  }
  sal__buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>", f->x0, f->y0, f->x0, f->y1);
  sal__buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>", f->x0, f->y1, f->x1, f->y1);
  if (label) {
    double cy = (f->y0 + f->y1) / 2;
    sal__buf_printf(b, "<text x=\"14\" y=\"%.1f\" class=\"al\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">",
                    cy, cy);
    sal__buf_html(b, label);
    sal__buf_puts(b, "</text>");
  }
}

/* Legend entries one per line from y, each a colour swatch (a line or a box) and its text. */
static void legend(sal__buf *b, double x, double y, const char *const *names, int n, const sal__series *s, bool boxes) {
  for (int i = 0; i < n; i++) {
    double yy = y + 18.0 * i;
    if (boxes)
      sal__buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>", x, yy - 10,
                      sal__plot_color(i));
    else
      sal__buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"%s/>", x,
                      yy - 4, x + 22, yy - 4, sal__plot_color(i), s && s[i].dashed ? " stroke-dasharray=\"5 3\"" : "");
    sal__buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"lg\">", x + (boxes ? 18 : 28), yy);
    sal__buf_html(b, s ? s[i].name : names[i]);
    sal__buf_puts(b, "</text>");
  }
}

void sal__svg_line_plot(sal__buf *b, const sal__line_plot *p) {
  int w = p->width > 0 ? p->width : 480, h = p->height > 0 ? p->height : 300;
  double bottom = p->x_labels ? 78 : 44;
  int total_h = h + 18 * p->n_series + 6;
  open_svg(b, w, total_h, p->title);
  /* data ranges */
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (int s = 0; s < p->n_series; s++)
    for (int64_t i = 0; i < p->series[s].n; i++) {
      double x = p->series[s].x[i], y = p->series[s].y[i];
      if (!isfinite(x) || !isfinite(y)) continue;
      xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
    }
  if (isfinite(p->y_min)) ylo = p->y_min;
  if (isfinite(p->y_max)) yhi = p->y_max;
  double yt0, ystep, yt1;
  int nyt = sal__nice_ticks(ylo, yhi, &yt0, &ystep, &yt1);
  if (isfinite(p->y_min)) yt0 = p->y_min;
  if (isfinite(p->y_max)) yt1 = p->y_max;
  nyt = (int)floor((yt1 - yt0) / ystep + 1e-9) + 1;
  frame f = {58, w - 14.0, 30, h - bottom, 0, 1, yt0, yt1};
  double xt0 = 0, xstep = 1, xt1 = 1;
  int nxt;
  if (p->x_labels) {
    f.xa = -0.5;
    f.xb = p->n_x_labels - 0.5;
    nxt = p->n_x_labels;
  } else {
    nxt = sal__nice_ticks(isfinite(xlo) ? xlo : 0, isfinite(xhi) ? xhi : 1, &xt0, &xstep, &xt1);
    f.xa = xt0;
    f.xb = xt1;
  }
  y_axis(b, &f, yt0, ystep, nyt, p->y_label);
  for (int i = 0; i < nxt; i++) {
    double v = p->x_labels ? i : xt0 + i * xstep, x = px(&f, v);
    sal__buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>", x, f.y1, x, f.y1 + 4);
    if (p->x_labels) {
      sal__buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\" transform=\"rotate(-35 %.1f %.1f)\">",
                      x + 3, f.y1 + 14, x + 3, f.y1 + 14);
      sal__buf_html(b, p->x_labels[i]);
      sal__buf_puts(b, "</text>");
    } else {
      char t[32];
      tick_text(t, sizeof t, v, xstep);
      sal__buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"middle\">%s</text>", x, f.y1 + 16, t);
    }
  }
  if (p->x_label) {
    sal__buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"al\" text-anchor=\"middle\">", (f.x0 + f.x1) / 2, h - 8.0);
    sal__buf_html(b, p->x_label);
    sal__buf_puts(b, "</text>");
  }
  /* the series: a path broken at undefined points, with markers when the points are few */
  for (int s = 0; s < p->n_series; s++) {
    const sal__series *se = &p->series[s];
    sal__buf_printf(b, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s d=\"", sal__plot_color(s),
                    se->dashed ? " stroke-dasharray=\"5 3\"" : "");
    bool pen = false;
    for (int64_t i = 0; i < se->n; i++) {
      if (!isfinite(se->x[i]) || !isfinite(se->y[i])) {
        pen = false;
        continue;
      }
      sal__buf_printf(b, "%s%.1f %.1f", pen ? " L" : " M", px(&f, se->x[i]), py(&f, se->y[i]));
      pen = true;
    }
    sal__buf_puts(b, "\"/>");
    for (int64_t i = 0; se->n <= 40 && i < se->n; i++)
      if (isfinite(se->x[i]) && isfinite(se->y[i]))
        sal__buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", px(&f, se->x[i]), py(&f, se->y[i]),
                        sal__plot_color(s));
  }
  legend(b, f.x0 + 8, h + 12.0, NULL, p->n_series, p->series, false);
  sal__buf_puts(b, "</svg>");
}

void sal__svg_bar_chart(sal__buf *b, const sal__bar_chart *c) {
  const int bw = 14, pad = 12;
  int group_w = c->n_series * bw + 2 * pad;
  int w = c->width > 0 ? c->width : 58 + c->n_groups * group_w + 20;
  if (w < 320) w = 320;
  int h = c->height > 0 ? c->height : 300;
  int total_h = h + 18 * c->n_series + 6;
  open_svg(b, w, total_h, c->title);
  double lo = 0, hi = 0; /* bars start at 0, so 0 is always in range */
  int64_t nv = (int64_t)c->n_groups * c->n_series;
  bool any = false;
  for (int64_t i = 0; i < nv; i++) {
    double v[3] = {c->value[i], c->lo ? c->lo[i] : NAN, c->hi ? c->hi[i] : NAN};
    for (int k = 0; k < 3; k++)
      if (isfinite(v[k])) lo = fmin(lo, v[k]), hi = fmax(hi, v[k]), any = true;
  }
  if (!any || hi == lo) hi = lo + 1;
  double t0, step, t1;
  int nt = sal__nice_ticks(lo, hi, &t0, &step, &t1);
  frame f = {58, w - 14.0, 30, h - 70.0, 0, 1, t0, t1};
  double gw = (f.x1 - f.x0) / (c->n_groups > 0 ? c->n_groups : 1);
  f.xb = c->n_groups > 0 ? c->n_groups : 1;
  y_axis(b, &f, t0, step, nt, c->y_label);
  double zero = py(&f, 0);
  for (int g = 0; g < c->n_groups; g++) {
    double gx = f.x0 + g * gw, bar = fmin((double)bw, (gw - 2.0 * 4) / (c->n_series > 0 ? c->n_series : 1));
    double start = gx + (gw - bar * c->n_series) / 2;
    for (int s = 0; s < c->n_series; s++) {
      int64_t i = (int64_t)g * c->n_series + s;
      double v = c->value[i], x = start + s * bar;
      if (!isfinite(v)) continue;
      double y = py(&f, v), top = fmin(y, zero), ht = fabs(zero - y);
      sal__buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>", x, top,
                      bar - 1, ht < 0.5 ? 0.5 : ht, sal__plot_color(s));
      sal__buf_html(b, c->series_names[s]);
      sal__buf_puts(b, " · ");
      sal__buf_html(b, c->group_names[g]);
      sal__buf_printf(b, ": %.4g", v);
      double l = c->lo ? c->lo[i] : NAN, u = c->hi ? c->hi[i] : NAN;
      if (isfinite(l) && isfinite(u)) sal__buf_printf(b, " [%.4g, %.4g]", l, u);
      sal__buf_puts(b, "</title></rect>");
      if (isfinite(l) && isfinite(u)) { /* the whisker: the interval with caps */
        double cx = x + (bar - 1) / 2, yl = py(&f, l), yu = py(&f, u), cap = fmin(4.0, bar / 2);
        sal__buf_printf(b, "<path class=\"ci\" d=\"M%.1f %.1f L%.1f %.1f M%.1f %.1f L%.1f %.1f M%.1f %.1f L%.1f %.1f\"/>",
                        cx, yl, cx, yu, cx - cap, yl, cx + cap, yl, cx - cap, yu, cx + cap, yu);
      }
    }
    double lx = gx + gw / 2 + 3, ly = f.y1 + 14;
    sal__buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\" transform=\"rotate(-35 %.1f %.1f)\">",
                    lx, ly, lx, ly);
    sal__buf_html(b, c->group_names[g]);
    sal__buf_puts(b, "</text>");
  }
  if (lo < 0) sal__buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>", f.x0, zero, f.x1, zero);
  legend(b, f.x0 + 8, h + 12.0, c->series_names, c->n_series, NULL, true);
  sal__buf_puts(b, "</svg>");
}
