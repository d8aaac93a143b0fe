/* Dataset readers: image folder (torchvision ImageFolder order), CSV manifests (header, quoting,
 * names vs indices, multi-object rows), Pascal VOC / ImageNet XML, malformed inputs with errors
 * naming file and line, and the deterministic shuffled / sharded order. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "salient/dataset.h"

static void mkdirs(const char *rel) {
  char p[1024];
  th_tmp_path(p, sizeof p, rel);
  for (char *s = p + strlen(th_tmpdir()) + 1; *s; s++)
    if (*s == '/') {
      *s = '\0';
      mkdir(p, 0755);
      *s = '/';
    }
  mkdir(p, 0755);
}

static void put(const char *rel, const char *text) {
  char p[1024];
  th_tmp_path(p, sizeof p, rel);
  th_write_file(p, text, strlen(text));
}

static sal_status open_rel(const char *rel, const sal_dataset_opts *o, sal_dataset **ds) {
  char p[1024];
  th_tmp_path(p, sizeof p, rel);
  return sal_dataset_open(th_ctx(), p, o, ds);
}

/* The tail of path after the temporary directory ("" if it is not under it). */
static const char *rel_of(const char *path) {
  size_t n = strlen(th_tmpdir());
  return strncmp(path, th_tmpdir(), n) == 0 ? path + n + 1 : "";
}

static void test_folder(void) {
  mkdirs("folder/zebra/sub");
  mkdirs("folder/Ant");
  mkdirs("folder/cat");
  put("folder/zebra/b.png", "x");
  put("folder/zebra/a.JPG", "x");
  put("folder/zebra/notes.txt", "not an image");
  put("folder/zebra/sub/c.jpeg", "x");
  put("folder/Ant/1.png", "x");
  put("folder/cat/x.webp", "x");
  put("folder/README", "a file at the top level is not a class");
  sal_dataset *ds = NULL;
  TH_OK(open_rel("folder", NULL, &ds));
  if (!ds) return;
  /* Byte order: upper case sorts before lower case, as Python's sorted(). */
  TH_CHECK(ds->n_classes == 3 && !strcmp(ds->class_names[0], "Ant") && !strcmp(ds->class_names[1], "cat") &&
               !strcmp(ds->class_names[2], "zebra"),
           "classes sorted by byte value");
  TH_CHECK(ds->n_items == 5, "5 images (notes.txt skipped), got %lld", (long long)ds->n_items);
  const char *want[5] = {"folder/Ant/1.png", "folder/cat/x.webp", "folder/zebra/a.JPG", "folder/zebra/b.png",
                         "folder/zebra/sub/c.jpeg"};
  const int64_t lab[5] = {0, 1, 2, 2, 2};
  for (int i = 0; i < 5 && i < ds->n_items; i++) {
    TH_CHECK(!strcmp(rel_of(ds->items[i].path), want[i]), "item %d is %s, want %s", i, ds->items[i].path, want[i]);
    TH_CHECK(ds->items[i].label == lab[i] && ds->items[i].n_objects == 1 && !ds->items[i].objects[0].has_box,
             "item %d label %lld", i, (long long)ds->items[i].label);
  }
  TH_CHECK(sal_dataset_class_index(ds, "cat") == 1 && sal_dataset_class_index(ds, "dog") == -1, "class lookup");
  sal_dataset_free(ds);

  sal_dataset_opts o = {.max_items = 2};
  TH_OK(open_rel("folder", &o, &ds));
  if (ds) TH_CHECK(ds->n_items == 2, "max_items honoured");
  sal_dataset_free(ds);

  mkdirs("empty_folder");
  TH_FAILS(open_rel("empty_folder", NULL, &ds), SAL_STATUS_BAD_INPUT, "no class subfolders");
  mkdirs("imageless/a");
  TH_FAILS(open_rel("imageless", NULL, &ds), SAL_STATUS_BAD_INPUT, "no images");
  TH_FAILS(open_rel("does_not_exist", NULL, &ds), SAL_STATUS_NOT_FOUND, "does_not_exist");
  TH_CHECK(ds == NULL, "no dataset on error");
}

