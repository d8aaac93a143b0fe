/* Pascal VOC XML annotations (also the format of ImageNet's validation boxes): a bounded XML
 * scanner that extracts filename, size and each object's name and bndbox, feeding the dataset
 * builder of dataset.c. */
#define _POSIX_C_SOURCE 200809L

#include "data/dataset_internal.h"

#include "io/atomic.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* One annotation is a few kilobytes; 16 MiB bounds a wrong file. */
#define VOC_MAX_FILE ((size_t)16 << 20)
#define VOC_MAX_DEPTH 32
#define VOC_MAX_NAME 64
#define VOC_MAX_TEXT 1024
#define VOC_MAX_OBJECTS 4096

typedef struct voc_object {
  char name[VOC_MAX_TEXT];
  double v[4]; /* xmin ymin xmax ymax */
  int have;    /* bit k set when v[k] was read */
} voc_object;

typedef struct voc_ann {
  char filename[VOC_MAX_TEXT];
  double width, height;
  voc_object *obj;
  int n_obj;
} voc_ann;

typedef struct xml_state {
  char stack[VOC_MAX_DEPTH][VOC_MAX_NAME];
  int depth;
} xml_state;

/* Decodes the five predefined XML entities and numeric references below 128 of [s, e) into out
 * (trimmed, truncated to VOC_MAX_TEXT - 1; returns false when too long). */
