#!/usr/bin/python3
"""PyTorch references for tests/test_explain_ep.c: extremal_perturbation and meaningful_perturbation
written independently in PyTorch (autograd for every gradient, torch.optim for the updates), run
from the same start for the same iterations as salient's src/saliency/{extremal,meaningful}_perturbation.c.

Regenerate (from the repository root, Debian's python3-torch 1.13, numpy, onnx):

    /usr/bin/python3 tools/make_ep_refs.py

It rewrites tests/fixtures/ep_refs/ and is deterministic (fixed seeds, one thread). The network is
a small smooth CNN (Tanh, so float32 in salient and float64 here cannot fall on different sides of
a ReLU kink), exported to ONNX; salient loads the same file, so both sides share the weights:

  input (N, 3, 16, 16) -> conv1 3x3 pad 1 (3->8) -> Tanh -> conv2 3x3 stride 2 pad 1 (8->16) -> Tanh
  -> GlobalAveragePool -> Flatten -> fc Linear(16->4) = logits

Files (float32 .npy unless said):
  model.onnx        the network (opset 13, batch dimension "N")
  input.npy         (2, 3, 16, 16) images
  target.npy        (2,) classes explained (int64)
  ep_<case>.npy     (2, 1, 16, 16) extremal_perturbation maps (sum over the areas of the final masks)
  mp.npy            (2, 1, 16, 16) meaningful_perturbation maps (1 - up(m))
The cases (CASES and MP below) are repeated in tests/test_explain_ep.c. Every reference is computed
in float64 from the float32 weights and images; hyper-parameters that salient stores as float32
(lr, momentum, l1, tv, beta, blur sigma) are rounded to float32 first, so both sides optimise the
same problem.
"""
import math
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "ep_refs")
N, C, H, W, K = 2, 3, 16, 16, 4
TARGET = [2, 0]

# extremal_perturbation cases: salient's parameter names; step/sigma None = the scaled defaults
# (7 H / 224 and 21 H / 224 rounded: 1 and 2 at H = 16), max_blur None = 20 H / 224.
CASES = {
    "preserve": dict(areas=[0.1, 0.3], variant="preserve", iterations=50, lr=0.01, momentum=0.9, area_weight=300.0,
                     area_growth=1.0035, levels=8, max_blur=None, step=2, sigma=3.0, jitter=False),
    "dual": dict(areas=[0.2], variant="dual", iterations=30, lr=0.01, momentum=0.9, area_weight=300.0,
                 area_growth=1.0035, levels=6, max_blur=3.0, step=None, sigma=None, jitter=True),
}
# meaningful_perturbation: blur baseline (sigma 10 H / 224), jitter 0
MP = dict(mask_size=6, l1=1e-4, tv=1e-2, beta=3.0, lr=0.1, iterations=30)


def f32(v):
    return float(np.float32(v))


TIE_TOL = f32(1e-5)  # salient's tie_tol default (a float32 parameter)


def scaled(base, h):
    return max(1, (base * h + 112) // 224)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, K)

    def forward(self, x):
        a = torch.tanh(self.conv2(torch.tanh(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(a, 1), 1))


def gauss(sigma):
    r = math.ceil(4 * sigma)
    i = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * i * i / (sigma * sigma))
    return k / k.sum(), r


def blur(x, sigma, mode):
    """Separable Gaussian blur of (1, C, H, W): zero padding ("zeros", TorchRay's imsmooth) or
    mirror without repeating the edge ("reflect", salient's sal__gauss_blur)."""
    if sigma <= 0:
        return x.clone()
    k, r = gauss(sigma)
    c = x.shape[1]
    kv, kh = k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    if mode == "zeros":
        return F.conv2d(F.conv2d(x, kv, padding=(r, 0), groups=c), kh, padding=(0, r), groups=c)
    y = F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), kv, groups=c)
    return F.conv2d(F.pad(y, (r, r, 0, 0), mode="reflect"), kh, groups=c)


