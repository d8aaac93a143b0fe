#!/usr/bin/env bash
# `salient demo` end to end on a tiny setting (2 images, two fast methods): every step's output is
# written, the report path is printed, an existing directory is only rewritten when it is a demo's
# own and --force is given, and a re-run with --force continues the earlier evaluation.
# Usage: tests/cli_demo.sh path/to/salient
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/lib_cli.sh"

small=(--images 2 --explain 1 --sanity 1 --methods gradient,gradcam --threads 2)
check "demo runs" 0 "report: $tmp/d/eval/report.html" -- "$bin" demo --out "$tmp/d" "${small[@]}"
exists "demo outputs" "$tmp/d/data/test.csv" "$tmp/d/explain/000000.panel.png" "$tmp/d/explain/000000.gradcam.npy" \
  "$tmp/d/eval/summary.csv" "$tmp/d/eval/summary.json" "$tmp/d/eval/sanity.json" "$tmp/d/eval/sanity/gradcam/0.png"
lines=$(wc -l < "$tmp/d/eval/results.jsonl")
if [ "$lines" -eq 4 ]; then pass=$((pass+1)); else echo "FAIL results.jsonl has $lines lines, want 2 images x 2 methods" >&2; fail=$((fail+1)); fi

check "rerun needs --force" 1 "add --force" -- "$bin" demo --out "$tmp/d" "${small[@]}"
# --resume after a kill: drop the last result, the resumed run redoes only that one
head -n 3 "$tmp/d/eval/results.jsonl" > "$tmp/r" && mv "$tmp/r" "$tmp/d/eval/results.jsonl"
check "rerun with --resume" 0 "report:" -- "$bin" demo --out "$tmp/d" "${small[@]}" --resume
lines=$(wc -l < "$tmp/d/eval/results.jsonl")
if [ "$lines" -eq 4 ]; then pass=$((pass+1)); else echo "FAIL resumed results.jsonl has $lines lines, want 4" >&2; fail=$((fail+1)); fi
# --force starts over: a stray file in the old evaluation is gone
touch "$tmp/d/eval/stray"
check "rerun with --force" 0 "report:" -- "$bin" demo --out "$tmp/d" "${small[@]}" --force
if [ ! -e "$tmp/d/eval/stray" ] && [ "$(wc -l < "$tmp/d/eval/results.jsonl")" -eq 4 ]; then pass=$((pass+1));
else echo "FAIL --force did not start the evaluation over" >&2; fail=$((fail+1)); fi
check "force and resume" 2 "exclude" -- "$bin" demo --out "$tmp/d" "${small[@]}" --force --resume

# the shipped masker of the shipped model: method masker explained and evaluated, skipped by the
# sanity check; another --model without its own --masker cannot ask for it
check "demo with the shipped masker" 0 "masker" -- "$bin" demo --out "$tmp/m" --images 2 --explain 1 --sanity 1 \
  --methods gradient,masker --threads 2
exists "masker outputs" "$tmp/m/explain/000000.masker.npy" "$tmp/m/eval/summary.csv"
if grep -q '"method": *"masker"' "$tmp/m/eval/results.jsonl" && ! grep -q '"masker"' "$tmp/m/eval/sanity.json"; then
  pass=$((pass+1)); else echo "FAIL masker results or sanity.json entry" >&2; fail=$((fail+1)); fi
fix="$(dirname "$0")/fixtures/demo"
check "masker needs its classifier" 1 "masker" -- "$bin" demo --out "$tmp/o" --images 2 --explain 1 --sanity 0 \
  --methods masker --model "$fix/lesions.safetensors"

mkdir -p "$tmp/mine" && echo keep > "$tmp/mine/notes.txt"
check "foreign directory" 1 "not written by salient demo" -- "$bin" demo --out "$tmp/mine" "${small[@]}" --force
if [ "$(cat "$tmp/mine/notes.txt")" = keep ] && [ ! -e "$tmp/mine/data" ]; then pass=$((pass+1));
else echo "FAIL the foreign directory was touched" >&2; fail=$((fail+1)); fi
check "bad family" 2 "shapes or lesions" -- "$bin" demo --out "$tmp/x" --family cats
check "missing model" 1 "not found" -- "$bin" demo --out "$tmp/y" --model "$tmp/none.safetensors"
if [ ! -e "$tmp/y" ]; then pass=$((pass+1)); else echo "FAIL a failed demo left $tmp/y behind" >&2; fail=$((fail+1)); fi
check "bad images" 2 "--images" -- "$bin" demo --out "$tmp/z" --images 0
echo "cli_demo: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