static bool xml_text(const char *s, const char *e, char *out) {
  while (s < e && isspace((unsigned char)*s)) s++;
  while (e > s && isspace((unsigned char)e[-1])) e--;
  size_t k = 0;
  while (s < e) {
    char c = *s++;
    if (c == '&') {
      static const struct {
        const char *name;
        char c;
      } ent[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
      bool done = false;
      for (size_t i = 0; i < sizeof ent / sizeof ent[0] && !done; i++) {
        size_t l = strlen(ent[i].name);
        if ((size_t)(e - s) >= l && memcmp(s, ent[i].name, l) == 0) {
          c = ent[i].c;
          s += l;
          done = true;
        }
      }
      if (!done && s < e && *s == '#') {
        long v = 0;
        const char *p = s + 1;
        while (p < e && isdigit((unsigned char)*p) && v < 1000) v = v * 10 + (*p++ - '0');
        if (p < e && *p == ';' && v > 0 && v < 128) {
          c = (char)v;
          s = p + 1;
        }
      }
    }
    if (k + 1 >= VOC_MAX_TEXT) return false;
    out[k++] = c;
  }
  out[k] = '\0';
  return true;
}

static bool top_is(const xml_state *x, int from_top, const char *name) {
  int i = x->depth - 1 - from_top;
  return i >= 0 && strcmp(x->stack[i], name) == 0;
}

/* Finds needle in [p, e); NULL when absent. */
static const char *find(const char *p, const char *e, const char *needle) {
  size_t l = strlen(needle);
  for (; p + l <= e; p++)
    if (memcmp(p, needle, l) == 0) return p;
  return NULL;
}

/* Parses one annotation file's text. Errors name the file and the byte offset. */
static sal_status voc_parse(sal_ctx *ctx, const char *path, const char *text, size_t n, voc_ann *a) {
  xml_state x;
  memset(&x, 0, sizeof x);
  const char *p = text, *end = text + n;
  voc_object *cur = NULL;
  bool seen_root = false;
  while (p < end) {
    long off = (long)(p - text);
    if (*p != '<') {
      const char *lt = memchr(p, '<', (size_t)(end - p));
      if (!lt) lt = end;
      /* Text content: keep it when it is one of the fields we read. */
      if (x.depth > 0) {
        char buf[VOC_MAX_TEXT];
        const char *tag = x.stack[x.depth - 1];
        bool want = false;
        static const char *const coord[4] = {"xmin", "ymin", "xmax", "ymax"};
        if (top_is(&x, 1, "annotation") && (!strcmp(tag, "filename") || !strcmp(tag, "path"))) want = true;
        if (top_is(&x, 1, "size") && (!strcmp(tag, "width") || !strcmp(tag, "height"))) want = true;
        if (cur && top_is(&x, 1, "object") && !strcmp(tag, "name")) want = true;
        if (cur && top_is(&x, 1, "bndbox")) want = true;
        if (want) {
          if (!xml_text(p, lt, buf))
            return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: byte %ld: <%s> text longer than %d bytes", path, off, tag,
                                 VOC_MAX_TEXT - 1);
          if (!strcmp(tag, "filename")) {
            memcpy(a->filename, buf, sizeof buf);
          } else if (!strcmp(tag, "path")) {
            /* <path> is informational (an absolute path on the annotator's machine); ignored. */
          } else if (!strcmp(tag, "width") || !strcmp(tag, "height") || top_is(&x, 1, "bndbox")) {
            char *e;
            errno = 0;
            double v = strtod(buf, &e);
            if (e == buf || *e || errno == ERANGE || !isfinite(v) || v < 0 || v > 1e9)
              return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: byte %ld: <%s> '%s' is not a non-negative number", path,
                                   off, tag, buf);
            if (!strcmp(tag, "width")) a->width = v;
            else if (!strcmp(tag, "height")) a->height = v;
            else
              for (int k = 0; k < 4; k++)
                if (!strcmp(tag, coord[k])) {
                  cur->v[k] = v;
                  cur->have |= 1 << k;
                }
          } else {
            memcpy(cur->name, buf, sizeof buf);
          }
        }
      }
      p = lt;
      continue;
    }
    /* Markup. */
    if ((size_t)(end - p) >= 4 && memcmp(p, "<!--", 4) == 0) {
      const char *q = find(p + 4, end, "-->");
      if (!q) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: byte %ld: unterminated comment", path, off);
      p = q + 3;
      continue;
    }
    if ((size_t)(end - p) >= 2 && (p[1] == '?' || p[1] == '!')) {
      const char *q = memchr(p, '>', (size_t)(end - p));
      if (!q) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: byte %ld: unterminated declaration", path, off);
      p = q + 1;
      continue;
    }
    const char *gt = memchr(p, '>', (size_t)(end - p));
    if (!gt) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: byte %ld: unterminated tag", path, off);
    bool closing = p[1] == '/';
    bool selfclose = gt[-1] == '/' && gt - 1 > p;
    const char *ns = p + 1 + closing, *ne = ns;
    while (ne < gt && !isspace((unsigned char)*ne) && *ne != '/') ne++;
    size_t nl = (size_t)(ne - ns);
    if (nl == 0 || nl >= VOC_MAX_NAME)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: byte %ld: bad element name", path, off);
    char name[VOC_MAX_NAME];
    memcpy(name, ns, nl);
    name[nl] = '\0';
    if (closing) {
      if (x.depth == 0 || strcmp(x.stack[x.depth - 1], name) != 0)
        return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: byte %ld: </%s> does not close <%s>", path, off, name,
                             x.depth ? x.stack[x.depth - 1] : "(nothing)");
      if (!strcmp(name, "object") && cur) cur = NULL;
      x.depth--;
    } else if (!selfclose) {
      if (x.depth == 0) {
        if (seen_root || strcmp(name, "annotation") != 0)
          return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: byte %ld: the root element is <%s>, expected <annotation>",
                               path, off, name);
        seen_root = true;
      }
      if (x.depth >= VOC_MAX_DEPTH)
        return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: byte %ld: elements nested deeper than %d", path, off, VOC_MAX_DEPTH);
      memcpy(x.stack[x.depth++], name, nl + 1);
      if (!strcmp(name, "object") && top_is(&x, 1, "annotation")) {
        if (a->n_obj >= VOC_MAX_OBJECTS)
          return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: more than %d objects", path, VOC_MAX_OBJECTS);
        cur = &a->obj[a->n_obj++];
        memset(cur, 0, sizeof *cur);
      }
    }
    p = gt + 1;
  }
  if (!seen_root) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: no <annotation> element", path);
  if (x.depth != 0) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: <%s> is not closed", path, x.stack[x.depth - 1]);
  if (!a->filename[0]) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: no <filename>", path);
  return SAL_STATUS_OK;
}