class Generator:
    """The smooth-max mask generator as a gather: full-mask pixel u (margin sigma around the image)
    takes the kw x kw parameter cells from floor(u / s) - pad, each weighted by
    exp(-2 max(d / sigma - 1/2, 0)^2), d the distance from u to the cell's centre margin + s * cell;
    the mask is the softmax(20 v)-weighted mean of those candidates v, clamped to [0, 1]."""

    def __init__(self, h, w, s, sigma):
        self.s, self.sigma = s, sigma
        self.pad = 1 + math.ceil(2 * sigma / s)
        rad = 1 + math.ceil(sigma / s)
        self.kw = 2 * rad + 1
        self.hin, self.win = -(-h // s), -(-w // s)
        self.hout = s * (self.hin + 2 * self.pad - 2 * rad) - s + 1
        self.wout = s * (self.win + 2 * self.pad - 2 * rad) - s + 1
        self.m0 = round(sigma)
        assert self.hout >= self.m0 + h and self.wout >= self.m0 + w
        uy = torch.arange(self.hout).view(-1, 1, 1, 1)
        ux = torch.arange(self.wout).view(1, -1, 1, 1)
        ky = torch.arange(self.kw).view(1, 1, -1, 1)
        kx = torch.arange(self.kw).view(1, 1, 1, -1)
        cy, cx = uy // s + ky - self.pad, ux // s + kx - self.pad  # parameter cells
        d = torch.sqrt(((uy - sigma - s * cy) ** 2 + (ux - sigma - s * cx) ** 2).double())
        self.wt = torch.exp(-2 * (d / sigma - 0.5).clamp(min=0) ** 2).reshape(self.hout * self.wout, -1)
        # index into the zero-padded (hin + 2 pad) x (win + 2 pad) parameter grid
        wp = self.win + 2 * self.pad
        self.idx = ((cy + self.pad) * wp + (cx + self.pad)).expand(self.hout, self.wout, self.kw, self.kw)
        self.idx = self.idx.reshape(self.hout * self.wout, -1)

    def __call__(self, pm):
        """pm (n, hin, win) -> full masks (n, hout, wout)."""
        n = pm.shape[0]
        padded = F.pad(pm, (self.pad,) * 4).reshape(n, -1)
        v = self.wt.unsqueeze(0) * padded[:, self.idx]
        m = (v * F.softmax(20 * v, dim=2)).sum(2)
        return m.clamp(0, 1).reshape(n, self.hout, self.wout)

    def crop(self, full, h, w):
        return full[:, self.m0:self.m0 + h, self.m0:self.m0 + w]


def area_targets(flat, areas, tol):
    """The area constraint mean_j (sort(M)_j - r_j)^2, r = j0 = floor(n (1 - a)) zeros then ones,
    has the gradient of mean_e (M_e - t_e)^2 with t_e = r at e's rank. Values within tol of the
    rank-j0 value are one tie group sharing t = the fraction of its ranks that are >= j0."""
    n = flat.shape[1]
    t = torch.empty_like(flat)
    for i, a in enumerate(areas):
        j0 = int(n * (1 - a))
        thr = torch.sort(flat[i])[0][j0]
        lo, hi = thr - tol, thr + tol
        less = int((flat[i] < lo).sum())
        grp = int(((flat[i] >= lo) & (flat[i] <= hi)).sum())
        frac = (less + grp - j0) / grp
        t[i] = torch.where(flat[i] < lo, 0.0, torch.where(flat[i] > hi, 1.0, frac))
    return t


def extremal_perturbation(net, x, c, cfg):
    """x (1, C, H, W) float64; returns the map (H, W): the sum over the areas of the cropped masks
    TorchRay's last iteration evaluates (after iterations - 1 SGD steps)."""
    s = cfg["step"] or scaled(7, H)
    sigma = cfg["sigma"] or float(scaled(21, H))
    max_blur = cfg["max_blur"] or f32(20.0 * H / 224.0)
    L, A = cfg["levels"], len(cfg["areas"])
    gen = Generator(H, W, s, sigma)
    # blur pyramid: level l has sigma max_blur (1 - l / (L - 1)), zero padding; level L - 1 is x
    pyr = torch.cat([blur(x, max_blur * (1 - l / (L - 1)), "zeros") for l in range(L)])  # (L, C, H, W)
    pyr_hw = pyr.permute(0, 2, 3, 1)  # (L, H, W, C)
    yy, xx = torch.arange(H).view(1, -1, 1), torch.arange(W).view(1, 1, -1)

    def composite(q):
        """q (n, H, W) in [0, 1] -> (n, C, H, W): level q (L - 1) of the pyramid, linearly
        interpolated between the two nearest levels (the floor carries no gradient)."""
        w = q * (L - 1)
        k = torch.floor(w).detach().clamp(max=L - 1).long()
        f = w - k
        k1 = (k + 1).clamp(max=L - 1)
        y0, y1 = pyr_hw[k, yy, xx].permute(0, 3, 1, 2), pyr_hw[k1, yy, xx].permute(0, 3, 1, 2)
        return (1 - f).unsqueeze(1) * y0 + f.unsqueeze(1) * y1

    pm = torch.ones(A, gen.hin, gen.win, dtype=torch.float64, requires_grad=True)
    mom = f32(cfg["momentum"])
    opt = torch.optim.SGD([pm], lr=f32(cfg["lr"]), momentum=mom, dampening=mom)
    lam = cfg["area_weight"]
    for t in range(cfg["iterations"] - 1):
        full = gen(pm)
        mask = gen.crop(full, H, W)
        if cfg["variant"] == "preserve":
            xs, sign = composite(mask), 1
        elif cfg["variant"] == "delete":
            xs, sign = composite(1 - mask), -1
        else:
            xs, sign = torch.cat([composite(mask), composite(1 - mask)]), None
        if cfg["jitter"] and t % 2 == 0:
            xs = torch.flip(xs, dims=(3,))
        z = net(xs)[:, c]
        reward = z[:A] - z[A:] if sign is None else sign * z
        flat = full.reshape(A, -1)
        regul = -lam * ((flat - area_targets(flat.detach(), cfg["areas"], TIE_TOL)) ** 2).mean(1)
        opt.zero_grad()
        (-(reward + regul).sum()).backward()
        opt.step()
        with torch.no_grad():
            pm.clamp_(0, 1)
        lam *= cfg["area_growth"]
    with torch.no_grad():
        return gen.crop(gen(pm), H, W).sum(0)


def meaningful_perturbation(net, x, c, cfg):
    """salient's meaningful_perturbation with jitter 0: Adam on an s x s mask from 1, blur baseline,
    loss l1 sum|1 - m| + tv sum(|dx|^b + |dy|^b) + softmax_c, m clamped to [0, 1]; map 1 - up(m)."""
    sigma = f32(np.float32(10.0) * np.float32(H) / np.float32(224.0))
    base = blur(x, sigma, "reflect")
    s = cfg["mask_size"]
    m = torch.ones(1, 1, s, s, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([m], lr=f32(cfg["lr"]), betas=(0.9, 0.999), eps=1e-8)
    l1, tv, beta = f32(cfg["l1"]), f32(cfg["tv"]), f32(cfg["beta"])
    for _ in range(cfg["iterations"]):
        M = F.interpolate(m, size=(H, W), mode="bilinear", align_corners=False)
        prob = F.softmax(net(M * x + (1 - M) * base), 1)[0, c]
        tvl = ((m[..., :, 1:] - m[..., :, :-1]).abs() ** beta).sum() + ((m[..., 1:, :] - m[..., :-1, :]).abs() ** beta).sum()
        loss = l1 * (1 - m).abs().sum() + tv * tvl + prob
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            m.clamp_(0, 1)
    with torch.no_grad():
        return 1 - F.interpolate(m, size=(H, W), mode="bilinear", align_corners=False)[0, 0]


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    net = Net().eval()
    for q in net.parameters():
        q.requires_grad_(False)
    x32 = torch.randn(N, C, H, W)
    # a bright square in each image gives the masks something to find
    x32[0, :, 3:8, 9:14] += 2.0
    x32[1, :, 9:14, 2:7] += 2.0
    path = os.path.join(OUT, "model.onnx")
    torch.onnx.export(net, x32[:1], path, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    np.save(os.path.join(OUT, "input.npy"), x32.numpy())
    np.save(os.path.join(OUT, "target.npy"), np.array(TARGET, dtype=np.int64))
    net = net.double()
    x = x32.double()
    for name, cfg in CASES.items():
        maps = torch.stack([extremal_perturbation(net, x[i:i + 1], TARGET[i], cfg) for i in range(N)])
        np.save(os.path.join(OUT, f"ep_{name}.npy"), maps.unsqueeze(1).float().numpy())
        print(f"ep_{name}: map sums {[round(float(v), 3) for v in maps.sum((1, 2))]}")
    maps = torch.stack([meaningful_perturbation(net, x[i:i + 1], TARGET[i], MP) for i in range(N)])
    np.save(os.path.join(OUT, "mp.npy"), maps.unsqueeze(1).float().numpy())
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
