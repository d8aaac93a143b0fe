#!/usr/bin/env bash
# `salient synth`: writes a dataset per family with the documented layout, the same seed gives the
# same bytes, bad input is a clear error with exit code 2 (usage) or 1 (failure).
# Usage: tests/cli_synth.sh path/to/salient
set -u
bin="$1"
tmp=$(mktemp -d /tmp/sal_cli_synth.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/lib_cli.sh"
ok() { # ok "label" command...: the command must succeed
  local label="$1"; shift
  if "$@"; then pass=$((pass+1)); else echo "FAIL $label" >&2; fail=$((fail+1)); fi
}
small="--train 12 --val 4 --test 4 --quiet"
check "help" 0 "usage: salient synth FAMILY" -- "$bin" synth --help
check "listed" 0 "synth" -- "$bin" --help
for fam in shapes lesions pairs; do
  check "$fam runs" 0 "synth: $fam, seed 3, 64x64, 12 train / 4 val / 4 test" -- "$bin" synth $fam --out "$tmp/$fam" --seed 3 $small --preview
  for f in train.csv val.csv test.csv classes.txt synth.json preview.png images/train/000000.png images/test/000003.png; do
    ok "$fam has $f" test -s "$tmp/$fam/$f"
  done
  ok "$fam header" grep -qx "path,label,boxes,masks" "$tmp/$fam/train.csv"
  ok "$fam train rows" test "$(wc -l <"$tmp/$fam/train.csv")" -eq 13
  ok "$fam no temporaries" test -z "$(find "$tmp/$fam" -name '*.tmp.*')"
  check "$fam same seed" 0 "synth: $fam" -- "$bin" synth $fam --out "$tmp/${fam}_again" --seed 3 $small --preview --threads 1
  ok "$fam identical" diff -r "$tmp/$fam" "$tmp/${fam}_again"
  check "$fam other seed" 0 "synth: $fam" -- "$bin" synth $fam --out "$tmp/${fam}_other" --seed 4 $small
  ok "$fam differs" bash -c "! cmp -s '$tmp/$fam/images/train/000000.png' '$tmp/${fam}_other/images/train/000000.png'"
done
ok "classes" test "$(wc -l <"$tmp/shapes/classes.txt")" -eq 10
ok "lesion classes" test "$(wc -l <"$tmp/lesions/classes.txt")" -eq 5
ok "pairs row" grep -qE '^images/train/000000.png,[0-9];[0-9],[0-9]+ [0-9]+ [0-9]+ [0-9]+;[0-9]+ [0-9]+ [0-9]+ [0-9]+,masks/train/000000_0.png;masks/train/000000_1.png$' "$tmp/pairs/train.csv"
ok "json" grep -q '"family": "lesions"' "$tmp/lesions/synth.json"
check "size 256" 0 "256x256" -- "$bin" synth shapes --out "$tmp/big" --size 256 --train 2 --val 0 --test 0 --quiet
# bad input
check "no family" 2 "missing FAMILY" -- "$bin" synth --out "$tmp/x"
check "unknown family" 2 "unknown synthetic family 'blobs'" -- "$bin" synth blobs --out "$tmp/x"
check "no out" 2 "--out DIR is required" -- "$bin" synth shapes
check "size too small" 2 "--size 16 is outside 32..512" -- "$bin" synth shapes --out "$tmp/x" --size 16
check "size too large" 2 "--size 1024 is outside 32..512" -- "$bin" synth shapes --out "$tmp/x" --size 1024
check "negative count" 2 "--train -5 is outside" -- "$bin" synth shapes --out "$tmp/x" --train -5
check "negative seed" 2 "--seed must be >= 0" -- "$bin" synth shapes --out "$tmp/x" --seed -1
check "bad int" 2 "needs an integer" -- "$bin" synth shapes --out "$tmp/x" --size big
check "unknown option" 2 "unknown option '--bogus'" -- "$bin" synth shapes --out "$tmp/x" --bogus
check "nothing to do" 1 "no images requested" -- "$bin" synth shapes --out "$tmp/x" --train 0 --val 0 --test 0
check "non-empty" 1 "is not empty (use --force" -- "$bin" synth shapes --out "$tmp/shapes" $small
check "force" 0 "synth: shapes" -- "$bin" synth shapes --out "$tmp/shapes" --seed 3 $small --preview --force
ok "force identical" diff -r "$tmp/shapes" "$tmp/shapes_again"
touch "$tmp/afile"
check "unwritable" 1 "cannot create directory $tmp/afile/sub" -- "$bin" synth shapes --out "$tmp/afile/sub" $small
echo "cli_synth: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
