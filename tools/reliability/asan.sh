#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer in its own scratch path (.build-asan).
#   tools/reliability/asan.sh [extra swift test args, e.g. --filter GGUFTests]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
mkdir -p .build-asan
if [[ ! -d .build-asan/checkouts && -d .build/checkouts ]]; then
  mkdir -p .build-asan && cp -a .build/checkouts .build/repositories .build-asan/ 2>/dev/null || true
fi
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1} \
  swift test --scratch-path .build-asan --sanitize=address "$@" 2>&1 | tee .build-asan/asan.log
