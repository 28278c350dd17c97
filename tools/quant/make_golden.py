#!/usr/bin/env python3
"""Writes golden fixtures for Tests/QuantTests from independent implementations.

* Dequantisation: random block bytes decoded by gguf-py (`pip install gguf numpy`).
* Quantisation, activation conversion and dot products: ggml itself, called through ctypes
  from a llama.cpp build (libggml-base.so / libggml-cpu.so; pass --ggml-lib DIR). Skipped with
  a warning when the libraries are absent.

All files are little-endian raw arrays; Fixtures/index.json describes them.
Usage (gguf-py from llama.cpp's tree works: PYTHONPATH=.../llama.cpp/gguf-py):
       tools/quant/make_golden.py [--ggml-lib /work/ref/build/bin] [--out Tests/QuantTests/Fixtures]
"""
import argparse
import ctypes
import json
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as QT
from gguf import quants

ROW = 512  # elements per dequantisation / dot-product row: 2 K-quant super-blocks, 16 Q8_0 blocks
QUANT_ROW = 2048  # elements per quantisation row (more blocks: the K-quant searches have many branches)
TYPES = {  # name -> (gguf type, ggml type id, block elements, block bytes)
    "f16": (QT.F16, 1, 1, 2),
    "bf16": (QT.BF16, 30, 1, 2),
    "q8_0": (QT.Q8_0, 8, 32, 34),
    "q4_0": (QT.Q4_0, 2, 32, 18),
    "q4_K": (QT.Q4_K, 12, 256, 144),
    "q5_K": (QT.Q5_K, 13, 256, 176),
    "q6_K": (QT.Q6_K, 14, 256, 210),
    # Appended after the original types so their fixtures (drawn first from the seed) stay as they were.
    "q4_1": (QT.Q4_1, 3, 32, 20),
    "q5_0": (QT.Q5_0, 6, 32, 22),
    "q5_1": (QT.Q5_1, 7, 32, 24),
    "iq4_nl": (QT.IQ4_NL, 20, 32, 18),
    "mxfp4": (QT.MXFP4, 39, 32, 17),
    "q2_K": (QT.Q2_K, 10, 256, 84),
    "q3_K": (QT.Q3_K, 11, 256, 110),
    "iq4_xs": (QT.IQ4_XS, 23, 256, 136),
    "iq2_xxs": (QT.IQ2_XXS, 16, 256, 66),
    "iq2_xs": (QT.IQ2_XS, 17, 256, 74),
    "iq2_s": (QT.IQ2_S, 22, 256, 82),
    "iq3_xxs": (QT.IQ3_XXS, 18, 256, 98),
    "iq3_s": (QT.IQ3_S, 21, 256, 110),
    "iq1_s": (QT.IQ1_S, 19, 256, 50),
    "iq1_m": (QT.IQ1_M, 29, 256, 56),
}
# The grid formats: ggml quantises them only with an importance matrix (ones here).
GRID_TYPES = ("iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m")
# Offsets of fp16 scale fields inside each block (random bytes there could be NaN/inf).
HALF_FIELDS = {"q8_0": [0], "q4_0": [0], "q4_K": [0, 2], "q5_K": [0, 2], "q6_K": [208],
               "q4_1": [0, 2], "q5_0": [0], "q5_1": [0, 2], "iq4_nl": [0], "mxfp4": [],
               "q2_K": [80, 82], "q3_K": [108], "iq4_xs": [0],
               "iq2_xxs": [0], "iq2_xs": [0], "iq2_s": [0], "iq3_xxs": [0], "iq3_s": [0], "iq1_s": [0], "iq1_m": []}


def random_blocks(rng, name, nblocks):
    _, _, _, size = TYPES[name]
    raw = rng.integers(0, 256, size=(nblocks, size), dtype=np.uint8)
    if name in ("f16", "bf16"):
        vals = raw.view(np.uint16).copy()
        # Keep finite values; exponent all-ones (inf/NaN) is replaced by a random normal.
        exp_mask = 0x7C00 if name == "f16" else 0x7F80
        bad = (vals & exp_mask) == exp_mask
        vals[bad] &= ~np.uint16(0x4000)
        return vals.view(np.uint8).reshape(nblocks, size)
    if name == "mxfp4":  # the E8M0 exponent byte: keep scales finite and moderate
        raw[:, 0] = rng.integers(107, 127, size=nblocks, dtype=np.uint8)
    if name == "iq1_m":  # no d field: the fp16 scale's nibbles top the four uint16 scale words
        h = rng.uniform(-0.05, 0.05, size=nblocks).astype(np.float16).view(np.uint16)
        for k in range(4):
            raw[:, 49 + 2 * k] = (raw[:, 49 + 2 * k] & 0x0F) | (((h >> (4 * k)) & 0xF) << 4).astype(np.uint8)
    for off in HALF_FIELDS[name]:
        h = rng.uniform(-0.05, 0.05, size=nblocks).astype(np.float16)
        raw[:, off:off + 2] = h.view(np.uint8).reshape(nblocks, 2)
    return raw


