#!/usr/bin/env bash
# Acceptance bench of SCAAT (issue 8, METHODS.md §E): trains plain, SGT and SCAAT simple_cnn models
# on the same `salient synth` data with the same seed and epochs, then runs
#   salient eval --methods gradient --metrics sparsity,insdel,pointing,loc
# on each model's test set and prints one table: clean test accuracy, Gini of the gradient maps,
# deletion AUC (lower is better), insertion AUC (higher is better), pointing game, localisation IoU.
# Usage:
#   bench/scaat.sh BIN [--families shapes,lesions] [--train N] [--test N] [--epochs E] [--size S]
#                  [--threads T] [--parallel] [--out DIR] [--quick] [-- extra salient train options]
# Defaults are the demo recipe (64 px, 20000 training and 2000 test images, 9 epochs,
# docs/training.md). --parallel trains the three models of a family at the same time (each with
# --threads T). --quick is --size 32 --train 6000 --test 200 --epochs 5 --threads 1 --parallel: the
# same comparison at about 1/20 of the cost, for a shared machine. Models, eval outputs and logs
# stay in --out (default a temporary directory, removed at the end).
set -euo pipefail
bin=$(realpath "${1:?usage: bench/scaat.sh BIN [options]}")
shift
families=shapes,lesions
ntrain=20000
ntest=2000
epochs=9
threads=2
size=64
parallel=0
out=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --families) families="$2"; shift 2 ;;
    --train) ntrain="$2"; shift 2 ;;
    --test) ntest="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --parallel) parallel=1; shift ;;
    --out) out="$2"; shift 2 ;;
    --quick) size=32; ntrain=6000; ntest=200; epochs=5; threads=1; parallel=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "bench/scaat.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$out" ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
echo "# bench/scaat.sh: $("$bin" version | head -1); size $size, train $ntrain, test $ntest, epochs $epochs, threads $threads, parallel $parallel, pointing tolerance $(( (15 * size + 112) / 224 )) px; load $(cut -d' ' -f1-3 /proc/loadavg)"
rows=()
tol=$(( (15 * size + 112) / 224 ))
# train FAMILY MODE: trains one model, recording its wall clock in $out/FAMILY.MODE.secs.
train() {
  local fam="$1" mode="$2" flag=() start end
  [ "$mode" = plain ] || flag=("--$mode")
  start=$(date +%s.%N)
  "$bin" train --data "$out/$fam" --out "$out/$fam.$mode.safetensors" --epochs "$epochs" --image-size "$size" \
    --threads "$threads" --quiet ${flag[@]+"${flag[@]}"} ${extra[@]+"${extra[@]}"} > "$out/$fam.$mode.train.txt"
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.0f\n", e - s }' > "$out/$fam.$mode.secs"
  echo "  $fam $mode trained in $(cat "$out/$fam.$mode.secs") s" >&2
}
for fam in ${families//,/ }; do
  data="$out/$fam"
  [ -f "$data/test.csv" ] || "$bin" synth "$fam" --out "$data" --size "$size" --train "$ntrain" --test "$ntest" --quiet >/dev/null
  pids=()
  for mode in plain sgt scaat; do
    if [ "$parallel" = 1 ]; then train "$fam" "$mode" & pids+=($!); else train "$fam" "$mode"; fi
  done
  for p in ${pids[@]+"${pids[@]}"}; do wait "$p"; done
  for mode in plain sgt scaat; do
    model="$out/$fam.$mode.safetensors"
    acc=$("$bin" test "$model" --data "$data" --json "$out/$fam.$mode.test.json" | head -1 | sed 's/.*accuracy \([0-9.]*\).*/\1/')
    rm -rf "$out/$fam.$mode.eval"
    # the pointing game's 15 px tolerance is for 224 px images (Zhang et al. 2018): scaled to the size
    "$bin" eval --model "$model" --data "$data" --methods gradient --metrics sparsity,insdel,pointing,loc \
      --tolerance "$tol" --out "$out/$fam.$mode.eval" --threads 2 --quiet
    row=$(/usr/bin/python3 - "$out/$fam.$mode.eval/summary.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))["methods"]["gradient"]
m = s["metrics"]
print("%.4f %.4f %.4f %.4f %.4f" % (m["gini"]["mean"], m["deletion"]["mean"], m["insertion"]["mean"],
                                    s["dataset"]["pointing_game"], m["loc_iou"]["mean"]))
EOF
)
    rows+=("$fam $mode $acc $row $(cat "$out/$fam.$mode.secs")s")
  done
done
printf '%-8s %-6s %9s %7s %9s %9s %9s %8s %8s\n' family train accuracy gini deletion insertion pointing loc_iou time
for r in "${rows[@]}"; do
  # shellcheck disable=SC2086
  printf '%-8s %-6s %9s %7s %9s %9s %9s %8s %8s\n' $r
done
