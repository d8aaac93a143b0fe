#!/usr/bin/env bash
# `salient explain --method reliable`: its parameters in --help, a run with --layers and --set on
# the tiny fixture model (maps and the parameters in the JSON), and the errors: an unknown layer
# (exit 1, the message lists the model's 4-D activations), --layers with no method that takes it,
# a bad preserve value (exit 2).
# Usage: tests/cli_reliable.sh path/to/salient
set -u
bin="$1"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fix=tests/fixtures
model=$fix/rel_refs/model.onnx
source "$(dirname "$0")/lib_cli.sh"

check "help lists the parameters" 0 "input_mask" -- "$bin" explain --method reliable --help
check "help: lr default" 0 "(default 0.05)" -- "$bin" explain --method reliable --help
check "run" 0 "input-2" -- "$bin" explain --model "$model" --input $fix/saliency/input.npy --method reliable \
  --layers /Tanh_1_output_0 --set iterations=5 --set preserve=class --out "$tmp/a" --threads 1
for f in "$tmp/a/input-0.reliable.npy" "$tmp/a/input-2.reliable.png"; do
  if [ -s "$f" ]; then pass=$((pass+1)); else echo "FAIL $f missing" >&2; fail=$((fail+1)); fi
done
for needle in '"layers":	"/Tanh_1_output_0"' '"preserve":	"class"' '"iterations":	5'; do
  if grep -qF -- "$needle" "$tmp/a/input-1.reliable.json"; then pass=$((pass+1)); else
    echo "FAIL json: '$needle' not in $tmp/a/input-1.reliable.json" >&2; fail=$((fail+1)); fi
done
check "unknown layer" 1 "/Tanh_output_0, /conv2/Conv_output_0" -- "$bin" explain --model "$model" \
  --input $fix/saliency/input.npy --method reliable --layers nope --set iterations=2 --out "$tmp/b" --threads 1
check "--layers without reliable" 2 "no chosen method takes layers" -- "$bin" explain --model "$model" \
  --input $fix/saliency/input.npy --method gradient --layers /Tanh_output_0 --out "$tmp/c"
check "bad preserve" 2 "all or class" -- "$bin" explain --model "$model" --input $fix/saliency/input.npy \
  --method reliable --set preserve=most --out "$tmp/d"
echo "cli_reliable: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
