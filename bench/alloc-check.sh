#!/usr/bin/env bash
# Heap allocations per decoded token in the steady state, counted by a malloc interposer.
# Usage: bench/alloc-check.sh [MODEL.gguf] [-n TOKENS] [-t THREADS]  (default: the default model)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product hotmoe >&2
mkdir -p .build/bench
cc -O2 -shared -fPIC bench/alloc_count.c -o .build/bench/libhm_alloc_count.so
MODEL_ARGS=()
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then MODEL_ARGS=(-m "$1"); shift; fi
LD_PRELOAD=$PWD/.build/bench/libhm_alloc_count.so .build/release/hotmoe bench "${MODEL_ARGS[@]}" --count-allocations "$@"
