# Shared helpers of the CLI tests (tests/cli_*.sh source this file; its name keeps it out of the cli_*.sh test glob).
# check "label" expected_exit "needle" -- command...: runs the command, which must exit with
# expected_exit and print needle (stdout or stderr); counts into $pass / $fail.
fail=0; pass=0
check() {
  local label="$1" want="$2" needle="$3"; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qF -- "$needle" <<<"$out"; then
    echo "FAIL $label: exit $rc (want $want, needle '$needle'), output: $out" >&2; fail=$((fail+1))
  else pass=$((pass+1)); fi
}
# exists "label" file...: every file exists and is not empty.
exists() {
  local label="$1"; shift
  for f in "$@"; do
    if [ ! -s "$f" ]; then echo "FAIL $label: $f missing or empty" >&2; fail=$((fail+1)); return; fi
  done
  pass=$((pass+1))
}
