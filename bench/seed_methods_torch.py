#!/usr/bin/python3
"""PyTorch side of bench/seed_methods.sh: times dm, hdm and reliable written in PyTorch next to salient,
and prints the report of a whole run.

Timing (one method per call; bench/seed_methods.sh runs it right after salient's run of the same method):
    seed_methods_torch.py --model MODEL --input X.npy --info "INFO impl=salient method=dm ..." [--reps 3]
The algorithms are not re-written here: dm() and hdm() come from tools/make_dm_refs.py and reliable()
from tools/make_reliable_refs.py (the PyTorch references salient's tests agree with). The parameters
(iterations, lr, grids, patience, levels, layers...) are read from salient's INFO line, so both sides run
the same algorithm with the same iterations on the same images (X.npy, written by salient), in float32,
for the top-1 class. MODEL: a salient checkpoint of simple_cnn (.safetensors, its weights loaded into
the same architecture in PyTorch) or a torchvision architecture name (random weights: timing only).
The median ms per image over --reps repetitions after --warm is printed and appended to --json:
    RESULT impl=torch method=dm ms=123.4

Report (after a run): seed_methods_torch.py --report RESULTS.jsonl --out-json SEED_METHODS.json
prints one table per claim from the JSON lines bench_seed_methods and this script wrote, and merges
them into one JSON document.
Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14, numpy).
"""
import argparse
import json
import math
import os
import statistics
import struct
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def read_safetensors(path):
    """{name: float32 array} of a .safetensors file (F32 tensors only) and its metadata."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    meta = head.pop("__metadata__", {})
    out = {}
    for k, v in head.items():
        if v["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {k} is {v['dtype']}, expected F32")
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype="<f4").reshape(v["shape"]).copy()
    return out, meta


def simple_cnn(path):
    """salient's simple_cnn (src/models/cnn.c) with the checkpoint's weights: four blocks conv 3x3 (no
    bias) - batch-norm (eps 1e-5) - ReLU - max-pool 2x2, global max pool, linear. Module names follow
    salient's value names ("block2.relu", "block4") so that reliable's layers map one to one."""
    import torch
    import torch.nn as nn

    w, _ = read_safetensors(path)

    class Block(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(cout, eps=1e-5)
            self.relu = nn.ReLU()
            self.pool = nn.MaxPool2d(2, 2)

        def forward(self, x):
            return self.pool(self.relu(self.bn(self.conv(x))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            for b in range(1, 5):
                cout, cin = w[f"block{b}.conv.weight"].shape[:2]
                setattr(self, f"block{b}", Block(cin, cout))
            self.fc = nn.Linear(*w["fc.weight"].shape[::-1])

        def forward(self, x):
            for b in range(1, 5):
                x = getattr(self, f"block{b}")(x)
            return self.fc(torch.flatten(torch.amax(x, (2, 3)), 1))

    net = Net()
    sd = net.state_dict()
    for k in sd:
        if k in w:
            sd[k] = torch.from_numpy(w[k])
    net.load_state_dict(sd)
    return net


def build_model(spec):
    import torch
    import torchvision
    if spec.endswith(".safetensors"):
        net = simple_cnn(spec)
    else:
        torch.manual_seed(0)
        net = getattr(torchvision.models, spec)()
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def parse_info(line):
    """key=value fields of salient's INFO line, the quoted params expanded."""
    out = {}
    head, _, params = line.partition('params="')
    for kv in head.split() + params.rstrip('"').split():
        if "=" in kv:
            k, v = kv.split("=", 1)
            out.setdefault(k, v)
    return out


def timing(a):
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from make_dm_refs import blur, dm, hdm, z_of
    from make_reliable_refs import reliable

    torch.set_num_threads(a.threads)
    info = parse_info(a.info)
    method = info["method"]
    net = build_model(a.model)
    x = torch.from_numpy(np.load(a.input)).float()
    n, _, h, _ = x.shape
    with torch.no_grad():
        cls = net(x).argmax(1)
    P = dict(grids=tuple(int(v) for v in info.get("grids", "1").split(",")),
             aux_grids=tuple(int(v) for v in info.get("aux_grids", "1").split(",")),
             alpha=float(info.get("alpha", 0)), beta=float(info.get("beta", 0)), gamma=float(info.get("gamma", 0)),
             lr=float(info["lr"]), iterations=int(info["iterations"]), patience=int(info.get("patience", 0)),
             levels=int(info.get("levels", 1)), quantile=float(info.get("quantile", 0)),
             fusion_iterations=int(info.get("fusion_iterations", 0)))
    if method in ("dm", "hdm") and (info.get("baseline") != "blur" or float(info.get("blur_sigma", 0)) != 0):
        raise SystemExit("seed_methods_torch.py: only the default blur baseline is implemented here")
    sigma = float(np.float32(10.0 * h / 224))

    def run():
        if method == "dm":
            base = blur(x, sigma)
            with torch.no_grad():
                z0 = z_of(net, x, cls)
            return dm(net, x, base, z0, cls, P)
        if method == "hdm":
            return hdm(net, x, blur(x, sigma), cls, P)
        if method == "reliable":
            layers = [net.get_submodule(name) for name in info["layers"].split(",")]
            if info.get("per_channel") == "true" or info.get("input_mask") == "true":
                raise SystemExit("seed_methods_torch.py: per_channel / input_mask not timed here")
            return reliable(net, x, cls, layers, preserve=info.get("preserve", "all"), lam=float(info["lambda"]),
                            lr=P["lr"], iterations=P["iterations"])
        raise SystemExit(f"seed_methods_torch.py: no PyTorch version of {method}")

    times, extra = [], ""
    for r in range(a.warm + a.reps):
        t0 = time.perf_counter()
        res = run()
        dt = (time.perf_counter() - t0) * 1e3 / n
        if r >= a.warm:
            times.append(dt)
        if method == "hdm":
            extra = " levels=" + ",".join(str(int(v)) for v in res[0])
        sys.stderr.write(f"  torch {method} rep {r}: {dt:.1f} ms/image\n")
    ms = statistics.median(times)
    print(f"RESULT impl=torch method={method} ms={ms:.3f}")
    print(f"INFO impl=torch method={method} images={n} threads={a.threads}{extra}")
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(dict(claim="timing", impl="torch", model=a.model, method=method, images=n,
                                    ms_per_image=round(ms, 3), hdm_levels=extra.strip()[len("levels="):])) + "\n")