def test_row(rng, n):
    """Activation-like data: Gaussian with a few outliers."""
    x = rng.normal(0, 1, size=n).astype(np.float32)
    idx = rng.choice(n, size=max(1, n // 64), replace=False)
    x[idx] *= 8
    return x


class Ggml:
    class TraitsCPU(ctypes.Structure):
        _fields_ = [("from_float", ctypes.c_void_p), ("vec_dot", ctypes.c_void_p),
                    ("vec_dot_type", ctypes.c_int), ("nrows", ctypes.c_int64)]

    FROM_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    VEC_DOT = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t,
                               ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    BLOCK_BYTES = {0: (1, 4), 1: (1, 2), 30: (1, 2), 8: (32, 34), 9: (32, 36), 15: (256, 292)}

    def __init__(self, libdir):
        mode = ctypes.RTLD_GLOBAL
        self.base = ctypes.CDLL(os.path.join(libdir, "libggml-base.so"), mode=mode)
        self.cpu = ctypes.CDLL(os.path.join(libdir, "libggml-cpu.so"), mode=mode)
        self.cpu.ggml_cpu_init()
        self.cpu.ggml_get_type_traits_cpu.restype = ctypes.POINTER(self.TraitsCPU)
        self.base.ggml_quantize_chunk.restype = ctypes.c_size_t
        self.base.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                                  ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]

    def quantize(self, type_id, x, nbytes, imatrix=None):
        out = np.zeros(nbytes, dtype=np.uint8)
        # No importance matrix: ggml then uses quantize_row_*_ref, the model-writing path.
        im = None if imatrix is None else imatrix.ctypes.data
        self.base.ggml_quantize_chunk(type_id, x.ctypes.data, out.ctypes.data, 0, 1, x.size, im)
        return out

    def traits(self, type_id):
        return self.cpu.ggml_get_type_traits_cpu(type_id).contents

    def activations(self, type_id, x):
        t = self.traits(type_id)
        act_type = t.vec_dot_type
        per, size = self.BLOCK_BYTES[act_type]
        out = np.zeros(x.size // per * size, dtype=np.uint8)
        self.FROM_FLOAT(self.traits(act_type).from_float)(x.ctypes.data, out.ctypes.data, x.size)
        return out

    def dot(self, type_id, w, a, n):
        s = ctypes.c_float()
        self.VEC_DOT(self.traits(type_id).vec_dot)(n, ctypes.byref(s), 0, w.ctypes.data, 0, a.ctypes.data, 0, 1)
        return s.value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ggml-lib", default="/work/ref/build/bin")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../../Tests/QuantTests/Fixtures"))
    ap.add_argument("--seed", type=int, default=20240611)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)

    try:
        ggml = Ggml(args.ggml_lib)
    except OSError as e:
        print(f"warning: no ggml libraries ({e}); writing dequantisation fixtures only", file=sys.stderr)
        ggml = None

    index = {"row": ROW, "quant_row": QUANT_ROW, "types": {}}

    def write(fname, arr):
        arr.tofile(os.path.join(args.out, fname))
        return fname

    for name, (qt, type_id, per, size) in TYPES.items():
        entry = {}
        nblocks = ROW // per
        blocks = random_blocks(rng, name, nblocks)
        deq = quants.dequantize(blocks.reshape(-1), qt).astype(np.float32).reshape(-1)
        assert deq.size == ROW and np.all(np.isfinite(deq))
        entry["dequant"] = {"blocks": write(f"{name}.blocks.bin", blocks), "floats": write(f"{name}.dequant.f32", deq)}

        if ggml is not None:
            x = test_row(rng, QUANT_ROW)
            imatrix = np.ones(QUANT_ROW, dtype=np.float32) if name in GRID_TYPES else None
            q = ggml.quantize(type_id, x, QUANT_ROW // per * size, imatrix)
            if name in ("q8_0", "q4_0", "bf16"):  # gguf-py implements these bit-exactly too
                assert np.array_equal(q, quants.quantize(x, qt).reshape(-1)), name
            entry["quantize"] = {"input": write(f"{name}.quant_in.f32", x), "output": write(f"{name}.quant_out.bin", q)}

            acts = [test_row(rng, ROW) for _ in range(2)]
            act_in = np.concatenate(acts)
            act_q = [ggml.activations(type_id, a) for a in acts]
            w = q[:nblocks * size].copy()  # dot products use the first ROW elements of that row
            dots = np.array([ggml.dot(type_id, w, aq, ROW) for aq in act_q], dtype=np.float32)
            entry["dot"] = {"activations": write(f"{name}.act_in.f32", act_in),
                            "activations_quantized": write(f"{name}.act_q.bin", np.concatenate(act_q)),
                            "results": write(f"{name}.dot.f32", dots), "tokens": len(acts)}
        index["types"][name] = entry

    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
    total = sum(os.path.getsize(os.path.join(args.out, p)) for p in os.listdir(args.out))
    print(f"wrote {len(os.listdir(args.out))} files, {total} bytes, to {args.out}")


if __name__ == "__main__":
    main()
