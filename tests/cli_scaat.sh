#!/usr/bin/env bash
# salient train --scaat / --sgt: help with defaults, usage errors, a tiny SCAAT and SGT training
# each, resumed through a checkpoint to the same bytes, and a refused plain resume.
# Usage: tests/cli_scaat.sh path/to/salient
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/lib_cli.sh"
check "help scaat" 0 "SCAAT eps_max in pixel units, a number or A/B (default 8/255)" -- "$bin" train --help
check "help sgt" 0 "SGT fraction of the pixels masked (default 0.1)" -- "$bin" train --help
check "both" 2 "--scaat and --sgt exclude each other" -- "$bin" train --data "$tmp" --out "$tmp/m.safetensors" --scaat --sgt
check "scaat option alone" 2 "--scaat-* options need --scaat" -- "$bin" train --data "$tmp" --out "$tmp/m.safetensors" --scaat-eps 0.1
check "sgt option alone" 2 "--sgt-* options need --sgt" -- "$bin" train --data "$tmp" --out "$tmp/m.safetensors" --scaat --sgt-frac 0.2
check "bad fraction" 2 "a number or a fraction A/B, got '8/0'" -- "$bin" train --data "$tmp" --out "$tmp/m.safetensors" --scaat --scaat-eps 8/0

"$bin" synth shapes --out "$tmp/d" --size 32 --train 36 --val 12 --test 12 --quiet >/dev/null 2>&1 \
  || { echo "FAIL synth"; exit 1; }
small=(--width 4 --image-size 32 --batch 12 --epochs 2 --warmup 0 --threads 2 --quiet)
check "bad steps" 1 "--scaat-steps 0 is not in 1..100" -- "$bin" train --data "$tmp/d" --out "$tmp/m.safetensors" "${small[@]}" --scaat --scaat-steps 0
for mode in "--scaat --scaat-eps 4/255 --scaat-steps 2" "--sgt --sgt-frac 0.25"; do
  # shellcheck disable=SC2086
  set -- $mode
  name=${1#--}
  check "$name runs" 0 "train: 2 epochs" -- "$bin" train --data "$tmp/d" --out "$tmp/$name.safetensors" "${small[@]}" "$@"
  check "$name stop after 1" 0 "train: 1 epochs" -- "$bin" train --data "$tmp/d" --out "$tmp/$name.p.safetensors" "${small[@]}" "$@" --stop-after 1
  check "$name resume" 0 "train: 2 epochs" -- "$bin" train --data "$tmp/d" --out "$tmp/$name.r.safetensors" "${small[@]}" "$@" --resume "$tmp/$name.p.safetensors"
  if cmp -s "$tmp/$name.safetensors" "$tmp/$name.r.safetensors"; then pass=$((pass+1)); else
    echo "FAIL $name: resumed checkpoint differs from the uninterrupted one" >&2; fail=$((fail+1)); fi
  check "$name resume plain" 1 "this run has none (plain)" -- "$bin" train --data "$tmp/d" --out "$tmp/x.safetensors" "${small[@]}" --resume "$tmp/$name.p.safetensors"
done
check "scaat resume other eps" 1 "regularizer" -- "$bin" train --data "$tmp/d" --out "$tmp/x.safetensors" "${small[@]}" --scaat --scaat-steps 2 --resume "$tmp/scaat.p.safetensors"
echo "cli_scaat: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
