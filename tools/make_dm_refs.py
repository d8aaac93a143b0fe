#!/usr/bin/python3
"""PyTorch references of the dynamic-mask methods `dm` and `hdm` for tests/test_explain_dm.c.

Regenerate (from the repository root, Debian's python3-torch 1.13, numpy, onnx):

    /usr/bin/python3 tools/make_dm_refs.py

It rewrites tests/fixtures/dm_refs/ and is deterministic (fixed seeds, one thread, no random draws
in the algorithm). The network is tools/make_saliency_refs.py's small smooth CNN (conv-BN-Tanh-
conv-Tanh-GAP-linear, (N, 3, 16, 16) -> 5 logits) with its own weights (seed 3), exported to ONNX so
that salient runs the same weights. dm() and hdm() below implement exactly the algorithm of
src/saliency/dm.c and hdm.c (docs/methods.md, sections dm and hdm) as reusable batched functions
(any dtype, any device) - the timing benchmark runs the same code.

Files (float32 .npy unless said), for the 2 images of input.npy with the parameters of PARAMS:
  model.onnx        the network (opset 13, batch dimension "N")
  input.npy         (2, 3, 16, 16) images;  target.npy (2,) classes explained (int64)
  base.npy          (2, 3, 16, 16) b(x): Gaussian blur, sigma = 10 * 16 / 224 px, mirrored borders
  dm_bench.npy      (2, G, 5, 5) final benchmark masks m_s (grid g in the top-left s x s corner, 0 elsewhere)
  dm_B.npy          (2, 16, 16) benchmark map B
  dm_aux.npy        (2, 8 * 8 + 16 * 16) final auxiliary masks a_t, flattened and concatenated
  dm_M.npy          (2, 16, 16) the superimposed mask M = DM's map
  hdm_levels.npy    (2,) levels run per image (int64)
  hdm_M.npy         (2, T, 16, 16) M_t per level (0 after an image's last level)
  hdm_R.npy         (2, T, 16, 16) removed region R_t after level t (R_T unused: 0)
  hdm_w.npy         (2, T) fusion weights softmax(v) (0 past an image's levels)
  hdm_map.npy       (2, 16, 16) norm(S) = HDM's map
The references run in float64 on the float32 weights and inputs.
"""
import math
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_saliency_refs import Net  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "dm_refs")
N, C, H, W, K = 2, 3, 16, 16, 5
TARGET = [2, 4]
# The parameters of the reference runs (tests/test_explain_dm.c sets the same): METHODS.md's grids
# 6, 9, 12, 15 and 56, 112 at 224 scaled to 16 px, few steps, no early stopping.
PARAMS = dict(grids=(2, 3, 4, 5), aux_grids=(8, 16), alpha=100.0, beta=0.05, gamma=1e-2, lr=0.05, iterations=25,
              patience=0, levels=3, quantile=0.15, fusion_iterations=15)


