#!/usr/bin/env bash
# Builds bench/tiled_speed_vs_ggml.c against hotmoe's tiled kernels and llama.cpp's libggml and
# prints each type's time and ratio (ggml / hotmoe) per token count.
# Usage: bench/tiled-speed-vs-ggml.sh [TYPE]   (Q2_K Q3_K Q5_K Q6_K IQ4_XS IQ3_S; default all)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(tools/reference/build-ggml-harness.sh bench/tiled_speed_vs_ggml.c)
"$BIN" "$@"
