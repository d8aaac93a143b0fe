/* `salient demo`: the main job, end to end — synthesise a small `shapes` test set, take the shipped
 * demo model (or train one), explain a few images with every method, evaluate every method on the
 * set and write the HTML report. Each step runs the same code as its own command (synth, train,
 * explain, eval), so the demo shows exactly what a user would type; the commands are printed. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#ifndef SAL_SOURCE_DIR
#define SAL_SOURCE_DIR "."
#endif

/* Marks a directory as the demo's own, so --force may only ever rewrite what a demo wrote. */
#define DEMO_MARKER ".salient-demo"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool is_file(const char *path) {
  struct stat s;
  return stat(path, &s) == 0 && S_ISREG(s.st_mode);
}

/* True when dir exists and holds anything besides "." and "..". */
static bool dir_nonempty(const char *dir) {
  struct stat s;
  if (stat(dir, &s) != 0) return false;
  if (!S_ISDIR(s.st_mode)) return true; /* a file in the way counts as occupied */
  DIR *d = opendir(dir);
  if (!d) return true;
  bool any = false;
  for (struct dirent *e; !any && (e = readdir(d));) any = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return any;
}

static int remove_entry(const char *path, const struct stat *s, int flag, struct FTW *f) {
  (void)s, (void)flag, (void)f;
  return remove(path);
}

/* Removes the tree at path (not following links); a missing path is fine. Only ever called on a
 * directory inside a demo's own --out. */
static int remove_tree(const char *path) {
  struct stat s;
  if (lstat(path, &s) != 0) return errno == ENOENT ? 0 : -1;
  return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* True when the comma-separated list holds name as one of its items. */
static bool list_has(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; p && *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && strncmp(p, name, n) == 0) return true;
    p = e ? e + 1 : NULL;
  }
  return false;
}

/* Runs one step: prints the equivalent command line, then calls the command's entry point. */
static int step(bool quiet, const char *title, int (*run)(int, char **), int argc, char **argv) {
  if (!quiet) {
    printf("\n== %s\n$ salient", title);
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n");
    fflush(stdout);
  }
  double t0 = now_s();
  int rc = run(argc, argv);
  if (!quiet) printf("(%s: %.1f s)\n", argv[0], now_s() - t0);
  fflush(stdout);
  if (rc) fprintf(stderr, "salient demo: step '%s' failed (exit %d); fix it and re-run the demo\n", title, rc);
  return rc;
}