def up(m, h, w):
    """(n, s, s) grids -> (n, h, w), bilinear, align_corners=False."""
    return F.interpolate(m[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]


def norm(a):
    """Per-item min-max normalisation of (n, h, w) to [0, 1]; constant items give 0."""
    lo = a.flatten(1).min(1)[0][:, None, None]
    hi = a.flatten(1).max(1)[0][:, None, None]
    span = hi - lo
    return torch.where(span > 0, (a - lo) / torch.where(span > 0, span, torch.ones_like(span)), torch.zeros_like(a))


def tv(m):
    """Sum of squared neighbour differences over the pixel count (per item): (n, h, w) -> (n,)."""
    return ((m[:, :, 1:] - m[:, :, :-1]).pow(2).flatten(1).sum(1) +
            (m[:, 1:, :] - m[:, :-1, :]).pow(2).flatten(1).sum(1)) / (m.shape[1] * m.shape[2])


class Adam:
    """Adam (beta 0.9, 0.999, eps 1e-8, bias-corrected) on a tensor of per-item rows; inactive rows
    (early-stopped items) keep their values and moments."""

    def __init__(self, p, lr):
        self.p, self.lr = p, lr
        self.m1, self.m2 = torch.zeros_like(p), torch.zeros_like(p)

    def step(self, g, t, active):
        a = active.view(-1, *([1] * (self.p.dim() - 1)))
        m1 = 0.9 * self.m1 + 0.1 * g
        m2 = 0.999 * self.m2 + 0.001 * g * g
        c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
        p = self.p - self.lr * (m1 / c1) / ((m2 / c2).sqrt() + 1e-8)
        self.m1 = torch.where(a, m1, self.m1)
        self.m2 = torch.where(a, m2, self.m2)
        self.p = torch.where(a, p, self.p).detach()


class Stopper:
    """Per-item early stopping: an item stops when its loss has not gone below its lowest by more
    than 1e-4 of it for `patience` steps (0: never)."""

    def __init__(self, n, patience, device):
        self.best = torch.full((n,), math.inf, dtype=torch.float64, device=device)
        self.since = torch.zeros(n, dtype=torch.long, device=device)
        self.active = torch.ones(n, dtype=torch.bool, device=device)
        self.patience = patience

    def update(self, loss):
        loss = loss.detach().double()
        better = ~torch.isfinite(self.best) | (loss < self.best - 1e-4 * self.best.abs())
        self.best = torch.where(self.active & better, loss, self.best)
        self.since = torch.where(self.active & better, torch.zeros_like(self.since), self.since)
        if self.patience > 0:
            self.since = torch.where(self.active & ~better, self.since + 1, self.since)
            self.active = self.active & (self.since < self.patience)
        return self.active


def z_of(net, x, cls):
    return net(x)[torch.arange(x.shape[0]), cls]


def dm(net, x, base, z0, cls, P):
    """One DM level on images x (n, C, H, W) with baselines base, preserving z0 (n,) of classes cls.
    Returns (bench masks list per grid (n, s, s), B (n, H, W), aux masks list (n, s, s), M (n, H, W))."""
    n, _, h, w = x.shape
    d = x - base
    G = len(P["grids"])
    # Stage 1: every benchmark mask of every image in one batch (item order: grid-major here, the
    # results do not depend on it).
    ms = [torch.full((n, s, s), 0.5, dtype=x.dtype, device=x.device) for s in P["grids"]]
    opt = [Adam(m, P["lr"]) for m in ms]
    stop = Stopper(n * G, P["patience"], x.device)
    for t in range(P["iterations"]):
        if not stop.active.any():
            break
        ps = [o.p.clone().requires_grad_(True) for o in opt]
        u = torch.cat([up(p, h, w) for p in ps])                    # (G n, H, W)
        xb = base.repeat(G, 1, 1, 1) + u[:, None] * d.repeat(G, 1, 1, 1)
        z = z_of(net, xb, cls.repeat(G))
        act = P["alpha"] * (z - z0.repeat(G)) ** 2
        area = torch.cat([P["beta"] * p.abs().flatten(1).mean(1) for p in ps])
        loss = act + area
        active = stop.update(loss)
        loss.sum().backward()
        for gi, o in enumerate(opt):
            o.step(ps[gi].grad, t + 1, active[gi * n:(gi + 1) * n])
    ms = [o.p for o in opt]
    Bm = sum(norm(up(m, h, w).clamp(0, 1)) for m in ms) / G
    # Stage 2: the auxiliary masks of every image in one batch.
    opt = [Adam(torch.zeros((n, s, s), dtype=x.dtype, device=x.device), P["lr"]) for s in P["aux_grids"]]
    stop = Stopper(n, P["patience"], x.device)
    for t in range(P["iterations"]):
        if not stop.active.any():
            break
        ps = [o.p.clone().requires_grad_(True) for o in opt]
        A = sum(up(p, h, w) for p in ps)
        M = (Bm + A).clamp(0, 1)
        z = z_of(net, base + M[:, None] * d, cls)
        loss = P["alpha"] * (z - z0) ** 2 + P["beta"] * (A.abs() * (1 - Bm)).flatten(1).mean(1) + P["gamma"] * tv(M)
        active = stop.update(loss)
        loss.sum().backward()
        for gi, o in enumerate(opt):
            o.step(ps[gi].grad, t + 1, active)
    aux = [o.p for o in opt]
    M = (Bm + sum(up(a, h, w) for a in aux)).clamp(0, 1)
    return ms, Bm, aux, M


def hdm(net, x, base, cls, P):
    """HDM on images x (n, C, H, W) with baselines base. Returns (levels (n,), M_t (n, T, H, W),
    R_t (n, T, H, W), weights (n, T), map (n, H, W))."""
    n, _, h, w = x.shape
    T, HW = P["levels"], h * w
    k = math.ceil(float(np.float32(P["quantile"])) * HW)
    with torch.no_grad():
        z0, zb = z_of(net, x, cls), z_of(net, base, cls)
    Ms = torch.zeros((n, T, h, w), dtype=x.dtype)
    Ps = torch.zeros((n, T, h, w), dtype=x.dtype)
    Rs = torch.zeros((n, T, h, w), dtype=x.dtype)
    R = torch.zeros((n, h, w), dtype=x.dtype)
    levels = torch.zeros(n, dtype=torch.long)
    zt, xt = z0.clone(), x.clone()
    live = torch.arange(n)
    B1 = None
    for t in range(T):
        _, Bm, _, M = dm(net, xt[live], base[live], zt[live], cls[live], P)
        M = M.detach()
        if t == 0:
            B1 = Bm.detach()
        Ms[live, t] = M
        Ps[live, t] = M * (1 - R[live])
        levels[live] = t + 1
        if t == T - 1:
            break
        # R_t = R_{t-1} + the k top-ranked pixels of M_t (1 - R_{t-1}) that are > 0; rank: the value,
        # then the level's benchmark map B (ties of a mask saturated at 1), then raster order
        for a, i in enumerate(live.tolist()):
            v = Ps[i, t].flatten().numpy()
            bm = Bm[a].detach().flatten().numpy()
            order = np.lexsort((np.arange(HW), -bm, -v))[:k]
            order = order[v[order] > 0]
            R[i].view(-1)[torch.from_numpy(order)] = 1
        Rs[live, t] = R[live]
        xt = (1 - R[:, None]) * x + R[:, None] * base
        with torch.no_grad():
            zt = z_of(net, xt, cls)
        live = live[zt[live] > zb[live]]
        if len(live) == 0:
            break
    # Fusion: S = sum_t softmax(v)_t P_t over each image's levels, v by Adam on the stage-2 objective.
    lv = torch.zeros((n, T), dtype=x.dtype)
    opt = Adam(lv, P["lr"])
    valid = torch.arange(T)[None, :] < levels[:, None]
    d = x - base
    for t in range(P["fusion_iterations"]):
        v = opt.p.clone().requires_grad_(True)
        wts = torch.softmax(v.masked_fill(~valid, -math.inf), 1)
        S = (wts[:, :, None, None] * Ps).sum(1)
        z = z_of(net, base + S[:, None] * d, cls)
        loss = P["alpha"] * (z - z0) ** 2 + P["beta"] * ((S - B1).abs() * (1 - B1)).flatten(1).mean(1) + \
            P["gamma"] * tv(S)
        loss.sum().backward()
        opt.step(v.grad, t + 1, torch.ones(n, dtype=torch.bool))
    wts = torch.softmax(opt.p.masked_fill(~valid, -math.inf), 1)
    S = (wts[:, :, None, None] * Ps).sum(1)
    return levels, Ms, Rs, wts, norm(S)


def blur(x, sigma):
    """Gaussian blur of (n, C, H, W), radius ceil(4 sigma), borders mirrored without the edge pixel."""
    r = int(math.ceil(4 * sigma))
    i = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * i * i / (sigma * sigma))
    k = torch.tensor(k / k.sum(), dtype=x.dtype)
    n, c, h, w = x.shape
    y = F.pad(x.reshape(n * c, 1, h, w), (r, r, 0, 0), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1))
    y = F.pad(y, (0, 0, r, r), mode="reflect")
    return F.conv2d(y, k.view(1, 1, -1, 1)).reshape(n, c, h, w)


