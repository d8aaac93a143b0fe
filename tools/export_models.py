#!/usr/bin/python3
"""Exports torchvision classifiers to ONNX with PyTorch's reference logits and input gradients, as
fixtures for salient's ONNX importer and `salient run`.

Every model is built with fixed-seed random weights (torch.manual_seed; torchvision's own
initialisation, then batch-norm affine parameters randomised and running statistics calibrated
on random images: see calibrate_batchnorm), put in eval mode, and exported by torch.onnx.export
with a dynamic batch axis ("N" on input "input" and output "logits") at opsets 13 and 17.
Architectures: resnet18, resnet50, vgg16_bn, mobilenet_v2, mobilenet_v3_small, densenet121,
efficientnet_b0, squeezenet1_1, shufflenet_v2_x1_0, googlenet (aux_logits=False,
init_weights=True).

Layout (one directory per architecture and opset):
    <root>/<arch>_op<opset>/model.onnx   the exported model
    <root>/<arch>_op<opset>/input.npy    (2, 3, H, W) float32, N(0, 1) from a fixed seed (--full:
                                         seed 1; --small: the first seed whose branch decisions
                                         keep clear of ties, see pick_input)
    <root>/<arch>_op<opset>/logits.npy   (2, K) float32, PyTorch's output for input.npy
    <root>/<arch>_op<opset>/grad.npy     (2, 3, H, W) float32, d(sum_i logits[i, top1_i]) / d input,
                                         top1_i = argmax of logits[i]
    --full only (tools/compare_models.py, tests/test_onnx_models.c):
    <root>/<arch>_op<opset>/logits64.npy (2, K) float64 and
    <root>/<arch>_op<opset>/grad64.npy   (2, 3, H, W) float64: the same computed by PyTorch in
                                         float64 (model.double() on the same float32 weights and
                                         input, top1_i from float32): the exact answer every
                                         float32 engine approximates
    <root>/<arch>_op<opset>/logits64p.npy, grad64p.npy   the same in float64 with every weight
                                         moved by half a float32 ulp (see perturbed)

Modes:
    --small   reduced variants committed to tests/fixtures/onnx/models (root), 32x32 inputs and 10
              classes; the whole set stays under ~2.5 MB (2.4 MiB). Only architectures whose torchvision
              constructors can shrink the width are included: mobilenet_v2 (width_mult 0.1),
              mobilenet_v3_small (width_mult 0.1), densenet121's block layout with growth rate 4
              and 8 initial features, efficientnet_b0's configuration at width 0.1,
              shufflenet_v2_x1_0's stage repeats with channels (8, 16, 32, 64, 128); opset 17 for
              all, opset 13 also for mobilenet_v3_small and shufflenet_v2_x1_0
              (SMALL_OPSETS). resnet18,
              resnet50, vgg16_bn, squeezenet1_1 and googlenet have fixed widths (0.7–138 M
              parameters, 3–550 MB) and are exported in --full mode only.
    --full DIR  every architecture at full size, 224x224 and 1000 classes, into DIR (not committed;
              `make test-torch` uses build/onnx-full).

Regenerate the committed fixtures:   /usr/bin/python3 tools/export_models.py --small
Full-size exports:                   /usr/bin/python3 tools/export_models.py --full build/onnx-full
Requires torch 1.13, torchvision 0.14, onnx 1.12, numpy (Debian: python3-torch python3-torchvision
python3-onnx python3-numpy).
"""
import argparse
import copy
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
import torchvision
from torchvision.models import densenet, efficientnet, shufflenetv2

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "onnx", "models")
OPSETS = (13, 17)
ALL_ARCHS = ("resnet18", "resnet50", "vgg16_bn", "mobilenet_v2", "mobilenet_v3_small", "densenet121",
             "efficientnet_b0", "squeezenet1_1", "shufflenet_v2_x1_0", "googlenet")


def full_model(arch):
    if arch == "googlenet":
        return torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
    return getattr(torchvision.models, arch)(weights=None)


