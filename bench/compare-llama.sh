#!/usr/bin/env bash
# hotmoe vs llama.cpp on the same GGUF, same machine, same thread count, in one run.
# Prints both engines' pp/tg tokens/s and the ratios hotmoe/llama.cpp.
# Usage: bench/compare-llama.sh [MODEL.gguf] [-p 512] [-n 128] [-r ROUNDS] [-t THREADS] [-d DEPTH]
# -d: llama-bench's n_depth in both engines (pp/tg after DEPTH tokens of context; KV cache at
# each engine's default type, F16 in both). HOTMOE_BIN: a built hotmoe to use instead of building.
# Without MODEL it generates the ~1.4 GB bench model (qwen3moe, 16 layers, hidden 1024,
# 64 experts top-8, Q4_K_M mix). llama.cpp comes from $LLAMA_CPP_BIN (a folder with
# llama-bench and its libraries), else tools/reference/build-llama.sh builds it (slow, once).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=""; P=512; N=128; R=3; T=$(nproc); D=0
while [ $# -gt 0 ]; do
  case "$1" in
    -p) P=$2; shift 2;; -n) N=$2; shift 2;; -r) R=$2; shift 2;; -t) T=$2; shift 2;; -d) D=$2; shift 2;;
    *) MODEL=$1; shift;;
  esac
done
if [ -n "${HOTMOE_BIN:-}" ]; then BIN=$HOTMOE_BIN; else swift build -c release --product hotmoe >&2; BIN=.build/release/hotmoe; fi
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
echo "model: $MODEL; threads $T; pp$P tg$N; depth $D; $R rounds" >&2
# Rounds alternate the engines (llama.cpp, then hotmoe, one repetition each) so that a drift
# of the machine's speed during the run (shared hosts, thermal limits) hits both alike.
OUT=$(mktemp -d)
# Peak resident memory (max RSS) of each engine's whole bench process, from /usr/bin/time.
for r in $(seq 1 "$R"); do
  LD_LIBRARY_PATH="$LLAMA" /usr/bin/time -f %M -o "$OUT/llama-$r.rss" \
    "$LLAMA/llama-bench" -m "$MODEL" -p "$P" -n "$N" -d "$D" -t "$T" -r 1 -o json > "$OUT/llama-$r.json"
  /usr/bin/time -f %M -o "$OUT/hotmoe-$r.rss" \
    $BIN bench -m "$MODEL" -p "$P" -n "$N" -d "$D" -t "$T" -r 1 -o json > "$OUT/hotmoe-$r.json" 2>/dev/null
  echo "round $r/$R done" >&2
done
# The physical bound: weight bytes per decoded token over this machine's copy bandwidth.
$BIN bench -m "$MODEL" -t "$T" -p 0 -n 0 --memory-bound 2>&1 >/dev/null | grep '^memory-bound-ts:' > "$OUT/bound" || true
python3 - "$P" "$N" "$R" "$OUT" "$D" <<'PY'
import json, os, statistics, sys
p, n, rounds, out, depth = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
at = f" @ d{depth}" if depth else ""
def samples(engine, kind, count):
    got = []
    for r in range(1, rounds + 1):
        rows = json.load(open(f"{out}/{engine}-{r}.json"))
        for row in rows:
            if engine == "llama":
                pp = row["n_prompt"] > 0 and row["n_gen"] == 0
                tg = row["n_gen"] > 0 and row["n_prompt"] == 0
                if (kind == "pp" and pp) or (kind == "tg" and tg): got.append(row["avg_ts"])
            elif row["test"] == f"{kind}{count}{at}":
                got.append(row["avg_ts"])
    return got
def fmt(xs): return f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs) if len(xs) > 1 else 0:.2f}"
print("| test | llama.cpp t/s | hotmoe t/s | hotmoe / llama.cpp (means) | per-round ratios |")
print("| --- | ---: | ---: | ---: | --- |")
for kind, count in (("pp", p), ("tg", n)):
    if count == "0": continue
    l, h = samples("llama", kind, count), samples("hotmoe", kind, count)
    ratios = [b / a for a, b in zip(l, h)]
    print(f"| {kind}{count}{at} | {fmt(l)} | {fmt(h)} | {statistics.mean(h) / statistics.mean(l):.3f} | "
          + " ".join(f"{x:.3f}" for x in ratios) + " |")
def rss(engine): return max(int(open(f"{out}/{engine}-{r}.rss").read().split()[-1]) for r in range(1, rounds + 1))
lr, hr = rss("llama"), rss("hotmoe")
print(f"| peak RSS MiB | {lr / 1024:.1f} | {hr / 1024:.1f} | {hr / lr:.3f} | |")
bound = open(f"{out}/bound").read().split() if os.path.getsize(f"{out}/bound") else []
if bound and n != "0":
    ts, per_token, bw, copy = float(bound[1]), int(bound[3]), float(bound[5]), float(bound[7])
    l, h = statistics.mean(samples("llama", "tg", n)), statistics.mean(samples("hotmoe", "tg", n))
    print(f"\nmemory bound: {per_token / 2**20:.1f} MiB of weights per decoded token, read bandwidth {bw / 1e9:.2f} GB/s "
          f"(copy {copy / 1e9:.2f} GB/s read + write) -> at most {ts:.1f} t/s; llama.cpp reaches {100 * l / ts:.1f}%, hotmoe {100 * h / ts:.1f}%")
PY
rm -rf "$OUT"
