/* The HTML report (src/report): base64 and SHA-256 against published vectors, HTML escaping, the
 * SVG plots on hand-made data, and sal_report_write on hand-written eval directories (contents,
 * escaping, errors naming the file, no half-written report). With `--nonblank FILE.png` it is
 * instead the screenshot check of tests/cli_report.sh: exit 0 when the image is not blank. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "report/report_internal.h"
#include "salient/image.h"
#include "salient/report.h"

/* Occurrences of needle in hay. */
static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

static void test_base64(void) {
  /* RFC 4648 §10 */
  const char *in[7] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char *want[7] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; i++) {
    char out[16];
    size_t n = sal__base64_encode(in[i], strlen(in[i]), out);
    TH_CHECK(n == strlen(want[i]) && strcmp(out, want[i]) == 0, "base64('%s') = '%s', want '%s'", in[i], out, want[i]);
  }
  /* every byte value, through the buffer: the 62nd and 63rd symbols and the padding */
  uint8_t bytes[3] = {0xfb, 0xff, 0xfe};
  sal__buf b = {0};
  sal__buf_base64(&b, bytes, 3);
  sal__buf_base64(&b, bytes, 1);
  TH_CHECK(b.s && strcmp(b.s, "+//+" "+w==") == 0, "base64 of fb ff fe, fb: %s", b.s ? b.s : "(null)");
  sal__buf_free(&b);
}

