#!/usr/bin/env bash
# Cost of MoE telemetry: decode tokens/s with the plain executor vs the cache runtime in perf
# modes off / update / full, side by side in one run, median of R runs each. Prints ratios.
# Usage: bench/telemetry-overhead.sh [MODEL.gguf] [-n TOKENS] [-r RUNS] [-t THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=""; N=128; R=3; T=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N=$2; shift 2;; -r) R=$2; shift 2;; -t) T=$2; shift 2;;
    *) MODEL=$1; shift;;
  esac
done
swift build -c release --product hotmoe >&2
BIN=.build/release/hotmoe
if [ -z "$MODEL" ]; then
  MODEL=${TMPDIR:-/tmp}/hotmoe-overhead-small-q4_k.gguf
  [ -f "$MODEL" ] || $BIN generate-model -o "$MODEL" --preset small --type q4_k >&2
fi
rate() {  # prints generation tok/s of one run
  "$@" 2>&1 | sed -n 's/.*generation: [0-9]* tokens, \([0-9.]*\) tok\/s.*/\1/p'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A RESULT
for mode in plain off update full; do
  vals=""
  for _ in $(seq "$R"); do
    case $mode in
      plain) v=$(rate $BIN run -m "$MODEL" -p "The" -n "$N" --temp 0 --ignore-eos -t "$T");;
      off) v=$(rate $BIN run -m "$MODEL" -p "The" -n "$N" --temp 0 --ignore-eos -t "$T" --cpu-moe --no-perf);;
      *) v=$(LLAMA_MOE_LAYER_PERF=$mode rate $BIN run -m "$MODEL" -p "The" -n "$N" --temp 0 --ignore-eos -t "$T" --cpu-moe);;
    esac
    echo "  $mode: $v tok/s" >&2
    vals="$vals$v"$'\n'
  done
  RESULT[$mode]=$(printf "%s" "$vals" | median)
done
echo "| executor | decode tok/s (median of $R) | vs plain |"
echo "| --- | ---: | ---: |"
for mode in plain off update full; do
  awk -v m="$mode" -v v="${RESULT[$mode]}" -v p="${RESULT[plain]}" 'BEGIN { printf "| %s | %.2f | %.3f |\n", m, v, v / p }'
done
