#!/usr/bin/env python3
"""Executes hotmoe's CUDA kernel sources on the CPU (no GPU): the Swift-embedded CUDA C is
extracted, the one PTX asm (fp16 -> fp32) swapped for C, compiled with g++ against a small
emulation of the CUDA subset used (emu_shim.h) and run against float64 references built from
ggml's quantisers (libggml-base from tools/reference/build-llama.sh).

usage: tools/gpu/emulate_kernels.py   (env: HOTMOE_REF, default ~/.cache/hotmoe-ref)"""
import os, re, subprocess, sys, tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
kernels = os.path.join(root, "Sources/CUDA/Kernels")
ref = os.environ.get("HOTMOE_REF", os.path.expanduser("~/.cache/hotmoe-ref"))
include = os.path.join(ref, "llama_cpp_python-0.3.36/vendor/llama.cpp/ggml/include")
libdir = os.path.join(ref, "build/bin")

def swift_string(name):
    text = open(os.path.join(kernels, name + ".swift")).read()
    m = re.search(r'#"""\n(.*?)\n    """#', text, re.S)
    return "\n".join(l[4:] if l.startswith("    ") else l for l in m.group(1).split("\n"))

families = ["LinearKernels", "NormKernels", "RopeKernels", "ActivationKernels", "RouterKernels",
            "AttentionKernels", "ExpertFFNKernels"]
source = swift_string("KernelPrelude") + "\n" + "\n".join(swift_string(f) for f in families)
asm = 'asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));'
assert asm in source, "the fp16 conversion changed: update emulate_kernels.py"
source = source.replace(asm, "f = hm_emu_half(h);").replace('extern "C" ', "")

with tempfile.TemporaryDirectory() as tmp:
    cpp = os.path.join(tmp, "emu.cpp")
    with open(cpp, "w") as f:
        f.write('#include "emu_shim.h"\n' + source + '\n#include "emu_main.cpp"\n')
    exe = os.path.join(tmp, "emu")
    cmd = ["g++", "-std=c++20", "-O1", "-pthread", "-w", "-I", here, "-I", include, cpp, "-o", exe,
           "-L", libdir, "-lggml-base", "-Wl,-rpath," + libdir]
    subprocess.run(cmd, check=True)
    sys.exit(subprocess.run([exe]).returncode)
