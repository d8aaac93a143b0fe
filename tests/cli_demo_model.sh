#!/usr/bin/env bash
# The shipped demo models (tests/fixtures/demo/, trained by tools/train_demo_models.sh with
# salient's default recipe) on fresh synthetic test images: accurate with the objects, at chance
# when the same images are rendered without them (salient synth --omit-objects) — the evidence the
# models use is the object, which is what makes them useful for judging saliency maps.
# Usage: tests/cli_demo_model.sh path/to/salient
set -u
bin="$1"
fix="$(dirname "$0")/fixtures/demo"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/lib_cli.sh"

# accuracy FAMILY DIR: the accuracy `salient test` prints for the shipped FAMILY model on DIR.
accuracy() {
  "$bin" test "$fix/$1.safetensors" --data "$2" --threads 2 2>&1 | sed -n 's/.*: accuracy \([0-9.]*\) .*/\1/p'
}
# at_least A B: A >= B (decimal numbers).
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 >= b + 0) }'; }

# 400 test images: the shapes model's test accuracy is about 0.97 (docs/training.md), so 0.93
# is more than 3 binomial standard errors (0.0085) below it; chance is 1/10 for shapes and 1/5 for
# lesions, and "at chance" allows 3 standard errors above it.
for fam in shapes lesions; do
  if [ "$fam" = shapes ]; then want=0.93; chance=0.10; else want=0.86; chance=0.20; fi
  "$bin" synth "$fam" --out "$tmp/$fam" --seed 7 --train 0 --val 0 --test 400 --quiet >/dev/null 2>&1 \
    && "$bin" synth "$fam" --out "$tmp/$fam-omit" --seed 7 --train 0 --val 0 --test 400 --omit-objects --quiet >/dev/null 2>&1 \
    || { echo "FAIL synth $fam" >&2; exit 1; }
  with=$(accuracy "$fam" "$tmp/$fam")
  without=$(accuracy "$fam" "$tmp/$fam-omit")
  echo "$fam: accuracy $with with the objects, $without without them"
  if at_least "$with" "$want"; then pass=$((pass+1)); else echo "FAIL $fam accuracy '$with' < $want" >&2; fail=$((fail+1)); fi
  limit=$(awk -v c="$chance" 'BEGIN { print c + 3 * sqrt(c * (1 - c) / 400) }')
  if [ -n "$without" ] && ! at_least "$without" "$limit"; then pass=$((pass+1));
  else echo "FAIL $fam without objects: accuracy '$without' is not at chance (limit $limit)" >&2; fail=$((fail+1)); fi
done
echo "cli_demo_model: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