static void hex_of(const uint8_t d[32], char *hex) {
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static void test_sha256(void) {
  /* FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA256_2.pdf") and the empty string */
  struct {
    const char *msg, *want;
  } v[3] = {{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
            {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
            {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"}};
  uint8_t d[32];
  char hex[65];
  for (int i = 0; i < 3; i++) {
    sal_sha256(v[i].msg, strlen(v[i].msg), d);
    hex_of(d, hex);
    TH_CHECK(strcmp(hex, v[i].want) == 0, "sha256('%s') = %s", v[i].msg, hex);
  }
  /* one million 'a' (FIPS 180-2 appendix B.3): many blocks */
  size_t n = 1000000;
  char *a = malloc(n);
  if (a) {
    memset(a, 'a', n);
    sal_sha256(a, n, d);
    hex_of(d, hex);
    TH_CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0, "sha256(1e6 a) = %s", hex);
    /* the same through a file (read in 64 KiB pieces, across block boundaries) */
    char path[4096];
    th_tmp_path(path, sizeof path, "million.txt");
    th_write_file(path, a, n);
    int64_t bytes = 0;
    TH_OK(sal_sha256_file(th_ctx(), path, hex, &bytes));
    TH_CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0 && bytes == 1000000,
             "sha256 of the file = %s (%lld bytes)", hex, (long long)bytes);
    free(a);
  }
  /* 55, 56 and 64 bytes: the padding lengths at the block edge (against the streaming split) */
  for (size_t len = 55; len <= 64; len += 1) {
    char m[64];
    memset(m, 'x', len);
    uint8_t d1[32];
    sal_sha256(m, len, d1);
    char path[4096];
    th_tmp_path(path, sizeof path, "edge.bin");
    th_write_file(path, m, len);
    char h1[65];
    hex_of(d1, h1);
    TH_OK(sal_sha256_file(th_ctx(), path, hex, NULL));
    TH_CHECK(strcmp(h1, hex) == 0, "sha256 of %zu bytes: memory %s, file %s", len, h1, hex);
  }
  TH_FAILS(sal_sha256_file(th_ctx(), "/nonexistent/model.onnx", hex, NULL), SAL_STATUS_NOT_FOUND, "/nonexistent/model.onnx");
  TH_FAILS(sal_sha256_file(th_ctx(), th_tmpdir(), hex, NULL), SAL_STATUS_IO, th_tmpdir());
}

static void test_escape(void) {
  sal__buf b = {0};
  sal__buf_html(&b, "<a href=\"x\">Tom & Jerry's</a>");
  TH_CHECK(b.s && strcmp(b.s, "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;") == 0, "escaped: %s", b.s);
  sal__buf_html(&b, NULL);
  sal__buf_html(&b, "");
  sal__buf_html(&b, "plain ü");
  TH_CHECK(b.s && strcmp(b.s + strlen(b.s) - 8, "plain ü") == 0, "plain text kept: %s", b.s);
  sal__buf_free(&b);
}

static void test_ticks(void) {
  double t0, step, t1;
  int n = sal__nice_ticks(0, 1, &t0, &step, &t1);
  TH_CHECK(n == 6 && t0 == 0 && fabs(step - 0.2) < 1e-12 && fabs(t1 - 1) < 1e-12, "ticks [0, 1]: %d from %g by %g to %g", n,
           t0, step, t1);
  n = sal__nice_ticks(-0.13, 0.87, &t0, &step, &t1);
  TH_CHECK(n == 7 && fabs(t0 + 0.2) < 1e-12 && fabs(step - 0.2) < 1e-12 && fabs(t1 - 1) < 1e-12,
           "ticks [-0.13, 0.87]: %d from %g by %g to %g", n, t0, step, t1);
  n = sal__nice_ticks(3, 3, &t0, &step, &t1); /* a constant still gets a range around it */
  TH_CHECK(n >= 3 && t0 <= 3 && t1 >= 3 && t1 > t0, "ticks of a constant: %d from %g to %g", n, t0, t1);
  n = sal__nice_ticks(0, 1234, &t0, &step, &t1);
  TH_CHECK(step == 200 && t1 == 1400 && n == 8, "ticks [0, 1234]: step %g to %g (%d)", step, t1, n);
}

static void test_line_plot(void) {
  double x[5] = {0, 0.25, 0.5, 0.75, 1}, y1[5] = {0.1, 0.4, 0.6, 0.8, 0.9}, y2[5] = {0.9, NAN, 0.5, 0.3, 0.2};
  sal__series se[2] = {{"ins <a>", x, y1, 5, false}, {"del & co", x, y2, 5, true}};
  sal__line_plot p = {"Curves \"1\"", "fraction", "probability", NULL, 0, 0, 1, se, 2, 0, 0};
  sal__buf b = {0};
  sal__svg_line_plot(&b, &p);
  const char *s = b.s ? b.s : "";
  TH_CHECK(strncmp(s, "<svg", 4) == 0 && count(s, "</svg>") == 1, "one svg element");
  TH_CHECK(count(s, "<path fill=\"none\"") == 2, "one path per series: %d", count(s, "<path fill=\"none\""));
  /* the NaN at x = 0.25 breaks the second line: it starts again (M) after it */
  const char *second = strstr(s, "stroke-dasharray=\"5 3\" d=\"");
  TH_CHECK(second && count(second, " M") >= 2, "the undefined point breaks the line");
  TH_CHECK(count(s, "<circle") == 9, "a marker per defined point: %d", count(s, "<circle"));
  TH_CHECK(strstr(s, "ins &lt;a&gt;") && strstr(s, "del &amp; co") && !strstr(s, "<a>") && strstr(s, "Curves &quot;1&quot;"),
           "legend and title escaped");
  TH_CHECK(strstr(s, ">0.0</text>") && strstr(s, ">1.0</text>") && strstr(s, ">0.2</text>"), "y ticks 0.0 .. 1.0");
  TH_CHECK(strstr(s, ">fraction</text>") && strstr(s, ">probability</text>"), "axis labels");
  /* the first point (0, 0.1) of a 480 x 300 frame: x at the left edge (58), y one tenth up the area */
  TH_CHECK(strstr(s, "d=\" M58.0 ") != NULL, "first point at the left edge of the plot area");
  sal__buf_free(&b);
  /* categorical x: the stage names are the ticks */
  const char *stages[3] = {"none", "fc", "conv<1>"};
  double xi[3] = {0, 1, 2}, yi[3] = {1, 0.5, 0.1};
  sal__series s3 = {"Spearman", xi, yi, 3, false};
  sal__line_plot q = {NULL, NULL, "similarity", stages, 3, NAN, 1, &s3, 1, 0, 0};
  sal__svg_line_plot(&b, &q);
  s = b.s ? b.s : "";
  TH_CHECK(strstr(s, ">none</text>") && strstr(s, ">fc</text>") && strstr(s, ">conv&lt;1&gt;</text>"), "stage labels");
  TH_CHECK(!strstr(s, "<title>"), "no title element without a title");
  sal__buf_free(&b);
}

static void test_bar_chart(void) {
  const char *groups[2] = {"loc", "f1"}, *series[3] = {"gradient", "gradcam", "rise"};
  /* group-major: loc: 0.5 [0.4, 0.6], 0.7 (no interval), NaN; f1: 0.2 [0.1, 0.3], -0.1 [-0.2, 0], 0.9 [0.8, 1.0] */
  double v[6] = {0.5, 0.7, NAN, 0.2, -0.1, 0.9}, lo[6] = {0.4, NAN, NAN, 0.1, -0.2, 0.8}, hi[6] = {0.6, NAN, NAN, 0.3, 0, 1.0};
  sal__bar_chart c = {"Scores", "mean", groups, 2, series, 3, v, lo, hi, 0, 0};
  sal__buf b = {0};
  sal__svg_bar_chart(&b, &c);
  const char *s = b.s ? b.s : "";
  TH_CHECK(count(s, "<rect") == 5 + 3, "5 bars and 3 legend swatches: %d", count(s, "<rect"));
  TH_CHECK(count(s, "class=\"ci\"") == 4, "4 whiskers: %d", count(s, "class=\"ci\""));
  TH_CHECK(strstr(s, "<title>gradcam · f1: -0.1 [-0.2, 0]</title>") != NULL, "bar tooltip with the interval");
  TH_CHECK(strstr(s, ">-0.2</text>") && strstr(s, ">1.0</text>"), "the axis covers the intervals");
  TH_CHECK(strstr(s, ">loc</text>") && strstr(s, ">rise</text>"), "group and series labels");
  for (int i = 0; i < 3; i++) TH_CHECK(strstr(s, sal__plot_color(i)) != NULL, "series colour %d used", i);
  sal__buf_free(&b);
}

/* ---- sal_report_write on hand-made directories ---- */

static void write_text(const char *dir, const char *name, const char *text) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  th_write_file(path, text, strlen(text));
}

static char *read_text(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t n = 0;
  char *s = (char *)th_read_file(path, &n);
  if (s) s[n] = '\0'; /* th_read_file leaves room for it */
  return s;
}

/* Files in dir whose name contains part (the writer's temporaries: "report.html.tmp."). */
static int files_with(const char *dir, const char *part) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, part) != NULL;
  if (d) closedir(d);
  return n;
}