static void test_manifest(void) {
  mkdirs("m");
  put("m/classes.txt", "circle\nsquare\n\ntriangle\n");
  put("m/train.csv",
      "path,label,boxes,masks\n"
      "images/0.png,1,2 3 10 12,masks/0.png\n"
      "\"images/with,comma.png\",circle,,\n"
      "images/pair.png,0;2,0 0 5 5;6 6 9.5 9,masks/p0.png;masks/p1.png\r\n"
      "images/many.png,triangle,1 1 2 2;3 3 4 4;5 5 6 6,masks/tri.png\n"
      "/abs/image.png,square\n");
  sal_dataset *ds = NULL;
  TH_OK(open_rel("m/train.csv", NULL, &ds));
  if (!ds) return;
  TH_CHECK(ds->n_classes == 3 && !strcmp(ds->class_names[2], "triangle"), "classes from classes.txt");
  TH_CHECK(ds->n_items == 5, "5 rows, got %lld", (long long)ds->n_items);
  if (ds->n_items == 5) {
    sal_item *a = &ds->items[0];
    TH_CHECK(!strcmp(rel_of(a->path), "m/images/0.png") && a->label == 1 && a->n_objects == 1, "row 1 path/label");
    TH_CHECK(a->objects[0].has_box && a->objects[0].box.x0 == 2 && a->objects[0].box.y0 == 3 && a->objects[0].box.x1 == 10 &&
                 a->objects[0].box.y1 == 12,
             "row 1 box");
    TH_CHECK(a->objects[0].mask_path && !strcmp(rel_of(a->objects[0].mask_path), "m/masks/0.png"), "row 1 mask");
    sal_item *b = &ds->items[1];
    TH_CHECK(!strcmp(rel_of(b->path), "m/images/with,comma.png") && b->label == 0 && !b->objects[0].has_box &&
                 !b->objects[0].mask_path,
             "quoted path, name label, empty boxes/masks");
    sal_item *c = &ds->items[2];
    TH_CHECK(c->n_objects == 2 && c->objects[0].label == 0 && c->objects[1].label == 2 && c->label == 0, "pair labels");
    TH_CHECK(c->objects[1].box.x1 == 9.5f && !strcmp(rel_of(c->objects[1].mask_path), "m/masks/p1.png"),
             "pair: second box and mask in order (CRLF line)");
    sal_item *d = &ds->items[3];
    TH_CHECK(d->n_objects == 3 && d->objects[2].label == 2 && d->objects[2].box.x0 == 5 &&
                 !strcmp(rel_of(d->objects[2].mask_path), "m/masks/tri.png"),
             "one label, several boxes: instances of one class sharing its mask");
    TH_CHECK(!strcmp(ds->items[4].path, "/abs/image.png"), "absolute paths kept");
  }
  sal_dataset_free(ds);

  /* Without a header or a class list: indices name themselves. */
  mkdirs("n");
  put("n/list.csv", "a.png,3\nb.png,0\n");
  TH_OK(open_rel("n/list.csv", NULL, &ds));
  if (ds) TH_CHECK(ds->n_classes == 4 && !strcmp(ds->class_names[3], "3") && ds->items[0].label == 3, "bare indices");
  sal_dataset_free(ds);
  /* Names without a class list: sorted. */
  put("n/names.csv", "path,label\na.png,dog\nb.png,cat\nc.png,dog\n");
  TH_OK(open_rel("n/names.csv", NULL, &ds));
  if (ds)
    TH_CHECK(ds->n_classes == 2 && !strcmp(ds->class_names[0], "cat") && ds->items[0].label == 1 && ds->items[1].label == 0,
             "names sorted into classes");
  sal_dataset_free(ds);
  /* Column order from the header. */
  put("n/cols.csv", "label,path\n1,z.png\n");
  TH_OK(open_rel("n/cols.csv", NULL, &ds));
  if (ds) TH_CHECK(ds->n_items == 1 && !strcmp(rel_of(ds->items[0].path), "n/z.png") && ds->items[0].label == 1, "header order");
  sal_dataset_free(ds);

  /* Malformed manifests: each names the file and the line. */
  static const struct {
    const char *text, *needle;
  } bad[] = {
      {"path,label,boxes\na.png,0,\nb.png,1,1 2 3\n", "bad.csv:3: box '1 2 3' is not four numbers"},
      {"path,label,boxes\na.png,0,5 5 1 1\n", "bad.csv:2: box '5 5 1 1' is empty"},
      {"path,label,boxes\na.png,0,1 1 2 2 7\n", "more than four numbers"},
      {"path,label,boxes\na.png,0;1,1 1 2 2\n", "bad.csv:2: 2 labels but 1 boxes"},
      {"path,label,boxes,masks\na.png,0;1,,m.png\n", "2 objects but 1 masks"},
      {"path,label\na.png,0\n\"b.png,1\n", "bad.csv:3: unterminated quoted field"},
      {"path,label,colour\na.png,0,red\n", "unknown column 'colour'"},
      {"path,boxes\na.png,1 1 2 2\n", "no 'label' column"},
      {"path,label\n", "no entries"},
      {"path,label\na.png,\n", "bad.csv:2: empty label"},
      {"path,label\n,0\n", "bad.csv:2: empty path"},
      {"path,label\na.png,dog\nb.png,1\n", "mix class names and indices"},
      {"path,label\na.png,0\nb.png,1,x,y,z,w,v,u,t\n", "bad.csv:3: expected the header's columns, got 9 fields"},
      {"a.png,0,,,extra\n", "bad.csv:1: expected path,label[,boxes][,masks], got 5 fields"},
      {"path,label,boxes\na.png,0,nan 1 2 3\n", "not four numbers"},
      {"path,label\na.png,99999999999\n", "bad.csv:2: label '99999999999' is out of range"},
  };
  mkdirs("bad");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    put("bad/bad.csv", bad[i].text);
    TH_FAILS(open_rel("bad/bad.csv", NULL, &ds), SAL_STATUS_BAD_INPUT, bad[i].needle);
  }
  /* With a class list, out-of-range indices and unknown names are errors. */
  put("bad/classes.txt", "a\nb\n");
  put("bad/bad.csv", "x.png,2\n");
  TH_FAILS(open_rel("bad/bad.csv", NULL, &ds), SAL_STATUS_BAD_INPUT, "label 2 is out of range (2 classes)");
  put("bad/bad.csv", "x.png,c\n");
  TH_FAILS(open_rel("bad/bad.csv", NULL, &ds), SAL_STATUS_BAD_INPUT, "bad.csv:1: unknown class 'c'");
  put("bad/classes.txt", "a\na\n");
  TH_FAILS(open_rel("bad/bad.csv", NULL, &ds), SAL_STATUS_BAD_INPUT, "classes.txt:2: class 'a' listed twice");
  /* skip_bad_rows: rows with a bad field count, an empty path, a bad box, an out-of-range label
   * and a label/box mismatch are left out with their messages; the good rows keep their order. */
  put("bad/classes.txt", "a\nb\n");
  put("bad/mixed.csv", "path,label,boxes\ng1.png,0,1 1 2 2\nx.png,0,1,2,3,4\n,1\ng2.png,1\ny.png,0,5 5 4 4\n"
                       "z.png,7\nw.png,0;1,1 1 2 2\ng3.png,a\n");
  sal_dataset_opts skip = {0};
  skip.skip_bad_rows = true;
  ds = NULL;
  TH_OK(open_rel("bad/mixed.csv", &skip, &ds));
  if (ds) {
    TH_CHECK(ds->n_items == 3 && strcmp(rel_of(ds->items[0].path), "bad/g1.png") == 0 &&
                 strcmp(rel_of(ds->items[1].path), "bad/g2.png") == 0 && ds->items[2].label == 0 &&
                 ds->items[0].objects[0].has_box,
             "skip_bad_rows: %lld items kept, want g1, g2, g3", (long long)ds->n_items);
    const char *want[5] = {"mixed.csv:3: expected", "mixed.csv:4: empty path", "mixed.csv:6: box '5 5 4 4' is empty",
                           "mixed.csv:7: label 7 is out of range", "mixed.csv:8: 2 labels but 1 boxes"};
    int found = 0;
    for (int i = 0; i < 5; i++)
      for (int64_t k = 0; k < ds->n_skipped; k++) found += strstr(ds->skipped[k], want[i]) != NULL;
    TH_CHECK(ds->n_skipped == 5 && found == 5, "skip_bad_rows: %lld rows skipped, %d of 5 expected messages",
             (long long)ds->n_skipped, found);
    sal_dataset_free(ds);
  }
  TH_FAILS(open_rel("bad/mixed.csv", NULL, &ds), SAL_STATUS_BAD_INPUT, "mixed.csv:3: expected");
  put("bad/allbad.csv", "path,label\n,0\nq.png,9\n");
  TH_FAILS(open_rel("bad/allbad.csv", &skip, &ds), SAL_STATUS_BAD_INPUT, "every row is malformed");
  th_write_file(strcat(strcpy((char[1024]){0}, th_tmpdir()), "/bad/nul.csv"), "a.png,0\n\0\n", 10);
  TH_FAILS(open_rel("bad/nul.csv", NULL, &ds), SAL_STATUS_BAD_INPUT, "contains NUL bytes");
  put("bad/x.txt", "a");
  TH_FAILS(open_rel("bad/x.txt", NULL, &ds), SAL_STATUS_UNSUPPORTED, "not a dataset");

  /* Every truncation of a good manifest either loads or fails cleanly (ASan watches). */
  const char *good = "path,label,boxes,masks\n\"q,1.png\",0;1,1 2 3 4;5 6 7 8,m0.png;m1.png\nb.png,1,,\n";
  for (size_t cut = 0; cut < strlen(good); cut++) {
    char p[1024];
    th_tmp_path(p, sizeof p, "bad/cut.csv");
    th_write_file(p, good, cut);
    sal_status st = sal_dataset_open(th_ctx(), p, NULL, &ds);
    TH_CHECK(st == SAL_STATUS_OK || st == SAL_STATUS_BAD_INPUT, "cut %zu: status %s", cut, sal_status_name(st));
    TH_CHECK((st == SAL_STATUS_OK) == (ds != NULL), "cut %zu: dataset iff OK", cut);
    sal_dataset_free(ds);
    ds = NULL;
  }
}

