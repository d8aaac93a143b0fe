#!/usr/bin/env bash
# CLI skeleton: --version, --help on every command, unknown commands and options are errors.
# Usage: tests/cli_basic.sh path/to/salient
set -u
bin="$1"
source "$(dirname "$0")/lib_cli.sh"
check "version" 0 "salient 0." -- "$bin" --version
check "help" 0 "commands:" -- "$bin" --help
check "no args" 2 "usage: salient" -- "$bin"
check "unknown command" 2 "unknown command 'frob'" -- "$bin" frob
for c in demo engine version; do
  check "$c --help" 0 "usage: salient $c" -- "$bin" "$c" --help
done
check "bad int" 2 "needs an integer" -- "$bin" engine --batch x
check "bad arch" 1 "resnet18" -- "$bin" engine --arch nope
check "engine runs" 0 "engine: resnet_small batch 2" -- "$bin" engine --batch 2 --reps 1
check "unknown option" 2 "unknown option '--bogus'" -- "$bin" engine --bogus
check "flag with value" 2 "takes no value" -- "$bin" engine --quiet=3
echo "cli_basic: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
