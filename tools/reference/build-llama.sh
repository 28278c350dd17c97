#!/usr/bin/env bash
# Builds llama.cpp (the reference engine) once per machine from PyPI's llama-cpp-python
# source: shared libraries for the Python binding plus llama-bench, llama-completion,
# llama-tokenize, llama-quantize, llama-perplexity and llama-imatrix. Slow on 2 cores (~15 min); not part of CI.
# Afterwards: export PYTHONPATH=$REF/llama_cpp_python-$VER LLAMA_CPP_LIB_PATH=$REF/build/bin
set -euo pipefail
VER=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
REF=${HOTMOE_REF_DIR:-$HOME/.cache/hotmoe-ref}
mkdir -p "$REF"
cd "$REF"
if [ ! -d "llama_cpp_python-$VER" ]; then
  python3 -m pip download --no-deps --no-binary llama-cpp-python "llama-cpp-python==$VER" -d .
  tar xzf "llama_cpp_python-$VER.tar.gz"
fi
python3 -m pip install -q cmake ninja diskcache numpy jinja2
cmake -S "llama_cpp_python-$VER/vendor/llama.cpp" -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF
cmake --build build -j"$(nproc)" --target llama llama-bench llama-tokenize llama-completion llama-quantize llama-perplexity llama-imatrix
echo "PYTHONPATH=$REF/llama_cpp_python-$VER LLAMA_CPP_LIB_PATH=$REF/build/bin"
