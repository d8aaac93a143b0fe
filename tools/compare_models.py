#!/usr/bin/python3
"""Compares salient's logits and input gradients with PyTorch's on exported models, and prints the
agreement table of `make test-torch`. Generates nothing (outputs go to a temporary directory).

Two modes:
    compare_models.py --salient BIN DIR [--model NAME ...]
        for every DIR/<arch>_op<opset>/ written by tools/export_models.py (or only those named),
        runs `BIN run model.onnx --input input.npy --out L --grad-out G --grad-target top1` and
        compares L and G with PyTorch's float32 results (logits.npy, grad.npy) and, where the
        export holds them, its float64 ones (logits64.npy, grad64.npy); prints one row per model
        and exits 1 if a criterion fails that PyTorch's own float32 result meets (below).
    compare_models.py --pair REF_LOGITS LOGITS REF_GRAD GRAD
        compares two pairs of .npy files and prints one PASS/FAIL line (tests/cli_run.sh).

Command used by the Makefile:  /usr/bin/python3 tools/compare_models.py --salient build/salient build/onnx-full

Criteria: issue 3's acceptance, unchanged. With ref = PyTorch float32:
    logits    max |logit - ref| <= 1e-4 * max |ref logit|                       ("dlogit")
    cosine    cosine similarity of the input gradients >= 0.9999                 ("cos")
    gradmax   max |grad - ref grad| <= 1e-3 * max |ref grad|                      ("dgrad")
(the gradient is d(sum_i logits[i, top1_i]) / d input; both sides must pick the same top-1
classes, else the gradients differ by construction and the row fails).

Each measure is printed four ways: salient vs PyTorch float32 (S-T32, the one judged), salient vs
PyTorch float64 (S-T64), PyTorch float32 vs float64 (T32-T64), and float64 with the weights moved
by half a float32 ulp vs float64 (T64p-T64). Float64 (model.double() on the same float32 weights
and input) is the exact answer every float32 engine approximates. A failure of S-T32 is marked
"fp32" and does not fail the run when the same criterion fails for T32-T64 (PyTorch's own float32
result is that far from the exact one) or for T64p-T64 (rounding the weights alone, as torch.onnx
does when it folds batch norm, moves the exact answer that far): then the criterion measures
which side of a tie float32 rounding puts a max-pool window or a ReLU input (tools/fp32_limits.py
shows it), not the engine. Every other failure is "FAIL". The rows and the reasons are in
docs/formats.md ("Agreement with PyTorch").
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

LOGIT_RTOL = 1e-4
GRAD_COS = 0.9999
GRAD_RTOL = 1e-3
CRITERIA = ("logits", "cosine", "gradmax")
WIDTH = {"logits": 7, "cosine": 9, "gradmax": 8}  # table columns
COLUMNS = ("S-T32", "S-T64", "T32-T64", "T64p-T64")


def metrics(ref_l, got_l, ref_g, got_g):
    """{logits: max |dlogit| / max |logit|, cosine, gradmax: max |dgrad| / max |grad|, top1: agree}."""
    rl, gl = ref_l.astype(np.float64), got_l.astype(np.float64)
    dl = float(np.abs(rl - gl).max() / max(np.abs(rl).max(), 1e-300))
    a, b = ref_g.ravel().astype(np.float64), got_g.ravel().astype(np.float64)
    cos = float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-300))
    dg = float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-300))
    top = bool((rl.argmax(1) == gl.argmax(1)).all())
    return {"logits": dl, "cosine": cos, "gradmax": dg, "top1": top}


def meets(m, crit):
    if crit == "logits":
        return m["logits"] <= LOGIT_RTOL
    if crit == "cosine":
        return m["cosine"] >= GRAD_COS
    return m["gradmax"] <= GRAD_RTOL


def verdicts(st32, limits):
    """Per criterion: 'pass'; 'fp32' (fails, but so does one of the float32 limits: T32-T64 or
    T64p-T64); or 'FAIL'."""
    out = {}
    for c in CRITERIA:
        if not st32["top1"]:
            out[c] = "FAIL"
        elif meets(st32, c):
            out[c] = "pass"
        elif any(not meets(m, c) for m in limits):
            out[c] = "fp32"
        else:
            out[c] = "FAIL"
    return out


def load_pair(ref, got):
    r, g = np.load(ref), np.load(got)
    if r.shape != g.shape:
        raise ValueError(f"{got} has shape {g.shape}, {ref} has {r.shape}")
    return r, g


def compare_pair(args):
    try:
        rl, gl = load_pair(args[0], args[1])
        rg, gg = load_pair(args[2], args[3])
    except (OSError, ValueError) as e:
        print(f"FAIL {e}")
        return 1
    m = metrics(rl, gl, rg, gg)
    ok = m["top1"] and all(meets(m, c) for c in CRITERIA)
    print(f"{'PASS' if ok else 'FAIL'} max|dlogit|/max|logit| {m['logits']:.2e} (<= {LOGIT_RTOL:g}), grad cosine "
          f"{m['cosine']:.7f} (>= {GRAD_COS:g}), max|dgrad|/max|grad| {m['gradmax']:.2e} (<= {GRAD_RTOL:g}), "
          f"top-1 {'agrees' if m['top1'] else 'differs'}")
    return 0 if ok else 1


def fmt(m, crit):
    if m is None:
        return "-"
    return f"{m['cosine']:.7f}" if crit == "cosine" else f"{m[crit]:.1e}"


def compare_dir(binary, root, only):
    dirs = sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "model.onnx")))
    if only:
        dirs = [d for d in dirs if d in only or d.rpartition("_op")[0] in only]
    if not dirs:
        print(f"compare_models: no exported models under {root}", file=sys.stderr)
        return 1
    print(f"criteria (issue 3, salient vs PyTorch float32): max|dlogit|/max|logit| <= {LOGIT_RTOL:g}, "
          f"gradient cosine >= {GRAD_COS:g}, max|dgrad|/max|grad| <= {GRAD_RTOL:g}")
    print("S = salient, T32/T64 = PyTorch float32/float64, T64p = float64 with weights moved by 1/2 float32 ulp; "
          "verdict per criterion: pass, FAIL, or fp32 (fails, and T32-T64 or T64p-T64 fails it too)")
    head = f"{'model':20s} {'op':>2s} |"
    for crit, title in zip(CRITERIA, ("max|dlogit|/max|logit|", "gradient cosine", "max|dgrad|/max|grad|")):
        head += f" {title:^{len(COLUMNS) * (WIDTH[crit] + 1) - 1}s} |"
    print(head + " logits cosine gradmax")
    sub = f"{'':20s} {'':>2s} |"
    for crit in CRITERIA:
        sub += "".join(f" {n:>{WIDTH[crit]}s}" for n in COLUMNS) + " |"
    print(sub)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for d in dirs:
            arch, _, opset = d.rpartition("_op")
            path = os.path.join(root, d)
            lo, go = os.path.join(tmp, "l.npy"), os.path.join(tmp, "g.npy")
            for f in (lo, go):
                if os.path.exists(f):
                    os.remove(f)
            run = subprocess.run([binary, "run", os.path.join(path, "model.onnx"), "--input",
                                  os.path.join(path, "input.npy"), "--out", lo, "--grad-out", go, "--grad-target",
                                  "top1", "--quiet"], capture_output=True, text=True)
            if run.returncode != 0:
                msg = (run.stderr.strip().splitlines() or ["no message"])[-1]
                print(f"{arch:20s} {opset:>2s} | FAIL (salient: {msg})", flush=True)
                failed += 1
                continue
            rl, gl = load_pair(os.path.join(path, "logits.npy"), lo)
            rg, gg = load_pair(os.path.join(path, "grad.npy"), go)
            st32 = metrics(rl, gl, rg, gg)
            st64 = t64 = p64 = None
            if os.path.isfile(os.path.join(path, "logits64.npy")):
                rl64, _ = load_pair(os.path.join(path, "logits64.npy"), lo)
                rg64, _ = load_pair(os.path.join(path, "grad64.npy"), go)
                st64 = metrics(rl64, gl, rg64, gg)
                t64 = metrics(rl64, rl, rg64, rg)
                if os.path.isfile(os.path.join(path, "logits64p.npy")):
                    p64 = metrics(rl64, np.load(os.path.join(path, "logits64p.npy")), rg64,
                                  np.load(os.path.join(path, "grad64p.npy")))
            v = verdicts(st32, [m for m in (t64, p64) if m is not None])
            failed += any(x == "FAIL" for x in v.values())
            row = f"{arch:20s} {opset:>2s} |"
            for crit in CRITERIA:
                row += "".join(f" {fmt(m, crit):>{WIDTH[crit]}s}" for m in (st32, st64, t64, p64)) + " |"
            row += f" {v['logits']:>6s} {v['cosine']:>6s} {v['gradmax']:>7s}"
            if not st32["top1"]:
                row += " (top-1 differs)"
            print(row, flush=True)
    print(f"{len(dirs) - failed} of {len(dirs)} models meet every criterion or fail only where float32 itself does")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--salient", nargs=2, metavar=("BIN", "DIR"), help="run BIN on every export under DIR")
    mode.add_argument("--pair", nargs=4, metavar=("REF_LOGITS", "LOGITS", "REF_GRAD", "GRAD"))
    ap.add_argument("--model", action="append", help="with --salient: only this <arch> or <arch>_op<opset> (repeatable)")
    args = ap.parse_args()
    sys.exit(compare_pair(args.pair) if args.pair else compare_dir(*args.salient, args.model or []))


if __name__ == "__main__":
    main()
