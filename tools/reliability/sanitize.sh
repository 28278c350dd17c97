#!/usr/bin/env bash
# Runs the test suite under a sanitizer in its own scratch path (.build-asan / .build-tsan).
#   tools/reliability/sanitize.sh address|thread [test filter, e.g. "Jinja|Grammar|GGUF"]
# (asan.sh and tsan.sh are shorthands.)
# The tests are built optimised with testing enabled: a debug build under TSan runs the suite
# for hours on 2 cores, the release build in about 8 minutes. Both test libraries are run
# (swift-testing, then XCTest); the script fails when either fails or a sanitizer reports.
set -euo pipefail
kind=${1:?usage: sanitize.sh address|thread [test filter]}
filter=${2:-}
case $kind in
  address) scratch=.build-asan; export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=0:log_path=/tmp/asan-report} ;;
  thread) scratch=.build-tsan; export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1:log_path=/tmp/tsan-report} ;;
  *) echo "unknown sanitizer '$kind' (address or thread)" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
mkdir -p "$scratch"
# Reuse the main build's dependency checkouts when there are any (no network needed then).
if [[ ! -d $scratch/checkouts && -d .build/checkouts ]]; then
  cp -a .build/checkouts .build/repositories "$scratch/" 2>/dev/null || true
fi
log=$scratch/${scratch#.build-}.log
report_prefix=$(sed -n 's/.*log_path=\([^:]*\).*/\1/p' <<<"${ASAN_OPTIONS:-}${TSAN_OPTIONS:-}")
[[ -n $report_prefix ]] && rm -f "$report_prefix".*
# --build-tests builds every product too: the server tests start this build's (instrumented) hotmoe.
swift build -c release --build-tests --sanitize="$kind" -Xswiftc -enable-testing --scratch-path "$scratch" 2>&1 | tail -3
tests=$scratch/release/hotmoePackageTests.xctest
status=0
filter_args=(); [[ -n $filter ]] && filter_args=(--filter "$filter")
"$tests" --testing-library swift-testing "${filter_args[@]}" 2>&1 | tee "$log" | tail -4 || status=1
"$tests" "${filter_args[@]}" 2>&1 | tee -a "$log" | tail -2 || status=1
if [[ -n $report_prefix ]] && compgen -G "$report_prefix.*" >/dev/null; then
  echo "sanitizer reports: $(ls "$report_prefix".* | wc -l) file(s) at $report_prefix.*" >&2
  grep -h "^SUMMARY" "$report_prefix".* | sort | uniq -c >&2
  status=1
else
  echo "no sanitizer reports"
fi
exit $status
