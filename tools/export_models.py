#!/usr/bin/python3
"""Exports torchvision classifiers to ONNX with PyTorch's reference logits and input gradients, as
fixtures for salient's ONNX importer and `salient run`.

Every model is built with fixed-seed random weights (torch.manual_seed; torchvision's own
initialisation, then batch-norm running statistics calibrated on random images and affine
parameters randomised: see calibrate_batchnorm), put in eval mode, and exported by
torch.onnx.export with a dynamic batch axis ("N" on input "input" and output "logits") at opsets
13 and 17. Architectures: resnet18, resnet50, vgg16_bn, mobilenet_v2, mobilenet_v3_small,
densenet121, efficientnet_b0, squeezenet1_1, shufflenet_v2_x1_0, googlenet (aux_logits=False,
init_weights=True).

Layout (one directory per architecture and opset):
    <root>/<arch>_op<opset>/model.onnx   the exported model
    <root>/<arch>_op<opset>/input.npy    (2, 3, H, W) float32, N(0, 1) from a fixed seed
    <root>/<arch>_op<opset>/logits.npy   (2, K) float32, PyTorch's output for input.npy
    <root>/<arch>_op<opset>/grad.npy     (2, 3, H, W) float32, d(sum_i logits[i, top1_i]) / d input,
                                         top1_i = argmax of logits[i]

Modes:
    --small   reduced variants committed to tests/fixtures/onnx/models (root), 32x32 inputs and 10
              classes; the whole set stays under ~2.5 MB. Only architectures whose torchvision
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
import os
import sys

import numpy as np
import onnx
import torch
import torchvision
from torchvision.models import densenet, efficientnet, mobilenetv3, shufflenetv2

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


def calibrate_batchnorm(model, size, gen):
    """Sets every batch-norm layer's running statistics to those of random N(0, 1) images (one
    train-mode pass, cumulative averages), then gives the affine parameters random values. Fresh
    layers are the identity (mean 0, var 1, weight 1, bias 0), which an importer could get right by
    accident, and with torchvision's initial weights the signal vanishes through deep models
    (GoogLeNet's logits gradient is ~1e-13 at init, where float32 rounding and denormals dominate
    any comparison); calibrated statistics keep every layer's output O(1), as in a trained model."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, size, size, generator=gen))
    for m in bns:
        c = m.num_features
        with torch.no_grad():
            m.weight.copy_(0.5 + torch.rand(c, generator=gen))
            m.bias.copy_(0.1 * torch.randn(c, generator=gen))
    model.eval()


def export(arch, model, size, opset, out_dir):
    torch.manual_seed(1)
    x = torch.randn(2, 3, size, size)
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    top1 = logits.argmax(dim=1)
    logits.gather(1, top1[:, None]).sum().backward()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    np.save(os.path.join(out_dir, "input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(out_dir, "logits.npy"), logits.detach().numpy().astype(np.float32))
    np.save(os.path.join(out_dir, "grad.npy"), xg.grad.numpy().astype(np.float32))
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    params = sum(p.numel() for p in model.parameters())
    print(f"{arch:20s} opset {opset}: {params:>11,d} parameters, {size}x{size}, {total / 1024:9.1f} KiB in {out_dir}")
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
    for arch in archs:
        for opset in SMALL_OPSETS[arch] if args.small else OPSETS:
            torch.manual_seed(0)
            model = small_model(arch) if args.small else full_model(arch)
            gen = torch.Generator().manual_seed(2)
            calibrate_batchnorm(model, 32 if args.small else 224, gen)
            total += export(arch, model, 32 if args.small else 224, opset, os.path.join(root, f"{arch}_op{opset}"))
    print(f"total {total / 1024 / 1024:.2f} MiB")


if __name__ == "__main__":
    main()