def small_model(arch):
    """Reduced-width variants built through torchvision's own classes and configuration helpers."""
    k = 10
    if arch == "mobilenet_v2":
        return torchvision.models.mobilenet_v2(weights=None, width_mult=0.1, num_classes=k)
    if arch == "mobilenet_v3_small":
        return torchvision.models.mobilenet_v3_small(weights=None, width_mult=0.1, num_classes=k)
    if arch == "densenet121":
        return densenet.DenseNet(growth_rate=4, block_config=(6, 12, 24, 16), num_init_features=8, bn_size=2,
                                 num_classes=k)
    if arch == "efficientnet_b0":
        setting, last = efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.1, depth_mult=1.0)
        return efficientnet.EfficientNet(setting, 0.2, last_channel=last, num_classes=k)
    if arch == "shufflenet_v2_x1_0":
        return shufflenetv2.ShuffleNetV2([4, 8, 4], [8, 16, 32, 64, 128], num_classes=k)
    return None


# Opsets of the committed variants: 17 for all; 13 too where the two exports differ in ways an
# importer must handle (HardSwish appears at opset 14, so opset 13 writes HardSigmoid and Mul;
# ShuffleNet's channel shuffle and split), within the size budget.
SMALL_OPSETS = {"mobilenet_v2": (17,), "mobilenet_v3_small": (13, 17), "densenet121": (17,),
                "efficientnet_b0": (17,), "shufflenet_v2_x1_0": (13, 17)}
SMALL_ARCHS = tuple(a for a in ALL_ARCHS if a in SMALL_OPSETS)


def build(arch, small):
    """The model with its fixed-seed weights (seed 0, batch norm calibrated with seed 2), in eval mode."""
    torch.manual_seed(0)
    model = small_model(arch) if small else full_model(arch)
    calibrate_batchnorm(model, 32 if small else 224, torch.Generator().manual_seed(2))
    return model








# Calibration images: enough that every channel of the last stage (1/32 of the input side: 1x1 at
# 32 px, 7x7 at 224) sees at least 128 values. With 4 images at 32 px, variances estimated from 4
# values are tiny by chance, batch norm multiplies those channels by up to ~100 on other images,
# and the reduced EfficientNet-B0's logits reached 1.5e3 with PyTorch's float32 gradient 3.4e-4 of
# its maximum from float64's (128 images: logits 1.7, 8.5e-6).
CALIBRATION_SAMPLES = 128


