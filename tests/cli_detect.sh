#!/usr/bin/env bash
# salient detect-adv: help, usage errors, train + eval on a few dozen synthetic shapes images with
# the shipped classifier tests/fixtures/demo/shapes.safetensors (gradient features, and HAF with a
# few reliable iterations), and the errors of a detector used with other features or another grid.
# Usage: tests/cli_detect.sh path/to/salient
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/lib_cli.sh"
export OMP_WAIT_POLICY=passive
model="$(dirname "$0")/fixtures/demo/shapes.safetensors"
check "help" 0 "train   build clean/attacked sets" -- "$bin" detect-adv --help
check "train help" 0 "(default 4/255)" -- "$bin" detect-adv train --help
check "eval help" 0 "usage: salient detect-adv eval" -- "$bin" detect-adv eval --help
check "no subcommand" 2 "expected 'train' or 'eval'" -- "$bin" detect-adv
check "bad subcommand" 2 "expected 'train' or 'eval', got 'fit'" -- "$bin" detect-adv fit
check "train missing out" 2 "--model, --data and --out are required" -- "$bin" detect-adv train --model "$model" --data "$tmp"
check "eval missing detector" 2 "--model, --data and --detector are required" -- "$bin" detect-adv eval --model "$model" --data "$tmp"
check "bad attack" 2 "--attack must be fgsm or pgd" -- "$bin" detect-adv train --model "$model" --data "$tmp" --out "$tmp/d" --attack cw
check "bad eps text" 2 "--eps needs a fraction like 4/255" -- "$bin" detect-adv train --model "$model" --data "$tmp" --out "$tmp/d" --eps four
check "bad eps zero denominator" 2 "--eps needs" -- "$bin" detect-adv train --model "$model" --data "$tmp" --out "$tmp/d" --eps 4/0
check "bad features" 2 "--features must be haf or gradient" -- "$bin" detect-adv train --model "$model" --data "$tmp" --out "$tmp/d" --features saliency
check "unknown option" 2 "--nope" -- "$bin" detect-adv train --nope

"$bin" synth shapes --out "$tmp/s" --seed 3 --train 0 --val 0 --test 24 --quiet >/dev/null 2>&1 || { echo "FAIL synth"; exit 1; }
small=(--model "$model" --data "$tmp/s" --threads 2 --quiet --epochs 20)
check "eps out of range" 1 "eps 2 is not in (0, 1]" -- "$bin" detect-adv train "${small[@]}" --out "$tmp/d.safetensors" --eps 510/255
check "missing data" 1 "nope" -- "$bin" detect-adv train "${small[@]}" --data "$tmp/nope.csv" --out "$tmp/d.safetensors"
check "train gradient" 0 "detector accuracy" -- "$bin" detect-adv train "${small[@]}" --features gradient --eps 8/255 --out "$tmp/g.safetensors"
exists "gradient detector" "$tmp/g.safetensors"
check "train reports baseline" 0 "confidence baseline ROC-AUC" -- "$bin" detect-adv train "${small[@]}" --features gradient --eps 0.03 --out "$tmp/g2.safetensors"
check "train haf" 0 "haf features, 4 x 16 x 16" -- "$bin" detect-adv train "${small[@]}" --features haf --iterations 3 --attack pgd --out "$tmp/h.safetensors"
check "eval gradient" 0 "detector accuracy" -- "$bin" detect-adv eval --model "$model" --data "$tmp/s" --detector "$tmp/g.safetensors" --eps 8/255 --quiet
check "eval 48 items" 0 "48 items (24 clean/attacked pairs)" -- "$bin" detect-adv eval --model "$model" --data "$tmp/s" --detector "$tmp/g.safetensors" --quiet
check "eval haf" 0 "ROC-AUC" -- "$bin" detect-adv eval --model "$model" --data "$tmp/s" --detector "$tmp/h.safetensors" --attack pgd --quiet --max-images 8
check "eval other features" 1 "was trained on gradient features, not haf" -- "$bin" detect-adv eval --model "$model" --data "$tmp/s" --detector "$tmp/g.safetensors" --features haf
check "eval other grid" 1 "was trained on a 16x16 grid, not 8" -- "$bin" detect-adv eval --model "$model" --data "$tmp/s" --detector "$tmp/g.safetensors" --grid 8
check "eval not a detector" 1 "is not a detector written by 'salient detect-adv train'" -- "$bin" detect-adv eval --model "$model" --data "$tmp/s" --detector "$model"
check "classifier not a checkpoint" 1 "opening the classifier" -- "$bin" detect-adv eval --model "$tmp/g.safetensors" --data "$tmp/s" --detector "$tmp/g.safetensors"
echo "cli_detect: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
