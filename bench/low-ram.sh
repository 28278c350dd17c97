#!/usr/bin/env bash
# Models larger than RAM, side by side: pins anonymous memory so that MemAvailable is X% of
# the model file, then runs llama.cpp (default, and --repack 0: mmap only) and hotmoe with no
# extra flags, printing t/s, ratios, hotmoe's hit rate and disk traffic, and the I/O bound
# (MiB missed per token / this machine's measured O_DIRECT read bandwidth).
# Each engine raises its own oom_score_adj, so the kernel kills the engine, not the pin.
# Usage: bench/low-ram.sh [MODEL.gguf] [-n TOKENS] [-t THREADS] [-r HOTMOE_RUNS] [--percent "60 30"]
# hotmoe runs R times (median reported: t/s under memory pressure varies run to run); llama.cpp once.
# Without MODEL it generates the issue's shape: qwen3moe, 16 layers, hidden 1024, 128
# experts top-8, expert FF 768, Q4_K_M (~2.8 GB).
set -uo pipefail
cd "$(dirname "$0")/.."
MODEL=""; N=32; T=$(nproc); PERCENTS="60 30"; R=3
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N=$2; shift 2;; -t) T=$2; shift 2;; -r) R=$2; shift 2;; --percent) PERCENTS=$2; shift 2;;
    *) MODEL=$1; shift;;
  esac
done
swift build -c release --product hotmoe >&2 || exit 1
BIN=.build/release/hotmoe
if [ -z "$MODEL" ]; then
  MODEL=${HOTMOE_BENCH_DIR:-$HOME/.cache/hotmoe}/low-ram-q4_k_m.gguf
  mkdir -p "$(dirname "$MODEL")"
  [ -f "$MODEL" ] || $BIN generate-model --preset bench --experts 128 --expert-ff 768 --type q4_k_m -o "$MODEL" >&2 || exit 1
fi
LLAMA=${LLAMA_CPP_BIN:-}
if [ -z "$LLAMA" ]; then
  REF=${HOTMOE_REF_DIR:-$HOME/.cache/hotmoe-ref}
  [ -x "$REF/build/bin/llama-bench" ] || tools/reference/build-llama.sh >&2
  LLAMA=$REF/build/bin
fi
OUT=$(mktemp -d)
cc -O2 -o "$OUT/pin" bench/pin_memory.c || exit 1
FILE_MIB=$(( $(stat -c %s "$MODEL") >> 20 ))
avail_mib() { awk '/MemAvailable/ { print int($2 / 1024) }' /proc/meminfo; }

# O_DIRECT read bandwidth with 4 readers in flight (as hotmoe's read lanes), over 1 GiB.
bandwidth() {
  local start end
  start=$(date +%s.%N)
  for i in 0 1 2 3; do
    dd if="$MODEL" of=/dev/null bs=1M count=256 skip=$((i * 256)) iflag=direct status=none &
  done
  wait
  end=$(date +%s.%N)
  echo "1024 / ($end - $start)" | bc -l
}
BW=$(bandwidth)
printf 'model: %s (%d MiB); threads %d; tg%d; O_DIRECT read bandwidth (4 readers): %.0f MiB/s\n' "$MODEL" "$FILE_MIB" "$T" "$N" "$BW"

# Runs "$@" as the process the kernel kills first; prints its t/s or OOM-KILLED / FAILED.
run_engine() {
  local log=$1; shift
  ( echo 1000 > /proc/self/oom_score_adj; exec "$@" ) > "$log.out" 2> "$log.err"
  local rc=$?
  if [ $rc -eq 137 ] || grep -q "Killed" "$log.err"; then echo "OOM-KILLED"; return; fi
  [ $rc -ne 0 ] && { echo "FAILED(rc=$rc)"; return; }
  echo ok
}

