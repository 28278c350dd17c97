#!/usr/bin/env bash
# The device window's one script: runs the carried static binary, builds nothing, ~4 minutes.
#   build here:  swift build -c release --static-swift-stdlib --product hotmoe && bench/pack-gpu-carry.sh
#   carry:       .bin/gpu-carry.tar.xz only (the stripped binary, xz; NVRTC too with WITH_NVRTC=1)
#   on device:   bench/gpu-check.sh      (results under $OUT, default ./gpu-check-out)
# Steps (a failed step is recorded in summary.txt and the script goes on, so that one device window
# shows every step; the exit status is 1 when any step failed):
#   1. device info (nvidia-smi, hotmoe --list-devices)
#   2. every kernel against its float64 reference on fresh random data (rel L2 < 1e-2 each)
#   3. the GPU lane in the model: its slot outputs against float64 call by call, and the logits
#      against the CPU's over 32 greedy tokens, on the Q4_K_M bench model and on an F32 model
#   4. hit-rate sweep on a generated ~4.4 GB qwen3moe Q4_K_M: budgets 0 .. all experts in VRAM,
#      baseline cold-only (the CPU lane repacked); seed 000's table and the break-even hit rate
#   5. hotmoe bench with the VRAM tier (--device CUDA0, auto budget) against the CPU alone
#   6. hotmoe serve --device CUDA0: one completion, /moe-layer-perf and /metrics
# The models are generated in the background from the start, while the kernels are checked.
# env: HOTMOE (binary), OUT, MODELS (where the generated models go, default $OUT/..), THREADS, SEED,
#      SWEEP_N (decoded tokens per run, 64), SWEEP_R (repetitions, 2), HOTMOE_NVRTC (libnvrtc)
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -e .bin/gpu-carry.tar.xz ] && [ ! -x .bin/bin/hotmoe ]; then tar -xJf .bin/gpu-carry.tar.xz -C .bin; fi
HOTMOE=${HOTMOE:-$( [ -x .bin/bin/hotmoe ] && echo .bin/bin/hotmoe || echo .build/release/hotmoe )}
OUT=${OUT:-$PWD/gpu-check-out}
MODELS=${MODELS:-$(dirname "$OUT")/gpu-check-models}
THREADS=${THREADS:-$(nproc)}
N=${SWEEP_N:-64}
R=${SWEEP_R:-2}
mkdir -p "$OUT" "$MODELS"
failed=0
note() { echo "$*" | tee -a "$OUT/summary.txt"; }
fail() { note "gpu-check.sh: FAILED: $*"; failed=1; }
[ -x "$HOTMOE" ] || { fail "no binary at $HOTMOE (build it with --static-swift-stdlib and carry it)"; exit 1; }
# NVRTC: the carried one, else the machine's (a CUDA toolkit, or a CUDA 12/13 pip wheel).
if [ -z "${HOTMOE_NVRTC:-}" ]; then
    for c in .bin/nvrtc/libnvrtc.so.12 .nvrtc/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 /usr/local/cuda/lib64/libnvrtc.so.13 \
             /usr/local/cuda/lib64/libnvrtc.so.12 /opt/*/.venv/lib/python3*/site-packages/nvidia/cu13/lib/libnvrtc.so.13 \
             /usr/local/lib/python3*/dist-packages/nvidia/cu13/lib/libnvrtc.so.13; do
        if [ -e "$c" ]; then export HOTMOE_NVRTC=$(readlink -f "$c"); break; fi
    done
    [ -n "${HOTMOE_NVRTC:-}" ] || HOTMOE_NVRTC=$(timeout 30 find /usr /opt -name 'libnvrtc.so.1[23]' 2>/dev/null | head -1)
    [ -n "$HOTMOE_NVRTC" ] && export HOTMOE_NVRTC || unset HOTMOE_NVRTC
fi
start=$(date +%s)
step() { note "== $1 ($(($(date +%s) - start)) s)"; }

step "1. device"
{ nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version,clocks.max.sm --format=csv 2>&1 || true
  echo "nproc $(nproc); $(grep MemTotal /proc/meminfo); HOTMOE_NVRTC=${HOTMOE_NVRTC:-unset}"; } | tee "$OUT/device.txt"
"$HOTMOE" --list-devices 2>&1 | tee -a "$OUT/device.txt" || fail "--list-devices"

small="$MODELS/bench-qwen3moe-q4_k_m.gguf"
f32="$MODELS/small-qwen3moe-f32.gguf"
big="$MODELS/sweep-qwen3moe-q4_k_m.gguf"
gen_threads=$(( THREADS > 4 ? THREADS - 2 : THREADS ))
generate() {  # file, timeout, generate-model arguments...
    local file=$1 limit=$2; shift 2
    [ -e "$file" ] && return 0
    echo "== generate-model -o $file $*" >>"$OUT/generate.txt"
    timeout "$limit" "$HOTMOE" generate-model -o "$file" "$@" -t "$gen_threads" >>"$OUT/generate.txt" 2>&1 || { rm -f "$file"; return 1; }
}
( generate "$small" 200 --preset bench --arch qwen3moe --type q4_k_m
  generate "$f32" 100 --preset small --arch qwen3moe --type f32
  touch "$MODELS/.small-ready"
  generate "$big" 260 --preset bench --arch qwen3moe --type q4_k_m --layers 24 --experts 128 ) &
