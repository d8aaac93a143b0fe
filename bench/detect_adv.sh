#!/usr/bin/env bash
# Adversarial-input detection benchmark (issue 8, METHODS.md §F): `bench/detect_adv.sh <build dir>
# [--images N] [--iterations I] [--epochs E] [--datasets shapes,lesions] [--eps 2,4,8]`.
# For each shipped demo classifier (tests/fixtures/demo/{shapes,lesions}.safetensors) it makes test
# images with `salient synth` (seed 7: not the seed of the classifier's own training or test set),
# then for FGSM and 10-step PGD at each ε/255 runs `salient detect-adv train` with HAF features and
# with gradient features (the split, half the source images held out, is the same for both) and
# prints one table: held-out ROC-AUC and accuracy of the HAF and gradient detectors, and the
# ROC-AUC of the softmax-confidence baseline. Defaults: 100 images, reliable's 300 iterations,
# 100 detector epochs; pass --images / --iterations to shrink a run.
set -euo pipefail

build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
bin="$build/salient"
if [[ ! -x $bin ]]; then
  echo "detect_adv.sh: $bin not found (build first)" >&2
  exit 1
fi
images=100 iterations=300 epochs=100 datasets=shapes,lesions epss=2,4,8 threads=2
while [[ $# -gt 0 ]]; do
  case $1 in
    --images) images=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --datasets) datasets=$2; shift 2 ;;
    --eps) epss=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "detect_adv.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=passive
start=$(date +%s)
rows=()
for ds in ${datasets//,/ }; do
  "$bin" synth "$ds" --out "$tmp/$ds" --seed 7 --train 0 --val 0 --test "$images" --quiet >/dev/null
  for attack in fgsm pgd; do
    for e in ${epss//,/ }; do
      common=(--model "$here/tests/fixtures/demo/$ds.safetensors" --data "$tmp/$ds" --attack "$attack" --eps "$e/255"
        --iterations "$iterations" --epochs "$epochs" --lr 3e-3 --threads "$threads" --quiet)
      "$bin" detect-adv train "${common[@]}" --features haf --out "$tmp/h.safetensors" >"$tmp/h.txt"
      "$bin" detect-adv train "${common[@]}" --features gradient --out "$tmp/g.safetensors" >"$tmp/g.txt"
      # "detector accuracy A  ROC-AUC B  |  confidence baseline ROC-AUC C"; the first line has the flip rate.
      read -r ha hr conf < <(awk '/detector accuracy/ {print $3, $5, $10}' "$tmp/h.txt")
      read -r ga gr _ < <(awk '/detector accuracy/ {print $3, $5, $10}' "$tmp/g.txt")
      flip=$(sed -n 's/.*changed the top-1 of \([0-9.]*%\).*/\1/p' "$tmp/h.txt")
      rows+=("$(printf '%-8s %-5s %5s %8s | %8s %8s | %8s %8s | %8s' "$ds" "$attack" "$e/255" "$flip" "$hr" "$ha" "$gr" "$ga" "$conf")")
      echo "${rows[-1]}" >&2
    done
  done
done
echo "adversarial-input detection: $images images per dataset (half held out), reliable $iterations iterations, detector $epochs epochs"
printf '%-8s %-5s %5s %8s | %8s %8s | %8s %8s | %8s\n' dataset attack eps flipped "HAF AUC" "HAF acc" "grad AUC" "grad acc" "conf AUC"
printf '%s\n' "${rows[@]}"
echo "wall clock: $(( $(date +%s) - start )) s"
