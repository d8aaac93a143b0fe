/* Datasets: the item list (image path, labels, boxes, masks) read from an image folder or a CSV
 * manifest, class-name resolution, and the deterministic shuffled/sharded order the loader walks.
 * Pascal VOC annotations are parsed in voc.c and added through the same builder. */
#define _POSIX_C_SOURCE 200809L

#include "data/dataset_internal.h"

#include "io/atomic.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Manifests and class lists are text; 1 GiB is far beyond any real one (ImageNet's training list
 * is ~60 MB) and keeps a wrong path to a huge binary file from being read whole. */
#define DS_MAX_TEXT ((size_t)1 << 30)
/* Objects per image and classes are bounded so that a corrupt line cannot drive allocation. */
#define DS_MAX_OBJECTS 4096
#define DS_MAX_CLASSES 1000000

/* ---- builder ---- */


sal_status sal__ds_new(sal_ctx *ctx, const char *source, sal__ds_builder *b) {
  memset(b, 0, sizeof *b);
  b->ctx = ctx;
  b->ds = sal_calloc(ctx, 1, sizeof *b->ds);
  if (!b->ds) return SAL_STATUS_OUT_OF_MEMORY;
  b->ds->source = sal__strdup(ctx, source);
  if (!b->ds->source) {
    sal_free(b->ds);
    b->ds = NULL;
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  return SAL_STATUS_OK;
}

sal_status sal__ds_add_item(sal__ds_builder *b, const char *path, int n_objects, sal_item **out) {
  sal_dataset *ds = b->ds;
  if (!sal__grow(b->ctx, (void **)&ds->items, &b->items_cap, ds->n_items + 1, sizeof(sal_item))) return SAL_STATUS_OUT_OF_MEMORY;
  sal_item *it = &ds->items[ds->n_items];
  memset(it, 0, sizeof *it);
  it->path = sal__strdup(b->ctx, path);
  it->objects = sal_calloc(b->ctx, (size_t)n_objects, sizeof(sal_object));
  if (!it->path || !it->objects) {
    sal_free(it->path);
    sal_free(it->objects);
    memset(it, 0, sizeof *it);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  it->n_objects = n_objects;
  ds->n_items++;
  *out = it;
  return SAL_STATUS_OK;
}

sal_status sal__ds_add_class(sal__ds_builder *b, const char *name) {
  sal_dataset *ds = b->ds;
  if (ds->n_classes >= DS_MAX_CLASSES)
    return sal_ctx_error(b->ctx, SAL_STATUS_BAD_INPUT, "%s: more than %d classes", ds->source, DS_MAX_CLASSES);
  if (!sal__grow(b->ctx, (void **)&ds->class_names, &b->classes_cap, ds->n_classes + 1, sizeof(char *)))
    return SAL_STATUS_OUT_OF_MEMORY;
  ds->class_names[ds->n_classes] = sal__strdup(b->ctx, name);
  if (!ds->class_names[ds->n_classes]) return SAL_STATUS_OUT_OF_MEMORY;
  ds->n_classes++;
  return SAL_STATUS_OK;
}

void sal_dataset_free(sal_dataset *ds) {
  if (!ds) return;
  for (int64_t i = 0; i < ds->n_items; i++) {
    for (int k = 0; k < ds->items[i].n_objects; k++) sal_free(ds->items[i].objects[k].mask_path);
    sal_free(ds->items[i].objects);
    sal_free(ds->items[i].path);
  }
  sal_free(ds->items);
  for (int64_t c = 0; c < ds->n_classes; c++) sal_free(ds->class_names[c]);
  sal_free(ds->class_names);
  for (int64_t i = 0; i < ds->n_skipped; i++) sal_free(ds->skipped[i]);
  sal_free(ds->skipped);
  sal_free(ds->source);
  sal_free(ds);
}

int64_t sal_dataset_class_index(const sal_dataset *ds, const char *name) {
  for (int64_t c = 0; c < ds->n_classes; c++)
    if (strcmp(ds->class_names[c], name) == 0) return c;
  return -1;
}

/* ---- small string helpers ---- */

char *sal__path_join(sal_ctx *ctx, const char *dir, const char *rel) {
  if (rel[0] == '/' || !dir || !dir[0]) return sal__strdup(ctx, rel);
  size_t a = strlen(dir), c = strlen(rel);
  char *p = sal_alloc(ctx, a + c + 2);
  if (!p) return NULL;
  memcpy(p, dir, a);
  size_t k = a;
  if (a && dir[a - 1] != '/') p[k++] = '/';
  memcpy(p + k, rel, c + 1);
  return p;
}

char *sal__path_dir(sal_ctx *ctx, const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return sal__strdup(ctx, ".");
  size_t n = slash == path ? 1 : (size_t)(slash - path);
  char *d = sal_alloc(ctx, n + 1);
  if (!d) return NULL;
  memcpy(d, path, n);
  d[n] = '\0';
  return d;
}

static char *trim(char *s) {
  while (*s && isspace((unsigned char)*s)) s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
  return s;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* ---- class list file ---- */

sal_status sal__ds_read_classes(sal__ds_builder *b, const char *path) {
  char *text;
  size_t n;
  sal_status st = sal__read_file(b->ctx, path, DS_MAX_TEXT, &text, &n);
  if (st != SAL_STATUS_OK) return st;
  if (memchr(text, '\0', n)) {
    sal_free(text);
    return sal_ctx_error(b->ctx, SAL_STATUS_BAD_INPUT, "%s: not a text file (contains NUL bytes)", path);
  }
  int64_t line = 0;
  char *save = NULL;
  for (char *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
    line++;
    char *t = trim(ln);
    if (!*t) continue;
    /* "n01440764 tench, Tinca tinca" (ImageNet's synset list): the name is the first word. A
     * plain list has one name per line, which may contain spaces only in that plain form. */
    char *sp = t;
    while (*sp && !isspace((unsigned char)*sp)) sp++;
    if (*sp && t[0] == 'n' && sp - t == 9 && strspn(t + 1, "0123456789") == 8) *sp = '\0';
    if (sal_dataset_class_index(b->ds, t) >= 0) {
      st = sal_ctx_error(b->ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: class '%s' listed twice", path, (long long)line, t);
      break;
    }
    if ((st = sal__ds_add_class(b, t)) != SAL_STATUS_OK) break;
  }
  sal_free(text);
  if (st == SAL_STATUS_OK && b->ds->n_classes == 0)
    st = sal_ctx_error(b->ctx, SAL_STATUS_BAD_INPUT, "%s: no class names", path);
  return st;
}

/* Adds the distinct names in names[0..n) as classes in sorted (byte) order. names is reordered. */
sal_status sal__ds_classes_from_names(sal__ds_builder *b, char **names, int64_t n) {
  if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str);
  for (int64_t i = 0; i < n; i++) {
    if (i > 0 && strcmp(names[i], names[i - 1]) == 0) continue;
    sal_status st = sal__ds_add_class(b, names[i]);
    if (st != SAL_STATUS_OK) return st;
  }
  return SAL_STATUS_OK;
}

/* ---- image folder ---- */

static bool has_image_ext(const char *name) {
  static const char *const exts[] = {".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"};
  const char *dot = strrchr(name, '.');
  if (!dot) return false;
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
    if (strcasecmp(dot, exts[i]) == 0) return true;
  return false;
}

void sal__name_list_free(sal__name_list *l) {
  for (int64_t i = 0; i < l->n; i++) sal_free(l->v[i]);
  sal_free(l->v);
  memset(l, 0, sizeof *l);
}

static sal_status name_list_add(sal_ctx *ctx, sal__name_list *l, const char *s) {
  if (!sal__grow(ctx, (void **)&l->v, &l->cap, l->n + 1, sizeof(char *))) return SAL_STATUS_OUT_OF_MEMORY;
  l->v[l->n] = sal__strdup(ctx, s);
  if (!l->v[l->n]) return SAL_STATUS_OUT_OF_MEMORY;
  l->n++;
  return SAL_STATUS_OK;
}

sal_status sal__list_dir(sal_ctx *ctx, const char *dir, sal__name_list *out) {
  DIR *d = opendir(dir);
  if (!d) return sal_ctx_error(ctx, errno == ENOENT ? SAL_STATUS_NOT_FOUND : SAL_STATUS_IO, "%s: %s", dir, strerror(errno));
  sal_status st = SAL_STATUS_OK;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if ((st = name_list_add(ctx, out, e->d_name)) != SAL_STATUS_OK) break;
  }
  closedir(d);
  if (st == SAL_STATUS_OK && out->n > 1) qsort(out->v, (size_t)out->n, sizeof(char *), cmp_str);
  return st;
}

static bool is_dir(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Adds every image under dir (recursively, sorted at each level, as os.walk + sorted) with label. */
static sal_status folder_walk(sal__ds_builder *b, const char *dir, int64_t label, int depth, int64_t max_items) {
  if (depth > 32) return sal_ctx_error(b->ctx, SAL_STATUS_BAD_INPUT, "%s: directories nested deeper than 32", dir);
  sal__name_list names = {0};
  sal_status st = sal__list_dir(b->ctx, dir, &names);
  for (int64_t i = 0; st == SAL_STATUS_OK && i < names.n; i++) {
    if (max_items > 0 && b->ds->n_items >= max_items) break;
    char *p = sal__path_join(b->ctx, dir, names.v[i]);
    if (!p) {
      st = SAL_STATUS_OUT_OF_MEMORY;
      break;
    }
    if (is_dir(p)) {
      st = folder_walk(b, p, label, depth + 1, max_items);
    } else if (has_image_ext(names.v[i])) {
      sal_item *it;
      st = sal__ds_add_item(b, p, 1, &it);
      if (st == SAL_STATUS_OK) {
        it->label = label;
        it->objects[0].label = label;
      }
    }
    sal_free(p);
  }
  sal__name_list_free(&names);
  return st;
}

static sal_status open_folder(sal__ds_builder *b, const char *root, const sal_dataset_opts *o) {
  sal__name_list names = {0};
  sal_status st = sal__list_dir(b->ctx, root, &names);
  for (int64_t i = 0; st == SAL_STATUS_OK && i < names.n; i++) {
    char *p = sal__path_join(b->ctx, root, names.v[i]);
    if (!p) {
      st = SAL_STATUS_OUT_OF_MEMORY;
      break;
    }
    if (is_dir(p)) {
      st = sal__ds_add_class(b, names.v[i]);
      if (st == SAL_STATUS_OK) st = folder_walk(b, p, b->ds->n_classes - 1, 0, o->max_items);
    }
    sal_free(p);
  }
  sal__name_list_free(&names);
  if (st == SAL_STATUS_OK && b->ds->n_classes == 0)
    st = sal_ctx_error(b->ctx, SAL_STATUS_BAD_INPUT, "%s: no class subfolders (an image folder has one folder per class)", root);
  else if (st == SAL_STATUS_OK && b->ds->n_items == 0)
    st = sal_ctx_error(b->ctx, SAL_STATUS_BAD_INPUT, "%s: no images found in the class folders", root);
  return st;
}

/* ---- CSV manifest ---- */

/* One CSV record (RFC 4180): up to 8 fields, unquoted in place. *pos advances past the record's
 * line break; *line counts the line breaks consumed (quoted fields may span lines). Returns the
 * number of fields, 0 at the end of input, -1 for an unterminated quote. */
static int csv_record(char *text, size_t n, size_t *pos, int64_t *line, char **fields, int max_fields) {
  size_t i = *pos;
  if (i >= n) return 0;
  int nf = 0;
  for (;;) {
    char *w = text + i, *start = w;
    if (i < n && text[i] == '"') {
      i++;
      for (;;) {
        if (i >= n) return -1;
        if (text[i] == '\n') (*line)++;
        if (text[i] == '"') {
          if (i + 1 < n && text[i + 1] == '"') {
            *w++ = '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        *w++ = text[i++];
      }
      while (i < n && text[i] != ',' && text[i] != '\n') i++; /* junk after a closing quote is ignored */
    } else {
      while (i < n && text[i] != ',' && text[i] != '\n') *w++ = text[i++];
      if (w > start && w[-1] == '\r') w--;
    }
    char sep = i < n ? text[i] : '\n';
    *w = '\0';
    if (nf < max_fields) fields[nf] = start;
    nf++;
    i++;
    if (sep == '\n') {
      (*line)++;
      break;
    }
  }
  *pos = i;
  return nf;
}

typedef struct csv_row {
  int64_t line;
  char *path, *labels, *boxes, *masks;
} csv_row;

/* Splits s at ';' in place into at most max parts (trimmed); returns the count or -1 if more. */
static int split_semicolons(char *s, char **parts, int max) {
  s = trim(s);
  if (!*s) return 0;
  int n = 0;
  for (char *p = s;;) {
    char *semi = strchr(p, ';');
    if (semi) *semi = '\0';
    if (n >= max) return -1;
    parts[n++] = trim(p);
    if (!semi) break;
    p = semi + 1;
  }
  return n;
}

/* A label made of digits is a class index; longer than 9 digits it is reported as out of range
 * through *out = DS_MAX_CLASSES (every caller range-checks). */
static bool parse_label_index(const char *s, int64_t *out) {
  if (!*s) return false;
  for (const char *p = s; *p; p++)
    if (!isdigit((unsigned char)*p)) return false;
  *out = strlen(s) > 9 ? DS_MAX_CLASSES : strtoll(s, NULL, 10);
  return true;
}

static sal_status parse_box(sal_ctx *ctx, const char *where, int64_t line, const char *s, sal_box *bx) {
  float v[4];
  const char *p = s;
  for (int k = 0; k < 4; k++) {
    char *end;
    errno = 0;
    v[k] = strtof(p, &end);
    if (end == p || errno == ERANGE || !isfinite(v[k]))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: box '%s' is not four numbers 'x0 y0 x1 y1'", where,
                           (long long)line, s);
    p = end;
  }
  while (*p && isspace((unsigned char)*p)) p++;
  if (*p) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: box '%s' has more than four numbers", where, (long long)line, s);
  if (!(v[0] < v[2] && v[1] < v[3]))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: box '%s' is empty (need x0 < x1 and y0 < y1)", where,
                         (long long)line, s);
  bx->x0 = v[0];
  bx->y0 = v[1];
  bx->x1 = v[2];
  bx->y1 = v[3];
  return SAL_STATUS_OK;
}

/* With skip_bad_rows, a row's BAD_INPUT error is kept in ds->skipped (the message the context
 * holds) and becomes OK, so the caller leaves the row out; other errors pass through. */
static sal_status skip_row(sal__ds_builder *b, const sal_dataset_opts *o, sal_status st) {
  if (st != SAL_STATUS_BAD_INPUT || !o->skip_bad_rows) return st;
  sal_dataset *ds = b->ds;
  char **grown = sal_alloc(b->ctx, (size_t)(ds->n_skipped + 1) * sizeof *grown);
  char *msg = sal__strdup(b->ctx, sal_ctx_last_error(b->ctx));
  if (!grown || !msg) {
    sal_free(grown);
    sal_free(msg);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  if (ds->n_skipped) memcpy(grown, ds->skipped, (size_t)ds->n_skipped * sizeof *grown);
  sal_free(ds->skipped);
  ds->skipped = grown;
  ds->skipped[ds->n_skipped++] = msg;
  return SAL_STATUS_OK;
}

/* Removes the last item (a row that failed after its item was added). */
static void drop_last_item(sal_dataset *ds) {
  sal_item *it = &ds->items[--ds->n_items];
  for (int k = 0; k < it->n_objects; k++) sal_free(it->objects[k].mask_path);
  sal_free(it->objects);
  sal_free(it->path);
  memset(it, 0, sizeof *it);
}

/* Fills one manifest row's objects once the classes are known. */
static sal_status csv_add_row(sal__ds_builder *b, const char *mpath, const char *mdir, csv_row *r) {
  sal_ctx *ctx = b->ctx;
  char *labels[DS_MAX_OBJECTS], *boxes[DS_MAX_OBJECTS], *masks[DS_MAX_OBJECTS];
  long long ln = (long long)r->line;
  int nl = split_semicolons(r->labels, labels, DS_MAX_OBJECTS);
  int nb = r->boxes ? split_semicolons(r->boxes, boxes, DS_MAX_OBJECTS) : 0;
  int nm = r->masks ? split_semicolons(r->masks, masks, DS_MAX_OBJECTS) : 0;
  if (nl < 0 || nb < 0 || nm < 0)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: more than %d objects", mpath, ln, DS_MAX_OBJECTS);
  if (nl == 0) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: empty label", mpath, ln);
  /* One label with several boxes is one class with several instances (ImageNet's boxes); several
   * labels pair with boxes and masks in order. */
  int nobj = nl;
  if (nl == 1 && nb > 1) nobj = nb;
  if (nb != 0 && nb != nobj)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: %d labels but %d boxes", mpath, ln, nl, nb);
  if (nm != 0 && nm != nobj && !(nl == 1 && nm == 1))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: %d objects but %d masks", mpath, ln, nobj, nm);
  char *full = sal__path_join(ctx, mdir, trim(r->path));
  if (!full) return SAL_STATUS_OUT_OF_MEMORY;
  sal_item *it;
  sal_status st = sal__ds_add_item(b, full, nobj, &it);
  sal_free(full);
  if (st != SAL_STATUS_OK) return st;
  for (int k = 0; k < nobj; k++) {
    const char *lab = labels[nl == 1 ? 0 : k];
    int64_t c;
    if (parse_label_index(lab, &c)) {
      if (c >= b->ds->n_classes)
        return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: label %lld is out of range (%lld classes)", mpath, ln,
                             (long long)c, (long long)b->ds->n_classes);
    } else if ((c = sal_dataset_class_index(b->ds, lab)) < 0) {
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: unknown class '%s'", mpath, ln, lab);
    }
    it->objects[k].label = c;
    if (nb) {
      it->objects[k].has_box = true;
      if ((st = parse_box(ctx, mpath, r->line, boxes[k], &it->objects[k].box)) != SAL_STATUS_OK) return st;
    }
    if (nm) {
      const char *m = masks[nm == 1 ? 0 : k];
      if (!*m) continue;
      it->objects[k].mask_path = sal__path_join(ctx, mdir, m);
      if (!it->objects[k].mask_path) return SAL_STATUS_OUT_OF_MEMORY;
    }
  }
  it->label = it->objects[0].label;
  return SAL_STATUS_OK;
}

static sal_status open_manifest(sal__ds_builder *b, const char *path, const sal_dataset_opts *o) {
  sal_ctx *ctx = b->ctx;
  char *text = NULL, *mdir = NULL, *cls = NULL;
  csv_row *rows = NULL;
  char **names = NULL;
  int64_t nrows = 0, rows_cap = 0, nnames = 0, names_cap = 0;
  size_t n;
  sal_status st = sal__read_file(ctx, path, DS_MAX_TEXT, &text, &n);
  if (st != SAL_STATUS_OK) return st;
  if (memchr(text, '\0', n)) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: not a text file (contains NUL bytes)", path);
    goto done;
  }
  mdir = sal__path_dir(ctx, path);
  if (!mdir) {
    st = SAL_STATUS_OUT_OF_MEMORY;
    goto done;
  }
  /* Class names: the option, else classes.txt beside the manifest when present. */
  if (o->classes_path) {
    st = sal__ds_read_classes(b, o->classes_path);
  } else {
    cls = sal__path_join(ctx, mdir, "classes.txt");
    if (!cls) st = SAL_STATUS_OUT_OF_MEMORY;
    else if (access(cls, F_OK) == 0) st = sal__ds_read_classes(b, cls);
  }
  if (st != SAL_STATUS_OK) goto done;

  /* Columns: a header names them (path,label,boxes,masks in any order; "mask" accepted); without
   * one they are positional. */
  int col[4] = {0, 1, 2, 3};
  int n_cols = 4; /* fields a row may have: the header's count, else path,label,boxes,masks */
  size_t pos = 0;
  int64_t line = 0;
  bool first = true;
  int64_t max_label = -1;
  bool any_name = false;
  for (;;) {
    char *f[8];
    int64_t this_line = line + 1; /* 1-based line on which the record starts */
    int nf = csv_record(text, n, &pos, &line, f, 8);
    if (nf == 0) break;
    if (nf < 0) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: unterminated quoted field", path, (long long)this_line);
      goto done;
    }
    if (nf == 1 && !*trim(f[0])) continue; /* blank line */
    bool header = false;
    for (int k = 0; first && k < nf && k < 8; k++) header = header || strcasecmp(trim(f[k]), "path") == 0;
    if (header) {
      first = false;
      n_cols = nf;
      for (int k = 0; k < 4; k++) col[k] = -1;
      for (int k = 0; k < nf && k < 8; k++) {
        const char *h = trim(f[k]);
        if (strcasecmp(h, "path") == 0) col[0] = k;
        else if (strcasecmp(h, "label") == 0 || strcasecmp(h, "labels") == 0) col[1] = k;
        else if (strcasecmp(h, "boxes") == 0 || strcasecmp(h, "box") == 0) col[2] = k;
        else if (strcasecmp(h, "masks") == 0 || strcasecmp(h, "mask") == 0) col[3] = k;
        else {
          st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: unknown column '%s' (expected path,label,boxes,masks)",
                             path, (long long)this_line, h);
          goto done;
        }
      }
      if (col[1] < 0) {
        st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: header has no 'label' column", path, (long long)this_line);
        goto done;
      }
      continue;
    }
    first = false;
    if (nf > n_cols || nf <= col[0] || nf <= col[1]) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: expected %s, got %d fields", path, (long long)this_line,
                         n_cols == 4 && col[0] == 0 ? "path,label[,boxes][,masks]" : "the header's columns", nf);
      if ((st = skip_row(b, o, st)) != SAL_STATUS_OK) goto done;
      continue;
    }
    if (!*trim(f[col[0]])) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: empty path", path, (long long)this_line);
      if ((st = skip_row(b, o, st)) != SAL_STATUS_OK) goto done;
      continue;
    }
    if (!sal__grow(ctx, (void **)&rows, &rows_cap, nrows + 1, sizeof(csv_row))) {
      st = SAL_STATUS_OUT_OF_MEMORY;
      goto done;
    }
    csv_row *r = &rows[nrows++];
    r->line = this_line;
    r->path = f[col[0]];
    r->labels = f[col[1]];
    r->boxes = col[2] >= 0 && col[2] < nf ? f[col[2]] : NULL;
    r->masks = col[3] >= 0 && col[3] < nf ? f[col[3]] : NULL;
    /* Scan labels now (without splitting in place) to learn names / the largest index. */
    char tmp[256];
    const char *p = r->labels;
    while (*p) {
      size_t len = strcspn(p, ";");
      size_t cl = len < sizeof tmp - 1 ? len : sizeof tmp - 1;
      memcpy(tmp, p, cl);
      tmp[cl] = '\0';
      char *t = trim(tmp);
      int64_t c;
      if (!*t) {
      } else if (parse_label_index(t, &c)) {
        if (c >= DS_MAX_CLASSES) {
          st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s:%lld: label '%s' is out of range (at most %d classes)", path,
                             (long long)this_line, t, DS_MAX_CLASSES);
          if ((st = skip_row(b, o, st)) != SAL_STATUS_OK) goto done;
          nrows--; /* left out: the row was recorded above */
          break;
        }
        if (c > max_label) max_label = c;
      } else if (b->ds->n_classes == 0) {
        any_name = true;
        if (!sal__grow(ctx, (void **)&names, &names_cap, nnames + 1, sizeof(char *))) {
          st = SAL_STATUS_OUT_OF_MEMORY;
          goto done;
        }
        names[nnames] = sal__strdup(ctx, t);
        if (!names[nnames]) {
          st = SAL_STATUS_OUT_OF_MEMORY;
          goto done;
        }
        nnames++;
      }
      p += len;
      if (*p == ';') p++;
    }
    if (o->max_items > 0 && nrows >= o->max_items) break;
  }
  if (nrows == 0) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: no entries", path);
    goto done;
  }
  /* Without a class list: names get indices in sorted order (as an image folder's classes do);
   * bare indices get names "0", "1", …. Mixing both needs a class list. */
  if (b->ds->n_classes == 0) {
    if (any_name && max_label >= 0) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: labels mix class names and indices; give a classes.txt", path);
      goto done;
    }
    if (any_name) {
      st = sal__ds_classes_from_names(b, names, nnames);
    } else {
      for (int64_t c = 0; st == SAL_STATUS_OK && c <= max_label; c++) {
        char nm[24];
        snprintf(nm, sizeof nm, "%lld", (long long)c);
        st = sal__ds_add_class(b, nm);
      }
    }
    if (st != SAL_STATUS_OK) goto done;
  }
  for (int64_t i = 0; i < nrows && st == SAL_STATUS_OK; i++) {
    int64_t before = b->ds->n_items;
    st = csv_add_row(b, path, mdir, &rows[i]);
    if (st == SAL_STATUS_BAD_INPUT && o->skip_bad_rows) {
      if (b->ds->n_items > before) drop_last_item(b->ds);
      st = skip_row(b, o, st);
    }
  }
  if (st == SAL_STATUS_OK && b->ds->n_items == 0)
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: every row is malformed (%lld left out)", path,
                       (long long)b->ds->n_skipped);