generator=$!

step "2. kernels vs float64 references"
timeout 150 "$HOTMOE" gpu-check ${SEED:+--seed "$SEED"} 2>&1 | tee "$OUT/kernels.txt" \
    || fail "kernel check (see kernels.txt)"

step "3. the GPU lane in the model: slot outputs vs float64 per call, logits vs the CPU (32 greedy tokens)"
while kill -0 $generator 2>/dev/null && [ ! -e "$MODELS/.small-ready" ]; do sleep 1; done
for m in "$small" "$f32"; do
    if [ -e "$m" ]; then
        echo "== $(basename "$m")" >>"$OUT/logits.txt"
        timeout 150 "$HOTMOE" gpu-check --seed 1 -m "$m" --steps 32 -t "$THREADS" 2>&1 | grep -v "^kernel " | tee -a "$OUT/logits.txt" \
            || fail "lane check on $(basename "$m") (see logits.txt)"
    else
        fail "generate-model $(basename "$m"): $(tail -3 "$OUT/generate.txt")"
    fi
done

step "4. hit-rate sweep (~4.4 GB qwen3moe Q4_K_M, VRAM tier, baseline cold-only)"
wait $generator
if [ -e "$big" ]; then
    ls -l "$big" | tee -a "$OUT/summary.txt"
    timeout 240 "$HOTMOE" bench -m "$big" --sweep-cache --device CUDA0 -p 512 -n "$N" -r "$R" \
        -t "$THREADS" 2>"$OUT/sweep.log" | tee "$OUT/sweep.txt" || fail "sweep (see sweep.log: $(tail -2 "$OUT/sweep.log"))"
    grep -q "running on CPU" "$OUT/sweep.log" && fail "sweep ran without the GPU: $(grep -m1 'running on CPU' "$OUT/sweep.log")"
    grep -i "break-even" "$OUT/sweep.txt" | tee -a "$OUT/summary.txt"

    step "5. hotmoe bench: the VRAM tier (--device CUDA0, auto budget) vs the CPU alone, same model"
    for dev in none CUDA0; do
        echo "== --device $dev" | tee -a "$OUT/sweep.txt" >>"$OUT/sweep.log"
        timeout 150 "$HOTMOE" bench -m "$big" --device $dev -p 512 -n "$N" -r "$R" -t "$THREADS" 2>>"$OUT/sweep.log" \
            | tee -a "$OUT/sweep.txt" || fail "bench --device $dev (see sweep.log)"
    done

    step "6. hotmoe serve --device CUDA0: a completion, /moe-layer-perf, /metrics"
    port=18093
    # curl where the machine has it, else Python's urllib (GET url | POST url json).
    http() {
        if command -v curl >/dev/null; then
            if [ $# -gt 1 ]; then curl -sS -m 60 "$1" -H 'Content-Type: application/json' -d "$2"; else curl -sS -m 20 "$1"; fi
        else
            python3 -c 'import sys, urllib.request as u; d = sys.argv[2].encode() if len(sys.argv) > 2 else None
r = u.Request(sys.argv[1], data=d, headers={"Content-Type": "application/json"}); print(u.urlopen(r, timeout=60).read().decode())' "$@"
        fi
    }
    "$HOTMOE" serve -m "$big" --device CUDA0 --port $port -c 2048 -t "$THREADS" >"$OUT/serve.txt" 2>&1 &
    server=$!
    for _ in $(seq 1 90); do http "http://127.0.0.1:$port/health" 2>/dev/null | grep -q ok && break; sleep 1; done
    { echo "== POST /completion"
      http "http://127.0.0.1:$port/completion" '{"prompt": "The quick brown fox", "n_predict": 48, "temperature": 0}'
      echo; echo "== GET /moe-layer-perf"
      http "http://127.0.0.1:$port/moe-layer-perf" | head -c 3000
      echo; echo "== GET /metrics (hotmoe lines)"
      http "http://127.0.0.1:$port/metrics" | grep -v "^#" | head -60
    } >"$OUT/serve-responses.txt" 2>&1 || fail "serve requests (see serve.txt)"
    kill $server 2>/dev/null; wait $server 2>/dev/null
    cat "$OUT/serve-responses.txt" >>"$OUT/serve.txt"; rm -f "$OUT/serve-responses.txt"
    grep -q '"content"' "$OUT/serve.txt" || fail "serve --device CUDA0 gave no completion (see serve.txt)"
    grep -q "VRAM tier on CUDA0" "$OUT/serve.txt" || fail "serve did not attach the VRAM tier (see serve.txt)"
else
    fail "generate-model (sweep): $(tail -3 "$OUT/generate.txt" 2>/dev/null)"
fi
step "done: results under $OUT (failed=$failed)"
exit $failed
