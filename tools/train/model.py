"""qwen3moe forward pass in JAX, matching llama.cpp src/models/qwen3moe.cpp.

Weights are stored for `x @ W` (input dimension first); export_gguf.py transposes them into
llama.cpp's layout. Per layer: RMSNorm -> GQA attention with per-head q/k RMSNorm and NeoX RoPE ->
residual -> RMSNorm -> MoE (softmax router over all experts, top-k, renormalised weights, SwiGLU
experts) -> residual. Final RMSNorm, untied output head.
"""
import dataclasses
import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Config:
    vocab: int = 4096
    n_layer: int = 4
    d_model: int = 256
    n_head: int = 4
    n_kv_head: int = 2
    head_dim: int = 64
    n_expert: int = 32
    top_k: int = 4
    d_ff_exp: int = 128
    ctx: int = 256
    rope_base: float = 10000.0
    eps: float = 1e-6


def init_params(cfg: Config, key):
    d, hd, E, f = cfg.d_model, cfg.head_dim, cfg.n_expert, cfg.d_ff_exp
    keys = iter(jax.random.split(key, 8 + 16 * cfg.n_layer))
    nrm = lambda shape, fan_in: jax.random.normal(next(keys), shape, jnp.float32) / jnp.sqrt(fan_in)
    resid_scale = 1.0 / jnp.sqrt(2.0 * cfg.n_layer)
    p = {
        "tok_embd": jax.random.normal(next(keys), (cfg.vocab, d), jnp.float32) * 0.02 * 25,
        "output_norm": jnp.ones((d,), jnp.float32),
        "output": nrm((d, cfg.vocab), d),
        "layers": [],
    }
    p["tok_embd"] = p["tok_embd"] / 25 * 1.0  # std 0.02 embeddings
    for _ in range(cfg.n_layer):
        p["layers"].append({
            "attn_norm": jnp.ones((d,), jnp.float32),
            "wq": nrm((d, cfg.n_head * hd), d),
            "wk": nrm((d, cfg.n_kv_head * hd), d),
            "wv": nrm((d, cfg.n_kv_head * hd), d),
            "wo": nrm((cfg.n_head * hd, d), cfg.n_head * hd) * resid_scale,
            "q_norm": jnp.ones((hd,), jnp.float32),
            "k_norm": jnp.ones((hd,), jnp.float32),
            "ffn_norm": jnp.ones((d,), jnp.float32),
            "router": nrm((d, E), d) * 0.1,
            "gate": nrm((E, d, f), d),
            "up": nrm((E, d, f), d),
            "down": nrm((E, f, d), f) * resid_scale,
        })
    return p


def rms_norm(x, w, eps):
    x32 = x.astype(jnp.float32)
    return (x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps) * w).astype(x.dtype)


