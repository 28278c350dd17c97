#!/usr/bin/env python3
"""Trains the embedded default model (qwen3moe architecture) on the domain corpus.

Batches draw each row from a uniformly chosen domain (en, py, it, de, sh), so small domains are
not drowned out. Loss: next-token cross-entropy + a small Switch-style load-balance term (small
on purpose: domain-specialised experts are what make the hot cache useful). AdamW with warm-up
and cosine decay; training stops at a wall-clock budget and checkpoints so a run can resume.

Usage: python3 tools/train/train.py [--minutes 30] [--steps 900] [--seed 0]
Output: tools/train/.cache/params.npz (+ ckpt.npz while running), train_log.jsonl
"""
import argparse, json, os, pickle, sys, time
import numpy as np
import jax, jax.numpy as jnp, optax

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from model import Config, init_params, forward, load_balance_loss  # noqa: E402

CACHE = os.path.join(HERE, ".cache")
DOMAINS = ["en", "py", "it", "de", "sh"]
CFG = Config()
BATCH = 16
BALANCE_COEF = 0.01


def load_split(split):
    return {d: np.load(os.path.join(CACHE, "tokens", f"{d}.{split}.npy")).astype(np.int32) for d in DOMAINS}


def batch(rng, data, T):
    doms = rng.integers(0, len(DOMAINS), BATCH)
    rows = []
    for d in doms:
        arr = data[DOMAINS[d]]
        s = rng.integers(0, len(arr) - T - 1)
        rows.append(arr[s:s + T + 1])
    b = np.stack(rows)
    return jnp.asarray(b[:, :-1]), jnp.asarray(b[:, 1:])


def loss_fn(params, x, y):
    logits, routing = forward(params, x, CFG, "capacity")
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return ce + BALANCE_COEF * load_balance_loss(routing, CFG), ce


def make_optimizer(steps):
    sched = optax.warmup_cosine_decay_schedule(0.0, 3e-3, warmup_steps=min(80, steps // 10), decay_steps=steps, end_value=3e-4)
    decay_mask = lambda p: jax.tree_util.tree_map(lambda a: a.ndim >= 2, p)  # no decay on norms
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(sched, b1=0.9, b2=0.95, weight_decay=0.1, mask=decay_mask))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--steps", type=int, default=900)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    train = load_split("train")
    opt = make_optimizer(args.steps)
    ckpt = os.path.join(CACHE, "ckpt.pkl")
    if os.path.exists(ckpt):
        with open(ckpt, "rb") as f:
            state = pickle.load(f)
        params, opt_state, start, rng_state = state["params"], state["opt"], state["step"], state["rng"]
        rng = np.random.default_rng()
        rng.bit_generator.state = rng_state
        print(f"resuming at step {start}", flush=True)
    else:
        params = init_params(CFG, jax.random.PRNGKey(args.seed))
        opt_state = opt.init(params)
        start, rng = 0, np.random.default_rng(args.seed)

    @jax.jit
    def step(params, opt_state, x, y):
        (_, ce), g = jax.value_and_grad(loss_fn, has_aux=True)(params, x, y)
        updates, opt_state = opt.update(g, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, ce

    t0 = time.time()
    log = open(os.path.join(CACHE, "train_log.jsonl"), "a")
    s = start
    for s in range(start, args.steps):
        x, y = batch(rng, train, CFG.ctx)
        params, opt_state, ce = step(params, opt_state, x, y)
        if s % 10 == 0 or s == args.steps - 1:
            ce = float(ce)
            el = time.time() - t0
            rec = {"step": s, "ce": round(ce, 4), "elapsed_s": round(el, 1), "tokens": (s + 1) * BATCH * CFG.ctx}
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n"); log.flush()
        if s % 50 == 49:
            with open(ckpt + ".tmp", "wb") as f:
                pickle.dump({"params": jax.device_get(params), "opt": jax.device_get(opt_state), "step": s + 1,
                             "rng": rng.bit_generator.state}, f)
            os.replace(ckpt + ".tmp", ckpt)
        if time.time() - t0 > args.minutes * 60:
            print(f"time budget reached at step {s}", flush=True)
            break
    flat = {}
    p = jax.device_get(params)
    for k in ("tok_embd", "output_norm", "output"):
        flat[k] = np.asarray(p[k])
    for i, lp in enumerate(p["layers"]):
        for k, v in lp.items():
            flat[f"layers.{i}.{k}"] = np.asarray(v)
    np.savez(os.path.join(CACHE, "params.npz"), **flat)
    json.dump({"steps": s + 1, "seconds": round(time.time() - t0, 1), "config": CFG.__dict__, "batch": BATCH,
               "balance_coef": BALANCE_COEF}, open(os.path.join(CACHE, "train_meta.json"), "w"), indent=1)
    print("saved params.npz", flush=True)


if __name__ == "__main__":
    main()
