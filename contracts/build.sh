#!/usr/bin/env bash
# Compiles the contracts with the pinned npm solc (0.8.37, optimizer 200 runs,
# evmVersion cancun) and writes contracts/artifacts/<Name>.json.
# Usage: contracts/build.sh [outDir]
set -euo pipefail
cd "$(dirname "$0")"
source ./npm-deps.sh
node build.mjs "${1:-artifacts}"
