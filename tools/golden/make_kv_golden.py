#!/usr/bin/env python3
"""Regenerates Tests/EngineTests/Golden/KVCache/qwen3moe-f32.json: llama.cpp's prompt logits with
F16 and Q8_0 KV caches for the qwen3moe F32 model of make_golden.py (same spec, same seed).

Usage: tools/golden/make_kv_golden.py [--hotmoe PATH] [--llama-cpp-python DIR] [--lib DIR]
F16 K/V runs without flash attention (hotmoe follows that path); llama.cpp takes a Q8_0 V cache
only with flash attention, so the Q8_0 record uses it (its online softmax differs from hotmoe's
order within float rounding).
"""
import argparse, base64, json, os, struct, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as g  # noqa: E402

GGML_TYPES = {"f16": 1, "q8_0": 8}
CACHE_CASES = [("f16", "f16", False), ("q8_0", "q8_0", True)]


def logits_with_cache(llama_cpp, path, tokens, type_k, type_v, flash):
    llm = llama_cpp.Llama(model_path=path, n_ctx=128, n_batch=64, n_ubatch=64, n_threads=2, logits_all=True,
                          type_k=GGML_TYPES[type_k], type_v=GGML_TYPES[type_v], flash_attn=flash, verbose=False)
    llm.reset()
    llm.eval(tokens)
    n_vocab = llm.n_vocab()
    logits = [float(x) for row in llm.scores[:len(tokens)] for x in row[:n_vocab]]
    del llm
    return base64.b64encode(struct.pack(f"<{len(logits)}f", *logits)).decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hotmoe", default=os.path.join(g.ROOT, ".build", "release", "hotmoe"))
    ap.add_argument("--llama-cpp-python", default=os.environ.get("LLAMA_CPP_PYTHON", "/work/ref/llama_cpp_python-0.3.36"))
    ap.add_argument("--lib", default=os.environ.get("LLAMA_CPP_LIB_PATH", "/work/ref/build/bin"))
    args = ap.parse_args()
    llama_cpp = g.import_llama_cpp(args.llama_cpp_python, args.lib)
    s = g.SHAPE
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "qwen3moe-f32.gguf")
        subprocess.run([args.hotmoe, "generate-model", "-o", path, "--preset", "tiny", "--arch", "qwen3moe", "--type", "f32",
                        "--layers", str(s["layers"]), "--embedding", str(s["embedding"]), "--heads", str(s["heads"]),
                        "--kv-heads", str(s["kv_heads"]), "--head-dim", str(s["head_dim"]), "--experts", str(s["experts"]),
                        "--experts-used", str(s["experts_used"]), "--expert-ff", str(s["expert_ff"]), "--seed", "7"], check=True)
        base = g.reference_record(llama_cpp, path, g.PROMPT)
        record = {"architecture": "qwen3moe", "weight_type": "f32", "seed": 7, **s, "fnv1a64": g.fnv1a64(open(path, "rb").read()),
                  **base, "cache_logits_f32_base64": {}}
        for type_k, type_v, flash in CACHE_CASES:
            record["cache_logits_f32_base64"][f"{type_k}/{type_v}"] = logits_with_cache(
                llama_cpp, path, base["prompt_tokens"], type_k, type_v, flash)
        record["cache_reference"] = "llama.cpp via llama-cpp-python; f16/f16 without flash attention, q8_0/q8_0 with it"
    out = os.path.join(g.OUT, "KVCache")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "qwen3moe-f32.json"), "w") as f:
        json.dump(record, f)
    print("wrote", os.path.join(out, "qwen3moe-f32.json"))


if __name__ == "__main__":
    main()
