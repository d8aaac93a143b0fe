#!/usr/bin/python3
"""Measures how far PyTorch's own float32 result is from float64 on the models of
tools/export_models.py --full (same weights, same input), and which discrete choices explain the
gradient differences: max-pool windows whose maximum is a different element in float32 than in
float64 ("flipped" windows, and near-ties: top two values within 1e-5 relative) and ReLU inputs
whose sign differs. Prints a report; generates no files.

For each model:
    T32-T64            PyTorch float32 vs float64: max|dlogit|/max|logit|, gradient cosine and
                       max|dgrad|/max|grad| (the measures of tools/compare_models.py)
    pool routing       the same, float32 with every max-pool window routed to float64's argmax
    pool+relu routing  also with float64's ReLU and ReLU6 masks (max-pool, ReLU and ReLU6 then take
                       float64's branches; Hardswish is not replayed)
    T64p-T64           float64 with the weights moved by half a float32 ulp vs float64
    max-pool windows   per layer: windows, near-ties (top two within 1e-5 of the maximum; windows
                       whose maximum is exactly 0 — all inputs cut by a preceding ReLU — are not
                       counted: their gradient is 0 either way) and windows flipped in float32
    relu/relu6         ReLU and ReLU6 inputs on the other side of a kink in float32
If the gradient error falls below the criterion once float32 takes float64's branches, the
remaining arithmetic is accurate and the error comes from those branch flips alone.

Command:  /usr/bin/python3 tools/fp32_limits.py [--arch NAME ...]   (default: every architecture)
Requires torch 1.13 and torchvision 0.14 (python3-torch, python3-torchvision).
"""
import argparse
import copy
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_models  # noqa: E402  (the models and input of the exports)
from compare_models import metrics  # noqa: E402

NEAR_TIE = 1e-5


class Branches:
    """Patches F.max_pool2d and F.relu. mode 'record' stores each call's argmax indices / masks
    (calls happen in the same order in every run of one model); 'replay' makes each call take the
    recorded branch; 'observe' records without changing anything (for flip counts)."""

    def __init__(self):
        self.mode, self.pools, self.relus, self.i, self.j = None, [], [], 0, 0
        self.pool_inputs, self.relu_inputs = [], []
        self.replay_relu = False
        self.orig_pool, self.orig_relu, self.orig_hardtanh = F.max_pool2d, F.relu, F.hardtanh

    def max_pool2d(self, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
        y, idx = self.orig_pool(x, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode, return_indices=True)
        if self.mode in ("record", "observe"):
            self.pools.append(idx.detach().clone())
            self.pool_inputs.append((x.detach().clone(), kernel_size, stride, padding, ceil_mode, y.shape))
        elif self.mode == "replay":
            idx = self.pools[self.i]
            self.i += 1
            y = x.flatten(2).gather(2, idx.flatten(2)).view(idx.shape)
        return (y, idx) if return_indices else y

    def relu(self, x, inplace=False):
        if self.mode in ("record", "observe"):
            self.relus.append((x > 0).detach().clone().unsqueeze(0))  # (1, ...): one kink
        elif self.mode == "replay" and self.replay_relu:
            m = self.relus[self.j]
            self.j += 1
            return x * m[0].to(x.dtype)
        return self.orig_relu(x, inplace=inplace)

    def hardtanh(self, x, min_val=-1.0, max_val=1.0, inplace=False):
        """ReLU6 is hardtanh(0, 6): kinks at both ends (masks: inside, above)."""
        if self.mode in ("record", "observe"):
            self.relus.append(torch.stack(((x > min_val) & (x < max_val), x >= max_val)).detach().clone())
        elif self.mode == "replay" and self.replay_relu:
            m = self.relus[self.j]
            self.j += 1
            return torch.where(m[0], x, torch.where(m[1], max_val, min_val).to(x.dtype))
        return self.orig_hardtanh(x, min_val, max_val, inplace)

    def __enter__(self):
        F.max_pool2d, F.relu, F.hardtanh = self.max_pool2d, self.relu, self.hardtanh
        return self

    def __exit__(self, *a):
        F.max_pool2d, F.relu, F.hardtanh = self.orig_pool, self.orig_relu, self.orig_hardtanh


def run(model, x, top1):
    """Logits and the gradient of sum_i logits[i, top1_i] w.r.t. x (top1 from the logits if None)."""
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    if top1 is None:
        top1 = logits.argmax(dim=1)
    logits.gather(1, top1[:, None]).sum().backward()
    return logits.detach().double().numpy(), xg.grad.double().numpy(), top1


def analyse(arch):
    model = export_models.build(arch, small=False)
    torch.manual_seed(1)
    x = torch.randn(2, 3, 224, 224)
    m64 = copy.deepcopy(model).double()
    b32 = Branches()
    with b32:
        b32.mode = "observe"
        l32, g32, top1_32 = run(model, x, None)
    # The float64 gradient differentiates float32's top-1 logit (as the exports do).
    b64 = Branches()
    with b64:
        b64.mode = "record"
        l64, g64, _ = run(m64, x.double(), top1_32)
    top1 = l64.argmax(1)
    rows = [("T32-T64", metrics(l64, l32, g64, g32))]
    for relu in (False, True):
        if relu and not b64.relus:
            continue
        if not b64.pools and not relu:
            continue
        with b64:
            b64.mode, b64.i, b64.j, b64.replay_relu = "replay", 0, 0, relu
            lr, gr, _ = run(model, x, top1_32)
        rows.append(("pool+relu routing" if relu else "pool routing", metrics(l64, lr, g64, gr)))
    # What rounding the weights once more to float32 (as torch.onnx's batch-norm folding does)
    # does to the exact answer.
    mp = export_models.perturbed(m64, torch.Generator().manual_seed(3))
    lp, gp, _ = run(mp, x.double(), top1_32)
    rows.append(("T64p-T64", metrics(l64, lp, g64, gp)))
    print(f"{arch}: top-1 float32 {top1_32.tolist()}, float64 {top1.tolist()}")
    for name, m in rows:
        print(f"    {name:18s} max|dlogit|/max|logit| {m['logits']:.2e}  cosine {m['cosine']:.9f}  "
              f"max|dgrad|/max|grad| {m['gradmax']:.2e}")
    for li, ((xin, k, s, p, cm, shp), i64, i32) in enumerate(zip(b64.pool_inputs, b64.pools, b32.pools)):
        mx, second = export_models.pool_top2(xin, k, s, p, cm, shp)
        gap = mx - second
        live = mx != 0
        near = (gap <= NEAR_TIE * mx.abs()) & live
        flips = (i64 != i32)
        print(f"    max-pool {li}: input {tuple(xin.shape)}, {mx.numel()} windows, {int(live.sum())} with a nonzero "
              f"maximum, {int(near.sum())} near-ties (gap <= {NEAR_TIE:g} of the maximum), {int(flips.sum())} flipped "
              f"in float32 ({int((flips & near).sum())} of them near-ties, {int((flips & ~live).sum())} with maximum 0)")
    if b64.relus:
        n = sum(int(m[0].numel()) for m in b64.relus)
        f = sum(int((a != b).any(0).sum()) for a, b in zip(b64.relus, b32.relus))
        print(f"    relu/relu6: {len(b64.relus)} calls, {n} inputs, {f} on the other side of a kink in float32")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", action="append", help="only these architectures (repeatable)")
    args = ap.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    for arch in args.arch or export_models.ALL_ARCHS:
        analyse(arch)


if __name__ == "__main__":
    main()