def save(name, a):
    np.save(os.path.join(OUT, name), np.asarray(a, dtype=np.float32))


def corner(ms, smax):
    out = np.zeros((ms[0].shape[0], len(ms), smax, smax), dtype=np.float32)
    for g, m in enumerate(ms):
        out[:, g, :m.shape[1], :m.shape[2]] = m.detach().numpy()
    return out


def main():
    torch.manual_seed(3)
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    net = Net()
    with torch.no_grad():
        net.bn1.running_mean.uniform_(-0.2, 0.2)
        net.bn1.running_var.uniform_(0.5, 1.5)
    net.eval()
    x32 = torch.randn(N, C, H, W)
    path = os.path.join(OUT, "model.onnx")
    torch.onnx.export(net, x32[:1], path, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    for p in net.parameters():
        p.requires_grad_(False)
    net = net.double()
    x = x32.double()
    cls = torch.tensor(TARGET)
    np.save(os.path.join(OUT, "target.npy"), np.array(TARGET, dtype=np.int64))
    save("input.npy", x32.numpy())
    base = blur(x, float(np.float32(10.0 * H / 224)))
    save("base.npy", base.numpy())
    with torch.no_grad():
        z0 = z_of(net, x, cls)
    ms, Bm, aux, M = dm(net, x, base, z0, cls, PARAMS)
    save("dm_bench.npy", corner(ms, max(PARAMS["grids"])))
    save("dm_B.npy", Bm.detach().numpy())
    save("dm_aux.npy", torch.cat([a.flatten(1) for a in aux], 1).detach().numpy())
    save("dm_M.npy", M.detach().numpy())
    levels, Ms, Rs, wts, hmap = hdm(net, x, base, cls, PARAMS)
    np.save(os.path.join(OUT, "hdm_levels.npy"), levels.numpy().astype(np.int64))
    save("hdm_M.npy", Ms.numpy())
    save("hdm_R.npy", Rs.numpy())
    save("hdm_w.npy", wts.detach().numpy())
    save("hdm_map.npy", hmap.detach().numpy())
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT} ({total} bytes); hdm levels {levels.tolist()}, weights {wts.detach().numpy().round(4).tolist()}")


if __name__ == "__main__":
    main()
