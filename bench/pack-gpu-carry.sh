#!/usr/bin/env bash
# Packs what the device run needs into .bin/gpu-carry.tar.xz (~50 MB; the carry limit is 64 MiB):
# the static hotmoe, stripped, and NVRTC from the pip wheel (libnvrtc + its builtins only).
# bench/gpu-check.sh unpacks it on the device machine. Build first:
#   swift build -c release --static-swift-stdlib --product hotmoe
set -euo pipefail
cd "$(dirname "$0")/.."
lib=.nvrtc/nvidia/cuda_nvrtc/lib
[ -e "$lib/libnvrtc.so.12" ] || python3 -m pip install --quiet --no-deps --target .nvrtc nvidia-cuda-nvrtc-cu12==12.9.86
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/nvrtc" .bin
strip -o "$stage/bin/hotmoe" .build/release/hotmoe
cp "$lib/libnvrtc.so.12" "$lib"/libnvrtc-builtins.so.12.* "$stage/nvrtc/"
tar -cJf .bin/gpu-carry.tar.xz -C "$stage" bin nvrtc
ls -l .bin/gpu-carry.tar.xz
