#!/usr/bin/env bash
# hotmoe vs llama.cpp on the same GGUF, same machine, same thread count, in one run.
# Prints both engines' pp/tg tokens/s and the ratios hotmoe/llama.cpp.
# Usage: bench/compare-llama.sh [MODEL.gguf] [-p 512] [-n 128] [-r 3] [-t THREADS]
# Without MODEL it generates the ~1.4 GB bench model (qwen3moe, 16 layers, hidden 1024,
# 64 experts top-8, Q4_K_M mix). llama.cpp comes from $LLAMA_CPP_BIN (a folder with
# llama-bench and its libraries), else tools/reference/build-llama.sh builds it (slow, once).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=""; P=512; N=128; R=3; T=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    -p) P=$2; shift 2;; -n) N=$2; shift 2;; -r) R=$2; shift 2;; -t) T=$2; shift 2;;
    *) MODEL=$1; shift;;
  esac
done
swift build -c release --product hotmoe >&2
BIN=.build/release/hotmoe
if [ -z "$MODEL" ]; then
  MODEL=${HOTMOE_BENCH_DIR:-$HOME/.cache/hotmoe}/bench-q4_k_m.gguf
  mkdir -p "$(dirname "$MODEL")"
  [ -f "$MODEL" ] || $BIN generate-model --preset bench -o "$MODEL" >&2
fi
LLAMA=${LLAMA_CPP_BIN:-}
if [ -z "$LLAMA" ]; then
  REF=${HOTMOE_REF_DIR:-$HOME/.cache/hotmoe-ref}
  [ -x "$REF/build/bin/llama-bench" ] || tools/reference/build-llama.sh >&2
  LLAMA=$REF/build/bin
fi
echo "model: $MODEL; threads $T; pp$P tg$N; $R repetitions" >&2
LD_LIBRARY_PATH="$LLAMA" "$LLAMA/llama-bench" -m "$MODEL" -p "$P" -n "$N" -t "$T" -r "$R" -o json > /tmp/hotmoe-cmp-llama.json
$BIN bench -m "$MODEL" -p "$P" -n "$N" -t "$T" -r "$R" -o json > /tmp/hotmoe-cmp-hotmoe.json
python3 - "$P" "$N" <<'PY'
import json, sys
p, n = sys.argv[1], sys.argv[2]
llama = json.load(open("/tmp/hotmoe-cmp-llama.json"))
ours = {r["test"]: r for r in json.load(open("/tmp/hotmoe-cmp-hotmoe.json"))}
def llama_rate(kind):
    for r in llama:
        if kind == "pp" and r["n_prompt"] > 0 and r["n_gen"] == 0: return r["avg_ts"], r["stddev_ts"]
        if kind == "tg" and r["n_gen"] > 0 and r["n_prompt"] == 0: return r["avg_ts"], r["stddev_ts"]
print("| test | llama.cpp t/s | hotmoe t/s | hotmoe / llama.cpp |")
print("| --- | ---: | ---: | ---: |")
for kind, count in (("pp", p), ("tg", n)):
    if count == "0": continue
    l, ls = llama_rate(kind)
    h = ours[f"{kind}{count}"]
    print(f"| {kind}{count} | {l:.2f} ± {ls:.2f} | {h['avg_ts']:.2f} ± {h['stddev_ts']:.2f} | {h['avg_ts'] / l:.3f} |")
PY