static const char *summary_json =
    "{\"model\": \"m.onnx\", \"data\": \"d/test.csv\", \"interval\": \"95 %\", \"methods\": {"
    "\"gradient\": {\"images\": 3, \"metrics\": {"
    "  \"loc\": {\"n\": 3, \"mean\": 0.3333, \"sd\": 0.57, \"ci95\": [-0.31, 0.98]},"
    "  \"deletion\": {\"n\": 3, \"mean\": 0.25, \"sd\": 0.1, \"ci95\": [0.14, 0.36]},"
    "  \"gini\": {\"n\": 3, \"mean\": 0.5, \"sd\": null, \"ci95\": [null, null]}},"
    "  \"dataset\": {\"pxap\": 0.61, \"pxap_images\": 3},"
    "  \"curves\": {\"images\": 3, \"insertion\": [0.1, 0.5, 0.9], \"deletion\": [0.9, 0.2, 0.1]}},"
    "\"m<&>\": {\"images\": 3, \"metrics\": {"
    "  \"loc\": {\"n\": 3, \"mean\": 0.6667, \"sd\": 0.57, \"ci95\": [0.02, 1.31]},"
    "  \"deletion\": {\"n\": 3, \"mean\": 0.125, \"sd\": 0.1, \"ci95\": [0.01, 0.24]},"
    "  \"gini\": {\"n\": 3, \"mean\": 0.7, \"sd\": null, \"ci95\": [null, null]}},"
    "  \"dataset\": {\"pxap\": 0.42, \"pxap_images\": 3}}}}";

