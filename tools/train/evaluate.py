#!/usr/bin/env python3
"""Evaluates the trained default model; writes tools/train/REPORT.md (and report.json).

1. Held-out loss per domain (nats/token, no expert dropping) vs a unigram baseline fitted on the
   training split (add-one smoothing).
2. SCH(m=16, rho=2) per layer from the model's routing on held-out text (docs/routing-consistency.md,
   free-fill convention) vs the same for uniform random routing.
3. Domain x domain hot-cache hit rate measured with hotmoe itself: a profile learned from one
   domain's prompts (--moe-layer-perf-out, summed over prompts), then hot-cache runs on every
   domain's other prompts at the same budget (--moe-hot-cache --moe-hot-cache-max-mib).
4. Greedy samples per domain from hotmoe, and llama.cpp's greedy continuation for comparison
   (when LLAMA_CPP_BIN points at a llama.cpp build).
Usage: python3 tools/train/evaluate.py [--hotmoe .build/release/hotmoe] [--budget-mib 3]
"""
import argparse, json, os, re, subprocess, sys, tempfile
import numpy as np
import jax, jax.numpy as jnp
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.path.join(HERE, ".cache")
sys.path.insert(0, HERE)
from model import Config, forward  # noqa: E402

DOMAINS = ["en", "py", "it", "de", "sh"]
NAMES = {"en": "English docs", "py": "Python code", "it": "Italian", "de": "German", "sh": "shell/config"}
MODEL = os.path.join(ROOT, "models", "hotmoe-default-q8_0.gguf")


def load_params(cfg):
    f = np.load(os.path.join(CACHE, "params.npz"))
    p = {k: jnp.asarray(f[k]) for k in ("tok_embd", "output_norm", "output")}
    p["layers"] = [{k.split(".", 2)[2]: jnp.asarray(f[k]) for k in f.files if k.startswith(f"layers.{i}.")} for i in range(cfg.n_layer)]
    return p


def heldout_eval(cfg, params, n_windows=24):
    """Loss and routing on held-out windows of each domain (dense MoE: exact, no drops)."""
    fwd = jax.jit(lambda p, x: forward(p, x, cfg, "dense"))
    out = {}
    for d in DOMAINS:
        toks = np.load(os.path.join(CACHE, "tokens", f"{d}.heldout.npy")).astype(np.int32)
        train = np.load(os.path.join(CACHE, "tokens", f"{d}.train.npy")).astype(np.int64)
        counts = np.bincount(train, minlength=cfg.vocab) + 1.0
        logp_uni = np.log(counts / counts.sum())
        T = cfg.ctx
        starts = np.linspace(0, len(toks) - T - 2, n_windows).astype(int)
        x = np.stack([toks[s:s + T] for s in starts]); y = np.stack([toks[s + 1:s + T + 1] for s in starts])
        nll, routes = [], []
        for i in range(0, n_windows, 8):
            logits, routing = fwd(params, jnp.asarray(x[i:i + 8]))
            lp = jax.nn.log_softmax(logits, -1)
            nll.append(-np.take_along_axis(np.asarray(lp), y[i:i + 8, :, None], -1)[..., 0])
            routes.append(np.stack([np.asarray(idx).reshape(len(x[i:i + 8]), T, cfg.top_k) for _, idx in routing], 1))
        out[d] = {"loss": float(np.concatenate(nll).mean()), "unigram": float(-logp_uni[y].mean()),
                  "routes": np.concatenate(routes)}  # [seq, layer, T, k]
    return out


def sch(routes, E, k, m=16, rho=2):
    """Layer-level SCH (free-fill): cache of rho*k experts, ranked by use in the future window."""
    C = rho * k
    hits = total = 0
    for seq in routes:                       # [layer, T, k]
        for layer in seq:
            T = layer.shape[0]
            last_use = {}
            seen = set()
            for t in range(T):
                window = layer[t:t + m].reshape(-1)
                cnt = np.bincount(window, minlength=E)
                order = sorted(range(E), key=lambda e: (-cnt[e], -last_use.get(e, -1)))
                cache = set(order[:C])
                for e in layer[t]:
                    e = int(e)
                    first = e not in seen
                    hit = e in cache or (first and len(seen) < C)
                    seen.add(e)
                    hits += hit
                    total += 1
                    last_use[e] = t
    return hits / total


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(" ".join(cmd) + "\n" + r.stderr[-2000:])
    return r.stdout, r.stderr


