#!/usr/bin/python3
"""Golden fixtures for tests/test_optim.c: optimiser steps and learning-rate schedules from PyTorch.

Regenerate (from the repository root, with Debian's python3-torch 1.13 and numpy):

    /usr/bin/python3 tools/make_golden_optim.py

It rewrites tests/fixtures/golden_optim/ completely and is deterministic (fixed seed, one thread,
deterministic algorithms). The network is smooth on purpose (tanh, sigmoid, average pooling): ten
training steps of several optimisers make hundreds of thousands of activation evaluations, and a
ReLU or max-pool kink that float32 noise could flip would be found in almost any of them (see
tools/make_golden.py for the kink-margin search the ReLU network needs). Every reference value is
computed in float64 from float32-representable weights and inputs, then stored as float32. No conv
feeding a training-mode batch-norm has a bias: batch-norm cancels it, so its gradient is rounding
noise, which Adam would normalise into full-size steps in a random direction.

The network (input (4, 3, 12, 12), 4 classes), built the same way in tests/test_optim.c:
  conv1 3x3 (3->6, pad 1, no bias) -> bn1 -> tanh -> AvgPool 2 -> conv2 3x3 (6->8, pad 1, no bias)
  -> bn2 -> sigmoid -> GlobalAveragePool -> Flatten -> fc Linear(8->4);
  loss = mean softmax cross-entropy, batch-norm in training mode (batch statistics).

What it writes (all .npy):
  model/<name>.npy             initial parameters and buffers (state_dict names)
  input.npy, target.npy        the batch (4, 3, 12, 12) and its class indices (4,) as int64
  <run>/losses.npy             the loss before each of the STEPS updates
  <run>/final/<name>.npy       parameters and running statistics after the updates
  sgd_clip/max_norm.npy        the clip_grad_norm_ threshold of that run (half the first norm)
  groups/...                   SGD with a frozen conv1 and fc at 10x the learning rate
  lr/<schedule>.npy            learning rates of 30 steps of a schedule (see SCHEDULES)
"""
import os
import shutil

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "golden_optim")
N, C, H, W = 4, 3, 12, 12
CLASSES = 4
TARGET = [0, 3, 1, 2]
STEPS = 10
SEED = 7

# name -> (optimiser class, keyword arguments, clip factor of the first gradient norm or None)
RUNS = {
    "sgd_momentum": (torch.optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=5e-4), None),
    "sgd_nesterov": (torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3), None),
    "sgd_clip": (torch.optim.SGD, dict(lr=0.1), 0.5),
    "adam": (torch.optim.Adam, dict(lr=0.01, weight_decay=1e-3), None),
    "adamw": (torch.optim.AdamW, dict(lr=0.01, weight_decay=0.05), None),
}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, CLASSES)

    def forward(self, x):
        a = F.avg_pool2d(torch.tanh(self.bn1(self.conv1(x))), 2)
        g = torch.sigmoid(self.bn2(self.conv2(a))).mean(dim=(2, 3))
        return self.fc(torch.flatten(g, 1))


def state(net):
    return {k: v.detach().to(torch.float32).numpy().copy()
            for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


def save(rel, arr):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, arr, allow_pickle=False)


def fresh(init):
    net = Net()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in init.items()}, strict=False)
    return net.double().train()


def train(init, x, y, make_opt, clip_factor=None):
    net = fresh(init)
    opt = make_opt(net)
    losses, max_norm = [], None
    for _ in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        if clip_factor is not None:
            if max_norm is None:
                norm = torch.sqrt(sum((p.grad ** 2).sum() for p in net.parameters())).item()
                max_norm = np.float32(clip_factor * norm)
            torch.nn.utils.clip_grad_norm_(net.parameters(), float(max_norm))
        opt.step()
        losses.append(loss.item())
    return np.array(losses, dtype=np.float32), state(net), max_norm


def schedule_lrs(make_sched, steps=30, lr=0.1):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = make_sched(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out, dtype=np.float32)


SCHEDULES = {
    # StepLR(step_size=7, gamma=0.5)
    "step": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
    # CosineAnnealingLR(T_max=30, eta_min=0.001)
    "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=30, eta_min=0.001),
    # LinearLR warm-up over 5 steps from 0.1x, then CosineAnnealingLR(T_max=25, eta_min=0)
    "warmup_cosine": lambda o: torch.optim.lr_scheduler.SequentialLR(
        o, [torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=5),
            torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=25, eta_min=0.0)], milestones=[5]),
}


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    torch.manual_seed(SEED)
    net = Net()
    with torch.no_grad():
        for bn in (net.bn1, net.bn2):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.1)
            bn.running_mean.normal_(0.0, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
    init = state(net)
    x32 = torch.randn(N, C, H, W)
    x = x32.double()
    y = torch.tensor(TARGET, dtype=torch.int64)
    for k, v in init.items():
        save(f"model/{k}.npy", v)
    save("input.npy", x32.numpy())
    save("target.npy", np.array(TARGET, dtype="<i8"))
    for name, (cls, kw, clip) in RUNS.items():
        losses, final, max_norm = train(init, x, y, lambda n: cls(n.parameters(), **kw), clip)
        save(f"{name}/losses.npy", losses)
        for k, v in final.items():
            save(f"{name}/final/{k}.npy", v)
        if max_norm is not None:
            save(f"{name}/max_norm.npy", np.array(max_norm, dtype=np.float32))
        print(f"{name}: losses {losses[0]:.5f} -> {losses[-1]:.5f}")

    # Parameter groups: conv1 frozen, fc at 10x the base rate, the rest at the base rate.
    def grouped(n):
        n.conv1.weight.requires_grad_(False)
        rest = [p for k, p in n.named_parameters() if not k.startswith(("conv1.", "fc."))]
        return torch.optim.SGD([{"params": rest}, {"params": list(n.fc.parameters()), "lr": 0.2}],
                               lr=0.02, momentum=0.9)
    losses, final, _ = train(init, x, y, grouped)
    save("groups/losses.npy", losses)
    for k, v in final.items():
        save(f"groups/final/{k}.npy", v)

    for name, make in SCHEDULES.items():
        save(f"lr/{name}.npy", schedule_lrs(make))


if __name__ == "__main__":
    main()
