#!/usr/bin/env bash
# Acceptance bench of the masking model (issue 8, METHODS.md §D): for each family (shapes, lesions)
# with its shipped demo classifier (tests/fixtures/demo/<family>.safetensors), trains a FIX masker on
# the whole training set and a few-shot one (--per-class 10, as many optimiser steps as the full one),
# then runs `salient eval --metrics loc,pointing` with methods masker (both), hdm and
# extremal_perturbation on the same first LIMIT test items, and prints one table: localisation error
# (loc: 1 - [IoU >= 0.5]), pointing game, seconds per image, and the masker's speed-up over hdm and EP.
# Usage: bench/masker.sh BUILD_DIR [--families shapes,lesions] [--train 20000] [--test 2000]
#        [--epochs 5] [--limit 100] [--masker-limit 0] [--work DIR] [--threads 0]
#   --limit: test items for every method (hdm and EP take seconds per image); --masker-limit > 0 also
#   evaluates both maskers on that many items (a second row each). Quick setting:
#   bench/masker.sh build --families shapes --train 4000 --test 400 --epochs 3 --limit 40 --masker-limit 400
set -euo pipefail
build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
S="$build/salient"
[[ -x $S ]] || { echo "masker.sh: $S not found (build first)" >&2; exit 1; }
families=shapes,lesions; ntrain=20000; ntest=2000; epochs=5; limit=100; mlimit=0; work=""; threads=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --families) families=$2 ;; --train) ntrain=$2 ;; --test) ntest=$2 ;; --epochs) epochs=$2 ;;
    --limit) limit=$2 ;; --masker-limit) mlimit=$2 ;; --work) work=$2 ;; --threads) threads=$2 ;;
    *) echo "masker.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
if [[ -z $work ]]; then work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
mkdir -p "$work"
export OMP_WAIT_POLICY=passive
echo "masker bench: $(date -u +%FT%TZ), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "settings: train $ntrain, test $ntest, epochs $epochs, limit $limit, masker-limit $mlimit"

# mean of a metric / time for one method from an eval directory
stat() { # dir method key(loc|pointing|time)
  /usr/bin/python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
d, m, k = sys.argv[1:]
v = []
for line in open(d + "/results.jsonl"):
    r = json.loads(line)
    if r.get("method") != m: continue
    # eval's per-item "loc" is 1 when the localisation is correct: the error is 1 - loc
    v.append(r["time_ms"] / 1000.0 if k == "time" else 1 if k == "n" else
             1 - r["metrics"]["loc"] if k == "locerr" else r["metrics"][k])
print(len(v) if k == "n" else "%.4f" % (sum(v) / len(v)) if v else "nan")
EOF
}

rows=()
for fam in ${families//,/ }; do
  model="$here/tests/fixtures/demo/$fam.safetensors"
  data="$work/$fam"
  [[ -f $data/train.csv ]] || "$S" synth "$fam" --out "$data" --train "$ntrain" --val 10 --test "$ntest" --quiet
  # Few-shot: 10 per class, batch 32, with the optimiser steps of the full run.
  classes=$(wc -l < "$data/classes.txt")
  steps_full=$(( (ntrain / 64) * epochs ))
  few_n=$(( 10 * classes )); few_b=32; few_spe=$(( few_n / few_b ))
  few_epochs=$(( (steps_full + few_spe - 1) / few_spe ))
  t0=$(date +%s.%N)
  "$S" train-masker --model "$model" --data "$data" --out "$work/$fam.fix.safetensors" --epochs "$epochs" \
    --threads "$threads" --quiet
  t1=$(date +%s.%N)
  "$S" train-masker --model "$model" --data "$data" --out "$work/$fam.few.safetensors" --per-class 10 --batch $few_b \
    --epochs "$few_epochs" --threads "$threads" --quiet
  t2=$(date +%s.%N)
  printf '%s: trained FIX masker (%s epochs) in %.0f s, few-shot (%s images, %s epochs) in %.0f s\n' "$fam" "$epochs" \
    "$(echo "$t1 - $t0" | bc)" "$few_n" "$few_epochs" "$(echo "$t2 - $t1" | bc)"
  common=(--model "$model" --data "$data" --metrics loc,pointing --threads "$threads" --quiet)
  "$S" eval "${common[@]}" --masker "$work/$fam.fix.safetensors" --methods masker,hdm,extremal_perturbation \
    --limit "$limit" --out "$work/$fam.eval.fix"
  "$S" eval "${common[@]}" --masker "$work/$fam.few.safetensors" --methods masker --limit "$limit" --out "$work/$fam.eval.few"
  tm=$(stat "$work/$fam.eval.fix" masker time); th=$(stat "$work/$fam.eval.fix" hdm time)
  te=$(stat "$work/$fam.eval.fix" extremal_perturbation time)
  add() { # label dir method: speed-ups are shown for the masker rows
    local t up1=- up2=-; t=$(stat "$2" "$3" time)
    if [[ $3 == masker ]]; then up1=$(echo "scale=0; $th / $t" | bc); up2=$(echo "scale=0; $te / $t" | bc); fi
    rows+=("$(printf '%-8s %-24s %6s %8s %9s %11s %10s %9s' "$fam" "$1" "$(stat "$2" "$3" n)" \
      "$(stat "$2" "$3" locerr)" "$(stat "$2" "$3" pointing)" "$t" "$up1" "$up2")")
  }
  add "masker FIX (all)" "$work/$fam.eval.fix" masker
  add "masker FIX (10/class)" "$work/$fam.eval.few" masker
  add "hdm" "$work/$fam.eval.fix" hdm
  add "extremal_perturbation" "$work/$fam.eval.fix" extremal_perturbation
  if [[ $mlimit -gt 0 ]]; then
    "$S" eval "${common[@]}" --masker "$work/$fam.fix.safetensors" --methods masker --limit "$mlimit" --out "$work/$fam.eval.fixL"
    "$S" eval "${common[@]}" --masker "$work/$fam.few.safetensors" --methods masker --limit "$mlimit" --out "$work/$fam.eval.fewL"
    add "masker FIX all, $mlimit" "$work/$fam.eval.fixL" masker
    add "masker 10/class, $mlimit" "$work/$fam.eval.fewL" masker
  fi
done
echo
echo "loc_err = localisation error (share of items whose map box has IoU <= 0.5 with the object), pointing = pointing game;"
echo "s/image from eval's time_ms; speed-up = s/image of hdm (EP) / s/image of the row's method. First $limit test items."
printf '%-8s %-24s %6s %8s %9s %11s %10s %9s\n' family method n loc_err pointing s/image "x vs hdm" "x vs EP"
for r in "${rows[@]}"; do echo "$r"; done
