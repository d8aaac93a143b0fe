#!/usr/bin/env bash
# Acceptance benchmark of the seed methods (issue 7): `bench/seed_methods.sh <build dir> [options]`
# makes the synthetic data the demo models were tested on (`salient synth`, seed 0: the first test
# images of tests/fixtures/demo/*.test.json), runs bench_seed_methods (bench/seed_methods.c) for the
# quality claims and bench/seed_methods_torch.py next to it for the timing, prints one table per claim
# and writes every result as JSON lines, merged into OUT/seed_methods.json.
#   quality  dm vs its benchmark map B (best-percentile IoU), hdm vs dm (recall at equal area), on
#            shapes and lesions with their demo models
#   dwsol    D-WSOL hits and false-saliency ratio on two-object images (`salient synth pairs`, shapes
#            model): reliable, gradient, gradcam, extremal_perturbation
#   attack   attack_sensitivity of dm, gradient, meaningful_perturbation on shapes and lesions
#   timing   ms per image of dm, hdm, reliable: salient and PyTorch (same algorithm, same iterations,
#            no early stopping on either side) on the demo model and on ResNet-50 at 224
# Options: --images N (quality, 200) --pairs N (dwsol, 60) --ep-pairs N (dwsol of extremal_perturbation,
#   with reliable again on the same images, 20) --attack-images N (60) --only a,b
#   (parts, default quality,dwsol,attack,timing) --out DIR (default a temporary directory, kept)
#   --timing-images N (2) --reps N (3) --resnet-iterations N (iterations of every method on ResNet-50,
#   20; the demo model runs the defaults, 300) --threads N (2) --quick (a smoke run: 6 images, 4 pairs,
#   ResNet-50 at 3 iterations) --families shapes,lesions (quality and attack) --timing-models demo,resnet50.
# Definitions and results: docs/methods.md, "Acceptance of the seed methods".
# The body is one compound command, so bash reads all of it before running any: editing the file
# during a run does not change the run.
{
set -euo pipefail
build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin="$build/bench_seed_methods"
sal="$build/salient"
[[ -x $bin && -x $sal ]] || { echo "seed_methods.sh: $bin or $sal not found (build first)" >&2; exit 1; }
bin=$(realpath "$bin"); sal=$(realpath "$sal")
images=200; pairs=60; ep_pairs=20; attack_images=60; only=quality,dwsol,attack,timing; out=""; timing_images=2; reps=3
resnet_iterations=20; threads=2; quick=0; families=shapes,lesions; timing_models=demo,resnet50
while [[ $# -gt 0 ]]; do
  case $1 in
    --images) images=$2; shift ;; --pairs) pairs=$2; shift ;; --ep-pairs) ep_pairs=$2; shift ;; --attack-images) attack_images=$2; shift ;;
    --only) only=$2; shift ;; --out) out=$2; shift ;; --timing-images) timing_images=$2; shift ;;
    --reps) reps=$2; shift ;; --resnet-iterations) resnet_iterations=$2; shift ;; --threads) threads=$2; shift ;;
    --families) families=$2; shift ;; --timing-models) timing_models=$2; shift ;; --quick) quick=1 ;;
    *) echo "seed_methods.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ $quick -eq 1 ]]; then images=6; pairs=4; ep_pairs=2; attack_images=4; timing_images=1; reps=1; resnet_iterations=3; fi
[[ -n $out ]] || out=$(mktemp -d /tmp/seed_methods.XXXXXX)
mkdir -p "$out"
export OMP_WAIT_POLICY=passive OMP_NUM_THREADS=$threads
demo="$root/tests/fixtures/demo"
json="$out/results.jsonl"
has() { [[ ",$only," == *",$1,"* ]]; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
note() { echo "{\"claim\": \"load\", \"part\": \"$1\", \"when\": \"$(date -u +%FT%TZ)\", \"loadavg\": \"$(load)\"}" >> "$json"; }

# The data: seed 0 and the default size, as tools/train_demo_models.sh made the demo models' test sets
# (a split does not depend on the others' sizes, docs/synth.md); pairs for D-WSOL.
need=$images; (( attack_images > need )) && need=$attack_images
for fam in shapes lesions pairs; do
  n=$need; [[ $fam == pairs ]] && n=$pairs
  [[ -f $out/data/$fam/synth.json ]] && continue
  "$sal" synth "$fam" --out "$out/data/$fam" --train 0 --val 0 --test "$n" --quiet --force
done

echo "seed_methods: results in $out (load average at start: $(load))"
if has quality; then
  for fam in ${families//,/ }; do
    note "quality $fam"
    "$bin" quality "$demo/$fam.safetensors" "$out/data/$fam/test.csv" --images "$images" --threads "$threads" --json "$json"
  done
fi
if has dwsol; then
  note dwsol
  "$bin" dwsol "$demo/shapes.safetensors" "$out/data/pairs/test.csv" --images "$pairs" --threads "$threads" \
    --methods reliable,gradient,gradcam --json "$json"
  # extremal_perturbation costs ~15 s per image (3 queries x 800 steps): on the first --ep-pairs images
  note "dwsol extremal_perturbation"
  "$bin" dwsol "$demo/shapes.safetensors" "$out/data/pairs/test.csv" --images "$ep_pairs" --threads "$threads" \
    --methods reliable,extremal_perturbation --json "$json"
fi
if has attack; then
  for fam in ${families//,/ }; do
    note "attack $fam"
    "$bin" attack "$demo/$fam.safetensors" "$out/data/$fam/test.csv" --images "$attack_images" --threads "$threads" \
      --methods dm,gradient,meaningful_perturbation --json "$json"
  done
fi
if has timing; then
  torch_ok=1
  /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null || { torch_ok=0; echo "PyTorch not installed: torch side skipped"; }
  # model, salient options, torch options; per method salient then PyTorch (both see the same load),
  # on the same images (salient writes them, PyTorch reads them).
  run_timing() {
    local label=$1 model=$2 its=$3; shift 3
    local input="$out/timing_$label.npy" txt="$out/timing_$label.txt"
    : > "$txt"
    local sets=(--set patience=0)
    [[ $its -gt 0 ]] && sets+=(--set iterations="$its" --set fusion_iterations="$its")
    for m in dm hdm reliable; do
      note "timing $label $m"
      "$bin" timing "$model" "$@" --methods "$m" --images "$timing_images" --reps "$reps" --warm 1 --threads "$threads" \
        "${sets[@]}" --save-input "$input" --json "$json" | tee -a "$txt"
      if [[ $torch_ok -eq 1 ]]; then
        /usr/bin/python3 "$here/seed_methods_torch.py" --model "$model" --input "$input" \
          --info "$(grep "^INFO impl=salient method=$m " "$txt" | tail -1)" --reps "$reps" --warm 1 --threads "$threads" \
          --json "$json" | tee -a "$txt"
      fi
    done
  }
  if [[ ",$timing_models," == *",demo,"* ]]; then
    run_timing demo "$demo/shapes.safetensors" 0 --manifest "$out/data/shapes/test.csv"
  fi
  if [[ ",$timing_models," == *",resnet50,"* ]]; then
    run_timing resnet50 resnet50 "$resnet_iterations" --size 224
  fi
fi
note end
/usr/bin/python3 "$here/seed_methods_torch.py" --report "$json" --out-json "$out/seed_methods.json"
exit
}
