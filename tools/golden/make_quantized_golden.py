#!/usr/bin/env python3
"""Writes Tests/EngineTests/Golden/LlamaQuantize/: small files written by llama.cpp's own
llama-quantize (the mixes real downloads use) and llama.cpp's logits and greedy tokens on them.

* tiny-Q4_K_M: `--preset tiny` qwen3moe (rows 64 wide, so llama-quantize falls back to Q5_0,
  Q5_1 and Q8_0 for every matrix, as it does for real models whose rows are not whole 256-blocks);
* t256-Q2_K, t256-Q3_K_S: one layer, rows 256 wide, so the K-quant mixes stay;
* t256-IQ3_XXS, t256-IQ2_XXS: the same shape with two experts in the grid-format mixes
  (IQ3_XXS, IQ3_S, IQ2_S; IQ2_XXS, Q2_K, Q4_K), quantised with an importance matrix from
  llama-imatrix over IMATRIX_TEXT (IQ2_XXS cannot be made without one).

Usage: tools/golden/make_quantized_golden.py [--hotmoe PATH] [--bin /work/ref/build/bin] [--only NAME ...]
"""
import argparse, json, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden  # noqa: E402

OUT = os.path.join(make_golden.OUT, "LlamaQuantize")
T256 = ["--layers", "1", "--embedding", "256", "--heads", "4", "--kv-heads", "2", "--head-dim", "64",
        "--experts", "4", "--experts-used", "2", "--expert-ff", "256"]
# The grid-format files with two experts (both used), to keep them near 300 KB.
T256_2 = T256[:T256.index("--experts")] + ["--experts", "2", "--experts-used", "2", "--expert-ff", "256"]
CASES = [("tiny-Q4_K_M", [], "Q4_K_M"), ("t256-Q2_K", T256, "Q2_K"), ("t256-Q3_K_S", T256, "Q3_K_S"),
         ("t256-IQ3_XXS", T256_2, "IQ3_XXS"), ("t256-IQ2_XXS", T256_2, "IQ2_XXS")]
# The importance-matrix text of the grid formats: the first 6000 bytes of these repository files.
IMATRIX_TEXT = ["docs/analysis.md", "README.md"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hotmoe", default=os.path.join(make_golden.ROOT, ".build", "release", "hotmoe"))
    ap.add_argument("--bin", default="/work/ref/build/bin")
    ap.add_argument("--llama-cpp-python", default="/work/ref/llama_cpp_python-0.3.36")
    ap.add_argument("--only", nargs="*", help="write only these cases (default: all)")
    args = ap.parse_args()
    llama_cpp = make_golden.import_llama_cpp(args.llama_cpp_python, args.bin)
    os.makedirs(OUT, exist_ok=True)
    env = dict(os.environ, LD_LIBRARY_PATH=args.bin)
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape, ftype in CASES:
            if args.only and name not in args.only:
                continue
            f32 = os.path.join(tmp, name + "-f32.gguf")
            subprocess.run([args.hotmoe, "generate-model", "-o", f32, "--preset", "tiny", "--arch", "qwen3moe",
                            "--type", "f32", "--seed", "7"] + shape, check=True)
            path = os.path.join(OUT, name + ".gguf")
            imatrix = []
            if ftype.startswith("IQ"):
                text = os.path.join(tmp, "imatrix.txt")
                with open(text, "wb") as f:
                    for doc in IMATRIX_TEXT:
                        f.write(open(os.path.join(make_golden.ROOT, doc), "rb").read()[:6000])
                imatrix = ["--imatrix", os.path.join(tmp, name + ".imatrix.gguf")]
                subprocess.run([os.path.join(args.bin, "llama-imatrix"), "-m", f32, "-f", text, "-o", imatrix[1], "-c", "128"],
                               check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run([os.path.join(args.bin, "llama-quantize"), "--allow-requantize"] + imatrix + [f32, path, ftype],
                           check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            record = {"file": name + ".gguf", "llama_quantize_type": ftype,
                      **make_golden.reference_record(llama_cpp, path, make_golden.PROMPT)}
            with open(os.path.join(OUT, name + ".json"), "w") as f:
                json.dump(record, f)
            print(f"{name}: {os.path.getsize(path)} bytes, greedy {record['greedy_tokens'][:8]}...", flush=True)


if __name__ == "__main__":
    main()
