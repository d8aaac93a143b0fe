#!/usr/bin/env bash
# Installs the Debian packages salient needs, idempotently: apt-get update runs only when a
# package is missing. Usage: scripts/deps.sh [--test | --torch | --torch-full]   (--test adds what the
# test suite needs besides the build: headless chromium for tests/cli_report.sh, which opens
# report.html, and python3 for the CLI tests' JSON checks; --torch adds PyTorch for the benchmark;
# --torch-full also torchvision and onnx, for tools/export_models.py and make test-torch)
set -euo pipefail
pkgs=(build-essential cmake pkg-config libdnnl-dev libprotobuf-c-dev protobuf-c-compiler
      libpng-dev libjpeg62-turbo-dev libcjson-dev)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(chromium python3)
elif [ "${1:-}" = "--torch" ]; then
  pkgs+=(python3-torch python3-numpy)
elif [ "${1:-}" = "--torch-full" ]; then
  pkgs+=(python3-torch python3-torchvision python3-onnx python3-numpy)
fi
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
