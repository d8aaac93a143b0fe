#!/usr/bin/env bash
# `salient explain`: PNG/NPY/JSON outputs per image and method for an .npy batch and for a directory
# of images, --panel, determinism of the random methods, a corrupt image in a directory (reported by
# name, the others still explained, exit 1), and the errors: unknown method / parameter / layer /
# class name (each listing the valid ones), target out of range, --method NAME --help.
# Usage: tests/cli_explain.sh path/to/salient
set -u
bin="$1"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fix=tests/fixtures/saliency
model=$fix/model.onnx
source "$(dirname "$0")/lib_cli.sh"
has() { # has "label" file needle
  if grep -qF -- "$3" "$2" 2>/dev/null; then pass=$((pass+1)); else echo "FAIL $1: '$3' not in $2" >&2; fail=$((fail+1)); fi
}
png_magic() { # the 8-byte PNG signature
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]
}

# An .npy batch: three images named input-0..2, three methods, a panel.
check "npy batch" 0 "input-2" -- "$bin" explain --model "$model" --input $fix/input.npy \
  --method gradient,gradcam,rise --set samples=40 --set grid=4 --out "$tmp/a" --panel --threads 1
for i in 0 1 2; do
  for m in gradient gradcam rise; do
    exists "outputs $i $m" "$tmp/a/input-$i.$m.png" "$tmp/a/input-$i.$m.npy" "$tmp/a/input-$i.$m.json"
  done
  exists "panel $i" "$tmp/a/input-$i.panel.png"
done
if png_magic "$tmp/a/input-0.gradcam.png"; then pass=$((pass+1)); else echo "FAIL overlay is not a PNG" >&2; fail=$((fail+1)); fi
has "json method" "$tmp/a/input-1.rise.json" '"method":	"rise"'
has "json samples" "$tmp/a/input-1.rise.json" '"samples":	40'
has "json target" "$tmp/a/input-1.rise.json" '"target":'
has "json score" "$tmp/a/input-1.rise.json" '"score":'
has "json time" "$tmp/a/input-1.rise.json" '"time_ms":'
has "npy shape" "$tmp/a/input-0.gradient.npy" "'shape': (16, 16)"
# The panel holds the image and three overlays of 16 px with 4 px gaps: 76 px wide.
w=$(od -An -tu1 -j16 -N4 "$tmp/a/input-0.panel.png" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
if [ "$w" = 76 ]; then pass=$((pass+1)); else echo "FAIL panel width $w, want 76" >&2; fail=$((fail+1)); fi

# Same seed, same maps; another seed, another RISE map.
check "rise again" 0 "input-0" -- "$bin" explain --model "$model" --input $fix/input.npy \
  --method rise --set samples=40 --set grid=4 --out "$tmp/b" --threads 1 --batch 2 --colormap viridis
if cmp -s "$tmp/a/input-2.rise.npy" "$tmp/b/input-2.rise.npy"; then pass=$((pass+1)); else echo "FAIL rise not deterministic" >&2; fail=$((fail+1)); fi
check "rise seed 5" 0 "input-0" -- "$bin" explain --model "$model" --input $fix/input.npy \
  --method rise --set samples=40 --set grid=4 --set seed=5 --out "$tmp/c" --threads 1
if cmp -s "$tmp/a/input-2.rise.npy" "$tmp/c/input-2.rise.npy"; then echo "FAIL rise seed ignored" >&2; fail=$((fail+1)); else pass=$((pass+1)); fi

# A directory with a corrupt file: reported by name, the others explained, exit 1 at the end.
mkdir -p "$tmp/imgs"
cp tests/fixtures/image/codec/pal8.png "$tmp/imgs/a.png"
printf 'not an image at all' > "$tmp/imgs/b.png"
cp tests/fixtures/image/codec/rgba16.png "$tmp/imgs/c.png"
check "corrupt image" 1 "b.png" -- "$bin" explain --model "$model" --image "$tmp/imgs" --method gradient,occlusion \
  --out "$tmp/d" --threads 1 --alpha 0.3
exists "good images explained" "$tmp/d/a.gradient.png" "$tmp/d/c.occlusion.npy" "$tmp/d/c.gradient.json"
if [ -e "$tmp/d/b.gradient.png" ]; then echo "FAIL corrupt image has outputs" >&2; fail=$((fail+1)); else pass=$((pass+1)); fi
check "single image" 0 "a.png" -- "$bin" explain --model "$model" --image "$tmp/imgs/a.png" --method smoothgrad \
  --set samples=4 --out "$tmp/e" --threads 1 --target 2
has "target index" "$tmp/e/a.smoothgrad.json" '"target":	2'

# Errors.
check "unknown method" 2 "gradient, grad_input, smoothgrad, integrated_gradients, gradcam, occlusion, rise" -- \
  "$bin" explain --model "$model" --input $fix/input.npy --method gradcamm --out "$tmp/f"
check "unknown parameter" 2 "parameters: seed, max_memory, samples, sigma" -- \
  "$bin" explain --model "$model" --input $fix/input.npy --method smoothgrad --set steps=3 --out "$tmp/f"
check "bad parameter value" 2 "must be zero or blur" -- \
  "$bin" explain --model "$model" --input $fix/input.npy --method integrated_gradients --set baseline=grey --out "$tmp/f"
check "unknown layer" 1 "$(cat $fix/layer.txt)" -- \
  "$bin" explain --model "$model" --input $fix/input.npy --method gradcam --set layer=nope --out "$tmp/f" --threads 1
check "target out of range" 1 "out of range" -- \
  "$bin" explain --model "$model" --input $fix/input.npy --method gradient --target 9 --out "$tmp/f"
printf 'cat\ndog\nfox\nowl\neel\n' > "$tmp/classes.txt"
check "unknown class" 1 "cat, dog, fox, owl, eel" -- \
  "$bin" explain --model "$model" --input $fix/input.npy --method gradient --target wolf --classes "$tmp/classes.txt" --out "$tmp/f"
check "class name" 0 "input-0" -- \
  "$bin" explain --model "$model" --input $fix/input.npy --method gradient --target fox --classes "$tmp/classes.txt" --out "$tmp/g" --threads 1
has "target name" "$tmp/g/input-0.gradient.json" '"target_name":	"fox"'
check "missing --out" 2 "required" -- "$bin" explain --model "$model" --input $fix/input.npy --method gradient
check "both inputs" 2 "one of --image / --input" -- "$bin" explain --model "$model" --input $fix/input.npy --image x --method gradient --out "$tmp/f"
check "bad colormap" 2 "jet, viridis, inferno, gray" -- "$bin" explain --model "$model" --input $fix/input.npy --method gradient --colormap hot --out "$tmp/f"
check "method help" 0 "sigma        noise std as a fraction of the image's max - min (default 0.15)" -- \
  "$bin" explain --method smoothgrad --help
check "help lists methods" 0 "integrated_gradients" -- "$bin" explain --help

echo "cli_explain: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
