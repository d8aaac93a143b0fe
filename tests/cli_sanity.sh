#!/usr/bin/env bash
# salient eval --sanity: the cascading randomisation sanity check after an evaluation — sanity.json
# parses and has the agreed fields (stages from "none" down to the first layer, three arrays of
# per-stage means, stage 0 exactly 1, the map PNGs relative to the output directory and present),
# --sanity-stages subsamples the stages, and out-of-range values are usage errors.
# Usage: tests/cli_sanity.sh path/to/salient
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/lib_cli.sh"

check "eval help lists --sanity" 0 "--sanity" -- "$bin" eval --help
check "eval --sanity negative" 2 "--sanity must be in 0..4096" -- "$bin" eval --model simple_cnn --data x --methods gradient --out "$tmp/o" --sanity -1
check "eval --sanity-stages negative" 2 "--sanity-stages >= 0" -- "$bin" eval --model simple_cnn --data x --methods gradient --out "$tmp/o" --sanity 1 --sanity-stages -2

"$bin" synth shapes --out "$tmp/d" --size 32 --train 0 --val 0 --test 4 --quiet >/dev/null 2>&1 || { echo "FAIL synth"; exit 1; }
run=(--model simple_cnn --size 32 --threads 2 --data "$tmp/d" --methods gradient,grad_input --metrics sparsity)
out=$("$bin" eval "${run[@]}" --out "$tmp/s" --sanity 3 2>&1); rc=$?
for needle in "sanity checks of 2 methods" "gradient               sanity: all 5 layers randomised: spearman " \
    "grad_input             sanity: all 5 layers randomised"; do
  if [ "$rc" -eq 0 ] && grep -qF -- "$needle" <<<"$out"; then pass=$((pass+1)); else
    echo "FAIL eval --sanity: exit $rc, no '$needle' in: $out" >&2; fail=$((fail+1)); fi
done
"$bin" eval "${run[@]}" --out "$tmp/q" --sanity 2 --sanity-stages 2 --quiet >/dev/null 2>&1 || { echo "FAIL eval --sanity-stages" >&2; fail=$((fail+1)); }
check "sanity.json (all stages)" 0 "sanity.json ok" -- /usr/bin/python3 - "$tmp/s" 3 6 <<'PY'
import json, os, sys
d, n, stages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
j = json.load(open(os.path.join(d, "sanity.json")))
assert set(j) == {"images", "methods"}, j.keys()
assert j["images"] == n, j["images"]
assert list(j["methods"]) == ["gradient", "grad_input"], list(j["methods"])
for name, m in j["methods"].items():
    assert set(m) == {"stages", "spearman", "spearman_abs", "ssim", "maps"}, m.keys()
    assert len(m["stages"]) == stages and m["stages"][0] == "none", m["stages"]
    if stages == 6:
        assert m["stages"] == ["none", "fc", "block4.conv", "block3.conv", "block2.conv", "block1.conv"], m["stages"]
    for k in ("spearman", "spearman_abs", "ssim"):
        v = m[k]
        assert len(v) == stages, (k, v)
        assert v[0] == 1, (name, k, v)
        assert all(x is None or -1 <= x <= 1 for x in v), (k, v)
    assert m["maps"] == ["sanity/%s/%d.png" % (name, s) for s in range(stages)], m["maps"]
    for p in m["maps"]:
        with open(os.path.join(d, p), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", p
print("sanity.json ok")
PY
check "sanity.json (--sanity-stages 2)" 0 "sanity.json ok" -- /usr/bin/python3 - "$tmp/q" 2 3 <<'PY'
import json, os, sys
d, n, stages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
j = json.load(open(os.path.join(d, "sanity.json")))
assert j["images"] == n
for name, m in j["methods"].items():
    assert m["stages"] == ["none", "block3.conv", "block1.conv"], m["stages"]
    assert all(len(m[k]) == stages for k in ("spearman", "spearman_abs", "ssim", "maps"))
    assert all(os.path.exists(os.path.join(d, p)) for p in m["maps"])
print("sanity.json ok")
PY
! ls "$tmp/s" | grep -q tmp && pass=$((pass+1)) || { echo "FAIL a temporary file was left" >&2; fail=$((fail+1)); }
# without --sanity nothing is written
"$bin" eval "${run[@]}" --out "$tmp/n" --quiet >/dev/null 2>&1
[ ! -e "$tmp/n/sanity.json" ] && [ ! -e "$tmp/n/sanity" ] && pass=$((pass+1)) || { echo "FAIL sanity files without --sanity" >&2; fail=$((fail+1)); }
echo "cli_sanity: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
