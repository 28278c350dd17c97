#!/usr/bin/env bash
# Builds tools/reference/tiled_vs_ggml.c against hotmoe's tiled and per-dot K-quant kernels and
# llama.cpp's libggml, then runs it: ggml's own mul_mat against hotmoe's kernels, bit for bit.
# Usage: tools/reference/tiled-vs-ggml.sh [seed]   (llama.cpp from tools/reference/build-llama.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
REF=${HOTMOE_REF_DIR:-$HOME/.cache/hotmoe-ref}
LIB=${LLAMA_CPP_LIB_PATH:-$REF/build/bin}
INC=${LLAMA_CPP_INCLUDE:-$REF/llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION:-0.3.36}/vendor/llama.cpp/ggml/include}
CC=${CC:-$(command -v clang || echo /opt/swift/usr/bin/clang)}
OUT=$(mktemp -d)
K=Sources/CKernels
"$CC" -O3 -I$K/include -I$K -I"$INC" tools/reference/tiled_vs_ggml.c $K/kquant_tiled_x86.c $K/kquant_portable.c \
  $K/kquant_x86.c $K/kquant_more_x86.c $K/iquant_x86.c $K/iquant_portable.c $K/iquant_grids.c $K/ckernels.c $K/quant_x86.c \
  -L"$LIB" -lggml -lggml-cpu -lggml-base -lm -Wl,-rpath,"$LIB" -o "$OUT/tiled_vs_ggml"
"$OUT/tiled_vs_ggml" "${1:-$RANDOM$RANDOM}"