done:
  for (int64_t i = 0; i < nnames; i++) sal_free(names[i]);
  sal_free(names);
  sal_free(rows);
  sal_free(cls);
  sal_free(mdir);
  sal_free(text);
  return st;
}

/* ---- entry points ---- */

static bool dir_has_xml(sal_ctx *ctx, const char *dir, bool *has) {
  sal__name_list names = {0};
  *has = false;
  if (sal__list_dir(ctx, dir, &names) != SAL_STATUS_OK) return false;
  for (int64_t i = 0; i < names.n && !*has; i++) {
    const char *dot = strrchr(names.v[i], '.');
    *has = dot && strcasecmp(dot, ".xml") == 0;
  }
  sal__name_list_free(&names);
  return true;
}

sal_status sal_dataset_open(sal_ctx *ctx, const char *path, const sal_dataset_opts *opts, sal_dataset **out) {
  *out = NULL;
  if (!path) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_dataset_open: NULL path");
  sal_dataset_opts o = {0};
  if (opts) o = *opts;
  if (o.max_items < 0) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: max_items %lld < 0", path, (long long)o.max_items);
  struct stat sb;
  if (stat(path, &sb) != 0)
    return sal_ctx_error(ctx, errno == ENOENT ? SAL_STATUS_NOT_FOUND : SAL_STATUS_IO, "%s: %s", path, strerror(errno));
  sal__ds_builder b;
  sal_status st = sal__ds_new(ctx, path, &b);
  if (st != SAL_STATUS_OK) return st;
  if (S_ISDIR(sb.st_mode)) {
    bool xml = false;
    if (!dir_has_xml(ctx, path, &xml)) st = sal_ctx_error(ctx, SAL_STATUS_IO, "%s: cannot list: %s", path, strerror(errno));
    else if (xml) st = sal__ds_open_voc(&b, path, &o);
    else st = open_folder(&b, path, &o);
  } else {
    const char *dot = strrchr(path, '.');
    if (dot && strcasecmp(dot, ".csv") == 0) st = open_manifest(&b, path, &o);
    else
      st = sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED,
                         "%s: not a dataset (expected a .csv manifest, an image folder or a directory of VOC .xml files)", path);
  }
  if (st != SAL_STATUS_OK) {
    sal_dataset_free(b.ds);
    return st;
  }
  *out = b.ds;
  return SAL_STATUS_OK;
}

