#!/usr/bin/python3
"""Image fixtures for tests/test_image.c and tests/test_preprocess.c.

Regenerate (from the repository root, with Debian's python3-pil 9.4, python3-torchvision 0.14,
python3-torch 1.13 and numpy):

    /usr/bin/python3 tools/make_image_fixtures.py

It rewrites tests/fixtures/image/ completely; fixed seeds, so the same library versions give the
same files. Pixel values of expected outputs are exact integers or float32 as computed by PIL/torch.

What it writes:
  codec/*.png + *.npy   PNGs written by the small encoder below (not PIL, which cannot write 1/2/4-bit
                        gray, 16-bit colour or interlaced files), one per case, with the decoded pixels
                        salient must return as float32 .npy (H, W, C): 1/2/4-bit gray (bit replication
                        to 8 bits), 16-bit gray / gray+alpha / RGB, Adam7-interlaced variants, palette
                        4-bit with tRNS (-> RGBA) and 8-bit without (-> RGB), 8-bit gray with tRNS
                        (-> gray+alpha). Every 8-bit expectation is checked against PIL's decode here.
  exif/o<k>.jpg         a 16x8 asymmetric RGB image saved by PIL as JPEG (quality 95) with EXIF
                        orientation k = 1..8 (odd k in little-endian "II" TIFF, even k in big-endian
                        "MM"), and exif/o<k>.png: PIL's decode after ImageOps.exif_transpose.
  exif/gray.jpg/.png    a gray JPEG and PIL's decode; exif/cmyk.jpg a CMYK JPEG (unsupported);
                        exif/prog.jpg (progressive) and exif/s444.jpg (4:4:4), 21x13, with PIL's
                        decodes as .png.
  resize/src_rgb.png (37x23), resize/src_gray.png (29x41): uniform noise sources.
  resize/pil_<src>_<interp>_<w>x<h>.png   PIL Image.resize(BILINEAR|BICUBIC) of the source.
  resize/tv_<src>_<interp>_<w>x<h>.npy    torchvision.transforms.functional.resize on the float
                        tensor source/255 (C, H, W), antialias=True.
  resize/crop.npy       rows (H, W, crop_h, crop_w, offset_y, offset_x): torchvision center_crop on
                        index images, offsets such that out[i] = in[i + offset] (negative = padding).
  pipe/src.png (300x257 RGB), pipe/u8.png: torchvision's ImageNet eval Resize(256) + CenterCrop(224) on
                        the PIL image; pipe/head.npy: the first 8 rows of ToTensor + Normalize (3, 8, 224).
  pipe/pad.npy          Resize(40) + CenterCrop((48, 56)) + ToTensor + Normalize on resize/src_rgb.png
                        (PIL path, padding in height); pipe/pad_tensor.npy the same on the float tensor
                        (antialias=True).
  pipe/mask.png (37x23 labels 0..5), pipe/mask_out.png: Resize(40, NEAREST) + CenterCrop((48, 56)).
"""
import io
import os
import shutil
import struct
import zlib

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from PIL import Image, ImageOps

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "image")
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def path(*p):
    full = os.path.join(ROOT, *p)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    return full


def save_npy(p, a):
    np.save(path(p), np.ascontiguousarray(a, dtype=np.float32))


# ---- a minimal PNG encoder (W3C PNG 2nd ed.: chunks, filter type 0, Adam7) ----

def chunk(t, data):
    return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)


def pack_rows(sub, bits):
    out = []
    for row in sub:
        flat = row.reshape(-1)
        if bits == 16:
            b = flat.astype(">u2").tobytes()
        elif bits == 8:
            b = flat.astype(np.uint8).tobytes()
        else:
            per, acc, n, buf = 8 // bits, 0, 0, bytearray()
            for v in flat:
                acc = (acc << bits) | int(v)
                n += 1
                if n == per:
                    buf.append(acc)
                    acc, n = 0, 0
            if n:
                buf.append(acc << (bits * (per - n)))
            b = bytes(buf)
        out.append(b"\x00" + b)
    return b"".join(out)


