#!/usr/bin/env bash
# salient eval: help with defaults, usage errors, an evaluation of a random simple_cnn on a small
# synthetic shapes set (files, JSON fields, the summary recomputed independently), interrupted
# runs resumed (after --limit, after a torn last line, after a kill) giving the uninterrupted run's
# summary (mean insertion/deletion curves included) byte for byte and the same gallery, and a
# manifest with bad rows (reported by name, the others evaluated, exit 1).
# Usage: tests/cli_eval.sh path/to/salient
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/lib_cli.sh"
ok() { pass=$((pass+1)); }
bad() { echo "FAIL $1" >&2; fail=$((fail+1)); }

check "eval --help" 0 "usage: salient eval" -- "$bin" eval --help
check "eval help defaults" 0 "(default 80,90,95,99)" -- "$bin" eval --help
check "eval help lists methods" 0 "gradcam" -- "$bin" eval --help
check "eval missing options" 2 "--model, --data, --methods and --out are required" -- "$bin" eval --model simple_cnn
check "eval unknown option" 2 "--bogus" -- "$bin" eval --model simple_cnn --data x --methods gradient --out "$tmp/o" --bogus
check "eval bad metric" 2 "unknown metric 'nope'" -- "$bin" eval --model simple_cnn --data x --methods gradient --out "$tmp/o" --metrics loc,nope
check "eval bad method" 2 "nope" -- "$bin" eval --model simple_cnn --data x --methods gradient,nope --out "$tmp/o"
check "eval bad percentiles" 2 "--percentiles" -- "$bin" eval --model simple_cnn --data x --methods gradient --out "$tmp/o" --percentiles 80,120
check "eval bad set" 2 "has no parameter 'steps'" -- "$bin" eval --model simple_cnn --data x --methods gradient --out "$tmp/o" --set steps=3
check "eval missing data" 1 "nope" -- "$bin" eval --model simple_cnn --data "$tmp/nope.csv" --methods gradient --out "$tmp/o" --quiet

"$bin" synth shapes --out "$tmp/d" --size 32 --train 0 --val 0 --test 12 --quiet >/dev/null 2>&1 || { echo "FAIL synth"; exit 1; }
run=(--model simple_cnn --size 32 --threads 2 --data "$tmp/d" --methods gradient,gradcam --percentiles 80,95 --tolerance 3)
check "eval runs" 0 "summary in" -- "$bin" eval "${run[@]}" --out "$tmp/full"
for f in results.jsonl summary.json summary.csv settings.json run.json report.html gallery/0.input.png gallery/5.gradcam.png; do
  [ -s "$tmp/full/$f" ] && ok || bad "eval: $f missing"
done
[ -e "$tmp/full/gallery/6.input.png" ] && bad "eval: --gallery 6 rendered item 6" || ok
[ "$(wc -l < "$tmp/full/results.jsonl")" -eq 24 ] && ok || bad "eval: results.jsonl should have 12 x 2 lines"
for field in '"item":11' '"method":"gradcam"' '"label":' '"top1":' '"score":' '"time_ms":' '"loc_iou":' '"om":' \
    '"pointing":' '"dice_p95":' '"sens_p80":' '"f1":' '"gini":' '"entropy":' '"boxacc":["' '"pxap":{"pos":['; do
  grep -qF -- "$field" "$tmp/full/results.jsonl" && ok || bad "results.jsonl lacks $field"
done
for field in '"maxboxacc_v2"' '"pxap"' '"pointing_game"' '"ci95"' '"interval"'; do
  grep -qF -- "$field" "$tmp/full/summary.json" && ok || bad "summary.json lacks $field"
done
check "summary.csv header" 0 "method,metric,n,mean,sd,ci95_low,ci95_high" -- head -1 "$tmp/full/summary.csv"
check "summary.csv row" 0 "gradcam,maxboxacc_v2,12," -- cat "$tmp/full/summary.csv"
if grep -q time_ "$tmp/full/summary.json"; then bad "summary.json must not hold timings"; else ok; fi
# The summary recomputed from results.jsonl by an independent reader.
if /usr/bin/python3 -c 'import json' 2>/dev/null; then
  check "summary recomputed" 0 "agree" -- /usr/bin/python3 -c "
import json, math, sys
lines = [json.loads(l) for l in open('$tmp/full/results.jsonl')]
summ = json.load(open('$tmp/full/summary.json'))
for meth in ('gradient', 'gradcam'):
    for key in ('loc_iou', 'dice_p80', 'gini', 'pointing'):
        v = [l['metrics'][key] for l in lines if l['method'] == meth]
        n = len(v); m = sum(v) / n
        s = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1))
        e = summ['methods'][meth]['metrics'][key]
        assert e['n'] == n and abs(e['mean'] - m) < 1e-12, (meth, key, e, m)
        assert abs(e['ci95'][0] - (m - 1.96 * s / math.sqrt(n))) < 1e-12
    # PxAP from the summed per-image bins (Choe et al.)
    pos = [0] * 100; neg = [0] * 100
    for l in lines:
        if l['method'] == meth:
            pos = [a + b for a, b in zip(pos, l['pxap']['pos'])]; neg = [a + b for a, b in zip(neg, l['pxap']['neg'])]
    tp = [sum(pos[k:]) for k in range(100)] + [0]; fp = [sum(neg[k:]) for k in range(100)]
    ap = sum((tp[k] / (tp[k] + fp[k]) if tp[k] + fp[k] else 1.0) * (tp[k] - tp[k + 1]) / tp[0] for k in range(100))
    assert abs(summ['methods'][meth]['dataset']['pxap'] - ap) < 1e-9, (ap, summ['methods'][meth]['dataset'])
