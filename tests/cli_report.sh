#!/usr/bin/env bash
# salient report and the report of salient eval: help and usage errors; a small evaluation of the
# shipped shapes model (insdel included) writes report.html, run.json, the gallery and the mean
# curves; `salient report DIR` rewrites the page; headless Chromium opens it with no console
# message (the page has no script, so any message is an error: a blocked outside resource, a bad
# image...) and its screenshot is not blank (decoded by test_report --nonblank). Controls show the
# two checks can fail. Without Chromium the test fails when CI=true and is skipped (exit 77)
# elsewhere; scripts/deps.sh installs it.
# Usage: tests/cli_report.sh path/to/salient
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/lib_cli.sh"
ok() { pass=$((pass+1)); }
bad() { echo "FAIL $1" >&2; fail=$((fail+1)); }
helper="$(dirname "$bin")/test_report"

check "report --help" 0 "usage: salient report DIR" -- "$bin" report --help
check "report no dir" 2 "the evaluation directory is required" -- "$bin" report
check "report unknown option" 2 "--bogus" -- "$bin" report "$tmp" --bogus
check "report missing summary" 1 "summary.json not found" -- "$bin" report "$tmp/nope"
check "eval --help gallery" 0 "(default 6, 0 = none)" -- "$bin" eval --help
check "eval bad gallery" 2 "--gallery must be" -- "$bin" eval --model simple_cnn --data x --methods gradient --out "$tmp/o" --gallery -1

# A small run of the shipped model: 4 synthetic images, two methods, ground-truth and causal metrics.
"$bin" synth shapes --out "$tmp/d" --size 64 --train 0 --val 0 --test 4 --quiet >/dev/null 2>&1 || { echo "FAIL synth"; exit 1; }
out="$tmp/run"
check "eval writes the report" 0 "report in $out/report.html" -- "$bin" eval --model tests/fixtures/demo/shapes.safetensors \
  --data "$tmp/d" --methods gradient,gradcam --metrics loc,pointing,overlap,sparsity,maxboxacc,pxap,insdel \
  --percentiles 90 --gallery 3 --threads 2 --out "$out"
exists "eval outputs" "$out/report.html" "$out/run.json" "$out/summary.json"
n_gallery=$(ls "$out/gallery" 2>/dev/null | wc -l)
[ "$n_gallery" -eq 9 ] && ok || bad "gallery: 3 items x (input + 2 methods) = 9 files expected, got $n_gallery"
[ -e "$out/gallery/3.input.png" ] && bad "gallery: item 3 rendered with --gallery 3" || ok
for field in '"model_sha256":' '"data_sha256":' '"onednn":' '"command":' '"items":' '"classes":'; do
  grep -qF -- "$field" "$out/run.json" && ok || bad "run.json lacks $field"
done
want=$(sha256sum tests/fixtures/demo/shapes.safetensors | cut -d' ' -f1)
grep -qF "\"model_sha256\":	\"$want\"" "$out/run.json" && ok || bad "run.json: model_sha256 is not sha256sum's $want"
grep -qF '"curves":' "$out/summary.json" && ok || bad "summary.json has no mean curves"
for needle in "Insertion and deletion curves" "gradcam (AUC" "data:image/png;base64," "$want" "--sanity N" "class=\"n best\""; do
  grep -qF -- "$needle" "$out/report.html" && ok || bad "report.html lacks '$needle'"
done
rm "$out/report.html"
check "report regenerates" 0 "report: $out/report.html" -- "$bin" report "$out"
exists "report regenerated" "$out/report.html"

# Chromium: the page opened headless, its console and a screenshot.
chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chrome" ]; then
  if [ "${CI:-}" = "true" ]; then
    bad "chromium is not installed (scripts/deps.sh installs it)"
    echo "cli_report: $pass passed, $fail failed"
    exit 1
  fi
  echo "cli_report: chromium not installed: skipping the browser checks ($pass passed, $fail failed)"
  [ "$fail" -eq 0 ] && exit 77 || exit 1
fi
[ -x "$helper" ] || { bad "no $helper (build test_report)"; echo "cli_report: $pass passed, $fail failed"; exit 1; }
# open FILE.html SHOT.png LOG: the page in headless Chromium, its log (console messages) in LOG.
open_page() {
  timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$tmp/profile" \
    --screenshot="$2" --window-size=1280,2400 --enable-logging=stderr --v=0 "file://$(realpath "$1")" >"$3" 2>&1
}
open_page "$out/report.html" "$tmp/shot.png" "$tmp/console.log"
[ -s "$tmp/shot.png" ] && ok || bad "chromium wrote no screenshot: $(tail -5 "$tmp/console.log")"
if grep -q ":CONSOLE" "$tmp/console.log"; then bad "console messages: $(grep ':CONSOLE' "$tmp/console.log")"; else ok; fi
check "screenshot not blank" 0 "not background" -- "$helper" --nonblank "$tmp/shot.png"
# Controls: a page loading an outside image logs a console error; a page without content is blank.
printf '<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src %s"><title>c</title></head><body><img src="x.png"></body></html>\n' "'none'" > "$tmp/control.html"
open_page "$tmp/control.html" "$tmp/control.png" "$tmp/control.log"
grep -q ":CONSOLE" "$tmp/control.log" && ok || bad "control: a blocked image should log a console error"
check "control page is blank" 1 "not background" -- "$helper" --nonblank "$tmp/control.png"
cp "$tmp/shot.png" "${REPORT_SHOT:-/dev/null}" 2>/dev/null || true

echo "cli_report: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
