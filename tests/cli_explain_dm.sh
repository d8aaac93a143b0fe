#!/usr/bin/env bash
# `salient explain` with the dynamic-mask methods: dm and hdm maps of an .npy batch, --trace DIR
# (per-level masks as .npy and .png, loss curves as .csv, named by the image stems), --set with
# their parameters, and the errors (a bad grid list names the key, --trace with no method that
# traces, --method dm --help lists every parameter with its default).
# Usage: tests/cli_explain_dm.sh path/to/salient
set -u
bin="$1"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fix=tests/fixtures/dm_refs
model=$fix/model.onnx
source "$(dirname "$0")/lib_cli.sh"

small="--set grids=2,3 --set aux_grids=4,8 --set iterations=6"
hsmall="--set fusion_iterations=4 --set levels=2"
check "dm and hdm traced" 0 "input-1" -- "$bin" explain --model "$model" --input $fix/input.npy \
  --method dm,hdm $small $hsmall --out "$tmp/a" --trace "$tmp/t" --threads 1
for i in 0 1; do
  for m in dm hdm; do
    exists "outputs $i $m" "$tmp/a/input-$i.$m.png" "$tmp/a/input-$i.$m.npy" "$tmp/a/input-$i.$m.json"
    exists "trace $i $m" "$tmp/t/input-$i.$m.L1.bench2.npy" "$tmp/t/input-$i.$m.L1.bench3.csv" \
      "$tmp/t/input-$i.$m.L1.aux4.npy" "$tmp/t/input-$i.$m.L1.aux.csv" "$tmp/t/input-$i.$m.L1.B.png" \
      "$tmp/t/input-$i.$m.L1.M.npy" "$tmp/t/input-$i.$m.L1.M.png"
  done
  exists "hdm fusion $i" "$tmp/t/input-$i.hdm.fusion.csv" "$tmp/t/input-$i.hdm.S.png" "$tmp/t/input-$i.hdm.w.npy"
done
if head -1 "$tmp/t/input-0.dm.L1.aux.csv" | grep -qx "step,loss,activation,area,tv"; then pass=$((pass+1))
else echo "FAIL aux.csv header" >&2; fail=$((fail+1)); fi
# 6 steps at most: a header and at most 6 rows
n=$(wc -l < "$tmp/t/input-0.dm.L1.bench2.csv")
if [ "$n" -ge 2 ] && [ "$n" -le 7 ]; then pass=$((pass+1)); else echo "FAIL bench2.csv has $n lines" >&2; fail=$((fail+1)); fi
if grep -q '"grids":	"2,3"' "$tmp/a/input-0.dm.json"; then pass=$((pass+1)); else echo "FAIL grids in the JSON" >&2; fail=$((fail+1)); fi
# The same run without a trace gives the same maps.
check "dm untraced" 0 "input-0" -- "$bin" explain --model "$model" --input $fix/input.npy --method dm $small \
  --out "$tmp/b" --threads 1 --batch 1
if cmp -s "$tmp/a/input-1.dm.npy" "$tmp/b/input-1.dm.npy"; then pass=$((pass+1)); else echo "FAIL dm map changed" >&2; fail=$((fail+1)); fi

check "bad grids" 2 "grids='3,x'" -- "$bin" explain --model "$model" --input $fix/input.npy --method dm \
  --set grids=3,x --out "$tmp/c"
check "levels for dm" 2 "no parameter 'levels'" -- "$bin" explain --model "$model" --input $fix/input.npy \
  --method dm --set levels=2 --out "$tmp/c"
check "trace without dm" 2 "dm and hdm" -- "$bin" explain --model "$model" --input $fix/input.npy \
  --method gradient --trace "$tmp/t2" --out "$tmp/c"
check "dm help" 0 "patience" -- "$bin" explain --method dm --help
check "hdm help" 0 "fusion_iterations" -- "$bin" explain --method hdm --help
echo "cli_explain_dm: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