def prompts(d, n, half, chars=420):
    """n prompt texts of `chars` characters from one half of a domain's held-out documents
    (half 0 learns the profile, half 1 measures it: no document is in both)."""
    with open(os.path.join(CACHE, "corpus", f"{d}.heldout.jsonl")) as f:
        docs = [json.loads(line)["text"].strip() for line in f]
    docs = docs[:len(docs) // 2] if half == 0 else docs[len(docs) // 2:]
    chunks = [t[i:i + chars] for t in docs for i in range(0, len(t) - chars + 1, chars)]
    # Leave room for the generated tokens in the model's 256-token context.
    tok = Tokenizer.from_file(os.path.join(CACHE, "tokenizer.json"))
    chunks = [c for c in chunks if len(tok.encode(c).ids) <= 200]
    if len(chunks) < n:
        raise SystemExit(f"{d}: only {len(chunks)} held-out prompts of {chars} characters in half {half}")
    step = len(chunks) / n  # spread over the documents instead of taking one document's start
    return [chunks[int(i * step)] for i in range(n)]


def locality(hotmoe, budget_mib, n_prompts=4, n_gen=24):
    tmp = tempfile.mkdtemp()
    profiles = {}
    for d in DOMAINS:
        total = {}
        for i, p in enumerate(prompts(d, n_prompts, 0)):
            f = os.path.join(tmp, f"{d}-{i}.json")
            run([hotmoe, "run", "-m", MODEL, "-p", p, "-n", str(n_gen), "--temp", "0", "--ignore-eos", "--cpu-moe", "--moe-layer-perf-out", f])
            for layer in json.load(open(f))["layers"]:
                for e, h in layer["experts"]:
                    total[(layer["layer"], e)] = total.get((layer["layer"], e), 0) + h
        layers = sorted({l for l, _ in total})
        prof = {"schema": "llama.cpp.moe_layer_opt_perf.v1", "layers": [
            {"layer": l, "experts": sorted([[e, h] for (ll, e), h in total.items() if ll == l], key=lambda x: -x[1])} for l in layers]}
        profiles[d] = os.path.join(tmp, f"profile-{d}.json")
        json.dump(prof, open(profiles[d], "w"))
    matrix = {}
    for src in DOMAINS:
        for dst in DOMAINS:
            rates = []
            for p in prompts(dst, n_prompts, 1):
                _, err = run([hotmoe, "run", "-m", MODEL, "-p", p, "-n", str(n_gen), "--temp", "0", "--ignore-eos", "--cpu-moe",
                              "--moe-hot-cache", profiles[src], "--moe-hot-cache-max-mib", str(budget_mib)])
                rates.append(float(re.search(r"hit rate ([0-9.]+)%", err).group(1)))
            matrix[(src, dst)] = sum(rates) / len(rates)
    hot = re.search(r"(\d+)/(\d+) experts hot", err)
    return matrix, (int(hot.group(1)), int(hot.group(2)))


def samples(hotmoe):
    starts = {"en": "The configuration file", "py": "def parse_args(", "it": "Il sistema", "de": "Die Datei", "sh": "#!/bin/sh\nset -e\n"}
    out = {}
    llama = os.environ.get("LLAMA_CPP_BIN")
    for d, s in starts.items():
        text, _ = run([hotmoe, "run", "-m", MODEL, "-p", s, "-n", "40", "--temp", "0"])
        sampled, _ = run([hotmoe, "run", "-m", MODEL, "-p", s, "-n", "40", "--temp", "0.8", "--seed", "7"])
        rec = {"greedy": text.strip(), "sampled": sampled.strip()}
        if llama:
            env = dict(os.environ, LD_LIBRARY_PATH=llama)
            r = subprocess.run([os.path.join(llama, "llama-completion"), "-m", MODEL, "-p", s, "-n", "40", "--temp", "0", "-no-cnv",
                                "-ctk", "f32", "-ctv", "f32", "-fa", "off", "--no-warmup"], capture_output=True, text=True, env=env, timeout=300)
            rec["llama_cpp_greedy"] = r.stdout.strip()
            rec["llama_cpp_equal"] = r.stdout.strip() == text.strip()
        out[d] = rec
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hotmoe", default=os.path.join(ROOT, ".build", "release", "hotmoe"))
    ap.add_argument("--budget-mib", type=int, default=3)
    args = ap.parse_args()
    cfg = Config()
    params = load_params(cfg)
    ev = heldout_eval(cfg, params)
    rng = np.random.default_rng(0)
    uniform = np.stack([np.stack([np.stack([rng.choice(cfg.n_expert, cfg.top_k, replace=False) for _ in range(cfg.ctx)])
                                  for _ in range(cfg.n_layer)]) for _ in range(4)])
    sch_uniform = sch(uniform, cfg.n_expert, cfg.top_k)
    sch_model = {d: sch(ev[d]["routes"][:4], cfg.n_expert, cfg.top_k) for d in DOMAINS}
    matrix, (hot, total) = locality(args.hotmoe, args.budget_mib)
    smp = samples(args.hotmoe)
    meta = json.load(open(os.path.join(CACHE, "train_meta.json")))
    lines = ["# hotmoe default model: evaluation", "",
             f"Model: `models/hotmoe-default-q8_0.gguf` (qwen3moe, {cfg.n_layer} layers, hidden {cfg.d_model}, {cfg.n_expert} experts top-{cfg.top_k}, "
             f"expert FF {cfg.d_ff_exp}, vocab {cfg.vocab}, context {cfg.ctx}); {meta['steps']} training steps in {meta['seconds'] / 60:.1f} min "
             f"(batch {meta['batch']} x {cfg.ctx} tokens, load-balance coefficient {meta['balance_coef']}).", "",
             "## Held-out loss (nats/token)", "", "| domain | model | unigram baseline |", "| --- | ---: | ---: |"]
    lines += [f"| {NAMES[d]} | {ev[d]['loss']:.3f} | {ev[d]['unigram']:.3f} |" for d in DOMAINS]
    lines += ["", f"## Routing locality: SCH(m=16, rho=2), layer level, free-fill", "",
              "| domain | SCH | uniform routing |", "| --- | ---: | ---: |"]
    lines += [f"| {NAMES[d]} | {sch_model[d]:.3f} | {sch_uniform:.3f} |" for d in DOMAINS]
    lines += ["", f"## Hot-cache hit rate: profile domain (rows) x workload domain (columns)", "",
              f"Budget {args.budget_mib} MiB = {hot}/{total} experts hot ({100 * hot / total:.0f}%); measured by `hotmoe run` "
              f"(profile: --moe-layer-perf-out over 4 prompts; workload: 4 other held-out prompts, 24 generated tokens each).", "",
              "| profile \\ workload | " + " | ".join(NAMES[d] for d in DOMAINS) + " |", "| --- |" + " ---: |" * len(DOMAINS)]
    for s in DOMAINS:
        lines.append(f"| {NAMES[s]} | " + " | ".join(f"{matrix[(s, d)]:.1f}%" + (" **" if s == d else "") for d in DOMAINS) + " |")
    lines += ["", "## Samples (hotmoe, greedy and temperature 0.8)", ""]
    for d in DOMAINS:
        lines += [f"**{NAMES[d]}** greedy:", "```", smp[d]["greedy"], "```", "sampled:", "```", smp[d]["sampled"], "```"]
        if "llama_cpp_equal" in smp[d]:
            lines += [f"llama.cpp greedy continuation identical: {smp[d]['llama_cpp_equal']}", ""]
    open(os.path.join(HERE, "REPORT.md"), "w").write("\n".join(lines) + "\n")
    json.dump({"heldout": {d: {"loss": ev[d]["loss"], "unigram": ev[d]["unigram"]} for d in DOMAINS}, "sch_uniform": sch_uniform,
               "sch": sch_model, "locality": {f"{s}->{d}": v for (s, d), v in matrix.items()}, "hot_experts": [hot, total],
               "samples": smp}, open(os.path.join(HERE, "report.json"), "w"), indent=1, ensure_ascii=False)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
