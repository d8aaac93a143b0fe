#!/usr/bin/python3
"""PyTorch counterpart of bench/engine.c: the same models, batches and passes, timed the same way.

For resnet18, resnet50 and vgg16 at 224x224, batch 1 and 8, prints the median wall-clock time of
  fwd      a forward pass (eval mode, under torch.inference_mode)
  fwd+bwd  a forward pass then backward to the input only: the input requires grad, every
           parameter has requires_grad_(False), the seed is a one-hot of each image's top-1 class
as machine-readable lines
  RESULT impl=torch model=resnet18 batch=1 pass=fwd ms=12.345
Models come from torchvision with random weights when it is installed; otherwise from the
definitions below, written to torchvision's topology and parameter names (same state_dict keys,
same parameter counts), so the work timed is the same. Run with Debian's /usr/bin/python3.
Exits 3 with a message on stderr when torch cannot be imported (bench/run_engine.sh checks that).
"""
import argparse
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
except ImportError:
    sys.stderr.write("PyTorch not installed\n")
    sys.exit(3)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, width, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = None
        if stride != 1 or cin != width:
            self.downsample = nn.Sequential(nn.Conv2d(cin, width, 1, stride, bias=False),
                                            nn.BatchNorm2d(width))

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride):
        super().__init__()
        cout = 4 * width
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)  # stride here: "v1.5"
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for s, (n, width) in enumerate(zip(layers, (64, 128, 256, 512))):
            blocks = []
            for i in range(n):
                blocks.append(block(cin, width, (1 if s == 0 else 2) if i == 0 else 1))
                cin = width * block.expansion
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class VGG16(nn.Module):
    CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]

    def __init__(self, num_classes=1000):
        super().__init__()
        layers, cin = [], 3
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
            nn.Linear(4096, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def make_model(name):
    try:
        import torchvision.models as tvm
        return getattr(tvm, name)(), "torchvision"
    except ImportError:
        pass
    if name == "resnet18":
        return ResNet(BasicBlock, [2, 2, 2, 2]), "local"
    if name == "resnet50":
        return ResNet(Bottleneck, [3, 4, 6, 3]), "local"
    if name == "vgg16":
        return VGG16(), "local"
    raise SystemExit("unknown model %s" % name)


def reps(model, batch, quick):
    """(warm-up, timed) runs; the same table as bench/engine.c."""
    if quick:
        return (1, 3) if batch == 1 else (1, 2)
    if model == "vgg16":
        return (2, 5) if batch == 1 else (1, 3)
    return (3, 10) if batch == 1 else (2, 5)


def median_ms(fn, warm, timed):
    for _ in range(warm):
        fn()
    times = []
    for _ in range(timed):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--model", action="append", help="resnet18,resnet50,vgg16 (repeatable)")
    ap.add_argument("--batch", default="1,8", help="comma-separated batch sizes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keys", metavar="MODEL", help="print MODEL's state_dict keys and shapes, "
                    "and its parameter count, then exit")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.keys:
        m, _ = make_model(a.keys)
        for k, v in m.state_dict().items():
            print(k, tuple(v.shape))
        print("PARAMS", sum(p.numel() for p in m.parameters()))
        return
    models = [x for arg in (a.model or ["resnet18,resnet50,vgg16"]) for x in arg.split(",") if x]
    batches = [int(b) for b in a.batch.split(",") if b]
    for name in models:
        model, source = make_model(name)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        print("INFO impl=torch model=%s source=%s torch=%s threads=%d" %
              (name, source, torch.__version__, torch.get_num_threads()), flush=True)
        for batch in batches:
            warm, timed = reps(name, batch, a.quick)
            x = torch.randn(batch, 3, 224, 224)

            def fwd():
                with torch.inference_mode():
                    model(x)

            def fwd_bwd():
                xg = x.clone().requires_grad_(True)
                logits = model(xg)
                seed = torch.zeros_like(logits)
                seed.scatter_(1, logits.argmax(1, keepdim=True), 1.0)
                logits.backward(seed)
                return xg.grad

            for pass_name, fn in (("fwd", fwd), ("fwd+bwd", fwd_bwd)):
                ms = median_ms(fn, warm, timed)
                print("RESULT impl=torch model=%s batch=%d pass=%s ms=%.3f" %
                      (name, batch, pass_name, ms), flush=True)


if __name__ == "__main__":
    main()