static const char *voc_xml =
    "<?xml version=\"1.0\"?>\n<!-- a comment with <tags> -->\n"
    "<annotation>\n  <folder>VOC2007</folder>\n  <filename>000001.jpg</filename>\n"
    "  <source><database>The VOC2007 Database</database></source>\n"
    "  <size><width>353</width><height>500</height><depth>3</depth></size>\n"
    "  <object>\n    <name>dog</name>\n    <pose>Left</pose><truncated>1</truncated><difficult>0</difficult>\n"
    "    <bndbox><xmin>48</xmin><ymin>240</ymin><xmax>195</xmax><ymax>371</ymax></bndbox>\n  </object>\n"
    "  <object><name>person</name><part><name>head</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></part>"
    "<bndbox><xmin>8</xmin><ymin>12</ymin><xmax>352</xmax><ymax>498</ymax></bndbox></object>\n"
    "</annotation>\n";

static void test_voc(void) {
  mkdirs("VOC/Annotations");
  mkdirs("VOC/JPEGImages");
  put("VOC/Annotations/000001.xml", voc_xml);
  put("VOC/Annotations/000002.xml",
      "<annotation><filename>000002.jpg</filename><size><width>10</width><height>10</height></size>"
      "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>10</ymax></bndbox></object>"
      "</annotation>");
  sal_dataset *ds = NULL;
  TH_OK(open_rel("VOC/Annotations", NULL, &ds));
  if (!ds) return;
  TH_CHECK(ds->n_classes == 3 && !strcmp(ds->class_names[0], "cat") && !strcmp(ds->class_names[2], "person"),
           "classes sorted from the annotations (part names are not classes)");
  TH_CHECK(ds->n_items == 2, "two annotations");
  if (ds->n_items == 2) {
    sal_item *a = &ds->items[0];
    TH_CHECK(!strcmp(rel_of(a->path), "VOC/JPEGImages/000001.jpg"), "image path in JPEGImages: %s", a->path);
    TH_CHECK(a->n_objects == 2 && a->objects[0].label == 1 && a->objects[1].label == 2, "object labels");
    /* 1-based inclusive (48..195) → continuous [47, 195). */
    TH_CHECK(a->objects[0].box.x0 == 47 && a->objects[0].box.y0 == 239 && a->objects[0].box.x1 == 195 &&
                 a->objects[0].box.y1 == 371,
             "VOC box converted to 0-based continuous");
    TH_CHECK(a->objects[1].box.x0 == 7 && a->objects[1].box.x1 == 352, "object box, not its part's box");
    TH_CHECK(ds->items[1].objects[0].box.x1 == 10, "box touching the border is inside");
  }
  sal_dataset_free(ds);

  /* ImageNet validation style: no extension in <filename>, synset class list, 0-based option. */
  mkdirs("inet/ann");
  mkdirs("inet/img");
  put("inet/img/ILSVRC2012_val_00000001.JPEG", "x");
  put("inet/synsets.txt", "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n");
  put("inet/ann/ILSVRC2012_val_00000001.xml",
      "<annotation><folder>val</folder><filename>ILSVRC2012_val_00000001</filename>"
      "<size><width>500</width><height>375</height><depth>3</depth></size>"
      "<object><name>n01443537</name><bndbox><xmin>0</xmin><ymin>10</ymin><xmax>499</xmax><ymax>374</ymax></bndbox></object>"
      "<object><name>n01443537</name><bndbox><xmin>5</xmin><ymin>6</ymin><xmax>7</xmax><ymax>8</ymax></bndbox></object>"
      "</annotation>");
  char syn[1024], img[1024];
  th_tmp_path(syn, sizeof syn, "inet/synsets.txt");
  th_tmp_path(img, sizeof img, "inet/img");
  sal_dataset_opts o = {.classes_path = syn, .image_dir = img, .voc_zero_based = true};
  TH_OK(open_rel("inet/ann", &o, &ds));
  if (ds) {
    TH_CHECK(ds->n_classes == 2 && !strcmp(ds->class_names[1], "n01443537"), "synset list: first word is the name");
    TH_CHECK(ds->n_items == 1 && ds->items[0].label == 1 && ds->items[0].n_objects == 2, "ImageNet labels");
    TH_CHECK(!strcmp(rel_of(ds->items[0].path), "inet/img/ILSVRC2012_val_00000001.JPEG"), "extension found: %s",
             ds->items[0].path);
    TH_CHECK(ds->items[0].objects[0].box.x0 == 0 && ds->items[0].objects[0].box.x1 == 500, "0-based inclusive → [0, 500)");
  }
  sal_dataset_free(ds);
  /* The same file read as 1-based puts xmin 0 outside the image. */
  o.voc_zero_based = false;
  TH_FAILS(open_rel("inet/ann", &o, &ds), SAL_STATUS_BAD_INPUT, "outside the 500x375 image");

  static const struct {
    const char *xml, *needle;
  } bad[] = {
      {"<annotation><filename>a.jpg</filename><object><name>x</name></object></annotation>", "lacks a complete <bndbox>"},
      {"<annotation><filename>a.jpg</filename></annotation>", "no <object>"},
      {"<annotation><object><name>x</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>",
       "no <filename>"},
      {"<annotation><filename>a.jpg</filename><object></annotation>", "</annotation> does not close <object>"},
      {"<annotation><filename>a.jpg</filename>", "<annotation> is not closed"},
      {"<doc></doc>", "expected <annotation>"},
      {"<annotation><filename>a.jpg</filename><object><name>x</name><bndbox><xmin>-3</xmin></bndbox></object></annotation>",
       "<xmin> '-3' is not a non-negative number"},
      {"<annotation><filename>a.jpg</filename><object><name>x</name><bndbox><xmin>5</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>",
       "is empty or outside"},
      {"<annotation><filename>a.jpg</filename><!-- unterminated", "unterminated comment"},
      {"<annotation><filename>a.jpg</filename><object", "unterminated tag"},
      {"plain text", "no <annotation> element"},
  };
  mkdirs("vbad");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    put("vbad/1.xml", bad[i].xml);
    TH_FAILS(open_rel("vbad", NULL, &ds), SAL_STATUS_BAD_INPUT, bad[i].needle);
  }
  /* Deep nesting is bounded. */
  char deep[4096] = "<annotation>";
  for (int i = 0; i < 40; i++) strcat(deep, "<a>");
  put("vbad/1.xml", deep);
  TH_FAILS(open_rel("vbad", NULL, &ds), SAL_STATUS_BAD_INPUT, "nested deeper than 32");
  /* A class list that lacks the annotation's class. */
  put("vbad/1.xml", "<annotation><filename>a.jpg</filename><object><name>zzz</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
                    "<xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>");
  sal_dataset_opts oc = {.classes_path = syn};
  TH_FAILS(open_rel("vbad", &oc, &ds), SAL_STATUS_BAD_INPUT, "class 'zzz' is not in the class list");
  /* Truncations of a good annotation never crash. */
  size_t n = strlen(voc_xml);
  for (size_t cut = 0; cut < n; cut += th_quick() ? 7 : 1) {
    char p[1024];
    th_tmp_path(p, sizeof p, "vbad/1.xml");
    th_write_file(p, voc_xml, cut);
    sal_status st = open_rel("vbad", NULL, &ds);
    TH_CHECK(st == SAL_STATUS_BAD_INPUT || (st == SAL_STATUS_OK && cut >= n - 2), "cut %zu: %s", cut, sal_status_name(st));
    sal_dataset_free(ds);
    ds = NULL;
  }
}