/* Philox stream for dataset shuffles; distinct from the streams the methods use. */
#define DS_SHUFFLE_STREAM 0x5348554646ull /* "SHUFF" */

sal_status sal_dataset_order(sal_ctx *ctx, const sal_dataset *ds, uint64_t seed, int64_t epoch, bool shuffle,
                             int part, int parts, int64_t **idx_out, int64_t *n_out) {
  *idx_out = NULL;
  *n_out = 0;
  if (parts < 1 || part < 0 || part >= parts)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "shard %d of %d: need 0 <= part < parts", part, parts);
  if (epoch < 0) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "epoch %lld < 0", (long long)epoch);
  int64_t n = ds->n_items;
  int64_t *perm = sal_alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof *perm);
  if (!perm) return SAL_STATUS_OUT_OF_MEMORY;
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  if (shuffle) {
    /* Fisher–Yates from the top; step i draws j uniformly from [0, i] with 64 random bits from
     * Philox counter i of stream (DS_SHUFFLE_STREAM + epoch): the bias of the reduction is below
     * n / 2^64, invisible for any dataset size. */
    for (int64_t i = n - 1; i > 0; i--) {
      uint32_t r[4];
      sal_philox(seed, DS_SHUFFLE_STREAM + (uint64_t)epoch, (uint64_t)i, r);
      uint64_t u = ((uint64_t)r[0] << 32) | r[1];
      int64_t j = (int64_t)(u % (uint64_t)(i + 1));
      int64_t t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
  }
  int64_t k = 0;
  for (int64_t i = part; i < n; i += parts) perm[k++] = perm[i];
  *idx_out = perm;
  *n_out = k;
  return SAL_STATUS_OK;
}
