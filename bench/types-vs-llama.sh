#!/usr/bin/env bash
# Speed per quant type, hotmoe vs llama.cpp, on files that llama.cpp's own llama-quantize wrote.
# One F16 bench model (qwen3moe, 16 layers, hidden 1024, 64 experts top-8) is generated once and
# quantised into each type; every file then goes through bench/compare-llama.sh (alternated
# rounds, same threads) and one summary table prints the pp/tg ratios per type.
# Usage: bench/types-vs-llama.sh [-r ROUNDS] [-p 512] [-n 128] [TYPE ...]
#   TYPE: llama-quantize's names. Default: the expert types of real downloads
#   (Q2_K Q3_K_M IQ4_XS MXFP4_MOE). "all" adds Q4_1 Q5_0 Q5_1 IQ4_NL IQ3_S IQ3_XXS IQ2_S IQ2_XS
#   IQ2_XXS IQ1_M IQ1_S; IQ1, IQ2 and IQ3_XXS are quantised with an importance matrix (llama-imatrix
#   over the repository's docs), as llama-quantize requires.
# llama.cpp from $LLAMA_CPP_BIN, else tools/reference/build-llama.sh. Files in $HOTMOE_BENCH_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
R=2; P=512; N=128; TYPES=()
while [ $# -gt 0 ]; do
  case "$1" in
    -r) R=$2; shift 2;; -p) P=$2; shift 2;; -n) N=$2; shift 2;;
    all) TYPES+=(Q2_K Q3_K_M IQ4_XS MXFP4_MOE Q4_1 Q5_0 Q5_1 IQ4_NL IQ3_S IQ3_XXS IQ2_S IQ2_XS IQ2_XXS IQ1_M IQ1_S); shift;;
    *) TYPES+=("$1"); shift;;
  esac
done
[ ${#TYPES[@]} -gt 0 ] || TYPES=(Q2_K Q3_K_M IQ4_XS MXFP4_MOE)
LLAMA=${LLAMA_CPP_BIN:-}
if [ -z "$LLAMA" ]; then
  REF=${HOTMOE_REF_DIR:-$HOME/.cache/hotmoe-ref}
  [ -x "$REF/build/bin/llama-quantize" ] || tools/reference/build-llama.sh >&2
  LLAMA=$REF/build/bin
fi
swift build -c release --product hotmoe >&2
BIN=.build/release/hotmoe
DIR=${HOTMOE_BENCH_DIR:-$HOME/.cache/hotmoe}
mkdir -p "$DIR"
SRC=$DIR/bench-f16.gguf
[ -f "$SRC" ] || $BIN generate-model --preset bench --type f16 -o "$SRC" >&2
needs_imatrix() { case "$1" in IQ1_*|IQ2_*|IQ3_XXS) return 0;; *) return 1;; esac; }
IMATRIX=$DIR/bench-f16.imatrix
for t in "${TYPES[@]}"; do
  if needs_imatrix "$t" && [ ! -f "$IMATRIX" ]; then
    TEXT=$(mktemp); cat README.md docs/*.md > "$TEXT"
    echo "importance matrix over $(wc -c < "$TEXT") bytes of docs" >&2
    LD_LIBRARY_PATH="$LLAMA" "$LLAMA/llama-imatrix" -m "$SRC" -f "$TEXT" -o "$IMATRIX" -c 512 --chunks 8 \
      -t "$(nproc)" > "$DIR/imatrix.log" 2>&1 || { echo "llama-imatrix failed: $DIR/imatrix.log" >&2; exit 1; }
    rm -f "$TEXT"
  fi
done
SUMMARY=$(mktemp)
for t in "${TYPES[@]}"; do
  f=$DIR/bench-$(echo "$t" | tr 'A-Z' 'a-z')-llamaq.gguf
  if [ ! -f "$f" ]; then
    extra=(); needs_imatrix "$t" && extra=(--imatrix "$IMATRIX")
    echo "llama-quantize $t -> $f" >&2
    LD_LIBRARY_PATH="$LLAMA" "$LLAMA/llama-quantize" "${extra[@]}" "$SRC" "$f.part" "$t" > "$DIR/quantize-$t.log" 2>&1 \
      || { echo "llama-quantize $t failed: $DIR/quantize-$t.log" >&2; continue; }
    mv "$f.part" "$f"
  fi
  echo "== $t" >&2
  out=$(LLAMA_CPP_BIN=$LLAMA bench/compare-llama.sh "$f" -p "$P" -n "$N" -r "$R" 2>/dev/null) || { echo "| $t | compare failed | | | | | |" >> "$SUMMARY"; continue; }
  echo "$out" >&2
  mib=$(( $(stat -c %s "$f") / 1048576 ))
  pp=$(echo "$out" | grep "^| pp$P " | awk -F'|' '{gsub(/ /,"",$3); gsub(/ /,"",$4); print $3 "|" $4 "|" $5}')
  tg=$(echo "$out" | grep "^| tg$N " | awk -F'|' '{gsub(/ /,"",$3); gsub(/ /,"",$4); print $3 "|" $4 "|" $5}')
  echo "| $t | $mib | $pp | $tg |" >> "$SUMMARY"
done
echo
echo "llama-quantize'd from $(basename "$SRC"); $R alternated rounds each; t/s mean ± sd"
echo "| type | file MiB | pp$P llama.cpp | pp$P hotmoe | pp ratio | tg$N llama.cpp | tg$N hotmoe | tg ratio |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
cat "$SUMMARY"; rm -f "$SUMMARY"
