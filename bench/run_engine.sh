#!/usr/bin/env bash
# Engine benchmark driver (called by `make bench` as `bench/run_engine.sh <build dir> [args]`):
# runs bench_engine (salient) and bench/engine_torch.py (PyTorch) with 2 threads each (--threads) and prints
# one table. Options: --model a,b --batch 1,8 --rounds N (default 3) --threads N (default 2); others
# (--quick) go to both.
set -euo pipefail

build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
threads=2
bin="$build/bench_engine"
if [[ ! -x $bin ]]; then
  echo "run_engine.sh: $bin not found (build first: make build)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Only one process at a time, and the two implementations alternate per (model, batch): the
# machine is shared and noisy, so each pair of figures is measured under the same conditions.
models=resnet18,resnet50,vgg16
batches=1,8
rounds=3
pass_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --model) models=$2; shift 2 ;;
    --model=*) models=${1#--model=}; shift ;;
    --batch) batches=$2; shift 2 ;;
    --batch=*) batches=${1#--batch=}; shift ;;
    --rounds) rounds=$2; shift 2 ;;
    --rounds=*) rounds=${1#--rounds=}; shift ;;
    --threads) threads=$2; shift 2 ;;
    --threads=*) threads=${1#--threads=}; shift ;;
    *) pass_args+=("$1"); shift ;;
  esac
done
torch_ok=1
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  torch_ok=0
  echo "PyTorch not installed: torch column skipped"
fi
: > "$tmp/salient.txt"
: > "$tmp/torch.txt"
sal_rc=0
# Each (model, batch) pair runs `rounds` times, salient and PyTorch alternating; the table keeps
# each side's best median (noise on a shared machine only ever adds time).
for m in ${models//,/ }; do
  for b in ${batches//,/ }; do
   for ((round = 1; round <= rounds; round++)); do
    echo "salient: $bin --model $m --batch $b ${pass_args[*]}" >&2
    OMP_NUM_THREADS=$threads "$bin" --threads "$threads" --model "$m" --batch "$b" "${pass_args[@]}" \
      | tee -a "$tmp/salient.txt" >&2 || sal_rc=$?
    if [[ $torch_ok -eq 1 ]]; then
      echo "torch: /usr/bin/python3 $here/engine_torch.py --model $m --batch $b ${pass_args[*]}" >&2
      OMP_NUM_THREADS=$threads /usr/bin/python3 "$here/engine_torch.py" --threads "$threads" --model "$m" \
        --batch "$b" "${pass_args[@]}" | tee -a "$tmp/torch.txt" >&2 \
        || { echo "engine_torch.py failed: torch column skipped"; torch_ok=0; }
    fi
   done
  done
done
[[ -f $tmp/torch.txt ]] || : > "$tmp/torch.txt"

echo
echo "Engine benchmark, 224x224, $threads threads, median wall-clock ms (best of $rounds alternating rounds)."
echo "fwd+bwd = forward + backward to the input (no parameter gradients), inference mode;"
echo "GFLOP/s counts 2 x forward MACs for fwd and 2 x that for fwd+bwd (backward-data = one more forward)."
awk -v torch_ok="$torch_ok" '
  function field(line, key,   i, n, kv) {
    n = split(line, kv, " ")
    for (i = 1; i <= n; i++) if (index(kv[i], key "=") == 1) return substr(kv[i], length(key) + 2)
    return ""
  }
  /^RESULT / {
    k = field($0, "model") SUBSEP field($0, "batch") SUBSEP field($0, "pass")
    if (FILENAME == ARGV[1]) {
      if (!(k in sal_ms)) order[++n] = k
      if (!(k in sal_ms) || field($0, "ms") + 0 < sal_ms[k] + 0) { sal_ms[k] = field($0, "ms"); sal_gf[k] = field($0, "gflops") }
    } else {
      if (!(k in torch_ms) || field($0, "ms") + 0 < torch_ms[k] + 0) torch_ms[k] = field($0, "ms")
    }
  }
  END {
    printf "%-9s %5s %-8s %12s %10s %12s %15s\n", "model", "batch", "pass", "salient ms", "torch ms", "torch/salient", "salient GFLOP/s"
    for (i = 1; i <= n; i++) {
      k = order[i]; split(k, p, SUBSEP)
      t = (torch_ok && (k in torch_ms)) ? torch_ms[k] : ""
      ratio = (t != "" && sal_ms[k] > 0) ? sprintf("%.2f", t / sal_ms[k]) : "-"
      printf "%-9s %5s %-8s %12.1f %10s %12s %15s\n", p[1], p[2], p[3], sal_ms[k], (t == "" ? "-" : sprintf("%.1f", t)), ratio, sal_gf[k]
    }
  }' "$tmp/salient.txt" "$tmp/torch.txt"
if [[ $sal_rc -ne 0 ]]; then
  echo "bench_engine failed (status $sal_rc; its message is above): the table is incomplete" >&2
  exit "$sal_rc"
fi