def png_bytes(arr, bits, color_type, plte=None, trns=None, interlace=False):
    """arr is (H, W, C) of raw sample values (palette: indices, C = 1)."""
    h, w = arr.shape[:2]
    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        raw = b"".join(pack_rows(arr[y0::dy, x0::dx], bits) for x0, y0, dx, dy in passes
                       if arr[y0::dy, x0::dx].size)
    else:
        raw = pack_rows(arr, bits)
    s = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, color_type, 0, 0, int(interlace)))
    if plte is not None:
        s += chunk(b"PLTE", bytes(np.asarray(plte, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        s += chunk(b"tRNS", trns)
    return s + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def codec_fixtures(rng):
    H, W = 7, 13

    def write(name, data, expected, pil_check=None):
        with open(path("codec", name + ".png"), "wb") as f:
            f.write(data)
        save_npy(os.path.join("codec", name + ".npy"), expected)
        if pil_check is not None:  # PIL's decode, converted to `pil_check` mode, must agree
            im = Image.open(io.BytesIO(data)).convert(pil_check)
            got = np.asarray(im, dtype=np.float32).reshape(expected.shape)
            assert np.array_equal(got, expected), name

    for bits, inter in ((1, False), (2, True), (4, False)):
        v = rng.integers(0, 1 << bits, size=(H, W, 1))
        write("g%d%s" % (bits, "i" if inter else ""), png_bytes(v, bits, 0, interlace=inter),
              v * (255 // ((1 << bits) - 1)), "L")
    v = rng.integers(0, 65536, size=(H, W, 1))
    write("g16", png_bytes(v, 16, 0), v, None)
    v = rng.integers(0, 65536, size=(H, W, 2))
    write("ga16i", png_bytes(v, 16, 4, interlace=True), v, None)
    v = rng.integers(0, 65536, size=(H, W, 3))
    write("rgb16i", png_bytes(v, 16, 2, interlace=True), v, None)
    v = rng.integers(0, 65536, size=(H, W, 4))
    write("rgba16", png_bytes(v, 16, 6), v, None)
    v = rng.integers(0, 256, size=(H, W, 4))
    write("rgba8i", png_bytes(v, 8, 6, interlace=True), v, "RGBA")
    # Palette, 4-bit indices, 5 tRNS entries: RGBA.
    plte = rng.integers(0, 256, size=(16, 3))
    alpha = np.array([0, 40, 128, 200, 255])
    idx = rng.integers(0, 16, size=(H, W, 1))
    exp = np.concatenate([plte[idx[..., 0]], np.where(idx < 5, alpha[np.minimum(idx, 4)], 255)], axis=2)
    write("pal4t", png_bytes(idx, 4, 3, plte=plte, trns=bytes(alpha.astype(np.uint8))), exp, "RGBA")
    idx = rng.integers(0, 16, size=(H, W, 1))
    write("pal8", png_bytes(idx, 8, 3, plte=plte), plte[idx[..., 0]], "RGB")
    # 8-bit gray with a tRNS gray value: gray + alpha (0 where the sample equals it).
    v = rng.integers(0, 4, size=(H, W, 1)) * 60
    exp = np.concatenate([v, np.where(v == 120, 0, 255)], axis=2)
    write("gtrns", png_bytes(v, 8, 0, trns=struct.pack(">H", 120)), exp, "LA")


def exif_bytes(orientation, big_endian):
    e = ">" if big_endian else "<"
    tiff = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8) + struct.pack(e + "H", 1)
    tiff += struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "HH", orientation, 0) + struct.pack(e + "I", 0)
    return b"Exif\x00\x00" + tiff


def exif_fixtures():
    # 16 x 8, four 8x8-aligned flat blocks in two rows of two... plus distinct colours per block so
    # every flip and rotation is visible; flat 8x8 blocks keep JPEG ringing low.
    a = np.zeros((8, 16, 3), np.uint8)
    a[:, :8] = (200, 30, 30)
    a[:, 8:] = (30, 30, 200)
    a[:4, :8] = (30, 200, 30)
    a[4:, 12:] = (230, 230, 40)
    base = Image.fromarray(a)
    for o in range(1, 9):
        p = path("exif", "o%d.jpg" % o)
        base.save(p, quality=95, exif=exif_bytes(o, o % 2 == 0))
        im = Image.open(p)
        assert im.getexif().get(0x0112) == o
        ImageOps.exif_transpose(im).save(path("exif", "o%d.png" % o))
    g = Image.fromarray(np.tile(np.arange(0, 240, 15, dtype=np.uint8), (8, 1)))
    g.save(path("exif", "gray.jpg"), quality=90)
    Image.open(path("exif", "gray.jpg")).save(path("exif", "gray.png"))
    Image.new("CMYK", (8, 8), (10, 20, 30, 40)).save(path("exif", "cmyk.jpg"))
    # Progressive 4:2:0 and baseline 4:4:4 at an odd size (partial MCUs on both edges).
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:13, 0:21]
    c = np.stack([xx * 11, yy * 17, (xx * yy) % 256], axis=2) + rng.integers(0, 30, size=(13, 21, 3))
    im = Image.fromarray(np.clip(c, 0, 255).astype(np.uint8))
    for name, kw in (("prog", dict(progressive=True, quality=85)), ("s444", dict(subsampling=0, quality=90))):
        im.save(path("exif", name + ".jpg"), **kw)
        Image.open(path("exif", name + ".jpg")).save(path("exif", name + ".png"))


RESIZE_SIZES = {
    "rgb": [(16, 10), (50, 41), (37, 11), (18, 23), (74, 46), (12, 7), (1, 1), (100, 3)],
    "gray": [(10, 13), (58, 82), (31, 17), (29, 5)],
}
TV_SIZES = {"rgb": [(16, 10), (50, 41), (12, 7), (100, 3)], "gray": [(10, 13), (58, 82)]}
INTERP = {"bilinear": (Image.BILINEAR, T.InterpolationMode.BILINEAR),
          "bicubic": (Image.BICUBIC, T.InterpolationMode.BICUBIC)}


def resize_fixtures(rng):
    srcs = {"rgb": Image.fromarray(rng.integers(0, 256, size=(23, 37, 3), dtype=np.uint8)),
            "gray": Image.fromarray(rng.integers(0, 256, size=(41, 29), dtype=np.uint8))}
    for name, im in srcs.items():
        im.save(path("resize", "src_%s.png" % name))
        t = TF.to_tensor(im)  # (C, H, W) float32 = u8 / 255
        for iname, (pil_mode, tv_mode) in INTERP.items():
            for w, h in RESIZE_SIZES[name]:
                im.resize((w, h), pil_mode).save(path("resize", "pil_%s_%s_%dx%d.png" % (name, iname, w, h)))
            for w, h in TV_SIZES[name]:
                out = TF.resize(t, [h, w], interpolation=tv_mode, antialias=True)
                save_npy(os.path.join("resize", "tv_%s_%s_%dx%d.npy" % (name, iname, w, h)), out.numpy())
    rows = []
    for H, W, ch, cw in [(10, 10, 4, 4), (11, 10, 4, 4), (10, 11, 5, 4), (13, 9, 6, 2), (15, 15, 4, 8), (9, 9, 4, 12),
                         (4, 7, 9, 4), (5, 5, 8, 9), (6, 3, 6, 3), (17, 12, 2, 11), (256, 341, 224, 224),
                         (257, 300, 224, 224)]:
        src = torch.arange(1, H * W + 1, dtype=torch.float64).reshape(1, H, W)
        out = TF.center_crop(src, [ch, cw])
        nz = torch.nonzero(out[0])
        oy0, ox0 = int(nz[0][0]), int(nz[0][1])
        v = int(out[0, oy0, ox0]) - 1
        oy, ox = v // W - oy0, v % W - ox0
        # The whole output must be the shifted source with zero padding.
        for y in range(ch):
            for x in range(cw):
                sy, sx = y + oy, x + ox
                want = src[0, sy, sx] if 0 <= sy < H and 0 <= sx < W else 0
                assert out[0, y, x] == want
        rows.append((H, W, ch, cw, oy, ox))
    save_npy(os.path.join("resize", "crop.npy"), np.array(rows))
    return srcs


def pipe_fixtures(rng, srcs):
    yy, xx = np.mgrid[0:257, 0:300]
    base = np.stack([xx * 0.8, yy * 0.9, (xx + yy) * 0.45], axis=2) + rng.normal(0, 6, size=(257, 300, 3))
    src = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    src.save(path("pipe", "src.png"))
    geo = T.Compose([T.Resize(256), T.CenterCrop(224)])
    cropped = geo(src)
    cropped.save(path("pipe", "u8.png"))
    full = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(MEAN, STD)])(src)
    save_npy(os.path.join("pipe", "head.npy"), full[:, :8, :].numpy())

    small = srcs["rgb"]
    pad = T.Compose([T.Resize(40), T.CenterCrop((48, 56)), T.ToTensor(), T.Normalize(MEAN, STD)])(small)
    save_npy(os.path.join("pipe", "pad.npy"), pad.numpy())
    tens = T.Compose([T.ToTensor(), T.Resize(40, antialias=True), T.CenterCrop((48, 56)), T.Normalize(MEAN, STD)])(small)
    save_npy(os.path.join("pipe", "pad_tensor.npy"), tens.numpy())

    mask = Image.fromarray(rng.integers(0, 6, size=(23, 37), dtype=np.uint8))
    mask.save(path("pipe", "mask.png"))
    T.Compose([T.Resize(40, interpolation=T.InterpolationMode.NEAREST), T.CenterCrop((48, 56))])(mask).save(
        path("pipe", "mask_out.png"))


def main():
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    rng = np.random.default_rng(20241123)
    codec_fixtures(rng)
    exif_fixtures()
    srcs = resize_fixtures(rng)
    pipe_fixtures(rng, srcs)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    print("wrote %s (%d bytes)" % (ROOT, total))


if __name__ == "__main__":
    main()
