#!/usr/bin/env bash
# `salient info`: built-in models as text and JSON, preprocessing from --meta/--mean/--std/--classes,
# ONNX fixtures when present, and the errors (unknown model, checkpoint, bad options).
# Usage: tests/cli_info.sh path/to/salient
set -u
bin="$1"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/lib_cli.sh"
check "help" 0 "usage: salient info MODEL" -- "$bin" info --help
check "input" 0 "input        input (N, 3, 64, 64)" -- "$bin" info resnet_small
check "output" 0 "output       logits (N, 10)" -- "$bin" info resnet_small
check "params" 0 "parameters   176,378 (175,258 trainable)" -- "$bin" info resnet_small
check "untrained" 0 "untrained" -- "$bin" info resnet_small
check "ops" 0 "52 nodes: BatchNormalization 15, Conv 15, Relu 13, Add 6" -- "$bin" info resnet_small
check "layers" 0 "layer3                               Relu                 (N, 64, 16, 16)" -- "$bin" info resnet_small
check "size" 0 "input        input (N, 3, 32, 32)" -- "$bin" info resnet_small --size 32
# ResNet-18 at 224: 1.819 G multiply-adds, as torchvision's model is usually quoted.
check "flops" 0 "FLOPs        3.638 G per image" -- "$bin" info resnet18
check "imagenet" 0 "mean       0.485 0.456 0.406" -- "$bin" info resnet18
check "no names" 0 "no names (shown as indices)" -- "$bin" info resnet18
check "json" 0 '"flops_per_image":	3638282240' -- "$bin" info resnet18 --json
check "json shape" 0 '["N", 3, 224, 224]' -- "$bin" info resnet18 --json
check "json classes null" 0 '"classes":	null' -- "$bin" info resnet_small --json

printf '{"input_size": [3, 64, 64], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],\n "classes": ["c0","c1","c2","c3","c4","c5","c6","c7","c8","c9"]}\n' > "$tmp/side.json"
check "meta" 0 "classes    10 names: c0, c1, c2, c3, c4, ..." -- "$bin" info resnet_small --meta "$tmp/side.json"
check "meta source" 0 "preprocessing from $tmp/side.json" -- "$bin" info resnet_small --meta "$tmp/side.json"
check "meta mean" 0 "mean       0.5 0.5 0.5" -- "$bin" info resnet_small --meta "$tmp/side.json"
check "mean option" 0 "mean       0.1 0.2 0.3" -- "$bin" info resnet_small --meta "$tmp/side.json" --mean 0.1,0.2,0.3
check "mean count" 1 "--mean '0.1,0.2' must be 3 comma-separated numbers" -- "$bin" info resnet_small --mean 0.1,0.2
check "std positive" 1 "--std entries must be positive" -- "$bin" info resnet_small --std 0.1,0,0.3
printf '{"input_size": [3, 32, 32]}' > "$tmp/wrong.json"
check "meta mismatch" 1 "does not match the model's input (3, 64, 64)" -- "$bin" info resnet_small --meta "$tmp/wrong.json"
printf '{"means": [0.5, 0.5, 0.5]}' > "$tmp/typo.json"
check "meta key" 1 'key "means": unknown key' -- "$bin" info resnet_small --meta "$tmp/typo.json"
printf 'a\nb\n' > "$tmp/classes.txt"
check "classes count" 1 "has 2 names for a model with 10 outputs" -- "$bin" info resnet_small --classes "$tmp/classes.txt"
seq 0 9 | sed 's/^/class /' > "$tmp/classes.txt"
check "classes file" 0 "classes    10 names: class 0, class 1" -- "$bin" info resnet_small --classes "$tmp/classes.txt"

check "unknown model" 1 "resnet_small" -- "$bin" info resnet7
check "missing checkpoint" 1 "model.safetensors: No such file" -- "$bin" info model.safetensors
check "missing file" 1 "not found" -- "$bin" info "$tmp/none.onnx"
check "no model" 2 "missing MODEL" -- "$bin" info
check "two models" 2 "unexpected argument 'resnet18'" -- "$bin" info resnet_small resnet18
check "unknown option" 2 "unknown option '--bogus'" -- "$bin" info resnet_small --bogus

# A model exported by PyTorch (tools/export_models.py --small), and its sidecar next to it.
fix=tests/fixtures/onnx/models/mobilenet_v2_op17
if [ -f "$fix/model.onnx" ]; then
  check "onnx input" 0 "input        input (N, 3, 32, 32)" -- "$bin" info "$fix/model.onnx"
  check "onnx output" 0 "output       logits (N, 10)" -- "$bin" info "$fix/model.onnx"
  check "onnx defaults" 0 "ImageNet mean/std (no sidecar)" -- "$bin" info "$fix/model.onnx"
  check "onnx source" 0 "ONNX file $fix/model.onnx" -- "$bin" info "$fix/model.onnx"
  check "onnx conv" 0 "Conv" -- "$bin" info "$fix/model.onnx" --json
  check "onnx size option" 1 "applies to built-in architectures only" -- "$bin" info "$fix/model.onnx" --size 64
  cp "$fix/model.onnx" "$tmp/net.onnx"
  printf '{"input_size": [3, 32, 32], "classes": ["a","b","c","d","e","f","g","h","i","j"], "description": "toy"}' > "$tmp/net.json"
  check "onnx sidecar" 0 "preprocessing from $tmp/net.json (toy)" -- "$bin" info "$tmp/net.onnx"
  check "onnx sidecar classes" 0 "classes    10 names: a, b, c, d, e, ..." -- "$bin" info "$tmp/net.onnx"
  printf '{"input_size": [3, 64, 64]}' > "$tmp/net.json"
  check "onnx sidecar mismatch" 1 "$tmp/net.json: key \"input_size\": (3, 64, 64) does not match the model's input (3, 32, 32)" -- \
    "$bin" info "$tmp/net.onnx"
else
  echo "cli_info: ONNX fixture checks skipped ($fix is missing)"
fi
echo "cli_info: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
