#!/usr/bin/env bash
# Compiles one C harness against hotmoe's tiled and per-dot K-quant/IQ kernels and llama.cpp's
# libggml (tools/reference/build-llama.sh), and prints the binary's path.
# Usage: tools/reference/build-ggml-harness.sh SOURCE.c   (used by tiled-vs-ggml.sh and
# bench/tiled-speed-vs-ggml.sh)
set -euo pipefail
SRC=$(realpath "${1:?usage: build-ggml-harness.sh SOURCE.c}")
cd "$(dirname "$0")/../.."
REF=${HOTMOE_REF_DIR:-$HOME/.cache/hotmoe-ref}
[ -n "${LLAMA_CPP_LIB_PATH:-}" ] || [ -f "$REF/build/bin/libggml.so" ] || tools/reference/build-llama.sh >&2
LIB=${LLAMA_CPP_LIB_PATH:-$REF/build/bin}
INC=${LLAMA_CPP_INCLUDE:-$REF/llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION:-0.3.36}/vendor/llama.cpp/ggml/include}
CC=${CC:-$(command -v clang || echo /opt/swift/usr/bin/clang)}
OUT=$(mktemp -d)/$(basename "$SRC" .c)
K=Sources/CKernels
"$CC" -O3 -I$K/include -I$K -I"$INC" "$SRC" $K/kquant_tiled_x86.c $K/kquant_portable.c \
  $K/kquant_x86.c $K/kquant_more_x86.c $K/iquant_x86.c $K/iquant_portable.c $K/iquant_grids.c $K/ckernels.c $K/quant_x86.c \
  -L"$LIB" -lggml -lggml-cpu -lggml-base -lm -Wl,-rpath,"$LIB" -o "$OUT"
echo "$OUT"
