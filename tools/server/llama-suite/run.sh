#!/usr/bin/env bash
# Runs llama.cpp's server test suite (tools/server/tests/unit in the llama-cpp-python sdist)
# against `hotmoe serve` through ./hotmoe-as-llama-server, and writes a per-test table.
# Usage: tools/server/llama-suite/run.sh [test_file.py ...]   (default: the issue's nine files, the built-in tools and the proxy)
# Needs: the sdist (tools/reference/build-llama.sh downloads it), a release hotmoe binary
# (swift build -c release), python3 with the suite's requirements (installed into a venv here).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
REF=${HOTMOE_REF_DIR:-$HOME/.cache/hotmoe-ref}
SUITE_SRC="$REF/llama_cpp_python-0.3.36/vendor/llama.cpp/tools/server/tests"
OUT=${SUITE_OUT:-/tmp/hotmoe-llama-suite}
VENV=${SUITE_VENV:-$OUT/venv}
export HOTMOE_BIN=${HOTMOE_BIN:-$ROOT/.build/release/hotmoe}
[ -d "$SUITE_SRC" ] || { echo "no llama.cpp sdist at $SUITE_SRC (run tools/reference/build-llama.sh)"; exit 1; }
[ -x "$HOTMOE_BIN" ] || { echo "no hotmoe binary at $HOTMOE_BIN (swift build -c release)"; exit 1; }
mkdir -p "$OUT"
if [ ! -x "$VENV/bin/pytest" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "pytest~=8.3.3" "filelock~=3.16" "openai~=2.14.0" "prometheus-client~=0.20.0" \
    "requests~=2.32.3" "wget~=3.2" aiohttp numpy
fi
# The suite names templates and media by paths relative to tools/server/tests
# (../../../models/templates/...): keep that layout, with the sdist's models/ and tools/ beside it.
LLAMA_SRC="$REF/llama_cpp_python-0.3.36/vendor/llama.cpp"
rm -rf "$OUT/llama.cpp" && mkdir -p "$OUT/llama.cpp/tools/server"
cp -r "$SUITE_SRC" "$OUT/llama.cpp/tools/server/tests"
ln -s "$LLAMA_SRC/models" "$OUT/llama.cpp/models"
for d in "$LLAMA_SRC"/tools/*; do [ "$(basename "$d")" = server ] || ln -s "$d" "$OUT/llama.cpp/tools/$(basename "$d")"; done
# The session fixture only pre-downloads the presets' models from Hugging Face; the wrapper
# supplies the model instead, so that step is skipped (nothing else in the suite is changed).
python3 - "$OUT/llama.cpp/tools/server/tests/conftest.py" <<'PY'
import sys; p = sys.argv[1]; s = open(p).read()
s = s.replace("        ServerPreset.load_all()", "        pass  # models come from hotmoe-as-llama-server")
open(p, "w").write(s)
PY
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test_basic.py test_chat_completion.py test_completion.py test_tokenize.py test_security.py
                                 test_ctx_shift.py test_metrics.py test_template.py test_tool_call.py
                                 test_tools_builtin.py test_proxy.py)
cd "$OUT/llama.cpp/tools/server/tests"
export LLAMA_SERVER_BIN_PATH="$HERE/hotmoe-as-llama-server"
set +e
"$VENV/bin/pytest" -q -m "not slow" -o faulthandler_timeout=300 --junitxml="$OUT/junit.xml" \
  "${files[@]/#/unit/}" > "$OUT/pytest.log" 2>&1
set -e
python3 "$HERE/summarize.py" "$OUT/junit.xml" | tee "$OUT/summary.md"