print('agree')"
fi

# Interrupted, then resumed: the same summary. (--limit stops part-way; batch sizes differ.)
check "eval limit" 0 "summary in" -- "$bin" eval "${run[@]}" --out "$tmp/part" --limit 5 --batch 3
[ "$(wc -l < "$tmp/part/results.jsonl")" -eq 10 ] && ok || bad "eval --limit 5: 10 lines expected"
check "eval exists" 1 "add --resume" -- "$bin" eval "${run[@]}" --out "$tmp/part"
check "eval other settings" 1 "other settings" -- "$bin" eval "${run[@]}" --out "$tmp/part" --resume --tolerance 4
check "eval resume" 0 "resuming" -- "$bin" eval "${run[@]}" --out "$tmp/part" --resume
cmp -s "$tmp/full/summary.json" "$tmp/part/summary.json" && ok || bad "resumed summary.json differs from the uninterrupted one"
cmp -s "$tmp/full/summary.csv" "$tmp/part/summary.csv" && ok || bad "resumed summary.csv differs from the uninterrupted one"
[ "$(wc -l < "$tmp/part/results.jsonl")" -eq 24 ] && ok || bad "resumed results.jsonl should have 24 lines"
check "eval resume done" 0 "summary in" -- "$bin" eval "${run[@]}" --out "$tmp/part" --resume
[ "$(wc -l < "$tmp/part/results.jsonl")" -eq 24 ] && ok || bad "a finished run resumed adds nothing"
# A kill mid-write leaves a torn last line: it is cut off and the item redone.
mkdir "$tmp/torn"
cp "$tmp/full/settings.json" "$tmp/torn/"
head -c "$(( $(head -n 7 "$tmp/full/results.jsonl" | wc -c) + 300 ))" "$tmp/full/results.jsonl" > "$tmp/torn/results.jsonl"
check "eval torn resume" 0 "torn last line removed" -- "$bin" eval "${run[@]}" --out "$tmp/torn" --resume
cmp -s "$tmp/full/summary.json" "$tmp/torn/summary.json" && ok || bad "summary after a torn line differs"
# A real kill part-way (when the run is still going after a moment), then resume.
"$bin" eval "${run[@]}" --out "$tmp/kill" --batch 1 --quiet & pid=$!
sleep 0.3; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
check "eval killed resume" 0 "summary in" -- "$bin" eval "${run[@]}" --out "$tmp/kill" --resume
cmp -s "$tmp/full/summary.json" "$tmp/kill/summary.json" && ok || bad "summary after a kill differs"
# The gallery is written before each line: after the kill and resume every image is there, the
# same as an uninterrupted run's.
for f in 0.input 0.gradient 3.gradcam 5.input 5.gradient 5.gradcam; do
  cmp -s "$tmp/full/gallery/$f.png" "$tmp/kill/gallery/$f.png" && ok || bad "gallery/$f.png after a kill differs or is missing"
done
[ -s "$tmp/kill/report.html" ] && ok || bad "no report after a resumed run"

# A subset of the metrics; ground truth without boxes and masks: those metrics are null, n = 0.
check "eval metrics subset" 0 "summary in" -- "$bin" eval "${run[@]}" --metrics loc,sparsity --limit 2 --out "$tmp/sub"
grep -qF '"loc_iou":' "$tmp/sub/results.jsonl" && ! grep -qE '"(f1|dice_p80|om|boxacc|pxap)"' "$tmp/sub/results.jsonl" \
  && ok || bad "--metrics loc,sparsity: other metrics written"
cut -d, -f1,2 "$tmp/d/test.csv" > "$tmp/d/plain.csv"
check "eval no ground truth" 0 "summary in" -- "$bin" eval "${run[@]}" --data "$tmp/d/plain.csv" --limit 3 --out "$tmp/plain"
grep -qF '"loc":null' "$tmp/plain/results.jsonl" && grep -qF '"f1":null' "$tmp/plain/results.jsonl" && ok || bad "no ground truth: nulls expected"
check "no ground truth summary" 0 "gradient,loc,0,,,," -- cat "$tmp/plain/summary.csv"
check "no ground truth sparsity" 0 "gradient,gini,3," -- cat "$tmp/plain/summary.csv"
if grep -q pxap "$tmp/plain/summary.csv"; then bad "no ground truth: no PxAP expected"; else ok; fi

