#!/usr/bin/env bash
# Fails (exit 1) when the committed artifacts differ from a fresh build of
# contracts/src. CI calls this; run contracts/build.sh and commit to fix.
set -euo pipefail
cd "$(dirname "$0")"
source ./npm-deps.sh
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp" "$tmp.log" "$tmp.diff"' EXIT
if ! node build.mjs "$tmp" >"$tmp.log" 2>&1; then
  cat "$tmp.log" >&2
  exit 1
fi
if diff -r artifacts "$tmp" >"$tmp.diff" 2>&1; then
  echo "contracts/artifacts are fresh"
else
  echo "contracts/artifacts are STALE: run contracts/build.sh and commit the result" >&2
  head -c 4000 "$tmp.diff" >&2
  echo >&2
  exit 1
fi
