#!/usr/bin/env bash
# Builds tools/reference/kquant_vs_ggml.c against hotmoe's K-quant kernels and
# tools/reference/iquant_vs_ggml.c against its grid-format (IQ1/IQ2/IQ3) kernels (compiled by the
# Swift toolchain's clang, as SwiftPM builds them) and llama.cpp's libggml, then runs both.
# Usage: tools/reference/kquant-vs-ggml.sh [seed [speed]]   (llama.cpp from tools/reference/build-llama.sh)
# With "speed": single-thread decode-shape K-quant timings against the ggml kernels instead of the check.
set -euo pipefail
cd "$(dirname "$0")/../.."
LIB=${LLAMA_CPP_LIB_PATH:-${HOTMOE_REF_DIR:-$HOME/.cache/hotmoe-ref}/build/bin}
CC=${CC:-$(command -v clang || echo /opt/swift/usr/bin/clang)}
OUT=$(mktemp -d)
K=Sources/CKernels
SEED=${1:-$RANDOM$RANDOM}
"$CC" -O3 -I$K/include -I$K tools/reference/kquant_vs_ggml.c $K/kquant_portable.c $K/kquant_x86.c \
  $K/kquant_more_x86.c -L"$LIB" -lggml-cpu -lggml-base -lm -Wl,-rpath,"$LIB" -o "$OUT/kquant_vs_ggml"
status=0
"$OUT/kquant_vs_ggml" "$SEED" ${2:-} || status=1
[ -n "${2:-}" ] && exit $status
"$CC" -O3 -I$K/include -I$K tools/reference/iquant_vs_ggml.c $K/iquant_portable.c $K/iquant_x86.c \
  $K/iquant_grids.c -L"$LIB" -lggml-cpu -lggml-base -lm -Wl,-rpath,"$LIB" -o "$OUT/iquant_vs_ggml"
"$OUT/iquant_vs_ggml" "$SEED" || status=1
exit $status