def calibrate_batchnorm(model, size, gen):
    """Gives every batch-norm layer random affine parameters (weight in [0.5, 1.5), bias
    0.1 N(0, 1)), then sets its running statistics to those of random N(0, 1) images: one pass
    with only the batch-norm layers in training mode (cumulative averages), so that dropout and
    EfficientNet's stochastic depth stay off as at inference. Fresh layers are the identity (mean 0,
    var 1, weight 1, bias 0), which an importer could get right by accident, and with torchvision's
    initial weights the signal vanishes through deep models (GoogLeNet's logits gradient is ~1e-13
    at init, where float32 rounding and denormals dominate any comparison). Calibrating after the
    affine parameters are set keeps every layer's output O(1) (mean ~bias, std ~weight on such
    images), as in a trained model. In the other order (before this fix) each layer's statistics
    missed the scaling the earlier layers' random affines apply at inference, the mismatch
    compounded with depth (EfficientNet-B0's logits reached 6.8e3) and PyTorch's own float32 logits
    differed from its float64 ones by 1.3e-3 of the largest: no float32 engine could meet a 1e-4
    criterion on such a model."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        c = m.num_features
        with torch.no_grad():
            m.weight.copy_(0.5 + torch.rand(c, generator=gen))
            m.bias.copy_(0.1 * torch.randn(c, generator=gen))
        m.reset_running_stats()
        m.momentum = None
    model.eval()
    for m in bns:
        m.train()
    with torch.no_grad():
        n = max(4, -(-CALIBRATION_SAMPLES // (size // 32) ** 2))
        model(torch.randn(n, 3, size, size, generator=gen))
    model.eval()


# Smallest distance, relative to the largest |value| of the tensor, that every branch decision of a
# committed fixture keeps from its tie in float64 (tools/export_models.py --small picks the input).
MIN_MARGIN = 1e-5


def pool_top2(x, kernel_size, stride, padding, ceil_mode, out_shape):
    """For every max-pool window of x (N, C, H, W): (largest, second largest) value; -inf where the
    window holds one element."""
    k = kernel_size if isinstance(kernel_size, int) else kernel_size[0]
    s = stride if isinstance(stride, int) else (stride[0] if stride else k)
    p = padding if isinstance(padding, int) else padding[0]
    oh, ow = out_shape[-2], out_shape[-1]
    eh, ew = (oh - 1) * s + k - (x.shape[2] + 2 * p), (ow - 1) * s + k - (x.shape[3] + 2 * p)
    xp = F.pad(x, (p, p + max(ew, 0), p, p + max(eh, 0)), value=float("-inf"))
    patches = xp.unfold(2, k, s).unfold(3, k, s)[:, :, :oh, :ow].reshape(x.shape[0], x.shape[1], oh, ow, k * k)
    top = patches.topk(2, dim=-1).values
    return top[..., 0], top[..., 1]


class Kinks:
    """While active, records the smallest margin of any branch decision of a model run: ReLU
    inputs from 0, ReLU6 (hardtanh) inputs from 0 and 6, Hardswish/Hardsigmoid inputs from +-3,
    the gap between the two largest values of a max-pool window, each relative to the largest
    |value| of its tensor. Exact zeros (a preceding ReLU's output, where every engine computes the
    same 0) and windows whose maximum is 0 are not decisions that rounding can flip."""

    def __init__(self):
        self.margin, self.where = float("inf"), None
        self.orig = {n: getattr(F, n) for n in ("relu", "hardtanh", "hardswish", "hardsigmoid", "max_pool2d")}

    def note(self, name, dist, scale):
        if dist.numel() == 0 or scale == 0:
            return
        m = float(dist.min()) / scale
        if m < self.margin:
            self.margin, self.where = m, name

    def relu(self, x, inplace=False):
        nz = x[x != 0].detach()
        self.note("relu", nz.abs(), float(x.detach().abs().max()))
        return self.orig["relu"](x, inplace=inplace)

    def hardtanh(self, x, min_val=-1.0, max_val=1.0, inplace=False):
        t = x.detach()
        self.note("hardtanh", torch.minimum((t - min_val).abs(), (t - max_val).abs()), float(t.abs().max()))
        return self.orig["hardtanh"](x, min_val, max_val, inplace)

    def hardswish(self, x, inplace=False):
        t = x.detach()
        self.note("hardswish", torch.minimum((t - 3).abs(), (t + 3).abs()), float(t.abs().max()))
        return self.orig["hardswish"](x, inplace)

    def hardsigmoid(self, x, inplace=False):
        t = x.detach()
        self.note("hardsigmoid", torch.minimum((t - 3).abs(), (t + 3).abs()), float(t.abs().max()))
        return self.orig["hardsigmoid"](x, inplace)

    def max_pool2d(self, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
        out = self.orig["max_pool2d"](x, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode,
                                      return_indices=return_indices)
        y = out[0] if return_indices else out
        top, second = pool_top2(x.detach(), kernel_size, stride, padding, ceil_mode, y.shape)
        live = (top != 0) & torch.isfinite(second)
        self.note("max-pool", (top - second)[live], float(x.detach().abs().max()))
        return out

    def __enter__(self):
        for n in self.orig:
            setattr(F, n, getattr(self, n))
        return self

    def __exit__(self, *a):
        for n, f in self.orig.items():
            setattr(F, n, f)


def kink_margin(m64, x):
    """Smallest branch-decision margin (Kinks) of the float64 model on x, including the gap between
    each image's two largest logits (the top-1 class picks the gradient), and where it occurs."""
    with Kinks() as k, torch.no_grad():
        logits = m64(x.double())
    top = logits.topk(2, dim=1).values
    k.note("top-1 logit", top[:, 0] - top[:, 1], float(logits.abs().max()))
    return k.margin, k.where


