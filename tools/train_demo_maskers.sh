#!/usr/bin/env bash
# Trains the masking models shipped beside the demo classifiers, with `salient train-masker`'s
# DEFAULT recipe (FIX mode: the classifier frozen) on the default `salient synth FAMILY` training
# set, and records the command, the wall clock and the last lines of the log next to each file:
#   tests/fixtures/demo/shapes.masker.safetensors   tests/fixtures/demo/shapes.masker.txt
#   tests/fixtures/demo/lesions.masker.safetensors  tests/fixtures/demo/lesions.masker.txt
# `salient demo` explains and evaluates method `masker` with them. Regenerate (about 3 minutes per
# family on 2 idle cores; run tools/train_demo_models.sh first if the classifiers changed — a masker
# refuses any classifier but its own):
#   tools/train_demo_maskers.sh build/salient
set -euo pipefail
bin=$(realpath "${1:-build/salient}")
out="$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures/demo"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for fam in shapes lesions; do
  "$bin" synth "$fam" --out "$tmp/$fam" --quiet
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  start=$(date +%s.%N)
  "$bin" train-masker --model "$out/$fam.safetensors" --data "$tmp/$fam" --out "$tmp/$fam.masker.safetensors" 2>&1 \
    | tr '\r' '\n' | grep -E '^(masker epoch [0-9]+/[0-9]+: loss|train-masker: )' > "$tmp/$fam.log"
  end=$(date +%s.%N)
  {
    echo "salient synth $fam --out DIR && salient train-masker --model $fam.safetensors --data DIR --out $fam.masker.safetensors"
    echo "$("$bin" version | head -1), $(nproc) cores, load average before training: $load"
    awk -v s="$start" -v e="$end" 'BEGIN { printf "wall clock %.1f s\n", e - s }'
    sed "s|$tmp/||g" "$tmp/$fam.log"
  } > "$out/$fam.masker.txt"
  cp "$tmp/$fam.masker.safetensors" "$out/$fam.masker.safetensors"
  cat "$out/$fam.masker.txt"
done
