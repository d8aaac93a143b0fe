#!/usr/bin/env bash
# Training benchmark driver: `bench/run_train.sh <build dir> [--model a,b] [--rounds N] [args]`
# runs bench_train (salient) and bench/train_torch.py (PyTorch) with 2 threads each, alternating
# per model and round (the machine is shared and noisy: each pair is measured under the same
# conditions), and prints each side's median over the rounds and the ratio salient / PyTorch in
# training images per second. Other args (--size, --batch, --width, --steps, --quick) go to both.
set -euo pipefail

build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
threads=2
bin="$build/bench_train"
if [[ ! -x $bin ]]; then
  echo "run_train.sh: $bin not found (build first: make build)" >&2
  exit 1
fi
models=simple_cnn,resnet_small,resnet18
rounds=3
pass_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --model) models=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) pass_args+=("$1"); shift ;;
  esac
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
torch_ok=1
/usr/bin/python3 -c 'import torch' 2>/dev/null || { torch_ok=0; echo "PyTorch not installed: torch column skipped"; }
: > "$tmp/r.txt"
for m in ${models//,/ }; do
  for ((round = 1; round <= rounds; round++)); do
    OMP_NUM_THREADS=$threads "$bin" --threads "$threads" --model "$m" "${pass_args[@]}" | tee -a "$tmp/r.txt" >&2
    if [[ $torch_ok -eq 1 ]]; then
      OMP_NUM_THREADS=$threads /usr/bin/python3 "$here/train_torch.py" --threads "$threads" --model "$m" "${pass_args[@]}" \
        | tee -a "$tmp/r.txt" >&2 || { echo "train_torch.py failed: torch column skipped"; torch_ok=0; }
    fi
  done
done
echo
echo "Training benchmark: images/s of full steps (forward, loss, backward, SGD), $threads threads,"
echo "median over $rounds alternating rounds of each side's per-round median step."
awk '
  function field(line, key,   i, n, kv) {
    n = split(line, kv, " ")
    for (i = 1; i <= n; i++) if (index(kv[i], key "=") == 1) return substr(kv[i], length(key) + 2)
    return ""
  }
  function median(arr, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
    return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
  }
  /^RESULT / {
    m = field($0, "model"); impl = field($0, "impl")
    if (!(m in seen)) { seen[m] = 1; order[++nm] = m; size[m] = field($0, "size"); batch[m] = field($0, "batch") }
    if (impl == "salient") s[m, ++ns[m]] = field($0, "img_s") + 0; else t[m, ++nt[m]] = field($0, "img_s") + 0
  }
  END {
    printf "%-13s %5s %5s %14s %14s %16s\n", "model", "size", "batch", "salient img/s", "torch img/s", "salient/torch"
    for (k = 1; k <= nm; k++) {
      m = order[k]
      delete a; for (i = 1; i <= ns[m]; i++) a[i] = s[m, i]; ms = median(a, ns[m])
      mt = ""
      if (nt[m] > 0) { delete b; for (i = 1; i <= nt[m]; i++) b[i] = t[m, i]; mt = median(b, nt[m]) }
      printf "%-13s %5s %5s %14.1f %14s %16s\n", m, size[m], batch[m], ms, (mt == "" ? "-" : sprintf("%.1f", mt)),
             (mt == "" || mt == 0 ? "-" : sprintf("%.2f", ms / mt))
    }
  }' "$tmp/r.txt"
