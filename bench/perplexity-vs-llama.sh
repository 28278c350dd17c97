#!/usr/bin/env bash
# hotmoe perplexity vs llama.cpp's llama-perplexity on the same files and text, side by side.
# Usage: bench/perplexity-vs-llama.sh TEXT CTX MODEL.gguf [MODEL.gguf ...]
# Both engines run with an F32 KV cache and llama.cpp without flash attention (its defaults,
# F16 KV and flash attention, round attention differently). llama.cpp from $LLAMA_CPP_BIN (default: $HOTMOE_REF_DIR/build/bin, see tools/reference/build-llama.sh).
set -euo pipefail
TEXT=$(realpath "$1"); CTX=$2; shift 2
MODELS=(); for m in "$@"; do MODELS+=("$(realpath "$m")"); done
cd "$(dirname "$0")/.."
LLAMA=${LLAMA_CPP_BIN:-${HOTMOE_REF_DIR:-$HOME/.cache/hotmoe-ref}/build/bin}
BIN=${HOTMOE_BIN:-.build/release/hotmoe}
[ -x "$BIN" ] || swift build -c release --product hotmoe >&2
T=${THREADS:-$(nproc)}
printf "| model | llama.cpp PPL | hotmoe PPL | relative difference |\n|---|---|---|---|\n"
for m in "${MODELS[@]}"; do
  LOG=$(mktemp)
  LD_LIBRARY_PATH="$LLAMA" "$LLAMA/llama-perplexity" -m "$m" -f "$TEXT" -c "$CTX" -t "$T" -ctk f32 -ctv f32 -fa off > "$LOG" 2>&1 || true
  l=$(sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p' "$LOG"); rm -f "$LOG"
  h=$("$BIN" perplexity -m "$m" -f "$TEXT" -c "$CTX" -t "$T" -ctk f32 -ctv f32 2>/dev/null | sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p' || true)
  d=$(python3 -c "print(f'{abs($h - $l) / $l:.1e}')" 2>/dev/null || echo "?")
  printf "| %s | %s | %s | %s |\n" "$(basename "$m" .gguf)" "${l:-failed}" "${h:-failed}" "$d"
done
