#!/usr/bin/env python3
"""Dumps every F32 tensor llama.cpp computes for one prompt (its eval callback, through the
llama-cpp-python binding's ctypes API) to an .npz: name -> flat values, "__shape__" + name ->
ggml's ne. Used to find the first tensor where hotmoe's arithmetic leaves llama.cpp's (tap the
same points in hotmoe, compare row by row; see docs/architectures.md, "Fidelity").

Usage: tools/golden/dump_llama_tensors.py MODEL.gguf '[token ids as JSON]' OUT.npz
Environment: LLAMA_CPP_PYTHON (the sdist folder), LLAMA_CPP_LIB_PATH (its build/bin).
The context matches hotmoe's arithmetic: F32 KV cache, no flash attention, one sequence,
logits for every token.
"""
import ctypes, sys, os, json
import numpy as np
sys.path.insert(0, os.environ.get("LLAMA_CPP_PYTHON", "/work/ref/llama_cpp_python-0.3.36"))
os.environ.setdefault("LLAMA_CPP_LIB_PATH", "/work/ref/build/bin")
import llama_cpp as L
gb = ctypes.CDLL(os.path.join(os.environ["LLAMA_CPP_LIB_PATH"], "libggml-base.so"))
gb.ggml_get_name.restype = ctypes.c_char_p; gb.ggml_get_name.argtypes = [ctypes.c_void_p]
gb.ggml_nbytes.restype = ctypes.c_size_t; gb.ggml_nbytes.argtypes = [ctypes.c_void_p]
gb.ggml_backend_tensor_get.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
gb.ggml_is_contiguous.restype = ctypes.c_bool; gb.ggml_is_contiguous.argtypes = [ctypes.c_void_p]
path, tokens_json, out = sys.argv[1], sys.argv[2], sys.argv[3]
tokens = json.loads(tokens_json)
got = {}
@L.ggml_backend_sched_eval_callback
def cb(t, ask, ud):
    if ask: return True
    name = gb.ggml_get_name(t).decode()
    typ = ctypes.c_int32.from_address(t).value
    ne = [ctypes.c_int64.from_address(t + 16 + 8 * i).value for i in range(4)]
    if typ == 0 and gb.ggml_is_contiguous(t):
        n = gb.ggml_nbytes(t)
        buf = (ctypes.c_float * (n // 4))()
        gb.ggml_backend_tensor_get(t, buf, 0, n)
        got[name] = (ne, np.frombuffer(buf, dtype=np.float32).copy())
    return True
L.llama_backend_init()
mp = L.llama_model_default_params()
model = L.llama_model_load_from_file(path.encode(), mp)
cp = L.llama_context_default_params()
cp.n_ctx = 256; cp.n_batch = 512; cp.n_ubatch = 512; cp.n_threads = 2; cp.n_threads_batch = 2
cp.type_k = 0; cp.type_v = 0
cp.cb_eval = cb
try: cp.flash_attn_type = 0
except Exception: pass
ctx = L.llama_init_from_model(model, cp)
batch = L.llama_batch_init(len(tokens), 0, 1)
for i, t in enumerate(tokens):
    batch.token[i] = t; batch.pos[i] = i; batch.n_seq_id[i] = 1; batch.seq_id[i][0] = 0; batch.logits[i] = 1
batch.n_tokens = len(tokens)
assert L.llama_decode(ctx, batch) == 0
np.savez(out, **{k: v[1] for k, v in got.items()}, **{"__shape__" + k: np.array(v[0]) for k, v in got.items()})
print(len(got), "tensors;", ", ".join(k for k in got if k.endswith("-0") or k.endswith("-1")))
