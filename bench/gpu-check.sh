#!/usr/bin/env bash
# The device window's one script: runs the carried static binary, builds nothing, < 8 minutes.
#   build here:  swift build -c release --static-swift-stdlib --product hotmoe && bench/pack-gpu-carry.sh
#   carry:       .bin/gpu-carry.tar.xz only (stripped binary + NVRTC, ~50 MB of the 64 MiB limit)
#   on device:   bench/gpu-check.sh      (results under $OUT, default ./gpu-check-out)
# Steps (each fails the script loudly, exit 1):
#   1. device info (nvidia-smi, hotmoe --list-devices)
#   2. every kernel against its float64 reference on fresh random data (rel L2 < 1e-2 each)
#   3. logits of the generated Q4_K_M bench model (qwen3moe, ~1 GB) with the GPU hot lane vs the
#      CPU, 32 greedy tokens (rel L2 < 1e-2)
#   4. hit-rate sweep on a generated ~4 GB qwen3moe Q4_K_M: budgets 0 .. all experts, baseline
#      cold-only; seed 000's table and the break-even hit rate
# env: HOTMOE (binary), OUT, MODELS (where the generated models go, default $OUT/..), THREADS, SEED,
#      SWEEP_N (decoded tokens per run, 64), SWEEP_R (repetitions, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -e .bin/gpu-carry.tar.xz ] && [ ! -x .bin/bin/hotmoe ]; then tar -xJf .bin/gpu-carry.tar.xz -C .bin; fi
if [ -z "${HOTMOE_NVRTC:-}" ] && [ -e .bin/nvrtc/libnvrtc.so.12 ]; then export HOTMOE_NVRTC="$PWD/.bin/nvrtc/libnvrtc.so.12"; fi
HOTMOE=${HOTMOE:-$( [ -x .bin/bin/hotmoe ] && echo .bin/bin/hotmoe || echo .build/release/hotmoe )}
OUT=${OUT:-$PWD/gpu-check-out}
MODELS=${MODELS:-$(dirname "$OUT")/gpu-check-models}
THREADS=${THREADS:-$(nproc)}
mkdir -p "$OUT" "$MODELS"
fail() { echo "gpu-check.sh: FAILED: $*" | tee -a "$OUT/summary.txt" >&2; exit 1; }
[ -x "$HOTMOE" ] || fail "no binary at $HOTMOE (build it with --static-swift-stdlib and carry it)"
if [ -z "${HOTMOE_NVRTC:-}" ] && [ -e .nvrtc/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 ]; then
    export HOTMOE_NVRTC="$PWD/.nvrtc/nvidia/cuda_nvrtc/lib/libnvrtc.so.12"
fi
start=$(date +%s)
step() { echo "== $1 ($(($(date +%s) - start)) s)" | tee -a "$OUT/summary.txt"; }

step "1. device"
{ nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version --format=csv 2>&1 || true; } | tee "$OUT/nvidia-smi.txt"
"$HOTMOE" --list-devices | tee "$OUT/devices.txt"

step "2. kernels vs float64 references"
timeout 240 "$HOTMOE" gpu-check ${SEED:+--seed "$SEED"} 2>&1 | tee "$OUT/kernels.txt" \
    || fail "kernel check (see $OUT/kernels.txt)"

step "3. logits: GPU hot lane vs CPU (Q4_K_M bench model, 32 greedy tokens)"
small="$MODELS/bench-qwen3moe-q4_k_m.gguf"
[ -e "$small" ] || timeout 180 "$HOTMOE" generate-model -o "$small" --preset bench --arch qwen3moe --type q4_k_m -t "$THREADS" \
    >"$OUT/generate-small.txt" 2>&1 || fail "generate-model (bench) (see $OUT/generate-small.txt)"
timeout 240 "$HOTMOE" gpu-check --seed 1 -m "$small" --steps 32 -t "$THREADS" 2>&1 | tee "$OUT/logits.txt" \
    || fail "logits check (see $OUT/logits.txt)"

step "4. hit-rate sweep (~4 GB qwen3moe Q4_K_M, GPU hot lane, baseline cold-only)"
big="$MODELS/sweep-qwen3moe-q4_k_m.gguf"
[ -e "$big" ] || timeout 240 "$HOTMOE" generate-model -o "$big" --preset bench --arch qwen3moe --type q4_k_m \
    --layers 24 --experts 128 -t "$THREADS" >"$OUT/generate-big.txt" 2>&1 || fail "generate-model (sweep) (see $OUT/generate-big.txt)"
ls -l "$big" | tee -a "$OUT/summary.txt"
timeout 300 "$HOTMOE" bench -m "$big" --no-repack --sweep-cache --device CUDA0 -p 256 -n "${SWEEP_N:-64}" -r "${SWEEP_R:-2}" \
    -t "$THREADS" 2>"$OUT/sweep.log" | tee "$OUT/sweep.txt" || fail "sweep (see $OUT/sweep.log)"
grep -i "break-even" "$OUT/sweep.txt" | tee -a "$OUT/summary.txt"
step "done: results under $OUT"
