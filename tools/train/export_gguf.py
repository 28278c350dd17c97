#!/usr/bin/env python3
"""Writes the trained model as a GGUF of the qwen3moe architecture, the way llama.cpp reads it.

Matrices are stored [n_out rows x n_in cols] (GGUF dims [n_in, n_out]); expert stacks are
[n_expert, n_ff, n_embd] for gate/up and [n_expert, n_embd, n_ff] for down. Norms and the router
(ffn_gate_inp) stay F32, as llama-quantize keeps them; everything else is Q8_0 (or F32 with --f32).
Usage: python3 tools/train/export_gguf.py [--f32] [-o models/hotmoe-default-q8_0.gguf]
"""
import argparse, json, os, sys
import numpy as np
import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("HOTMOE_TRAIN_CACHE", os.path.join(HERE, ".cache"))
sys.path.insert(0, HERE)
from model import Config  # noqa: E402

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--f32", action="store_true")
    ap.add_argument("-o", "--output")
    args = ap.parse_args()
    out = args.output or (os.path.join(CACHE, "hotmoe-default-f32.gguf") if args.f32 else os.path.join(ROOT, "models", "hotmoe-default-q8_0.gguf"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cfg = Config()
    p = dict(np.load(os.path.join(CACHE, "params.npz")))
    meta = json.load(open(os.path.join(CACHE, "train_meta.json")))
    tok = json.load(open(os.path.join(CACHE, "tokenizer.json")))

    w = gguf.GGUFWriter(out, "qwen3moe")
    a = "qwen3moe."
    w.add_name("hotmoe-default (trained qwen3moe, 5 domains)")
    w.add_uint32(a + "block_count", cfg.n_layer)
    w.add_uint32(a + "context_length", cfg.ctx)
    w.add_uint32(a + "embedding_length", cfg.d_model)
    w.add_uint32(a + "feed_forward_length", cfg.d_ff_exp)
    w.add_uint32(a + "expert_feed_forward_length", cfg.d_ff_exp)
    w.add_uint32(a + "attention.head_count", cfg.n_head)
    w.add_uint32(a + "attention.head_count_kv", cfg.n_kv_head)
    w.add_uint32(a + "attention.key_length", cfg.head_dim)
    w.add_uint32(a + "attention.value_length", cfg.head_dim)
    w.add_float32(a + "rope.freq_base", cfg.rope_base)
    w.add_float32(a + "attention.layer_norm_rms_epsilon", cfg.eps)
    w.add_uint32(a + "expert_count", cfg.n_expert)
    w.add_uint32(a + "expert_used_count", cfg.top_k)
    w.add_uint32("general.file_type", 0 if args.f32 else 7)
    w.add_string("general.description", f"hotmoe embedded default model: {meta['steps']} steps on en/py/it/de/sh text from Debian and PyPI packages (tools/train)")

    vocab = tok["model"]["vocab"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    special = {a["content"]: a["id"] for a in tok["added_tokens"]}
    types = [gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(special["<|endoftext|>"])
    w.add_eos_token_id(special["<|endoftext|>"])
    w.add_pad_token_id(special["<|endoftext|>"])
    w.add_add_bos_token(False)
    w.add_chat_template(CHATML)

    def put(name, arr, quantize=True):
        arr = np.ascontiguousarray(arr.astype(np.float32))
        if quantize and not args.f32:
            q = gguf.quants.quantize(arr, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(name, arr)

    put("token_embd.weight", p["tok_embd"])                       # [V, d]
    put("output_norm.weight", p["output_norm"], False)
    put("output.weight", p["output"].T)                           # [V, d]
    for i in range(cfg.n_layer):
        l = lambda k: p[f"layers.{i}.{k}"]
        b = f"blk.{i}."
        put(b + "attn_norm.weight", l("attn_norm"), False)
        put(b + "attn_q.weight", l("wq").T)
        put(b + "attn_k.weight", l("wk").T)
        put(b + "attn_v.weight", l("wv").T)
        put(b + "attn_output.weight", l("wo").T)
        put(b + "attn_q_norm.weight", l("q_norm"), False)
        put(b + "attn_k_norm.weight", l("k_norm"), False)
        put(b + "ffn_norm.weight", l("ffn_norm"), False)
        put(b + "ffn_gate_inp.weight", l("router").T, False)        # [E, d]
        put(b + "ffn_gate_exps.weight", np.transpose(l("gate"), (0, 2, 1)))   # [E, f, d]
        put(b + "ffn_up_exps.weight", np.transpose(l("up"), (0, 2, 1)))
        put(b + "ffn_down_exps.weight", np.transpose(l("down"), (0, 2, 1)))   # [E, d, f]
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {out} ({os.path.getsize(out) / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
