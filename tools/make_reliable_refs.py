#!/usr/bin/python3
"""PyTorch references for tests/test_explain_reliable.c (method `reliable`, masks inside the network
with HAF fusion) and numpy references for tests/test_eval.c (Spearman rank correlation, SSIM).

Regenerate (from the repository root, Debian's python3-torch 1.13 and numpy):

    /usr/bin/python3 tools/make_reliable_refs.py

It rewrites tests/fixtures/rel_refs/ and is deterministic (fixed seeds, one thread). The model is
tests/fixtures/saliency/model.onnx (made by tools/make_saliency_refs.py; its batch-norm is folded
into conv1 by the exporter) with the fc weights and bias multiplied by 20, written as
rel_refs/model.onnx: the original's logits (~0.2) are so small that the L1 term wins and every mask
goes to 0; at ~5 the masks keep a part of each layer. Rebuilt here from the ONNX initialisers:

  input (N, 3, 16, 16) -> conv1 3x3 pad 1 (3->8) -> Tanh "act1" (16x16) -> conv2 3x3 stride 2 pad 1
  -> Tanh "act2" (8x8) -> GlobalAveragePool -> Flatten -> fc = logits (N, 5)

act1 and act2 are the layers salient chooses automatically on it (the last activation at each of
its two resolutions). Images and targets are tests/fixtures/saliency/input.npy and target.npy.

`reliable()` is the algorithm of docs/methods.md (METHODS.md §C) on any nn.Module, with forward
hooks multiplying the chosen modules' outputs by the masks; it is written to be reused by the
timing benchmark (torchvision models, layers = the stage modules).

Files (float32 .npy unless said):
  model.onnx                   the model above
  a_mask<l>.npy (3, 1, h, w)   case a: default parameters but 60 iterations; levels act1, act2
  a_map.npy     (3, 1, 16, 16) its HAF map
  b_mask<l>.npy (3, Cm, h, w)  case b: input_mask, per_channel, preserve=class, lambda 0.1,
                               lr 0.03, 60 iterations; levels input, act1, act2
  b_map.npy     (3, 1, 16, 16)
  eval_a.npy, eval_b.npy (4, 13, 17)  pairs of maps (pair 1 has ties, pair 3 is a monotone map of
                               its partner: Spearman 1)
  eval_spearman.npy (4,)       Spearman rank correlation (average ranks for ties) of each pair
  eval_ssim.npy (4,)           SSIM (Wang et al. 2004: 11x11 Gaussian window sigma 1.5, K1 0.01,
                               K2 0.03, data range 1, mean over the positions where the window fits)
The method references are computed in float64 from the float32 weights and inputs.
"""
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "tests", "fixtures", "saliency")
OUT = os.path.join(ROOT, "tests", "fixtures", "rel_refs")
FC_SCALE = 20


class Tiny(nn.Module):
    def __init__(self, inits):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.act1 = nn.Tanh()
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.act2 = nn.Tanh()
        self.fc = nn.Linear(16, 5)
        with torch.no_grad():
            self.conv1.weight.copy_(torch.from_numpy(inits["onnx::Conv_21"]))
            self.conv1.bias.copy_(torch.from_numpy(inits["onnx::Conv_22"]))
            self.conv2.weight.copy_(torch.from_numpy(inits["conv2.weight"]))
            self.conv2.bias.copy_(torch.from_numpy(inits["conv2.bias"]))
            self.fc.weight.copy_(torch.from_numpy(inits["fc.weight"]))
            self.fc.bias.copy_(torch.from_numpy(inits["fc.bias"]))

    def forward(self, x):
        a = self.act2(self.conv2(self.act1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(a, 1), 1))


