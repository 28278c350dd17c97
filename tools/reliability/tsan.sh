#!/usr/bin/env bash
# Runs the test suite under ThreadSanitizer in its own scratch path (.build-tsan).
#   tools/reliability/tsan.sh [extra swift test args, e.g. --filter HotCacheTests]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
mkdir -p .build-tsan
if [[ ! -d .build-tsan/checkouts && -d .build/checkouts ]]; then
  mkdir -p .build-tsan && cp -a .build/checkouts .build/repositories .build-tsan/ 2>/dev/null || true
fi
TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1} \
  swift test --scratch-path .build-tsan --sanitize=thread "$@" 2>&1 | tee .build-tsan/tsan.log
