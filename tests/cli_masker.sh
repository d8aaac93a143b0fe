#!/usr/bin/env bash
# salient train-masker and method masker: trains a masker for one short epoch on a few hundred
# synthetic shapes with the shipped demo classifier, exports classifier+masker as ONNX (checked with
# onnx.checker when /usr/bin/python3 has onnx), explains with --masker and with the re-imported ONNX
# model (same maps), runs eval with --masker, and checks the usage and mismatch errors.
# Usage: tests/cli_masker.sh path/to/salient
set -u
bin="$1"
source "$(dirname "$0")/lib_cli.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fix="$(dirname "$0")/fixtures/demo"
model="$fix/shapes.safetensors"
check "synth" 0 "synth: shapes" -- "$bin" synth shapes --out "$tmp/shapes" --train 256 --val 4 --test 8 --quiet
check "help" 0 "usage: salient train-masker" -- "$bin" train-masker --help
check "missing --model" 2 "--model, --data and --out are required" -- "$bin" train-masker --data "$tmp/shapes" --out "$tmp/m.safetensors"
check "bad mode" 2 "is not fix or ca" -- "$bin" train-masker --model "$model" --data "$tmp/shapes" --out "$tmp/m.safetensors" --mode x
check "ca needs a checkpoint" 2 "needs a salient .safetensors" -- "$bin" train-masker --model "$tmp/x.onnx" --data "$tmp/shapes" --out "$tmp/m.safetensors" --mode ca
check "bad layers" 1 "is not a 4-D activation" -- "$bin" train-masker --model "$model" --data "$tmp/shapes" --out "$tmp/m.safetensors" --layers nope,block4 --quiet
check "train" 0 "wrote $tmp/m.onnx (outputs logits, mask)" -- "$bin" train-masker --model "$model" --data "$tmp/shapes" \
  --out "$tmp/m.safetensors" --epochs 1 --batch 32 --onnx "$tmp/m.onnx" --quiet
exists "masker files" "$tmp/m.safetensors" "$tmp/m.onnx"
if /usr/bin/python3 -c 'import onnx, numpy' 2>/dev/null; then
  check "onnx.checker" 0 "ok" -- /usr/bin/python3 -c "import onnx; m = onnx.load('$tmp/m.onnx'); onnx.checker.check_model(m); \
print('ok', [o.name for o in m.graph.output])"
  /usr/bin/python3 -c "import numpy as np; np.save('$tmp/x.npy', np.random.RandomState(0).randn(3, 3, 64, 64).astype(np.float32))"
  check "explain --masker" 0 "" -- "$bin" explain --model "$model" --masker "$tmp/m.safetensors" --method masker,gradient \
    --input "$tmp/x.npy" --out "$tmp/a" --quiet
  check "explain onnx" 0 "" -- "$bin" explain --model "$tmp/m.onnx" --method masker --input "$tmp/x.npy" --out "$tmp/b" --quiet
  exists "maps" "$tmp/a/x-0.masker.npy" "$tmp/a/x-2.masker.png" "$tmp/a/x-1.masker.json" "$tmp/b/x-2.masker.npy"
  check "onnx reproduces the mask" 0 "same" -- /usr/bin/python3 -c "
import numpy as np
d = max(float(abs(np.load('$tmp/a/x-%d.masker.npy' % i) - np.load('$tmp/b/x-%d.masker.npy' % i)).max()) for i in range(3))
m = np.load('$tmp/a/x-0.masker.npy')
assert m.shape == (64, 64) and m.min() >= 0 and m.max() <= 1, (m.shape, m.min(), m.max())
print('same' if d < 1e-5 else 'differ by %g' % d)"
fi
check "explain image dir" 0 "masker (class" -- "$bin" explain --model "$model" --masker "$tmp/m.safetensors" --method masker \
  --image "$tmp/shapes/images/test" --out "$tmp/c" --target 3
check "eval --masker" 0 "" -- "$bin" eval --model "$model" --masker "$tmp/m.safetensors" --data "$tmp/shapes" \
  --methods masker --metrics loc,pointing --limit 4 --out "$tmp/e" --quiet
check "eval results" 0 "\"method\":\"masker\"" -- cat "$tmp/e/results.jsonl"
check "missing --masker" 1 "method masker needs --masker FILE" -- "$bin" explain --model "$model" --method masker \
  --image "$tmp/shapes/images/test" --out "$tmp/d"
check "eval missing --masker" 1 "method masker needs --masker FILE" -- "$bin" eval --model "$model" --methods masker \
  --data "$tmp/shapes" --out "$tmp/e2"
check "--masker without the method" 1 "--masker applies to method masker" -- "$bin" explain --model "$model" \
  --masker "$tmp/m.safetensors" --method gradient --image "$tmp/shapes/images/test" --out "$tmp/d"
check "masker of another classifier" 1 "was trained for another classifier" -- "$bin" explain \
  --model "$fix/lesions.safetensors" --masker "$tmp/m.safetensors" --method masker --image "$tmp/shapes/images/test" --out "$tmp/d"
check "not a masker" 1 "not a masker checkpoint" -- "$bin" explain --model "$model" --masker "$model" --method masker \
  --image "$tmp/shapes/images/test" --out "$tmp/d"
echo "cli_masker: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
