#!/usr/bin/python3
"""PyTorch references for tests/test_metrics.c: the pointing game (TorchRay's convention) and
insertion / deletion (Petsiuk et al.'s CausalMetric protocol) written independently here, run on
fixed maps, masks, images and a small network that salient loads from the same ONNX file.

Regenerate (from the repository root, Debian's python3-torch 1.13, numpy, onnx):

    /usr/bin/python3 tools/make_metric_refs.py

It rewrites tests/fixtures/metric_refs/ (about 30 KB) and is deterministic (fixed seeds).

Insertion / deletion: a smooth CNN (Tanh, so float32 in salient and float64 here cannot fall on
different sides of a kink), exported to ONNX:
  input (N, 3, 16, 16) -> conv 3x3 pad 1 (3->8) -> Tanh -> conv 3x3 stride 2 pad 1 (8->8) -> Tanh
  -> GlobalAveragePool -> Flatten -> Linear(8->3) = logits
Pixels are ranked by decreasing saliency (the maps have no ties), moved `step` at a time; deletion
sets them to 0 starting from the image, insertion restores them starting from the image blurred by
a Gaussian of std sigma (radius ceil(4 sigma), mirrored borders without repeating the edge, as
salient's sal__gauss_blur); softmax probability of the target after 0..n steps; AUC by the
trapezoid rule over [0, 1]. Cases (step, sigma) are repeated in tests/test_metrics.c.

Pointing game: the first maximum (row-major) of each map is a hit when a mask pixel lies within
the tolerance (Euclidean distance of pixel centres <= tolerance), computed here by dilating the
mask with a disc (TorchRay dilates the same way). The maps are quantised so that ties occur, and
planted maxima put the point inside, near, exactly at the tolerance and far from the object.

Files (float32 .npy unless said):
  model.onnx            the network (opset 13, batch dimension "N")
  images.npy            (2, 3, 16, 16)
  maps.npy              (2, 16, 16) saliency maps for insertion / deletion
  targets.npy           (2,) int64
  causal_<case>.npy     (2, 2, n + 1): [image][0 insertion, 1 deletion][state] probabilities
  pg_maps.npy           (6, 40, 40) maps; pg_masks.npy (6, 40, 40) masks (0 or 1)
  pg_hits.npy           (2, 6) hits (0 or 1) at tolerance 15 (row 0) and 4 (row 1)
"""
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "metric_refs")
CASES = {"default": (16, 5.0 * 16 / 224), "step37": (37, 1.5)}  # (step, blur sigma)
TOLERANCES = (15, 4)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = torch.tanh(self.conv2(torch.tanh(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def blur(x, sigma):
    """(C, H, W) float64, Gaussian of std sigma, radius ceil(4 sigma), mirrored borders."""
    r = int(math.ceil(4 * sigma))
    i = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * i * i / (sigma * sigma))
    k = k / k.sum()
    c = x.shape[0]
    y = F.pad(x[None], (r, r, 0, 0), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    y = F.pad(y, (0, 0, r, r), mode="reflect")
    return F.conv2d(y, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)[0]


def causal(model, img, sal, target, step, sigma):
    """Insertion and deletion probability curves of one image (C, H, W) and map (H, W)."""
    c, h, w = img.shape
    order = torch.argsort(-sal.flatten())
    n = (h * w + step - 1) // step
    curves = []
    for start, finish in ((blur(img, sigma), img), (img, torch.zeros_like(img))):
        cur = start.clone().view(c, -1)
        fin = finish.reshape(c, -1)
        states = []
        for k in range(n + 1):
            states.append(cur.view(c, h, w).clone())
            idx = order[k * step:(k + 1) * step]
            cur[:, idx] = fin[:, idx]
        with torch.no_grad():
            p = torch.softmax(model(torch.stack(states)), 1)[:, target]
        curves.append(p.numpy())
    return np.stack(curves)


def pointing(maps, masks, tol):
    hits = []
    r = int(tol)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = torch.tensor(((yy * yy + xx * xx) <= tol * tol).astype(np.float64))[None, None]
    for m, g in zip(maps, masks):
        dil = F.conv2d(torch.tensor(g, dtype=torch.float64)[None, None], disc, padding=r)[0, 0] > 0
        p = int(np.argmax(m))  # numpy: the first maximum in row-major order
        hits.append(int(dil.flatten()[p]))
    return np.array(hits, dtype=np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = Net()
    with torch.no_grad():
        net.fc.weight.mul_(20)  # logits that move visibly as pixels are deleted
    images = torch.randn(2, 3, 16, 16)
    torch.onnx.export(net, images, os.path.join(OUT, "model.onnx"), opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    rng = np.random.default_rng(0)
    maps = rng.permutation(2 * 256).reshape(2, 16, 16).astype(np.float32) / 512  # distinct values
    targets = np.array([1, 2], dtype=np.int64)
    np.save(os.path.join(OUT, "images.npy"), images.numpy())
    np.save(os.path.join(OUT, "maps.npy"), maps)
    np.save(os.path.join(OUT, "targets.npy"), targets)
    net64 = net.double()
    for name, (step, sigma) in CASES.items():
        sigma = float(np.float32(sigma))  # salient keeps sigma as a float
        out = np.stack([causal(net64, images[i].double(), torch.tensor(maps[i]).double(), int(targets[i]), step, sigma)
                        for i in range(2)]).astype(np.float32)
        np.save(os.path.join(OUT, "causal_%s.npy" % name), out)
    # Pointing cases (mask = a 4 x 4 square at rows/columns 18..21): the maximum inside the mask;
    # 8 px right of its edge (hit at 15, miss at 4); two equal maxima, the first (row-major) far
    # away and the second inside (a miss); exactly 4 px below the edge (a hit at both); far away
    # (a miss at both); and the random map's own maximum.
    pg_maps = np.floor(rng.random((6, 40, 40)) * 50).astype(np.float32)  # quantised: ties below the peak
    pg_masks = np.zeros((6, 40, 40), dtype=np.uint8)
    pg_masks[:, 18:22, 18:22] = 1
    for i, peaks in enumerate([[(19, 20)], [(20, 29)], [(2, 3), (19, 19)], [(25, 20)], [(2, 37)], []]):
        for (y, x) in peaks:
            pg_maps[i, y, x] = 60
    np.save(os.path.join(OUT, "pg_maps.npy"), pg_maps)
    np.save(os.path.join(OUT, "pg_masks.npy"), pg_masks.astype(np.float32))
    hits = np.stack([pointing(pg_maps, pg_masks, t) for t in TOLERANCES])
    np.save(os.path.join(OUT, "pg_hits.npy"), hits.astype(np.float32))


if __name__ == "__main__":
    main()
