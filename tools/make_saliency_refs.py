#!/usr/bin/python3
"""PyTorch autograd references for tests/test_explain.c (saliency methods).

Regenerate (from the repository root, Debian's python3-torch 1.13, numpy, onnx):

    /usr/bin/python3 tools/make_saliency_refs.py

It rewrites tests/fixtures/saliency/ and is deterministic (fixed seeds, one thread). A small CNN
with smooth activations (so that float32 in salient and float64 here cannot fall on different sides
of a kink) is exported to ONNX; salient loads the same file, so both sides share the weights:

  input (N, 3, 16, 16) -> conv1 3x3 pad 1 (3->8) -> bn1 (eval) -> Tanh -> conv2 3x3 stride 2 pad 1
  (8->16) -> Tanh ("act", the Grad-CAM layer, (N, 16, 8, 8)) -> GlobalAveragePool -> Flatten
  -> fc Linear(16->5) = logits

Files (all float32 .npy unless said):
  model.onnx            the network (opset 13, batch dimension "N")
  layer.txt             the ONNX name of the Tanh output used for Grad-CAM
  input.npy             (3, 3, 16, 16) images
  target.npy            (3,) class indices explained (int64)
  logits.npy            (3, 5)
  noise.npy             (8, 3, 16, 16) standard-normal draws used by smoothgrad (the same for each image)
  gradient.npy          (3, 1, 16, 16) max_c |dz_c/dx|
  grad_input.npy        (3, 1, 16, 16) sum_c x * dz_c/dx
  integrated_gradients.npy  (3, 1, 16, 16) zero baseline, m = 16 steps, trapezoid rule
  ig_delta.npy          (3,) z_c(x) - z_c(0): the completeness target
  smoothgrad.npy        (3, 1, 16, 16) n = 8, sigma = 0.15 (max - min), noise from noise.npy
  gradcam.npy           (3, 1, 16, 16) at "act", bilinear upsampling (align_corners=False)
Every reference is computed in float64 from the float32 weights and inputs.
"""
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "saliency")
N, C, H, W, K = 3, 3, 16, 16, 5
TARGET = [1, 3, 0]
IG_STEPS = 16
SG_SAMPLES = 8
SG_SIGMA = 0.15


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, K)

    def features(self, x):
        return torch.tanh(self.conv2(torch.tanh(self.bn1(self.conv1(x)))))

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


def save(name, a):
    np.save(os.path.join(OUT, name), np.asarray(a, dtype=np.float32))


def input_grad(net, x, target):
    x = x.clone().requires_grad_(True)
    z = net(x)
    z[torch.arange(x.shape[0]), target].sum().backward()
    return x.grad


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    net = Net()
    with torch.no_grad():  # non-trivial batch-norm statistics
        net.bn1.running_mean.uniform_(-0.2, 0.2)
        net.bn1.running_var.uniform_(0.5, 1.5)
        net.bn1.weight.uniform_(0.5, 1.5)
        net.bn1.bias.uniform_(-0.2, 0.2)
    net.eval()
    x32 = torch.randn(N, C, H, W)
    path = os.path.join(OUT, "model.onnx")
    torch.onnx.export(net, x32[:1], path, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    tanhs = [n.output[0] for n in m.graph.node if n.op_type == "Tanh"]
    with open(os.path.join(OUT, "layer.txt"), "w") as f:
        f.write(tanhs[-1] + "\n")

    net = net.double()
    x = x32.double()
    t = torch.tensor(TARGET)
    np.save(os.path.join(OUT, "target.npy"), np.array(TARGET, dtype=np.int64))
    save("input.npy", x32.numpy())
    with torch.no_grad():
        z = net(x)
    save("logits.npy", z.numpy())

    g = input_grad(net, x, t)
    save("gradient.npy", g.abs().amax(1, keepdim=True).numpy())
    save("grad_input.npy", (x * g).sum(1, keepdim=True).numpy())

    # Integrated gradients, zero baseline: points k/m, k = 0..m, trapezoid weights.
    avg = torch.zeros_like(x)
    for k in range(IG_STEPS + 1):
        a = np.float32(k) / np.float32(IG_STEPS)
        w = (0.5 if k in (0, IG_STEPS) else 1.0) / IG_STEPS
        avg += w * input_grad(net, float(a) * x, t)
    save("integrated_gradients.npy", (x * avg).sum(1, keepdim=True).numpy())
    with torch.no_grad():
        z0 = net(torch.zeros_like(x))
    save("ig_delta.npy", (z - z0)[torch.arange(N), t].numpy())

    # SmoothGrad with fixed noise: x + sigma (max - min) eps_s, mean of max_c |grad|.
    gen = torch.Generator().manual_seed(1)
    eps = torch.randn(SG_SAMPLES, C, H, W, generator=gen)
    save("noise.npy", eps.numpy())
    eps = eps.double()
    acc = torch.zeros(N, 1, H, W, dtype=torch.float64)
    for i in range(N):
        sig = SG_SIGMA * (x[i].max() - x[i].min())
        xs = x[i:i + 1] + sig * eps
        gs = input_grad(net, xs, t[i].repeat(SG_SAMPLES))
        acc[i] = gs.abs().amax(1, keepdim=True).mean(0)
    save("smoothgrad.npy", acc.numpy())

    # Grad-CAM at the last Tanh.
    xa = x.clone()
    A = net.features(xa)
    A.retain_grad()
    z = net.fc(torch.flatten(F.adaptive_avg_pool2d(A, 1), 1))
    z[torch.arange(N), t].sum().backward()
    alpha = A.grad.mean((2, 3), keepdim=True)
    cam = F.relu((alpha * A).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=(H, W), mode="bilinear", align_corners=False)
    save("gradcam.npy", cam.detach().numpy())
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT} ({total} bytes); Grad-CAM layer {tanhs[-1]}")


if __name__ == "__main__":
    main()