# The model-based metrics, on request.
check "eval insdel" 0 "summary in" -- "$bin" eval "${run[@]}" --methods gradcam --metrics insdel,saliency --limit 2 --out "$tmp/causal"
for field in '"insertion":' '"deletion":' '"saliency_metric":'; do
  grep -qF -- "$field" "$tmp/causal/results.jsonl" && ok || bad "--metrics insdel,saliency: no $field"
done
check "insdel summary" 0 "gradcam,deletion,2," -- cat "$tmp/causal/summary.csv"
# Each line keeps its curves (H + 1 = 33 points at the default step W); summary.json their means,
# and a resumed run's mean curves are the uninterrupted run's to the byte.
grep -qF '"curves":{"insertion":[' "$tmp/causal/results.jsonl" && ok || bad "insdel: no curves in results.jsonl"
grep -qF '"curves":' "$tmp/causal/summary.json" && ok || bad "insdel: no mean curves in summary.json"
if /usr/bin/python3 -c 'import json' 2>/dev/null; then
  check "mean curves" 0 "curves agree" -- /usr/bin/python3 -c "
import json
lines = [json.loads(l) for l in open('$tmp/causal/results.jsonl')]
c = json.load(open('$tmp/causal/summary.json'))['methods']['gradcam']['curves']
assert c['images'] == 2 and len(c['insertion']) == 33, c
for k in ('insertion', 'deletion'):
    mean = [sum(l['curves'][k][i] for l in lines) / 2 for i in range(33)]
    assert max(abs(a - b) for a, b in zip(mean, c[k])) < 1e-12, k
    # the trapezoid area of the mean curve is the mean AUC
    auc = (sum(mean) - mean[0] / 2 - mean[-1] / 2) / 32
    assert abs(auc - sum(l['metrics'][k] for l in lines) / 2) < 1e-6, (k, auc)
print('curves agree')"
fi
check "insdel part" 0 "summary in" -- "$bin" eval "${run[@]}" --methods gradcam --metrics insdel,saliency --limit 1 --out "$tmp/causal2"
check "insdel resume" 0 "resuming" -- "$bin" eval "${run[@]}" --methods gradcam --metrics insdel,saliency --limit 2 --out "$tmp/causal2" --resume
cmp -s "$tmp/causal/summary.json" "$tmp/causal2/summary.json" && ok || bad "resumed mean curves differ from the uninterrupted run's"

# A checkpoint of salient train: its own preprocessing and class names.
"$bin" synth shapes --out "$tmp/t" --size 32 --train 24 --val 12 --test 6 --quiet >/dev/null 2>&1 || bad "synth for training"
"$bin" train --data "$tmp/t" --out "$tmp/m.safetensors" --width 4 --image-size 32 --batch 12 --epochs 1 --warmup 0 \
  --threads 2 --quiet >/dev/null 2>&1 || bad "train"
check "eval checkpoint" 0 "summary in" -- "$bin" eval --model "$tmp/m.safetensors" --threads 2 --data "$tmp/t" \
  --methods gradcam --metrics loc,pxap --out "$tmp/ckpt"
check "eval checkpoint lines" 0 '"item":5' -- cat "$tmp/ckpt/results.jsonl"

# Class names: the model's must be the dataset's, in order.
check "eval class names" 0 "summary in" -- "$bin" eval "${run[@]}" --classes "$tmp/d/classes.txt" --limit 2 --out "$tmp/cls"
tac "$tmp/d/classes.txt" > "$tmp/rev.txt"
check "eval class order" 1 "class 0 is 'circle'" -- "$bin" eval "${run[@]}" --classes "$tmp/rev.txt" --limit 2 --out "$tmp/rev"

# Bad rows: a missing image, a malformed row, a box outside the image, a row with too few fields.
{ cat "$tmp/d/test.csv"
  echo "images/test/nope.png,1,1 1 5 5"
  echo "images/test/000002.png,2,1 2 3"
  echo "images/test/000003.png,3,0 0 40 40"
  echo "images/test/000004.png"; } > "$tmp/d/bad.csv"
out=$("$bin" eval "${run[@]}" --data "$tmp/d/bad.csv" --out "$tmp/bad" --quiet 2>&1); rc=$?
[ "$rc" -eq 1 ] && ok || bad "bad rows: exit $rc, want 1"
for needle in "nope.png" "bad.csv:15: box '1 2 3'" "lies outside the 32x32 image" "bad.csv:17:" "4 rows could not be evaluated"; do
  grep -qF -- "$needle" <<<"$out" && ok || bad "bad rows: no '$needle' in: $out"
done
[ "$(wc -l < "$tmp/bad/results.jsonl")" -eq 24 ] && ok || bad "bad rows: the 12 good rows should be evaluated"
[ -s "$tmp/bad/summary.json" ] && ok || bad "bad rows: summary missing"
ls -a "$tmp/d" | grep -q salient-eval && bad "a file was left beside the manifest" || ok

echo "cli_eval: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