static void test_report_contents(void) {
  sal_ctx *ctx = th_ctx();
  char dir[4096];
  th_tmp_path(dir, sizeof dir, "eval1");
  mkdir(dir, 0777);
  write_text(dir, "summary.json", summary_json);
  write_text(dir, "settings.json", "{\"model\": \"m.onnx\", \"seed\": 7, \"data\": \"d/test.csv\", \"target\": \"label\", "
                                   "\"methods\": {\"gradient\": \"seed=0 <script>alert(1)</script>\"}, \"metrics\": \"loc\"}");
  write_text(dir, "run.json", "{\"salient\": \"0.1.0\", \"onednn\": \"2.6.3\", \"date\": \"2026-11-24T00:00:00Z\", "
                              "\"model_sha256\": \"abc123\", \"items\": 3, \"dataset_items\": 5, \"gallery\": 2, "
                              "\"classes\": [\"circle\", \"square\"]}");
  write_text(dir, "results.jsonl", "{\"item\":0,\"path\":\"img/a.png\",\"method\":\"gradient\",\"label\":1,\"target\":1,"
                                   "\"top1\":0,\"metrics\":{}}\nnot json\n");
  char gdir[4200];
  snprintf(gdir, sizeof gdir, "%s/gallery", dir);
  mkdir(gdir, 0777);
  sal_image *img = NULL;
  TH_OK(sal_image_new(ctx, 4, 3, 3, 8, &img));
  char path[4300];
  snprintf(path, sizeof path, "%s/0.input.png", gdir);
  if (img) TH_OK(sal_image_write(ctx, path, img));
  snprintf(path, sizeof path, "%s/0.gradient.png", gdir);
  if (img) TH_OK(sal_image_write(ctx, path, img));
  sal_image_free(img);

  TH_OK(sal_report_write(ctx, dir));
  char *html = read_text(dir, "report.html");
  const char *s = html ? html : "";
  TH_CHECK(strncmp(s, "<!DOCTYPE html>", 15) == 0 && strstr(s, "</html>"), "a complete page");
  TH_CHECK(strstr(s, "Content-Security-Policy") && strstr(s, "default-src 'none'; img-src data:"), "outside resources forbidden");
  TH_CHECK(!strstr(s, "<script") && !strstr(s, "src=\"http") && !strstr(s, "href=\"http"), "no script, no outside links");
  TH_CHECK(strstr(s, "seed=0 &lt;script&gt;alert(1)&lt;/script&gt;") != NULL, "parameters escaped");
  TH_CHECK(strstr(s, "m&lt;&amp;&gt;") && !strstr(s, "m<&>"), "method names escaped");
  TH_CHECK(strstr(s, "abc123") && strstr(s, "3 evaluated of 5") && strstr(s, "oneDNN"), "metadata");
  /* the best per metric: loc higher (m<&>), deletion lower (m<&>), pxap higher (gradient); gini descriptive */
  TH_CHECK(count(s, "class=\"n best\"") == 3, "3 best cells: %d", count(s, "class=\"n best\""));
  TH_CHECK(strstr(s, "↓ lower") && strstr(s, "↑ higher"), "directions stated");
  TH_CHECK(strstr(s, "0.333 ± 0.645") != NULL, "mean ± half interval");
  TH_CHECK(count(s, "<svg") >= 4, "charts and curves: %d svg", count(s, "<svg"));
  TH_CHECK(strstr(s, "gradient (AUC 0.250, 3 images)") != NULL, "deletion curve legend with its AUC");
  TH_CHECK(count(s, "src=\"data:image/png;base64,iVBORw0KGgo") == 2, "two gallery images embedded: %d",
           count(s, "src=\"data:image/png;base64,iVBORw0KGgo"));
  TH_CHECK(strstr(s, "label: square") && strstr(s, "top-1: circle") && strstr(s, "a.png"), "gallery captions");
  TH_CHECK(strstr(s, "0.m&lt;&amp;&gt;.png") == NULL, "no file name from an unusual method name");
  TH_CHECK(strstr(s, "--sanity N") != NULL, "how to add the sanity checks");
  free(html);

  /* sanity.json: a plot per method and its maps (a missing one and one outside the directory shown as such) */
  char sdir[4200];
  snprintf(sdir, sizeof sdir, "%s/sanity", dir);
  mkdir(sdir, 0777);
  TH_OK(sal_image_new(ctx, 4, 4, 3, 8, &img));
  snprintf(path, sizeof path, "%s/g0.png", sdir);
  if (img) TH_OK(sal_image_write(ctx, path, img));
  sal_image_free(img);
  write_text(dir, "sanity.json", "{\"images\": 2, \"methods\": {\"gradient\": {\"stages\": [\"none\", \"fc2\", \"conv1\"], "
                                 "\"spearman\": [1, 0.5, null], \"spearman_abs\": [1, 0.6, 0.2], \"ssim\": [1, 0.4, 0.1], "
                                 "\"maps\": [\"sanity/g0.png\", \"sanity/g1.png\", \"../eval1/sanity/g0.png\"]}}}");
  TH_OK(sal_report_write(ctx, dir));
  html = read_text(dir, "report.html");
  s = html ? html : "";
  TH_CHECK(strstr(s, ">conv1</text>") && strstr(s, "similarity to the trained model"), "sanity plot with stages");
  TH_CHECK(count(s, "src=\"data:image/png;base64,") == 3, "gallery + one sanity map embedded: %d",
           count(s, "src=\"data:image/png;base64,"));
  TH_CHECK(strstr(s, "sanity/g1.png<br>not found") && strstr(s, "outside the directory"), "bad map paths named");
  free(html);
  TH_CHECK(files_with(dir, ".tmp") == 0, "no temporary left");
}

