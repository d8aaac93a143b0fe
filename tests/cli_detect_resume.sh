#!/usr/bin/env bash
# salient detect-adv train --resume / --stop-after: a HAF run on a dozen synthetic shapes images with
# the shipped classifier, uninterrupted and stopped after 2 of 4 epochs then resumed, must write the
# same detector bytes and report the same metrics; the resume reuses the cached set; a resume with
# other options or data, a truncated or foreign checkpoint, and a missing one are clear errors; a
# corrupt set cache is rebuilt with the same result; eval warns about a stopped checkpoint.
# Usage: tests/cli_detect_resume.sh path/to/salient
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/lib_cli.sh"
export OMP_WAIT_POLICY=passive
model="$(dirname "$0")/fixtures/demo/shapes.safetensors"
"$bin" synth shapes --out "$tmp/s" --seed 3 --train 0 --val 0 --test 12 --quiet >/dev/null 2>&1 || { echo "FAIL synth"; exit 1; }
loud=(detect-adv train --model "$model" --data "$tmp/s" --threads 2 --iterations 2 --epochs 4 --batch 4)
run=("${loud[@]}" --quiet)

check "help shows --resume" 0 "continue from --out after an interruption" -- "$bin" detect-adv train --help
check "negative stop-after" 2 "--stop-after must be >= 0" -- "$bin" "${run[@]}" --out "$tmp/x.safetensors" --stop-after -1
check "resume with eval" 2 "--resume and --stop-after apply to train" -- "$bin" detect-adv eval --model "$model" --data "$tmp/s" --detector "$tmp/x.safetensors" --resume

# The uninterrupted run; its metric lines are the reference.
"$bin" "${run[@]}" --out "$tmp/full.safetensors" >"$tmp/full.txt" 2>&1 || { echo "FAIL uninterrupted run: $(cat "$tmp/full.txt")"; exit 1; }
exists "set cache written beside the detector" "$tmp/full.set.safetensors"
check "stop after 2" 0 "stopped after 2 of 4 epochs" -- "$bin" "${run[@]}" --out "$tmp/part.safetensors" --stop-after 2
exists "stopped checkpoint and its set cache" "$tmp/part.safetensors" "$tmp/part.set.safetensors"
check "eval warns on a stopped checkpoint" 0 "is a checkpoint at epoch 2 of 4" -- "$bin" detect-adv eval --model "$model" --data "$tmp/s" --detector "$tmp/part.safetensors" --max-images 2
cp "$tmp/part.safetensors" "$tmp/part2.safetensors"

# Mismatches are found before the set is built; each names what differs.
check "resume other lr" 1 "was trained with lr = " -- "$bin" "${run[@]}" --out "$tmp/part.safetensors" --resume --lr 0.01
check "resume other seed" 1 "was trained with seed = \"0\", this run has \"1\"" -- "$bin" "${run[@]}" --out "$tmp/part.safetensors" --resume --seed 1
check "resume other width" 1 "was trained with width = 16, this run has 8" -- "$bin" "${run[@]}" --out "$tmp/part.safetensors" --resume --width 8
check "resume other eps" 1 "was trained with eps = " -- "$bin" "${run[@]}" --out "$tmp/part.safetensors" --resume --eps 8/255
check "resume other fraction" 1 "was trained with train_fraction = 0.5, this run has 0.6" -- "$bin" "${run[@]}" --out "$tmp/part.safetensors" --resume --train-fraction 0.6
check "resume other data" 1 "was trained on other inputs (inputs_sha256" -- "$bin" "${run[@]}" --out "$tmp/part.safetensors" --resume --max-images 10
check "resume other batch" 1 "was trained with batch = 4, this run has 2" -- "$bin" "${run[@]}" --out "$tmp/part.safetensors" --resume --batch 2
check "resume fewer epochs" 1 "beyond this run's 1 epochs" -- "$bin" "${run[@]}" --out "$tmp/part.safetensors" --resume --epochs 1
head -c 3000 "$tmp/part.safetensors" >"$tmp/cut.safetensors"
check "resume truncated" 1 "resume: $tmp/cut.safetensors: tensor" -- "$bin" "${run[@]}" --out "$tmp/cut.safetensors" --resume
cp "$model" "$tmp/foreign.safetensors"
check "resume foreign" 1 "has no detector training metadata" -- "$bin" "${run[@]}" --out "$tmp/foreign.safetensors" --resume
check "resume missing" 1 "not found" -- "$bin" "${run[@]}" --out "$tmp/none.safetensors" --resume
if cmp -s "$tmp/part.safetensors" "$tmp/part2.safetensors"; then pass=$((pass+1)); else
  echo "FAIL a refused resume changed the checkpoint" >&2; fail=$((fail+1)); fi

# The resume: the set from the cache (no features computed), same bytes, same metrics; resuming
# the finished checkpoint again trains nothing and reports the same.
"$bin" "${loud[@]}" --out "$tmp/part.safetensors" --resume >"$tmp/resumed.txt" 2>&1
check "resume reuses the set" 0 "reusing the set cached in $tmp/part.set.safetensors" -- cat "$tmp/resumed.txt"
check "resume continues at epoch 2" 0 "resuming $tmp/part.safetensors at epoch 2/4" -- cat "$tmp/resumed.txt"
if grep -q "HAF features of" "$tmp/resumed.txt"; then echo "FAIL the resume computed features again" >&2; fail=$((fail+1)); else pass=$((pass+1)); fi
if cmp -s "$tmp/full.safetensors" "$tmp/part.safetensors"; then pass=$((pass+1)); else
  echo "FAIL resumed detector differs from the uninterrupted one" >&2; fail=$((fail+1)); fi
"$bin" "${run[@]}" --out "$tmp/part.safetensors" --resume >"$tmp/again.txt" 2>&1
metrics() { grep -E 'held-out split|detector accuracy' "$1"; }
for f in resumed again; do
  if [ "$(metrics "$tmp/full.txt" | wc -l)" -eq 2 ] && diff <(metrics "$tmp/full.txt") <(metrics "$tmp/$f.txt") >/dev/null; then
    pass=$((pass+1)); else echo "FAIL $f metrics differ: $(cat "$tmp/full.txt") vs $(cat "$tmp/$f.txt")" >&2; fail=$((fail+1)); fi
done

# A flipped bit in the set cache: refused, rebuilt, the same detector.
cp "$tmp/part.set.safetensors" "$tmp/part2.set.safetensors"
size=$(stat -c %s "$tmp/part2.set.safetensors")
byte=$(od -An -tu1 -j $((size - 1)) -N 1 "$tmp/part2.set.safetensors" | tr -d ' ')
printf "\\x$(printf %02x $((byte ^ 1)))" | dd of="$tmp/part2.set.safetensors" bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
check "corrupt cache rebuilt" 0 "do not match their SHA-256 (corrupted); building the set again" -- "$bin" "${loud[@]}" --out "$tmp/part2.safetensors" --resume
if cmp -s "$tmp/full.safetensors" "$tmp/part2.safetensors"; then pass=$((pass+1)); else
  echo "FAIL resumed on a rebuilt set, the detector differs" >&2; fail=$((fail+1)); fi
echo "cli_detect_resume: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
