#!/usr/bin/python3
"""PyTorch counterpart of bench/train.c: training steps of the same architectures on the same
synthetic in-memory batch, timed the same way.

For each model (simple_cnn, resnet_small and resnet18 at 64 x 64 by default, batch 64, 10 classes): the model
in train mode, random normal images and labels i % 10 drawn once, 2 untimed steps, then `steps`
steps each timed alone (zero_grad, forward, cross-entropy, backward, SGD step with momentum 0.9 and
weight decay 5e-4, as bench/train.c); prints the median as
  RESULT impl=torch model=resnet_small size=64 batch=64 ms=123.4 img_s=518.6
resnet_small is salient's src/models/resnet.c: a 3x3 stride-1 stem of `width` channels (no
max-pool), three stages of two BasicBlocks (width, 2 width, 4 width; strides 1, 2, 2), global
average pool, linear. resnet18 is torchvision's (the local definition of bench/engine_torch.py
when torchvision is missing). Run with Debian's /usr/bin/python3; exits 3 without torch.
"""
import argparse
import os
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
except ImportError:
    sys.stderr.write("PyTorch not installed\n")
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_torch import BasicBlock, ResNet  # noqa: E402  (same topology as the engine bench)


class ResNetSmall(nn.Module):
    def __init__(self, width=16, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        cin = width
        for s, (w, stride) in enumerate(zip((width, 2 * width, 4 * width), (1, 2, 2))):
            blocks = []
            for i in range(2):
                blocks.append(BasicBlock(cin, w, stride if i == 0 else 1))
                cin = w
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def simple_cnn(width=16, num_classes=10):
    """salient's src/models/cnn.c: four conv 3x3 (no bias) / BN / ReLU / max-pool 2 blocks of
    width, 2, 4 and 8 width channels, global max pool, linear."""
    layers, cin = [], 3
    for b in range(4):
        cout = width << b
        layers += [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                   nn.MaxPool2d(2)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))


def make_model(name, width):
    if name == "resnet_small":
        return ResNetSmall(width)
    if name == "simple_cnn":
        return simple_cnn(width)
    if name == "resnet18":
        try:
            import torchvision.models as tvm
            return tvm.resnet18(num_classes=10)
        except ImportError:
            return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=10)
    raise SystemExit("unknown model %s" % name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="simple_cnn,resnet_small,resnet18")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    steps = 3 if a.quick else a.steps
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    for name in a.model.split(","):
        model = make_model(name, a.width)
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        x = torch.randn(a.batch, 3, a.size, a.size)
        y = torch.arange(a.batch) % 10
        loss_fn = nn.CrossEntropyLoss()
        ms = []
        for k in range(2 + steps):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            if k >= 2:
                ms.append(1e3 * (time.perf_counter() - t0))
        med = statistics.median(ms)
        print("RESULT impl=torch model=%s size=%d batch=%d ms=%.2f img_s=%.1f" %
              (name, a.size, a.batch, med, 1e3 * a.batch / med), flush=True)


if __name__ == "__main__":
    main()