def rope_neox(x, pos, base):
    # x: [B, T, H, hd]; NeoX style rotates the two halves of each head.
    hd = x.shape[-1]
    half = hd // 2
    inv = base ** (-jnp.arange(0, half, dtype=jnp.float32) * 2.0 / hd)
    ang = pos[:, None].astype(jnp.float32) * inv[None, :]          # [T, half]
    cos, sin = jnp.cos(ang)[None, :, None, :], jnp.sin(ang)[None, :, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def attention(lp, x, cfg: Config):
    B, T, _ = x.shape
    H, KV, hd = cfg.n_head, cfg.n_kv_head, cfg.head_dim
    q = (x @ lp["wq"]).reshape(B, T, H, hd)
    k = (x @ lp["wk"]).reshape(B, T, KV, hd)
    v = (x @ lp["wv"]).reshape(B, T, KV, hd)
    q = rms_norm(q, lp["q_norm"], cfg.eps)
    k = rms_norm(k, lp["k_norm"], cfg.eps)
    pos = jnp.arange(T)
    q, k = rope_neox(q, pos, cfg.rope_base), rope_neox(k, pos, cfg.rope_base)
    g = H // KV  # q head h uses kv head h // g (ggml broadcast / HF repeat_kv)
    q = q.reshape(B, T, KV, g, hd)
    s = jnp.einsum("btkgd,bskd->bkgts", q, k) / jnp.sqrt(float(hd))
    mask = jnp.tril(jnp.ones((T, T), bool))
    s = jnp.where(mask, s, -1e30)
    a = jax.nn.softmax(s, axis=-1)
    o = jnp.einsum("bkgts,bskd->btkgd", a, v).reshape(B, T, H * hd)
    return o @ lp["wo"]


def route(lp, x, cfg: Config):
    logits = x @ lp["router"]                                       # [N, E]
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    w, idx = jax.lax.top_k(probs, cfg.top_k)                         # [N, k]
    w = w / jnp.sum(w, axis=-1, keepdims=True)                       # norm_topk_prob
    return probs, w, idx


def moe_sparse(lp, x, cfg: Config):
    """No-drop sparse MoE: sort (token, slot) pairs by expert and use ragged matmuls."""
    N, d = x.shape
    k, E = cfg.top_k, cfg.n_expert
    probs, w, idx = route(lp, x, cfg)
    flat_e = idx.reshape(-1)                                          # [N*k]
    order = jnp.argsort(flat_e)
    tok = order // k
    xs = x[tok]                                                       # [N*k, d]
    sizes = jnp.bincount(flat_e, length=E).astype(jnp.int32)
    hg = jax.lax.ragged_dot(xs, lp["gate"], sizes)
    hu = jax.lax.ragged_dot(xs, lp["up"], sizes)
    h = jax.nn.silu(hg) * hu
    ys = jax.lax.ragged_dot(h, lp["down"], sizes)                     # [N*k, d]
    ys = ys * w.reshape(-1)[order][:, None]
    y = jnp.zeros((N, d), ys.dtype).at[tok].add(ys)
    return y, probs, idx


def moe_dense(lp, x, cfg: Config):
    """Reference: every expert on every token, combined with the (sparse) top-k weights."""
    probs, w, idx = route(lp, x, cfg)
    comb = jnp.zeros_like(probs).at[jnp.arange(x.shape[0])[:, None], idx].set(w)   # [N, E]
    hg = jnp.einsum("nd,edf->nef", x, lp["gate"])
    hu = jnp.einsum("nd,edf->nef", x, lp["up"])
    y = jnp.einsum("nef,efd,ne->nd", jax.nn.silu(hg) * hu, lp["down"], comb)
    return y, probs, idx


def moe_capacity(lp, x, cfg: Config, capacity_factor=2.0):
    """Capacity-based dispatch (tokens over an expert's capacity are dropped)."""
    N, d = x.shape
    k, E = cfg.top_k, cfg.n_expert
    C = int(N * k / E * capacity_factor)
    probs, w, idx = route(lp, x, cfg)
    flat_e = idx.reshape(-1)
    order = jnp.argsort(flat_e, stable=True)
    se = flat_e[order]
    starts = jnp.searchsorted(se, jnp.arange(E))
    rank = jnp.arange(N * k) - starts[se]
    keep = rank < C
    slot = jnp.where(keep, se * C + rank, E * C)                      # overflow -> dummy slot
    tok = order // k
    buf = jnp.zeros((E * C + 1, d), x.dtype).at[slot].set(x[tok])[:-1].reshape(E, C, d)
    h = jax.nn.silu(jnp.einsum("ecd,edf->ecf", buf, lp["gate"])) * jnp.einsum("ecd,edf->ecf", buf, lp["up"])
    yb = jnp.einsum("ecf,efd->ecd", h, lp["down"]).reshape(E * C, d)
    yb = jnp.concatenate([yb, jnp.zeros((1, d), yb.dtype)])
    ys = yb[slot] * (w.reshape(-1)[order] * keep)[:, None]
    y = jnp.zeros((N, d), ys.dtype).at[tok].add(ys)
    return y, probs, idx


MOE_IMPLS = {"sparse": moe_sparse, "dense": moe_dense, "capacity": moe_capacity}


def forward(params, tokens, cfg: Config, moe_impl="sparse"):
    """tokens [B, T] -> logits [B, T, V], list of (probs [N,E], idx [N,k]) per layer."""
    moe = MOE_IMPLS[moe_impl]
    B, T = tokens.shape
    x = params["tok_embd"][tokens]
    routing = []
    for lp in params["layers"]:
        h = x + attention(lp, rms_norm(x, lp["attn_norm"], cfg.eps), cfg)
        y, probs, idx = moe(lp, rms_norm(h, lp["ffn_norm"], cfg.eps).reshape(B * T, -1), cfg)
        x = h + y.reshape(B, T, -1)
        routing.append((probs, idx))
    x = rms_norm(x, params["output_norm"], cfg.eps)
    return x @ params["output"], routing


def load_balance_loss(routing, cfg: Config):
    """Switch-style auxiliary loss E * sum_e f_e * P_e, averaged over layers (1.0 = uniform)."""
    tot = 0.0
    for probs, idx in routing:
        f = jnp.mean(jax.nn.one_hot(idx, cfg.n_expert, dtype=jnp.float32).sum(1), 0) / cfg.top_k
        P = jnp.mean(probs, 0)
        tot = tot + cfg.n_expert * jnp.sum(f * P)
    return tot / len(routing)
