#!/usr/bin/env bash
# salient train / salient test: help with defaults, usage errors, a tiny training on a synthetic
# set with checkpoint, resume and ONNX export, then test with its JSON report.
# Usage: tests/cli_train.sh path/to/salient
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/lib_cli.sh"
check "train --help" 0 "--label-smoothing" -- "$bin" train --help
check "train help defaults" 0 "(default 0.7,1)" -- "$bin" train --help
check "test --help" 0 "usage: salient test" -- "$bin" test --help
check "train no data" 2 "--data and --out are required" -- "$bin" train --out "$tmp/m.safetensors"
check "train bad lr" 2 "needs a number, got 'x'" -- "$bin" train --data "$tmp" --out "$tmp/m.safetensors" --lr x
check "train bad optimizer" 2 "is not sgd, adam or adamw" -- "$bin" train --data "$tmp" --out "$tmp/m.safetensors" --optimizer rms
check "train bad crop" 2 "--crop-scale needs" -- "$bin" train --data "$tmp" --out "$tmp/m.safetensors" --crop-scale 0.5,x
check "train bad flip" 2 "take 0 or 1" -- "$bin" train --data "$tmp" --out "$tmp/m.safetensors" --flip 2
check "test no model" 2 "MODEL and --data are required" -- "$bin" test --data "$tmp"

"$bin" synth shapes --out "$tmp/d" --size 32 --train 60 --val 24 --test 24 --quiet >/dev/null 2>&1 \
  || { echo "FAIL synth"; exit 1; }
small=(--width 4 --image-size 32 --batch 12 --epochs 2 --warmup 0 --threads 2 --quiet)
check "train bad arch" 1 "unknown architecture 'resnet_huge'" -- "$bin" train --data "$tmp/d" --out "$tmp/m.safetensors" --arch resnet_huge "${small[@]}"
check "train bad epochs" 1 "--epochs 0" -- "$bin" train --data "$tmp/d" --out "$tmp/m.safetensors" "${small[@]}" --epochs 0
check "train bad smoothing" 1 "--label-smoothing 1.5" -- "$bin" train --data "$tmp/d" --out "$tmp/m.safetensors" "${small[@]}" --label-smoothing 1.5
check "train bad warmup" 1 "--warmup 2 is not in 0..1" -- "$bin" train --data "$tmp/d" --out "$tmp/m.safetensors" "${small[@]}" --warmup 2
check "train one epoch" 0 "train: 1 epochs" -- "$bin" train --data "$tmp/d" --out "$tmp/one.safetensors" --width 4 --image-size 32 --batch 12 --epochs 1 --quiet
check "train missing data" 1 "nope" -- "$bin" train --data "$tmp/nope.csv" --out "$tmp/m.safetensors" "${small[@]}"
check "train runs" 0 "val accuracy" -- "$bin" train --data "$tmp/d" --out "$tmp/m.safetensors" "${small[@]}" --onnx "$tmp/m.onnx"
[ -s "$tmp/m.safetensors" ] && [ -s "$tmp/m.onnx" ] && pass=$((pass+1)) || { echo "FAIL outputs missing" >&2; fail=$((fail+1)); }
check "train stop after 1" 0 "train: 1 epochs" -- "$bin" train --data "$tmp/d" --out "$tmp/p.safetensors" "${small[@]}" --stop-after 1
check "train resume" 0 "train: 2 epochs" -- "$bin" train --data "$tmp/d" --out "$tmp/r.safetensors" "${small[@]}" --resume "$tmp/p.safetensors"
if cmp -s "$tmp/m.safetensors" "$tmp/r.safetensors"; then pass=$((pass+1)); else
  echo "FAIL resumed checkpoint differs from the uninterrupted one" >&2; fail=$((fail+1)); fi
check "resume other lr" 1 "was trained with lr" -- "$bin" train --data "$tmp/d" --out "$tmp/r2.safetensors" "${small[@]}" --resume "$tmp/p.safetensors" --lr 0.5
check "test runs" 0 "accuracy" -- "$bin" test "$tmp/m.safetensors" --data "$tmp/d" --json "$tmp/t.json"
check "test json" 0 "\"confusion\"" -- cat "$tmp/t.json"
check "test json per class" 0 "\"per_class_accuracy\"" -- cat "$tmp/t.json"
# A zero (1, 3, 32, 32) float32 .npy (format 1.0: magic, version, header length, dict padded to 128).
hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 32, 32), }"
{ printf '\x93NUMPY\x01\x00\x76\x00'; printf '%-117s\n' "$hdr"; head -c 12288 /dev/zero; } > "$tmp/x.npy"
check "info on a checkpoint" 0 "checkpoint" -- "$bin" info "$tmp/m.safetensors"
check "info checkpoint classes" 0 "circle" -- "$bin" info "$tmp/m.safetensors"
check "run on a checkpoint" 0 "" -- "$bin" run "$tmp/m.safetensors" --input "$tmp/x.npy" --out "$tmp/logits.npy" --quiet
check "test not a checkpoint" 1 "opening the model" -- "$bin" test "$tmp/m.onnx" --data "$tmp/d"
"$bin" synth lesions --out "$tmp/l" --size 32 --train 4 --val 4 --test 4 --quiet >/dev/null 2>&1
check "test class mismatch" 1 "classes" -- "$bin" test "$tmp/m.safetensors" --data "$tmp/l"
echo "cli_train: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
