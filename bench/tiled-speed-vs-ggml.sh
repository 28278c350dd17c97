#!/usr/bin/env bash
# Builds bench/tiled_speed_vs_ggml.c against hotmoe's tiled kernels and llama.cpp's libggml and
# prints each type's time and ratio (ggml / hotmoe) per token count.
# Usage: bench/tiled-speed-vs-ggml.sh [TYPE]   (Q2_K Q3_K Q5_K Q6_K IQ4_XS IQ3_S; default all)
set -euo pipefail
cd "$(dirname "$0")/.."
REF=${HOTMOE_REF_DIR:-$HOME/.cache/hotmoe-ref}
[ -n "${LLAMA_CPP_LIB_PATH:-}" ] || [ -f "$REF/build/bin/libggml.so" ] || tools/reference/build-llama.sh >&2
LIB=${LLAMA_CPP_LIB_PATH:-$REF/build/bin}
INC=${LLAMA_CPP_INCLUDE:-$REF/llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION:-0.3.36}/vendor/llama.cpp/ggml/include}
CC=${CC:-$(command -v clang || echo /opt/swift/usr/bin/clang)}
OUT=$(mktemp -d)
K=Sources/CKernels
"$CC" -O3 -I$K/include -I$K -I"$INC" bench/tiled_speed_vs_ggml.c $K/kquant_tiled_x86.c $K/kquant_portable.c \
  $K/kquant_x86.c $K/kquant_more_x86.c $K/iquant_x86.c $K/iquant_portable.c $K/iquant_grids.c $K/ckernels.c $K/quant_x86.c \
  -L"$LIB" -lggml -lggml-cpu -lggml-base -lm -Wl,-rpath,"$LIB" -o "$OUT/tiled_speed_vs_ggml"
"$OUT/tiled_speed_vs_ggml" "$@"