static void test_report_errors(void) {
  sal_ctx *ctx = th_ctx();
  char dir[4096];
  th_tmp_path(dir, sizeof dir, "eval2");
  mkdir(dir, 0777);
  TH_FAILS(sal_report_write(ctx, dir), SAL_STATUS_NOT_FOUND, "summary.json not found");
  write_text(dir, "report.html", "old report");
  write_text(dir, "summary.json", "{\"methods\": {\"gradient\": {\"images\": 3,");
  TH_FAILS(sal_report_write(ctx, dir), SAL_STATUS_BAD_INPUT, "eval2/summary.json is not valid JSON");
  char *old = read_text(dir, "report.html");
  TH_CHECK(old && strcmp(old, "old report") == 0, "a failed write leaves the previous report");
  free(old);
  TH_CHECK(files_with(dir, ".tmp") == 0, "no temporary left after a failure");
  write_text(dir, "summary.json", "[1, 2]");
  TH_FAILS(sal_report_write(ctx, dir), SAL_STATUS_BAD_INPUT, "summary.json is not a JSON object");
  write_text(dir, "summary.json", "{\"model\": \"m\"}");
  TH_FAILS(sal_report_write(ctx, dir), SAL_STATUS_BAD_INPUT, "summary.json has no \"methods\" object");
  write_text(dir, "summary.json", summary_json);
  write_text(dir, "settings.json", "{nope");
  TH_FAILS(sal_report_write(ctx, dir), SAL_STATUS_BAD_INPUT, "settings.json is not valid JSON");
  write_text(dir, "settings.json", "{}");
  write_text(dir, "sanity.json", "{\"images\": 1, \"methods\": {\"gradient\": {\"stages\": [\"none\", \"fc\"], "
                                 "\"spearman\": [1], \"spearman_abs\": [1, 0], \"ssim\": [1, 0]}}}");
  TH_FAILS(sal_report_write(ctx, dir), SAL_STATUS_BAD_INPUT, "sanity.json: method gradient: \"spearman\" must be 2");
  old = read_text(dir, "report.html");
  TH_CHECK(old && strcmp(old, "old report") == 0, "a failure at the end of the page leaves the previous report");
  free(old);
  write_text(dir, "sanity.json", "{\"images\": 1}");
  TH_FAILS(sal_report_write(ctx, dir), SAL_STATUS_BAD_INPUT, "sanity.json has no \"methods\" object");
  TH_CHECK(files_with(dir, ".tmp") == 0, "no temporary left after failures");
  TH_FAILS(sal_report_write(ctx, "/nonexistent/dir"), SAL_STATUS_NOT_FOUND, "/nonexistent/dir/summary.json");
}

/* The screenshot check: not blank when at least 2 % of the pixels differ from the most common
 * colour (the background) and the image has at least 16 distinct colours. A blank page (one
 * colour) or a page with only a line of text fails. */
static int nonblank(const char *path) {
  sal_ctx *ctx = th_ctx();
  sal_image *img = NULL;
  sal_image_read_opts ro = {.channels = 3, .depth = 8};
  if (sal_image_read(ctx, path, &ro, &img)) {
    fprintf(stderr, "nonblank: %s\n", sal_ctx_last_error(ctx));
    return 1;
  }
  int64_t n = img->width * img->height;
  const uint8_t *p = img->pixels;
  /* colours quantised to 4 bits per channel: a 4096-bin histogram */
  int64_t *hist = calloc(4096, sizeof *hist);
  if (!hist) {
    sal_image_free(img);
    return 1;
  }
  for (int64_t i = 0; i < n; i++) hist[(p[3 * i] >> 4) << 8 | (p[3 * i + 1] >> 4) << 4 | p[3 * i + 2] >> 4]++;
  int64_t top = 0, distinct = 0;
  for (int k = 0; k < 4096; k++) {
    if (hist[k] > top) top = hist[k];
    distinct += hist[k] > 0;
  }
  double other = 1.0 - (double)top / (double)n;
  printf("nonblank: %s: %lldx%lld, %.2f %% not background, %lld colours\n", path, (long long)img->width,
         (long long)img->height, 100 * other, (long long)distinct);
  free(hist);
  sal_image_free(img);
  return other >= 0.02 && distinct >= 16 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--nonblank") == 0) return nonblank(argv[2]);
  test_base64();
  test_sha256();
  test_escape();
  test_ticks();
  test_line_plot();
  test_bar_chart();
  test_report_contents();
  test_report_errors();
  return th_finish("test_report");
}
