#!/usr/bin/env bash
# Builds tools/reference/tiled_vs_ggml.c against hotmoe's tiled and per-dot K-quant kernels and
# llama.cpp's libggml, then runs it: ggml's own mul_mat against hotmoe's kernels, bit for bit.
# Usage: tools/reference/tiled-vs-ggml.sh [seed]   (llama.cpp from tools/reference/build-llama.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(tools/reference/build-ggml-harness.sh tools/reference/tiled_vs_ggml.c)
"$BIN" "${1:-$RANDOM$RANDOM}"
