#!/usr/bin/env bash
# `salient run`: logits and input gradients of built-in models for an .npy batch (in chunks and in
# one pass), the errors (shape mismatch naming both shapes, class out of range, NaN input, bad
# options) with no output written, and the PyTorch-exported ONNX fixtures (logits and gradients
# compared with PyTorch's when /usr/bin/python3 has numpy).
# Usage: tests/cli_run.sh path/to/salient
set -u
bin="$1"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/lib_cli.sh"
absent() { # absent "label" file...
  local label="$1"; shift
  for f in "$@"; do
    if [ -e "$f" ]; then echo "FAIL $label: $f was written" >&2; fail=$((fail+1)); return; fi
  done
  pass=$((pass+1))
}
# mknpy path "d0, d1, ..." count [nan]: a '<f4' .npy cycling through 0.25, -0.5, 1, 0.125 (the
# last element NaN with "nan"), written without Python.
mknpy() {
  local path="$1" shape="$2" count="$3" dict pad
  dict="{'descr': '<f4', 'fortran_order': False, 'shape': ($shape), }"
  pad=$(( (64 - (10 + ${#dict} + 1) % 64) % 64 ))
  {
    printf '\223NUMPY\001\000'
    printf "\\$(printf %03o $(( (${#dict} + pad + 1) % 256 )))\\$(printf %03o $(( (${#dict} + pad + 1) / 256 )))"
    printf '%s%*s\n' "$dict" "$pad" ''
    if [ "${4:-}" = nan ]; then
      (while :; do printf '\000\000\200\076\000\000\000\277\000\000\200\077\000\000\000\076'; done) | head -c $(( (count - 1) * 4 ))
      printf '\000\000\300\177'
    else
      (while :; do printf '\000\000\200\076\000\000\000\277\000\000\200\077\000\000\000\076'; done) | head -c $(( count * 4 ))
    fi
  } > "$path"
}
has_shape() { head -c 128 "$1" | grep -aqF "'shape': ($2)"; }

mknpy "$tmp/x5.npy" "5, 3, 32, 32" $((5 * 3 * 32 * 32))
check "help" 0 "usage: salient run MODEL" -- "$bin" run --help
check "logits" 0 "5 images, 10 classes" -- "$bin" run resnet_small --size 32 --input "$tmp/x5.npy" --out "$tmp/l.npy"
if has_shape "$tmp/l.npy" "5, 10"; then pass=$((pass+1)); else echo "FAIL logits shape" >&2; fail=$((fail+1)); fi
check "grad" 0 "d(top-1 logit)/d(input)" -- "$bin" run resnet_small --size 32 --input "$tmp/x5.npy" --out "$tmp/l2.npy" \
  --grad-out "$tmp/g.npy" --batch 2
if has_shape "$tmp/g.npy" "5, 3, 32, 32"; then pass=$((pass+1)); else echo "FAIL grad shape" >&2; fail=$((fail+1)); fi
check "grad class" 0 "d(7 logit)/d(input)" -- "$bin" run resnet_small --size 32 --input "$tmp/x5.npy" --out "$tmp/l3.npy" \
  --grad-target 7 --grad-out "$tmp/g7.npy" --threads 1
check "quiet" 0 "" -- "$bin" run resnet_small --size 32 --input "$tmp/x5.npy" --out "$tmp/lq.npy" --quiet
if [ -z "$("$bin" run resnet_small --size 32 --input "$tmp/x5.npy" --out "$tmp/lq.npy" --quiet 2>&1)" ]; then
  pass=$((pass+1)); else echo "FAIL --quiet printed something" >&2; fail=$((fail+1)); fi
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  # Chunks of 2 (plans at batch 2 and 1) and one pass of 5 agree; the gradient is not all zeros.
  check "chunks agree" 0 "ok" -- /usr/bin/python3 -c "
import numpy as np, sys
a, b, g = np.load('$tmp/l.npy'), np.load('$tmp/l2.npy'), np.load('$tmp/g.npy')
d = np.abs(a - b).max() / np.abs(a).max()
print('ok' if d < 1e-5 and np.abs(g).max() > 0 else 'bad %g' % d)"
  # Direct convolutions only (--no-winograd) give the same logits to float32 rounding.
  check "no-winograd" 0 "5 images, 10 classes" -- "$bin" run resnet_small --size 32 --input "$tmp/x5.npy" --out "$tmp/ld.npy" --no-winograd
  check "no-winograd agrees" 0 "ok" -- /usr/bin/python3 -c "
import numpy as np
a, b = np.load('$tmp/l.npy'), np.load('$tmp/ld.npy')
d = np.abs(a - b).max() / np.abs(a).max()
print('ok' if d < 1e-4 else 'bad %g' % d)"
fi

mknpy "$tmp/bad.npy" "2, 3, 30, 32" $((2 * 3 * 30 * 32))
check "shape mismatch" 1 "has shape (2, 3, 30, 32), but the model's input 'input' is (N, 3, 32, 32)" -- \
  "$bin" run resnet_small --size 32 --input "$tmp/bad.npy" --out "$tmp/o1.npy"
mknpy "$tmp/nan.npy" "2, 3, 32, 32" $((2 * 3 * 32 * 32)) nan
check "nan" 1 "holds NaN at image 1" -- "$bin" run resnet_small --size 32 --input "$tmp/nan.npy" --out "$tmp/o2.npy"
check "class range" 1 "--grad-target 10 is out of range: the model has 10 classes (0..9)" -- \
  "$bin" run resnet_small --size 32 --input "$tmp/x5.npy" --out "$tmp/o3.npy" --grad-target 10 --grad-out "$tmp/og3.npy"
absent "no output on errors" "$tmp/o1.npy" "$tmp/o2.npy" "$tmp/o3.npy" "$tmp/og3.npy"
check "missing input" 1 "not found" -- "$bin" run resnet_small --input "$tmp/none.npy" --out "$tmp/o4.npy"
check "target without out" 2 "--grad-target needs --grad-out" -- \
  "$bin" run resnet_small --input "$tmp/x5.npy" --out "$tmp/o5.npy" --grad-target 3
check "bad target" 2 "must be a class index" -- \
  "$bin" run resnet_small --input "$tmp/x5.npy" --out "$tmp/o5.npy" --grad-target top2 --grad-out "$tmp/g5.npy"
check "required" 2 "--input and --out are required" -- "$bin" run resnet_small --input "$tmp/x5.npy"
check "bad batch" 2 "--batch must be in 1..65536" -- "$bin" run resnet_small --input "$tmp/x5.npy" --out "$tmp/o6.npy" --batch 0
absent "no output on usage errors" "$tmp/o4.npy" "$tmp/o5.npy" "$tmp/g5.npy" "$tmp/o6.npy"

# PyTorch-exported fixtures (tools/export_models.py --small): salient's logits and gradients against
# PyTorch's. Tolerances as in tools/compare_models.py: float32 sums in a different order.
# Under sanitisers (SAL_TEST_QUICK) two fixtures stand for all seven, to stay within the time budget.
n_fix=0
for dir in tests/fixtures/onnx/models/*/; do
  [ -f "$dir/model.onnx" ] || continue
  case "${SAL_TEST_QUICK:-0}:$dir" in
    0:*|*mobilenet_v3_small_op13*|*shufflenet_v2_x1_0_op17*) ;;
    *) continue ;;
  esac
  if ! /usr/bin/python3 -c 'import numpy' 2>/dev/null; then break; fi
  check "fixture $dir" 0 "images" -- "$bin" run "$dir/model.onnx" --input "$dir/input.npy" --out "$tmp/fl.npy" \
    --grad-out "$tmp/fg.npy" --grad-target top1
  check "fixture $dir agrees" 0 "PASS" -- /usr/bin/python3 tools/compare_models.py --pair "$dir/logits.npy" "$tmp/fl.npy" \
    "$dir/grad.npy" "$tmp/fg.npy"
  n_fix=$((n_fix+1))
done
echo "cli_run: $n_fix ONNX fixtures run"
echo "cli_run: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