static void test_order(void) {
  mkdirs("ord");
  char text[64 * 40] = "";
  for (int i = 0; i < 37; i++) {
    char line[40];
    snprintf(line, sizeof line, "img%02d.png,%d\n", i, i % 3);
    strcat(text, line);
  }
  put("ord/list.csv", text);
  sal_dataset *ds = NULL;
  TH_OK(open_rel("ord/list.csv", NULL, &ds));
  if (!ds) return;
  sal_ctx *ctx = th_ctx();
  int64_t *a = NULL, *b = NULL, na = 0, nb = 0;
  /* No shuffle: file order. */
  TH_OK(sal_dataset_order(ctx, ds, 7, 0, false, 0, 1, &a, &na));
  bool inorder = na == 37;
  for (int64_t i = 0; inorder && i < na; i++) inorder = a[i] == i;
  TH_CHECK(inorder, "unshuffled order is the file order");
  sal_free(a);
  /* Shuffle: a permutation, reproducible, different across epochs and seeds. */
  TH_OK(sal_dataset_order(ctx, ds, 7, 0, true, 0, 1, &a, &na));
  TH_OK(sal_dataset_order(ctx, ds, 7, 0, true, 0, 1, &b, &nb));
  TH_CHECK(na == 37 && nb == 37 && !memcmp(a, b, 37 * sizeof *a), "same seed and epoch, same order");
  int seen[37] = {0};
  bool perm = true, moved = false;
  for (int64_t i = 0; i < na; i++) {
    perm = perm && a[i] >= 0 && a[i] < 37 && !seen[a[i]]++;
    moved = moved || a[i] != i;
  }
  TH_CHECK(perm && moved, "a shuffled permutation");
  sal_free(b);
  TH_OK(sal_dataset_order(ctx, ds, 7, 1, true, 0, 1, &b, &nb));
  TH_CHECK(memcmp(a, b, 37 * sizeof *a) != 0, "epoch 1 differs from epoch 0");
  sal_free(b);
  TH_OK(sal_dataset_order(ctx, ds, 8, 0, true, 0, 1, &b, &nb));
  TH_CHECK(memcmp(a, b, 37 * sizeof *a) != 0, "seed 8 differs from seed 7");
  sal_free(b);
  /* Shards partition the epoch's order: part p holds positions p, p + n, …. */
  int64_t total = 0;
  bool interleaved = true;
  for (int p = 0; p < 4; p++) {
    TH_OK(sal_dataset_order(ctx, ds, 7, 0, true, p, 4, &b, &nb));
    total += nb;
    for (int64_t k = 0; k < nb; k++) interleaved = interleaved && b[k] == a[p + 4 * k];
    sal_free(b);
  }
  TH_CHECK(total == 37 && interleaved, "4 shards partition the order (%lld items)", (long long)total);
  sal_free(a);
  TH_FAILS(sal_dataset_order(ctx, ds, 7, 0, true, 4, 4, &a, &na), SAL_STATUS_BAD_INPUT, "shard 4 of 4");
  TH_FAILS(sal_dataset_order(ctx, ds, 7, -1, true, 0, 1, &a, &na), SAL_STATUS_BAD_INPUT, "epoch -1");
  sal_dataset_free(ds);
}

static void test_alloc_failures(void) {
  /* Every allocation of a manifest load can fail cleanly, without leaks (ASan checks). */
  sal_ctx *ctx = th_ctx();
  char p[1024];
  th_tmp_path(p, sizeof p, "m/train.csv");
  bool failed = false, done = false;
  for (int64_t k = 1; k < 400 && !done; k++) {
    sal_dataset *ds = NULL;
    sal_ctx_fail_alloc_after(ctx, k);
    sal_status st = sal_dataset_open(ctx, p, NULL, &ds);
    sal_ctx_fail_alloc_after(ctx, 0);
    if (st == SAL_STATUS_OUT_OF_MEMORY) failed = true;
    else done = st == SAL_STATUS_OK;
    TH_CHECK(st == SAL_STATUS_OK || st == SAL_STATUS_OUT_OF_MEMORY, "fault at %lld: %s", (long long)k, sal_status_name(st));
    sal_dataset_free(ds);
  }
  TH_CHECK(failed && done, "fault injection reached the reader and then let it finish");
}

int main(void) {
  if (!th_tmpdir()) return th_finish("test_dataset");
  test_folder();
  test_manifest();
  test_voc();
  test_order();
  test_alloc_failures();
  return th_finish("test_dataset");
}
