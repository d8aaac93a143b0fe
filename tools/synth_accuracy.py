#!/usr/bin/python3
"""Checks that a dataset written by `salient synth` is learnable as docs/synth.md claims: trains a
small CNN (4 conv blocks, global max pooling — the object is 2-16 % of the image, and an
average over the whole map drowns it — 0.1 M parameters, 16 M multiply-adds per 64 x 64 image) with PyTorch on train.csv for a fixed time budget,
picks the epoch with the best val.csv accuracy and prints its test.csv accuracy. Generates nothing
that is committed; fixed seeds (torch 0, the dataset's own seed).

Regenerate the figures quoted in docs/synth.md:
  salient synth shapes  --out /tmp/shapes  --seed 1
  salient synth lesions --out /tmp/lesions --seed 1
  /usr/bin/python3 tools/synth_accuracy.py /tmp/shapes  --minutes 60
  /usr/bin/python3 tools/synth_accuracy.py /tmp/lesions --minutes 60
"""
import argparse
import csv
import os
import time

import numpy as np
import torch
import torch.nn as nn
from PIL import Image


def load(root, split):
    xs, ys = [], []
    with open(os.path.join(root, split + ".csv")) as f:
        for row in csv.DictReader(f):
            a = np.asarray(Image.open(os.path.join(root, row["path"])), dtype=np.float32) / 255.0
            if a.ndim == 2:
                a = a[:, :, None]
            xs.append(a.transpose(2, 0, 1))
            ys.append(int(row["label"].split(";")[0]))
    return torch.tensor(np.stack(xs)), torch.tensor(ys)


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.MaxPool2d(2))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])
    return (pred == y).float().mean().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--minutes", type=float, default=5.0, help="training time budget (wall clock)")
    ap.add_argument("--epochs", type=int, default=0, help="stop after this many epochs (0: time budget only)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    xtr, ytr = load(a.root, "train")
    xva, yva = load(a.root, "val")
    xte, yte = load(a.root, "test")
    mean, std = xtr.mean(), xtr.std()
    xtr, xva, xte = (xtr - mean) / std, (xva - mean) / std, (xte - mean) / std
    k = int(ytr.max()) + 1
    model = nn.Sequential(block(xtr.shape[1], 16), block(16, 32), block(32, 64), block(64, 128),
                          nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(128, k))
    print(f"{sum(p.numel() for p in model.parameters())} parameters, {len(xtr)} training images", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    t0, epoch, best = time.time(), 0, (0.0, 0.0, 0)
    while time.time() - t0 < 60 * a.minutes and (a.epochs == 0 or epoch < a.epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 64):
            idx = perm[i:i + 64]
            xb = xtr[idx]
            # flips and 90-degree turns: the classes are rotation- and mirror-invariant
            if torch.rand(1).item() < 0.5:
                xb = xb.flip(3)
            xb = torch.rot90(xb, int(torch.randint(4, (1,))), (2, 3))
            loss = nn.functional.cross_entropy(model(xb), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        epoch += 1
        va, te = accuracy(model, xva, yva), accuracy(model, xte, yte)
        if va >= best[0]:
            best = (va, te, epoch)
        print(f"epoch {epoch}: last-batch loss {loss.item():.3f} val {va:.4f} test {te:.4f} ({time.time() - t0:.0f} s)",
              flush=True)
    print(f"{a.root}: best val {best[0]:.4f} at epoch {best[2]}, test {best[1]:.4f}, "
          f"{epoch} epochs in {(time.time() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