def reliable(net, x, target, layers, preserve="all", lam=0.5, lr=0.05, iterations=300, per_channel=False,
             input_mask=False):
    """Masks inside `net` (docs/methods.md, `reliable`). x (N, C, H, W); target (N,) class indices;
    layers: modules whose outputs are masked. Returns (masks, haf): masks[l] (N, Cm, h, w), with the
    input level first when input_mask, and the HAF map (N, 1, H, W)."""
    N, _, H, W = x.shape
    shapes = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: shapes.append(out.shape)) for m in layers]
    with torch.no_grad():
        z0 = net(x)
    for h in hooks:
        h.remove()
    K = z0.shape[1]
    if input_mask:
        shapes.insert(0, x.shape)
    masks = [torch.ones(N, s[1] if per_channel else 1, s[2], s[3], dtype=x.dtype, requires_grad=True)
             for s in shapes]
    off = 1 if input_mask else 0
    hooks = [m.register_forward_hook(lambda mod, inp, out, l=l: out * masks[l + off]) for l, m in enumerate(layers)]
    opt = torch.optim.Adam(masks, lr=lr)
    onehot = F.one_hot(target, K).to(x.dtype)
    mu = 1.0 / (K - 1) if preserve == "all" and K > 1 else 0.0
    for _ in range(iterations):
        opt.zero_grad()
        z = net(x * masks[0] if input_mask else x)
        d2 = (z - z0) ** 2
        loss = (d2 * onehot).sum() + mu * (d2 * (1 - onehot)).sum()
        for m in masks:
            loss = loss + lam * m.abs().sum() / (np.sqrt(m.shape[2] * m.shape[3]) * m.shape[1])
        loss.backward()
        opt.step()
        with torch.no_grad():
            for m in masks:
                m.clamp_(min=0)
    for h in hooks:
        h.remove()
    haf = torch.zeros(N, 1, H, W, dtype=x.dtype)
    with torch.no_grad():
        for m in masks:
            a = m.mean(1, keepdim=True)
            mx = a.amax((2, 3), keepdim=True)
            up = F.interpolate(a, size=(H, W), mode="bilinear", align_corners=False)
            haf += torch.where(mx > 0, up / torch.where(mx > 0, mx, torch.ones_like(mx)), torch.zeros_like(up))
    return [m.detach() for m in masks], haf / len(masks)


def ranks(a):
    """Average ranks (1-based) of a flat array, ties sharing the mean of their positions."""
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    r = np.empty(len(a))
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and s[j + 1] == s[i]:
            j += 1
        r[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    return r


def spearman(a, b):
    ra, rb = ranks(a.ravel().astype(np.float64)), ranks(b.ravel().astype(np.float64))
    ra -= ra.mean()
    rb -= rb.mean()
    return float((ra * rb).sum() / np.sqrt((ra * ra).sum() * (rb * rb).sum()))


def ssim(a, b, data_range=1.0):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    t = np.arange(-5, 6)
    g = np.exp(-0.5 * t * t / 1.5 ** 2)
    g /= g.sum()
    w = np.outer(g, g)
    H, W = a.shape
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    vals = []
    for y in range(H - 10):
        for x in range(W - 10):
            pa, pb = a[y:y + 11, x:x + 11], b[y:y + 11, x:x + 11]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va = (w * pa * pa).sum() - ma * ma
            vb = (w * pb * pb).sum() - mb * mb
            cov = (w * pa * pb).sum() - ma * mb
            vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def save(name, a):
    np.save(os.path.join(OUT, name), np.asarray(a, dtype=np.float32))


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    m = onnx.load(os.path.join(SRC, "model.onnx"))
    for init in m.graph.initializer:
        if init.name in ("fc.weight", "fc.bias"):
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(FC_SCALE), init.name))
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(OUT, "model.onnx"))
    inits = {i.name: numpy_helper.to_array(i).astype(np.float32) for i in m.graph.initializer}
    net = Tiny(inits).double().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    x = torch.from_numpy(np.load(os.path.join(SRC, "input.npy"))).double()
    t = torch.from_numpy(np.load(os.path.join(SRC, "target.npy")))
    cases = {
        "a": dict(iterations=60),
        "b": dict(input_mask=True, per_channel=True, preserve="class", lam=0.1, lr=0.03, iterations=60),
    }
    for name, kw in cases.items():
        masks, haf = reliable(net, x, t, [net.act1, net.act2], **kw)
        for l, mk in enumerate(masks):
            save(f"{name}_mask{l}.npy", mk.numpy())
        save(f"{name}_map.npy", haf.numpy())

    rng = np.random.default_rng(3)
    a = rng.random((4, 13, 17)).astype(np.float32)
    b = np.empty_like(a)
    b[0] = np.clip(a[0] + 0.3 * rng.standard_normal((13, 17)), 0, 1)
    a[1] = np.round(a[1] * 4) / 4  # ties
    b[1] = np.round(rng.random((13, 17)) * 3) / 3
    b[2] = rng.random((13, 17))
    b[3] = a[3] ** 3  # monotone: Spearman 1
    a, b = a.astype(np.float32), b.astype(np.float32)
    save("eval_a.npy", a)
    save("eval_b.npy", b)
    save("eval_spearman.npy", [spearman(a[i], b[i]) for i in range(4)])
    save("eval_ssim.npy", [ssim(a[i], b[i]) for i in range(4)])
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
