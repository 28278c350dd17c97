#!/usr/bin/env bash
# Builds one libFuzzer target and runs it for SECONDS (Linux; needs the toolchain's libFuzzer).
#   tools/reliability/fuzz.sh gguf|profile|trace|tokenizer|requests|grammar|schema|template|archconfig [SECONDS=60] [extra libFuzzer flags]
# The build lives in .build-fuzz (git-ignored); new corpus entries and crash artifacts go to
# .build-fuzz/work/TARGET/, the committed seeds in Fuzz/corpus/TARGET/ are only read.
set -euo pipefail
target=${1:?usage: fuzz.sh gguf|profile|trace|tokenizer|requests|grammar|schema|template|archconfig [SECONDS] [libFuzzer flags]}
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
case $target in
  gguf) product=FuzzGGUF; extra=(-max_len=262144) ;;
  profile) product=FuzzProfile; extra=(-max_len=16384) ;;
  trace) product=FuzzTrace; extra=(-max_len=16384) ;;
  tokenizer) product=FuzzTokenizer; extra=(-max_len=4096) ;;
  requests) product=FuzzRequests; extra=(-max_len=8192) ;;
  grammar) product=FuzzGrammar; extra=(-max_len=8192) ;;
  schema) product=FuzzSchema; extra=(-max_len=8192) ;;
  template) product=FuzzTemplate; extra=(-max_len=16384) ;;
  archconfig) product=FuzzArchConfig; extra=(-max_len=8192) ;;
  *) echo "unknown target '$target'" >&2; exit 2 ;;
esac
scratch=$root/.build-fuzz
# Reuse the main build's dependency checkouts when there are any (no network needed then).
if [[ ! -d $scratch/checkouts && -d $root/.build/checkouts ]]; then
  mkdir -p "$scratch"
  cp -a "$root/.build/checkouts" "$root/.build/repositories" "$scratch/" 2>/dev/null || true
  [[ -f $root/Package.resolved && ! -f Fuzz/Package.resolved ]] && cp "$root/Package.resolved" Fuzz/Package.resolved
fi
# Sanitizer and coverage flags go to every Swift module, so the code under test is
# instrumented, not just the fuzz entry point. Debug keeps Swift's own bounds checks.
swift build --package-path Fuzz --scratch-path "$scratch" -c debug \
  -Xswiftc -sanitize=fuzzer,address --product "$product"
# The Swift runtime's backtracer trips ASan while reporting a crash; libFuzzer reports it anyway.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
work=$scratch/work/$target
mkdir -p "$work/corpus" "$work/artifacts"
"$scratch/debug/$product" "$work/corpus" "Fuzz/corpus/$target" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "${extra[@]}" "$@" 2>&1 | tee "$work/log.txt"