/* The image file an annotation names: filename as given, or — when it has no extension, as in
 * ImageNet's validation annotations — the first of .JPEG/.jpg/.jpeg/.png that exists. */
static char *voc_image_path(sal_ctx *ctx, const char *image_dir, const char *filename) {
  char *p = sal__path_join(ctx, image_dir, filename);
  if (!p || strchr(filename, '.')) return p;
  static const char *const exts[] = {".JPEG", ".jpg", ".jpeg", ".png"};
  size_t n = strlen(p);
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
    char *q = sal_alloc(ctx, n + 8);
    if (!q) break;
    snprintf(q, n + 8, "%s%s", p, exts[i]);
    if (access(q, F_OK) == 0) {
      sal_free(p);
      return q;
    }
    sal_free(q);
  }
  return p;
}

sal_status sal__ds_open_voc(sal__ds_builder *b, const char *dir, const sal_dataset_opts *o) {
  sal_ctx *ctx = b->ctx;
  sal__name_list files = {0};
  voc_ann *anns = NULL;
  int64_t n_ann = 0;
  char **names = NULL;
  int64_t n_names = 0;
  char *image_dir = NULL;
  sal_status st = SAL_STATUS_OK;

  if (o->image_dir) {
    image_dir = sal__strdup(ctx, o->image_dir);
  } else {
    /* VOC's layout: Annotations/ beside JPEGImages/. */
    char *parent = sal__path_dir(ctx, dir);
    char *jpg = parent ? sal__path_join(ctx, parent, "JPEGImages") : NULL;
    if (jpg && access(jpg, F_OK) == 0) {
      image_dir = jpg;
      jpg = NULL;
    } else {
      image_dir = sal__strdup(ctx, dir);
    }
    sal_free(jpg);
    sal_free(parent);
  }
  if (!image_dir) return SAL_STATUS_OUT_OF_MEMORY;
  if (o->classes_path && (st = sal__ds_read_classes(b, o->classes_path)) != SAL_STATUS_OK) goto done;
  if ((st = sal__list_dir(ctx, dir, &files)) != SAL_STATUS_OK) goto done;
  anns = sal_calloc(ctx, (size_t)(files.n ? files.n : 1), sizeof *anns);
  voc_object *objs = sal_calloc(ctx, VOC_MAX_OBJECTS, sizeof *objs);
  if (!anns || !objs) {
    sal_free(objs);
    st = SAL_STATUS_OUT_OF_MEMORY;
    goto done;
  }
  for (int64_t i = 0; i < files.n && st == SAL_STATUS_OK; i++) {
    const char *dot = strrchr(files.v[i], '.');
    if (!dot || strcasecmp(dot, ".xml") != 0) continue;
    if (o->max_items > 0 && n_ann >= o->max_items) break;
    char *fp = sal__path_join(ctx, dir, files.v[i]);
    char *text = NULL;
    size_t len = 0;
    if (!fp) {
      st = SAL_STATUS_OUT_OF_MEMORY;
      break;
    }
    voc_ann *a = &anns[n_ann];
    a->obj = objs;
    st = sal__read_file(ctx, fp, VOC_MAX_FILE, &text, &len);
    if (st == SAL_STATUS_OK) st = voc_parse(ctx, fp, text, len, a);
    if (st == SAL_STATUS_OK && a->n_obj == 0) st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: no <object>", fp);
    /* Validate and convert the objects now, keeping only what the builder needs. */
    for (int k = 0; st == SAL_STATUS_OK && k < a->n_obj; k++) {
      voc_object *ob = &a->obj[k];
      if (!ob->name[0]) st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: object %d has no <name>", fp, k + 1);
      else if (ob->have != 15)
        st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: object %d ('%s') lacks a complete <bndbox>", fp, k + 1, ob->name);
    }
    if (st == SAL_STATUS_OK) {
      /* Move this annotation's objects into their own array (objs is reused per file). */
      voc_object *own = sal_calloc(ctx, (size_t)a->n_obj, sizeof *own);
      if (!own) st = SAL_STATUS_OUT_OF_MEMORY;
      else {
        memcpy(own, objs, (size_t)a->n_obj * sizeof *own);
        a->obj = own;
        n_ann++;
      }
    } else {
      a->obj = NULL;
    }
    sal_free(text);
    sal_free(fp);
  }
  sal_free(objs);
  if (st != SAL_STATUS_OK) goto done;
  if (n_ann == 0) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: no .xml annotations", dir);
    goto done;
  }
  if (b->ds->n_classes == 0) {
    int64_t total = 0;
    for (int64_t i = 0; i < n_ann; i++) total += anns[i].n_obj;
    names = sal_calloc(ctx, (size_t)total, sizeof *names);
    if (!names) {
      st = SAL_STATUS_OUT_OF_MEMORY;
      goto done;
    }
    for (int64_t i = 0; i < n_ann; i++)
      for (int k = 0; k < anns[i].n_obj; k++) names[n_names++] = anns[i].obj[k].name;
    if ((st = sal__ds_classes_from_names(b, names, n_names)) != SAL_STATUS_OK) goto done;
  }
  /* Pascal VOC devkit coordinates are 1-based inclusive pixel indices: pixel xmin..xmax covers
   * [xmin - 1, xmax) in salient's continuous 0-based convention; 0-based inclusive files cover
   * [xmin, xmax + 1). */
  double shift0 = o->voc_zero_based ? 0.0 : -1.0, shift1 = o->voc_zero_based ? 1.0 : 0.0;
  for (int64_t i = 0; i < n_ann && st == SAL_STATUS_OK; i++) {
    voc_ann *a = &anns[i];
    char *ip = voc_image_path(ctx, image_dir, a->filename);
    if (!ip) {
      st = SAL_STATUS_OUT_OF_MEMORY;
      break;
    }
    sal_item *it;
    st = sal__ds_add_item(b, ip, a->n_obj, &it);
    sal_free(ip);
    for (int k = 0; st == SAL_STATUS_OK && k < a->n_obj; k++) {
      voc_object *ob = &a->obj[k];
      int64_t c = sal_dataset_class_index(b->ds, ob->name);
      if (c < 0) {
        st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s/%s: class '%s' is not in the class list", dir, a->filename, ob->name);
        break;
      }
      sal_box bx = {(float)(ob->v[0] + shift0), (float)(ob->v[1] + shift0), (float)(ob->v[2] + shift1),
                    (float)(ob->v[3] + shift1)};
      if (!(bx.x0 < bx.x1 && bx.y0 < bx.y1) || bx.x0 < 0 || bx.y0 < 0 ||
          (a->width > 0 && bx.x1 > a->width + 1e-3) || (a->height > 0 && bx.y1 > a->height + 1e-3)) {
        st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s/%s: object %d ('%s') box %g %g %g %g is empty or outside the %gx%g image",
                           dir, a->filename, k + 1, ob->name, ob->v[0], ob->v[1], ob->v[2], ob->v[3], a->width, a->height);
        break;
      }
      it->objects[k].label = c;
      it->objects[k].has_box = true;
      it->objects[k].box = bx;
    }
    if (st == SAL_STATUS_OK) it->label = it->objects[0].label;
  }
done:
  sal_free(names);
  for (int64_t i = 0; i < n_ann; i++) sal_free(anns[i].obj);
  sal_free(anns);
  sal__name_list_free(&files);
  sal_free(image_dir);
  return st;
}
