#!/usr/bin/env bash
# Heap allocations per decoded token in the steady state, counted by a malloc interposer.
# Usage: bench/alloc-check.sh [MODEL.gguf] [-n TOKENS] [-t THREADS]  (default: the default model)
#        bench/alloc-check.sh --executors [MODEL.gguf]
#   --executors: the plain path and every expert executor (hot cache from a profile, online
#   policies in RAM, streaming from disk with and without read-ahead), one line each.
set -euo pipefail
cd "$(dirname "$0")/.."
EXECUTORS=0
if [ "${1:-}" = "--executors" ]; then EXECUTORS=1; shift; fi
swift build -c release --product hotmoe >&2
mkdir -p .build/bench
cc -O2 -shared -fPIC bench/alloc_count.c -o .build/bench/libhm_alloc_count.so
MODEL_ARGS=()
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then MODEL_ARGS=(-m "$1"); shift; fi
count() {
    LD_PRELOAD=$PWD/.build/bench/libhm_alloc_count.so .build/release/hotmoe bench "${MODEL_ARGS[@]}" --count-allocations "$@"
}
if [ "$EXECUTORS" = 0 ]; then
    count "$@"
    exit 0
fi
# Decode half of -n to warm up, count the other half; -p 8 keeps the default model's 256 positions.
TOKENS=(-p 8 -n 200)
PROFILE=$(mktemp --suffix=.json)
trap 'rm -f "$PROFILE"' EXIT
.build/release/hotmoe run "${MODEL_ARGS[@]}" --cpu-moe --moe-layer-perf-out "$PROFILE" \
    -p "Once upon a time there was a little fox who" -n 64 >/dev/null 2>&1
while IFS='|' read -r name perf args; do
    # shellcheck disable=SC2086
    printf '%-36s %s\n' "$name" "$(LLAMA_MOE_LAYER_PERF=$perf count "${TOKENS[@]}" $args 2>/dev/null | tail -1)"
done <<ROWS
plain|off|
hot cache (profile, 4 MiB)|off|--cpu-moe --moe-hot-cache $PROFILE --moe-hot-cache-max-mib 4
hot cache, LLAMA_MOE_LAYER_PERF=full|full|--cpu-moe --moe-hot-cache $PROFILE --moe-hot-cache-max-mib 4
lru in RAM, 6 per layer|off|--moe-cache-policy lru --moe-cache-capacity 6
lfu-decay streamed, 4 per layer|off|--moe-cache-policy lfu-decay --moe-cache-capacity 4 --moe-stream
lfu-decay streamed + read-ahead|off|--moe-cache-policy lfu-decay --moe-cache-capacity 4 --moe-stream --moe-prefetch on
ROWS
