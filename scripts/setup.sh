#!/usr/bin/env bash
# Sets up everything ovsub and its tests need on a fresh machine: a virtualenv in .venv with ovsub
# and its extras, and the few system packages the tests use. Safe to run again (it only adds).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  for pkg in chromium fonts-noto-core fonts-noto-cjk tesseract-ocr; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "setup: apt-get install ${need[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# This machine's pip configuration names local indexes that may be absent; their warnings are noise.
quiet_pip() { .venv/bin/python -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
quiet_pip install -q --upgrade pip
quiet_pip install -q -e '.[dev,web,download,bench,cluster]'
echo "setup: ready (.venv)" >&2