def pick_input(model, size):
    """The input seed for a committed fixture: the first from 1 whose every branch decision keeps
    MIN_MARGIN from its tie in float64. Near a tie, the branch taken depends on float32 summation
    order, and a flipped one moves a whole window's or activation's gradient: the reduced DenseNet
    at seed 1 (weights calibrated on 4 images) had a ReLU input 3.4e-7 of its layer's maximum from
    0, which oneDNN's float32 result put on the other side, moving 1505 of image 1's 3072 gradient
    elements by up to 1.2e-2 of the maximum (PyTorch float32 and salient's reference kernels stayed
    within 4e-7 of float64). The issue's gradient bound (1e-3) is only a test of the engine where
    no decision is that close."""
    m64 = copy.deepcopy(model).double()
    for seed in range(1, 101):
        torch.manual_seed(seed)
        x = torch.randn(2, 3, size, size)
        margin, where = kink_margin(m64, x)
        if margin >= MIN_MARGIN:
            return seed, margin
        print(f"    input seed {seed}: a {where} decision {margin:.1e} from its tie; next seed", flush=True)
    sys.exit("export_models: no input seed in 1..100 keeps every branch decision clear of its tie")


def perturbed(m64, gen):
    """A copy of the float64 model with every weight moved by half a float32 ulp (relative 2^-24,
    random sign): an exact engine on weights rounded once more to float32, as torch.onnx's
    folding of batch norm into convolutions does."""
    mp = copy.deepcopy(m64)
    with torch.no_grad():
        for prm in mp.parameters():
            sign = torch.randint(0, 2, prm.shape, generator=gen).double() * 2 - 1
            prm.mul_(1 + sign * 2.0 ** -24)
    return mp


def references(model, size, seed, f64):
    """The input batch (N(0, 1) from seed) and PyTorch's float32 logits and top-1 input gradients;
    with f64 also the same in float64 (a double copy of the float32 weights and input, both exact:
    the answer a float32 engine approximates), and in float64 with the weights moved by half a
    float32 ulp (perturbed): how much rounding the weights alone moves the exact answer."""
    torch.manual_seed(seed)
    x = torch.randn(2, 3, size, size)
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    top1 = logits.argmax(dim=1)
    logits.gather(1, top1[:, None]).sum().backward()
    refs = {"input": x.numpy().astype(np.float32), "logits": logits.detach().numpy().astype(np.float32),
            "grad": xg.grad.numpy().astype(np.float32)}
    if f64:
        m64 = copy.deepcopy(model).double()
        for suffix, m in (("64", m64), ("64p", perturbed(m64, torch.Generator().manual_seed(3)))):
            x64 = x.double().requires_grad_(True)
            l64 = m(x64)
            # The float32 top-1 class, so that every reference differentiates the same logit.
            l64.gather(1, top1[:, None]).sum().backward()
            refs["logits" + suffix] = l64.detach().numpy()
            refs["grad" + suffix] = x64.grad.numpy()
    return x, refs


def export(arch, model, x, refs, opset, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    for name, a in refs.items():
        np.save(os.path.join(out_dir, name + ".npy"), a)
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    params = sum(p.numel() for p in model.parameters())
    size = x.shape[-1]
    print(f"{arch:20s} opset {opset}: {params:>11,d} parameters, {size}x{size}, {total / 1024:9.1f} KiB in {out_dir}",
          flush=True)
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--small", action="store_true", help="reduced variants into tests/fixtures/onnx/models")
    mode.add_argument("--full", metavar="DIR", help="full-size 224x224 exports into DIR")
    ap.add_argument("--arch", action="append", help="only these architectures (repeatable)")
    args = ap.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    archs = SMALL_ARCHS if args.small else ALL_ARCHS
    if args.arch:
        unknown = [a for a in args.arch if a not in archs]
        if unknown:
            sys.exit(f"export_models: {', '.join(unknown)} not available in this mode (choose from {', '.join(archs)})")
        archs = tuple(args.arch)
    root = os.path.normpath(FIXTURES) if args.small else args.full
    total = 0
    size = 32 if args.small else 224
    for arch in archs:
        model = build(arch, args.small)
        seed = 1
        if args.small:
            seed, margin = pick_input(model, size)
            print(f"{arch:20s} input seed {seed}: every branch decision >= {margin:.1e} from its tie", flush=True)
        x, refs = references(model, size, seed, not args.small)
        for opset in SMALL_OPSETS[arch] if args.small else OPSETS:
            total += export(arch, model, x, refs, opset, os.path.join(root, f"{arch}_op{opset}"))
    print(f"total {total / 1024 / 1024:.2f} MiB")


if __name__ == "__main__":
    main()
