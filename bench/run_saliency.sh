#!/usr/bin/env bash
# Saliency benchmark driver: `bench/run_saliency.sh <build dir> [options]` runs bench_saliency
# (salient) and bench/saliency_torch.py (the same algorithms as PyTorch loops) alternately, method by
# method, with the same model, input size, parameters, threads and batch size (the one salient's
# memory budget chose), and prints per-image medians and the ratio torch/salient.
# Options: --model resnet50 --size 224 --methods a,b --rounds 1 --reps 3 --warm 1 --threads 2
#   --samples 50 (smoothgrad) --steps 50 (IG) --rise-samples 4000 --iterations 300
#   (meaningful_perturbation) --ep-iterations 800 (extremal_perturbation; add these two to --methods)
#   — quick runs: shrink these.
set -euo pipefail
build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
bin="$build/bench_saliency"
[[ -x $bin ]] || { echo "run_saliency.sh: $bin not found (build first)" >&2; exit 1; }
model=resnet50; size=224; rounds=1; reps=3; warm=1; threads=2; samples=50; steps=50; rise=4000; iterations=300; ep_iterations=800
methods=gradient,grad_input,smoothgrad,integrated_gradients,gradcam,occlusion,rise
while [[ $# -gt 0 ]]; do
  case $1 in
    --model) model=$2 ;; --size) size=$2 ;; --methods) methods=$2 ;; --rounds) rounds=$2 ;;
    --reps) reps=$2 ;; --warm) warm=$2 ;; --threads) threads=$2 ;; --samples) samples=$2 ;;
    --steps) steps=$2 ;; --rise-samples) rise=$2 ;; --iterations) iterations=$2 ;;
    --ep-iterations) ep_iterations=$2 ;;
    *) echo "run_saliency.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
: > "$tmp/salient.txt"; : > "$tmp/torch.txt"
torch_ok=1
/usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null || { torch_ok=0; echo "PyTorch not installed: torch column skipped"; }
common=(--size "$size" --reps "$reps" --warm "$warm" --threads "$threads" --samples "$samples" --steps "$steps"
        --rise-samples "$rise" --iterations "$iterations" --ep-iterations "$ep_iterations")
# One process at a time; per method salient then PyTorch, `rounds` times: both sides see the same
# machine load, and the table keeps each side's best median (noise only ever adds time).
for ((round = 1; round <= rounds; round++)); do
  for m in ${methods//,/ }; do
    OMP_NUM_THREADS=$threads "$bin" --model "$model" --methods "$m" "${common[@]}" | tee -a "$tmp/salient.txt" >&2
    chunk=$(awk -v m="$m" '/^INFO/ && $0 ~ "method=" m " " { for (i = 1; i <= NF; i++) if ($i ~ /^batch=/) b = substr($i, 7) } END { print b }' "$tmp/salient.txt")
    if [[ $torch_ok -eq 1 ]]; then
      OMP_NUM_THREADS=$threads /usr/bin/python3 "$here/saliency_torch.py" --model "$model" --method "$m" \
        --chunk "${chunk:-16}" "${common[@]}" | tee -a "$tmp/torch.txt" >&2
    fi
  done
done
echo
echo "Saliency benchmark: $model at ${size}x${size}, $threads threads, one image; median ms per image (best of $rounds rounds)."
echo "smoothgrad samples=$samples, integrated_gradients steps=$steps, rise samples=$rise, meaningful_perturbation"
echo "iterations=$iterations, extremal_perturbation iterations=$ep_iterations; PyTorch uses salient's batch size."
awk '
  function field(line, key,   i, n, kv) {
    n = split(line, kv, " ")
    for (i = 1; i <= n; i++) if (index(kv[i], key "=") == 1) return substr(kv[i], length(key) + 2)
    return ""
  }
  /^RESULT/ { m = field($0, "method"); v = field($0, "ms") + 0
    if (FILENAME == ARGV[1]) { if (!(m in s)) order[++n] = m; if (!(m in s) || v < s[m]) s[m] = v }
    else if (!(m in t) || v < t[m]) t[m] = v }
  /^INFO/ && FILENAME == ARGV[1] { b[field($0, "method")] = field($0, "batch") }
  END {
    printf "%-22s %6s %12s %12s %14s\n", "method", "batch", "salient ms", "torch ms", "torch/salient"
    for (i = 1; i <= n; i++) { m = order[i]
      printf "%-22s %6s %12.1f %12s %14s\n", m, b[m], s[m], (m in t) ? sprintf("%.1f", t[m]) : "-", (m in t) ? sprintf("%.2f", t[m] / s[m]) : "-" }
  }' "$tmp/salient.txt" "$tmp/torch.txt"