def fmt(v, d=4):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{d}f}"


def variant(r):
    """' -- NOT the defaults: set ...' for a run with --set parameters."""
    return f" -- NOT the defaults: set {r['set']}" if r.get("set") else ""


def report(a):
    rows = [json.loads(line) for line in open(a.report) if line.strip()]
    doc = dict(quality=[], dwsol=[], attack=[], timing=[], load=[])
    for r in rows:
        doc.setdefault(r["claim"], []).append(r)
    for q in doc["quality"]:
        print(f"\nQuality: {q['manifest']}, {q['images']} images (target = label; means per image){variant(q)}")
        print(f"{'map':<10} {'best IoU (p 80..99)':>20} {'recall@|GT|':>12} {'recall@2|GT|':>13}")
        for k, v in q["maps"].items():
            print(f"{k:<10} {fmt(v['best_iou']):>20} {fmt(v['recall_at_gt']):>12} {fmt(v['recall_at_2gt']):>13}")
        m = q["maps"]
        print(f"DM finer than B: {'holds' if m['dm']['best_iou'] > m['dm_B']['best_iou'] else 'does not hold'} "
              f"(dm > B on {100 * q['frac_dm_iou_gt_B']:.1f} % of images); HDM more complete than DM: "
              f"{'holds' if m['hdm']['recall_at_gt'] > m['dm']['recall_at_gt'] else 'does not hold'} "
              f"(hdm > dm on {100 * q['frac_hdm_recall_gt_dm']:.1f} % of images); hdm levels run 1/2/3: "
              f"{q['hdm_levels']}; ms/image dm {q['ms_per_image']['dm']:.0f}, hdm {q['ms_per_image']['hdm']:.0f}")
    for d in doc["dwsol"]:
        print(f"\nD-WSOL: {d['manifest']}, {d['images']} two-object images{variant(d)}")
        print(f"{'method':<24} {'hit max':>8} {'hit non-max':>12} {'peak max':>9} {'peak non':>9} {'FS mean':>9} "
              f"{'FS median':>10} {'FS inf':>7}")
        for k, v in d["methods"].items():
            print(f"{k:<24} {fmt(v['hit_max'], 3):>8} {fmt(v['hit_nonmax'], 3):>12} {fmt(v.get('peak_max'), 3):>9} "
                  f"{fmt(v.get('peak_nonmax'), 3):>9} {fmt(v['fs_mean']):>9} {fmt(v['fs_median']):>10} {v['fs_inf']:>7}")
    for d in doc["attack"]:
        print(f"\nattack_sensitivity: {d['manifest']}, {d['images']} images (higher = less sensitive){variant(d)}")
        print(f"{'method':<24} {'Spearman':>9} {'SSIM':>8} {'PGD steps':>10}")
        for k, v in d["methods"].items():
            print(f"{k:<24} {fmt(v['spearman']):>9} {fmt(v['ssim']):>8} {fmt(v['mean_steps'], 2):>10}")
    if doc["timing"]:
        print("\nTiming: ms per image, median of the repetitions; PyTorch = the same algorithm (tools/make_dm_refs.py, "
              "make_reliable_refs.py), same iterations, no early stopping")
        print(f"{'model':<22} {'method':<9} {'salient ms':>11} {'torch ms':>10} {'torch/salient':>14} {'hdm levels s / t':>17}"
              f"  load (1, 5, 15 min)")
        loads = {l["part"]: l["loadavg"] for l in doc["load"]}
        sal = {(t["model"], t["method"]): t for t in doc["timing"] if t["impl"] == "salient"}
        tor = {(t["model"], t["method"]): t for t in doc["timing"] if t["impl"] == "torch"}
        for key, s in sal.items():
            t = tor.get(key)
            label = "demo" if key[0].endswith(".safetensors") else key[0]
            ratio = t["ms_per_image"] / s["ms_per_image"] if t else None
            lv = f"{s.get('hdm_levels') or '-'} / {(t or {}).get('hdm_levels') or '-'}" if key[1] == "hdm" else ""
            print(f"{os.path.basename(key[0]):<22} {key[1]:<9} {s['ms_per_image']:>11.1f} "
                  f"{(fmt(t['ms_per_image'], 1) if t else '-'):>10} {fmt(ratio, 2):>14} {lv:>17}  "
                  f"{loads.get(f'timing {label} {key[1]}', '-')}")
    if a.out_json:
        with open(a.out_json, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"\nwrote {a.out_json}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--input")
    ap.add_argument("--info")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warm", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--report")
    ap.add_argument("--out-json")
    a = ap.parse_args()
    if a.report:
        report(a)
        return
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.stderr.write("PyTorch not installed\n")
        sys.exit(3)
    if not (a.model and a.input and a.info):
        ap.error("--model, --input and --info are required for timing")
    timing(a)


if __name__ == "__main__":
    main()
