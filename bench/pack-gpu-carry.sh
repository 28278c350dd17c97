#!/usr/bin/env bash
# Packs what the device run needs into .bin/gpu-carry.tar.xz: the static hotmoe, stripped
# (~21 MB as xz). The device machine's CUDA toolkit has NVRTC (13.0 was seen there);
# WITH_NVRTC=1 adds NVRTC 12.9 from the pip wheel (libnvrtc + its builtins, ~+25 MB). The
# working tree travels too, under one 64 MiB limit: see docs/gpu.md ("How to run it").
# bench/gpu-check.sh unpacks it on the device machine. Build first:
#   swift build -c release --static-swift-stdlib --product hotmoe
set -euo pipefail
cd "$(dirname "$0")/.."
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" .bin
strip -o "$stage/bin/hotmoe" .build/release/hotmoe
parts=(bin)
if [ "${WITH_NVRTC:-0}" = 1 ]; then
    lib=.nvrtc/nvidia/cuda_nvrtc/lib
    [ -e "$lib/libnvrtc.so.12" ] || python3 -m pip install --quiet --no-deps --target .nvrtc nvidia-cuda-nvrtc-cu12==12.9.86
    mkdir -p "$stage/nvrtc"
    cp "$lib/libnvrtc.so.12" "$lib"/libnvrtc-builtins.so.12.* "$stage/nvrtc/"
    parts+=(nvrtc)
fi
tar -cJf .bin/gpu-carry.tar.xz -C "$stage" "${parts[@]}"
ls -l .bin/gpu-carry.tar.xz