echo "| avail | engine | tg t/s | vs llama -nr | hit rate | MiB read/token | I/O bound t/s (missed MiB/token / bandwidth) | of bound |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for P in $PERCENTS; do
  TARGET=$(( FILE_MIB * P / 100 ))
  PIN=$(( $(avail_mib) - TARGET ))
  [ $PIN -lt 0 ] && PIN=0
  "$OUT/pin" $PIN > "$OUT/pin.out" &
  PIN_PID=$!
  for _ in $(seq 1 600); do grep -q pinned "$OUT/pin.out" 2>/dev/null && break; sleep 0.2; done
  sleep 1
  AV=$(avail_mib)
  declare -A TS=()
  for engine in llama llama-nr hotmoe; do
    case $engine in
      llama)    r=$(run_engine "$OUT/$engine-$P" env LD_LIBRARY_PATH="$LLAMA" "$LLAMA/llama-bench" -m "$MODEL" -p 0 -n "$N" -t "$T" -r 1 -o json);;
      llama-nr) r=$(run_engine "$OUT/$engine-$P" env LD_LIBRARY_PATH="$LLAMA" "$LLAMA/llama-bench" -m "$MODEL" -p 0 -n "$N" -t "$T" -r 1 --repack 0 -o json);;
      hotmoe)
        runs=()
        for i in $(seq 1 "$R"); do
          r=$(run_engine "$OUT/$engine-$P-$i" $BIN bench -m "$MODEL" -p 0 -n "$N" -t "$T" -r 1 -o json)
          [ "$r" = ok ] || break
          runs+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["avg_ts"])' "$OUT/$engine-$P-$i.out")")
        done
        # The median run's files stand for hotmoe.
        if [ "$r" = ok ]; then
          med=$(printf '%s\n' "${runs[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
          for i in $(seq 1 "$R"); do
            v=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["avg_ts"])' "$OUT/$engine-$P-$i.out")
            [ "$v" = "$med" ] && { cp "$OUT/$engine-$P-$i.out" "$OUT/$engine-$P.out"; cp "$OUT/$engine-$P-$i.err" "$OUT/$engine-$P.err"; break; }
          done
          echo "  hotmoe runs at $P%: ${runs[*]} t/s (median $med)" >&2
        fi;;
    esac
    if [ "$r" = ok ]; then
      TS[$engine]=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=[x for x in d if x.get("n_gen",0)>0 or str(x.get("test","")).startswith("tg")][0]; print(r.get("avg_ts", r.get("mean", 0)))' "$OUT/$engine-$P.out" 2>/dev/null || echo 0)
    else
      TS[$engine]=$r
    fi
  done
  kill $PIN_PID 2>/dev/null; wait $PIN_PID 2>/dev/null
  STREAM=$(grep -o 'stream-tg:.*' "$OUT/hotmoe-$P.err" | tail -1)
  MPT=$(echo "$STREAM" | awk '{print $3}'); HIT=$(echo "$STREAM" | awk '{print $7}')
  # The bound counts the bytes of missed experts (read-ahead that guessed wrong is not a need).
  MISSED=$(echo "$STREAM" | awk '{print $13}')
  grep -h "experts streamed\|experts resident\|lookahead" "$OUT/hotmoe-$P.err" | sed 's/^/  hotmoe: /' >&2
  for engine in llama llama-nr hotmoe; do
    v=${TS[$engine]}
    ratio="-"; bound="-"; of="-"; hit="-"; mpt="-"
    if [[ $v =~ ^[0-9.]+$ ]] && [[ ${TS[llama-nr]} =~ ^[0-9.]+$ ]]; then ratio=$(printf '%.2fx' "$(echo "$v / ${TS[llama-nr]}" | bc -l)"); fi
    if [ $engine = hotmoe ] && [ -n "$MPT" ]; then
      hit=$(printf '%.1f%%' "$(echo "$HIT * 100" | bc -l)"); mpt=$(printf '%.1f' "$MPT")
      if [ "$(echo "$MPT > 0" | bc -l)" = 1 ]; then
        b=$(echo "$BW / ${MISSED:-$MPT}" | bc -l); bound=$(printf '%.1f' "$b")
        [[ $v =~ ^[0-9.]+$ ]] && of=$(printf '%.0f%%' "$(echo "100 * $v / $b" | bc -l)")
      fi
    fi
    [[ $v =~ ^[0-9.]+$ ]] && v=$(printf '%.2f' "$v")
    echo "| $P% ($AV MiB) | $engine | $v | $ratio | $hit | $mpt | $bound | $of |"
  done
done
rm -rf "$OUT"
