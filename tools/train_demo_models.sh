#!/usr/bin/env bash
# Trains the demo models shipped in tests/fixtures/demo/ with salient's DEFAULT recipe — nothing
# but `salient synth FAMILY` and `salient train` with their defaults — and records how long it took
# and what `salient test` measured, next to each checkpoint:
#   tests/fixtures/demo/shapes.safetensors   tests/fixtures/demo/shapes.train.txt   (.test.json)
#   tests/fixtures/demo/lesions.safetensors  tests/fixtures/demo/lesions.train.txt  (.test.json)
# tests/cli_demo_model.sh checks these checkpoints on fresh images (accurate with the objects, at
# chance without them). Regenerate (about 4 minutes per family on 2 idle cores):
#   tools/train_demo_models.sh build/salient
set -euo pipefail
bin=$(realpath "${1:-build/salient}")
out="$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures/demo"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for fam in shapes lesions; do
  "$bin" synth "$fam" --out "$tmp/$fam" --quiet
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  start=$(date +%s.%N)
  "$bin" train --data "$tmp/$fam" --out "$tmp/$fam.safetensors" 2>&1 | tr '\r' '\n' \
    | grep -E '^(epoch [0-9]+/[0-9]+: loss|train: )' > "$tmp/$fam.log"
  end=$(date +%s.%N)
  "$bin" test "$tmp/$fam.safetensors" --data "$tmp/$fam" --json "$out/$fam.test.json" > "$tmp/$fam.test.txt"
  {
    echo "salient synth $fam --out DIR && salient train --data DIR --out $fam.safetensors"
    echo "$("$bin" version | head -1), $(nproc) cores, load average before training: $load"
    awk -v s="$start" -v e="$end" 'BEGIN { printf "wall clock %.1f s\n", e - s }'
    cat "$tmp/$fam.log"
    head -1 "$tmp/$fam.test.txt"
  } > "$out/$fam.train.txt"
  cp "$tmp/$fam.safetensors" "$out/$fam.safetensors"
  cat "$out/$fam.train.txt"
done
