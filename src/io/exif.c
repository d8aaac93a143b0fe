/* EXIF orientation: a bounds-checked reader of the one tag salient needs (0x0112 in IFD0) from a
 * JPEG APP1 segment. Called by the JPEG decoder; image.c applies the orientation. */
#include "io/codec.h"

#include <string.h>

/* Layout (CIPA DC-008 "Exif 2.32", the APP1 marker segment; TIFF 6.0 §2 for the IFD): the APP1
 * payload is "Exif\0\0" followed by a TIFF file: byte order "II" (little-endian) or "MM"
 * (big-endian), the number 42, the 32-bit offset of IFD0 counted from the start of the TIFF header.
 * An IFD is a 16-bit entry count then 12-byte entries: tag (16), type (16), count (32), value or
 * offset (32; values of 4 bytes or less are stored in place, left-justified). Orientation is tag
 * 0x0112, type SHORT (3), count 1, values 1..8. */
#define EXIF_TAG_ORIENTATION 0x0112
#define TIFF_TYPE_SHORT 3

static unsigned rd16(const unsigned char *p, int be) { return be ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0]; }

static uint32_t rd32(const unsigned char *p, int be) {
  return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
            : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int sal__exif_orientation(const unsigned char *app1, size_t n) {
  if (!app1 || n < 6 + 8 || memcmp(app1, "Exif\0\0", 6) != 0) return 0;
  const unsigned char *t = app1 + 6; /* the TIFF header; every offset below is relative to it */
  size_t tn = n - 6;
  int be;
  if (t[0] == 'I' && t[1] == 'I') be = 0;
  else if (t[0] == 'M' && t[1] == 'M') be = 1;
  else return 0;
  if (rd16(t + 2, be) != 42) return 0;
  uint32_t ifd = rd32(t + 4, be);
  if (ifd < 8 || ifd > tn || tn - ifd < 2) return 0;
  unsigned count = rd16(t + ifd, be);
  size_t first = (size_t)ifd + 2;
  for (unsigned i = 0; i < count; i++) {
    size_t e = first + (size_t)i * 12;
    if (e > tn || tn - e < 12) return 0; /* entries run past the segment */
    if (rd16(t + e, be) != EXIF_TAG_ORIENTATION) continue;
    if (rd16(t + e + 2, be) != TIFF_TYPE_SHORT || rd32(t + e + 4, be) != 1) return 0;
    unsigned v = rd16(t + e + 8, be);
    return v >= 1 && v <= 8 ? (int)v : 0;
  }
  return 0;
}
