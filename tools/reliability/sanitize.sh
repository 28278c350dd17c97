#!/usr/bin/env bash
# Runs the test suite under a sanitizer in its own scratch path (.build-asan / .build-tsan).
#   tools/reliability/sanitize.sh address|thread [extra swift test args, e.g. --filter GGUFTests]
# (asan.sh and tsan.sh are shorthands.)
set -euo pipefail
kind=${1:?usage: sanitize.sh address|thread [swift test args]}
shift
case $kind in
  address) scratch=.build-asan; export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1} ;;
  thread) scratch=.build-tsan; export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1} ;;
  *) echo "unknown sanitizer '$kind' (address or thread)" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
mkdir -p "$scratch"
# Reuse the main build's dependency checkouts when there are any (no network needed then).
if [[ ! -d $scratch/checkouts && -d .build/checkouts ]]; then
  cp -a .build/checkouts .build/repositories "$scratch/" 2>/dev/null || true
fi
swift test --scratch-path "$scratch" --sanitize="$kind" "$@" 2>&1 | tee "$scratch/${scratch#.build-}.log"