int cmd_demo(int argc, char **argv) {
  const char *out = "salient-demo", *model = NULL, *masker = NULL, *family = "shapes", *methods = "all";
  int64_t images = 16, explain_n = 4, threads = 0, seed = 7, sanity = 2;
  bool train = false, force = false, resume = false, quiet = false;
  cli_opt opts[] = {
      {"--out", CLI_STRING, "directory for everything the demo writes (default salient-demo)", &out},
      {"--family", CLI_STRING, "synthetic family: shapes or lesions (default shapes)", &family},
      {"--model", CLI_STRING, "classifier to explain (default: the shipped demo model for the family)", &model},
      {"--masker", CLI_STRING, "masking model of method masker (default: the shipped one of the shipped model, or the "
                               "one trained with --train; none for another --model)", &masker},
      {"--train", CLI_FLAG, "train the demo model and its masker with the default recipes first (about 8 minutes on 2 "
                            "cores) instead of using the shipped ones", &train},
      {"--images", CLI_INT, "test images evaluated with every method (default 16)", &images},
      {"--explain", CLI_INT, "images explained with side-by-side panels (default 4)", &explain_n},
      {"--methods", CLI_STRING, "methods, or 'all' (default all)", &methods},
      {"--sanity", CLI_INT, "images of the sanity check (cascading randomisation; default 2, 0 = none)", &sanity},
      {"--seed", CLI_INT, "seed of the synthetic test set (default 7)", &seed},
      {"--threads", CLI_INT, "worker threads (default 0 = all cores)", &threads},
      {"--force", CLI_FLAG, "start over in --out, which holds an earlier demo run (its evaluation is deleted)", &force},
      {"--resume", CLI_FLAG, "continue the unfinished evaluation of an earlier demo run in --out (same options)", &resume},
      {"--quiet", CLI_FLAG, "print only where the report is", &quiet},
  };
  int r = cli_parse(argc, argv, "salient demo [options]", opts, (int)(sizeof opts / sizeof opts[0]));
  if (r) return r == 1 ? 0 : 2;
  if (strcmp(family, "shapes") != 0 && strcmp(family, "lesions") != 0) {
    fprintf(stderr, "salient demo: --family must be shapes or lesions, not '%s'\n", family);
    return 2;
  }
  if (images < 1 || images > 100000 || explain_n < 0 || explain_n > images || sanity < 0 || sanity > images || seed < 0 ||
      threads < 0) {
    fprintf(stderr, "salient demo: --images must be in 1..100000, --explain and --sanity in 0..--images, --seed and "
                    "--threads >= 0\n");
    return 2;
  }
  /* Paths: everything under out; the marker proves an existing out is a demo's. */
  char marker[4096], data[4096], explain_dir[4096], eval_dir[4096], trained[4096], shipped[4096], results[4096];
  char trained_masker[4096], shipped_masker[4096];
  int n = snprintf(marker, sizeof marker, "%s/" DEMO_MARKER, out);
  snprintf(data, sizeof data, "%s/data", out);
  snprintf(explain_dir, sizeof explain_dir, "%s/explain", out);
  snprintf(eval_dir, sizeof eval_dir, "%s/eval", out);
  snprintf(results, sizeof results, "%s/eval/results.jsonl", out);
  snprintf(trained, sizeof trained, "%s/%s.safetensors", out, family);
  snprintf(shipped, sizeof shipped, "%s/tests/fixtures/demo/%s.safetensors", SAL_SOURCE_DIR, family);
  snprintf(trained_masker, sizeof trained_masker, "%s/%s.masker.safetensors", out, family);
  snprintf(shipped_masker, sizeof shipped_masker, "%s/tests/fixtures/demo/%s.masker.safetensors", SAL_SOURCE_DIR, family);
  if (n < 0 || (size_t)n + 32 >= sizeof marker) {
    fprintf(stderr, "salient demo: --out path too long\n");
    return 2;
  }
  /* The masker belongs to one classifier: the shipped one to the shipped model, a trained one to
   * the model trained with it; another --model gets method masker only with its own --masker. */
  if (!masker && !model) masker = train ? trained_masker : is_file(shipped_masker) ? shipped_masker : NULL;
  if (masker && !(train && masker == trained_masker) && !is_file(masker)) {
    fprintf(stderr, "salient demo: masker %s not found\n", masker);
    return 1;
  }
  if (!model) model = train ? trained : shipped;
  if (!train && !is_file(model)) {
    fprintf(stderr, "salient demo: model %s not found (the shipped demo models live in the source tree's "
                    "tests/fixtures/demo/); pass --model, or --train to train one\n", model);
    return 1;
  }
  if (dir_nonempty(out) && !is_file(marker)) {
    fprintf(stderr, "salient demo: %s exists and was not written by salient demo; choose another --out\n", out);
    return 1;
  }
  if (is_file(marker) && !force && !resume) {
    fprintf(stderr, "salient demo: %s holds an earlier demo run; add --force to start over, --resume to continue it, "
                    "or choose another --out\n", out);
    return 1;
  }
  if (force && resume) {
    fprintf(stderr, "salient demo: --force and --resume exclude each other\n");
    return 2;
  }
  if (force && is_file(marker) && (remove_tree(eval_dir) != 0 || remove_tree(explain_dir) != 0)) {
    fprintf(stderr, "salient demo: cannot remove the earlier run's %s: %s\n", eval_dir, strerror(errno));
    return 1;
  }
  if (mkdir(out, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "salient demo: cannot create %s: %s\n", out, strerror(errno));
    return 1;
  }
  FILE *mf = fopen(marker, "w");
  if (!mf || fputs("written by salient demo\n", mf) < 0 || fclose(mf) != 0) {
    fprintf(stderr, "salient demo: cannot write %s\n", marker);
    return 1;
  }
  char s_images[32], s_seed[32], s_threads[32], s_sanity[32];
  snprintf(s_sanity, sizeof s_sanity, "%lld", (long long)sanity);
  snprintf(s_images, sizeof s_images, "%lld", (long long)images);
  snprintf(s_seed, sizeof s_seed, "%lld", (long long)seed);
  snprintf(s_threads, sizeof s_threads, "%lld", (long long)threads);
  const char *all = masker ? "gradient,grad_input,smoothgrad,integrated_gradients,gradcam,occlusion,rise,"
                             "meaningful_perturbation,extremal_perturbation,dm,hdm,reliable,masker"
                           : "gradient,grad_input,smoothgrad,integrated_gradients,gradcam,occlusion,rise,"
                             "meaningful_perturbation,extremal_perturbation,dm,hdm,reliable";
  const char *meth = strcmp(methods, "all") == 0 ? all : methods;
  if (!list_has(meth, "masker")) masker = NULL; /* explain and eval refuse a --masker nothing uses */
  double t0 = now_s();
  if (!quiet)
    printf("salient %s demo: %s, model %s, %lld test images, methods %s\n", sal_version(), family,
           train ? "trained now" : model, (long long)images, meth);

  /* 1. data: a training set only when training; the test set is what the methods are judged on. */
  int rc = 0;
  if (train) {
    char *a[] = {"synth", (char *)family, "--out", data, "--seed", s_seed, "--test", s_images, "--force", "--quiet", NULL};
    rc = step(quiet, "synthesise training and test data", cmd_synth, 10, a);
    if (!rc) {
      char tdata[4200];
      snprintf(tdata, sizeof tdata, "%s/train.csv", data);
      char *b[] = {"train", "--data", tdata, "--out", trained, "--threads", s_threads, NULL};
      rc = step(quiet, "train the demo model (default recipe)", cmd_train, 7, b);
    }
    if (!rc && masker == trained_masker) {
      char *b[] = {"train-masker", "--model", trained, "--data", data, "--out", trained_masker, "--threads", s_threads, NULL};
      rc = step(quiet, "train its masking model (default recipe)", cmd_train_masker, 9, b);
    }
  } else {
    char *a[] = {"synth", (char *)family, "--out", data, "--seed", s_seed, "--train", "0", "--val", "0",
                 "--test", s_images, "--force", "--quiet", NULL};
    rc = step(quiet, "synthesise the test images", cmd_synth, 14, a);
  }
  /* 2. a few images explained with every method, side by side */
  for (int64_t i = 0; !rc && i < explain_n; i++) {
    char img[4200];
    snprintf(img, sizeof img, "%s/images/test/%06lld.png", data, (long long)i);
    char *a[16] = {"explain", "--model", (char *)model, "--image", img, "--method", (char *)meth, "--out", explain_dir,
                   "--panel", "--threads", s_threads, "--quiet"};
    int na = 13;
    if (masker) a[na++] = "--masker", a[na++] = (char *)masker;
    rc = step(quiet, "explain an image with every method", cmd_explain, na, a);
  }
  /* 3. every method evaluated on the test set; eval writes summary and report. With --resume an
   * unfinished evaluation of an earlier demo run (same settings) is continued. */
  if (!rc) {
    char *a[24] = {"eval", "--model", (char *)model, "--data", data, "--methods", (char *)meth, "--out", eval_dir,
                   "--metrics", "loc,om,pointing,overlap,f1,sparsity,maxboxacc,pxap,insdel,saliency", "--limit", s_images,
                   "--threads", s_threads, "--sanity", s_sanity};
    int na = 17;
    if (masker) a[na++] = "--masker", a[na++] = (char *)masker;
    if (resume && is_file(results)) a[na++] = "--resume";
    if (quiet) a[na++] = "--quiet";
    rc = step(quiet, "evaluate every method", cmd_eval, na, a);
  }
  if (rc) return rc;
  char report[4200];
  snprintf(report, sizeof report, "%s/report.html", eval_dir);
  if (!quiet) {
    printf("\ndemo: done in %.1f s\n  panels   %s/*.panel.png\n  summary  %s/summary.csv\n", now_s() - t0, explain_dir,
           eval_dir);
  }
  printf("report: %s\n", report);
  return 0;
}
