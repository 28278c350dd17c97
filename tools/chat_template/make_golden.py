#!/usr/bin/env python3
"""Golden outputs for hotmoe's Jinja interpreter: renders chat templates with Python's jinja2
as transformers does (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
tojson without ASCII escaping, raise_exception, strftime_now at a fixed date, loop controls)
with llama.cpp's one leniency (`+` with a none/undefined string operand, see
LlamaCppEnvironment), over a set of conversations, and writes the inputs and expected strings (or the error) to
Tests/TokenizerTests/Fixtures/chat_templates/golden.json.

Usage: tools/chat_template/make_golden.py [--llama-cpp DIR]
  --llama-cpp  llama.cpp source tree (default: the reference sdist under ~/.cache/hotmoe-ref);
               templates are copied from models/templates/ and from the tokenizer.chat_template
               of models/ggml-vocab-*.gguf (needs `pip install gguf jinja2`).
"""
import argparse, copy, datetime, glob, json, os, sys

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "Tests/TokenizerTests/Fixtures/chat_templates")
FIXED_NOW = datetime.datetime(2025, 3, 14, 9, 26, 53)  # strftime_now in the goldens

# (file stem in models/templates, bos_token, eos_token)
TEMPLATES = [
    ("Qwen-Qwen3-0.6B", "", "<|im_end|>"),
    ("Qwen3.5-4B", "", "<|im_end|>"),
    ("Qwen-QwQ-32B", "", "<|im_end|>"),
    ("Qwen-Qwen2.5-7B-Instruct", "", "<|im_end|>"),
    ("Qwen3-Coder", "", "<|im_end|>"),
    ("google-gemma-2-2b-it", "<bos>", "<eos>"),
    ("google-gemma-4-31B-it", "<bos>", "<eos>"),
    ("Mistral-Small-3.2-24B-Instruct-2506", "<s>", "</s>"),
    ("mistralai-Mistral-Nemo-Instruct-2407", "<s>", "</s>"),
    ("meta-llama-Llama-3.1-8B-Instruct", "<|begin_of_text|>", "<|eot_id|>"),
    ("meta-llama-Llama-3.2-3B-Instruct", "<|begin_of_text|>", "<|eot_id|>"),
    ("meta-llama-Llama-3.3-70B-Instruct", "<|begin_of_text|>", "<|eot_id|>"),
    ("openai-gpt-oss-120b", "<|startoftext|>", "<|return|>"),
    ("GLM-4.6", "", "<|endoftext|>"),
    ("GLM-4.7-Flash", "", "<|endoftext|>"),
    ("deepseek-ai-DeepSeek-V3.1", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    ("deepseek-ai-DeepSeek-R1-Distill-Llama-8B", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "<|begin_of_text|>", "<|im_end|>"),
    ("microsoft-Phi-3.5-mini-instruct", "<s>", "<|endoftext|>"),
    ("ibm-granite-granite-3.3-2B-Instruct", "", "<|end_of_text|>"),
    ("HuggingFaceTB-SmolLM3-3B", "", "<|im_end|>"),
    ("moonshotai-Kimi-K2", "", "<|im_end|>"),
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "description": "Current time (UTC) — ISO 8601", "parameters": {"type": "object", "properties": {}}},
}

SYSTEM = {"role": "system", "content": "You are a concise assistant."}
USER = {"role": "user", "content": "What's the weather in Paris? Answer in «one» line."}
# hotmoe passes "" for a null content next to tool_calls, as llama.cpp does; "content_null"
# keeps the null to check that errors match too.
CALL = {"role": "assistant", "content": "", "tool_calls": [
    {"id": "call00001", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]}
TOOL = {"role": "tool", "tool_call_id": "call00001", "name": "get_weather", "content": "{\"temp\": 18, \"sky\": \"clear\"}"}

CASES = {
    "user": {"messages": [{"role": "user", "content": "Hello!"}], "add_generation_prompt": True},
    "system_user": {"messages": [SYSTEM, USER], "add_generation_prompt": True},
    "multi_turn": {"messages": [SYSTEM, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
                                {"role": "user", "content": "Tell me a joke.\nMake it short."}], "add_generation_prompt": True},
    "multi_turn_no_gen": {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "  Hello there.  "}],
                          "add_generation_prompt": False},
    "tools": {"messages": [SYSTEM, USER], "tools": [WEATHER_TOOL, TIME_TOOL], "add_generation_prompt": True},
    "tool_call_round": {"messages": [SYSTEM, USER, CALL, TOOL], "tools": [WEATHER_TOOL], "add_generation_prompt": True},
    "content_null": {"messages": [USER, dict(CALL, content=None), TOOL], "tools": [WEATHER_TOOL], "add_generation_prompt": True},
    "string_arguments": {"messages": [USER, {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call00001", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}, TOOL],
        "tools": [WEATHER_TOOL], "add_generation_prompt": False},
    "two_calls": {"messages": [USER, {"role": "assistant", "content": "Let me check.", "tool_calls": [
        {"id": "callA0001", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {"id": "callB0002", "type": "function", "function": {"name": "get_time", "arguments": {}}}]},
        {"role": "tool", "tool_call_id": "callA0001", "name": "get_weather", "content": "sunny"},
        {"role": "tool", "tool_call_id": "callB0002", "name": "get_time", "content": "12:00"},
        {"role": "assistant", "content": "Sunny at noon."}, {"role": "user", "content": "Thanks"}],
        "tools": [WEATHER_TOOL, TIME_TOOL], "add_generation_prompt": True},
    "reasoning": {"messages": [{"role": "user", "content": "2+2?"},
                               {"role": "assistant", "content": "4", "reasoning_content": "Two plus two is four."},
                               {"role": "user", "content": "3+3?"}], "add_generation_prompt": True},
    "thinking_off": {"messages": [SYSTEM, USER], "add_generation_prompt": True, "enable_thinking": False},
}


class LlamaCppEnvironment(ImmutableSandboxedEnvironment):
    """One rule of llama.cpp's engine (common/jinja/runtime.cpp) that hotmoe follows: `+` joins
    a string with an undefined or none operand as if it were empty, where jinja2 raises (an
    assistant message with content null, FireFunction's undefined `functions`)."""
    intercepted_binops = frozenset(["+"])

    def call_binop(self, context, operator, left, right):
        def empty(v):
            return v is None or isinstance(v, jinja2.Undefined)
        if operator == "+" and ((empty(left) and isinstance(right, str)) or (isinstance(left, str) and empty(right))):
            return (left if isinstance(left, str) else "") + (right if isinstance(right, str) else "")
        return super().call_binop(context, operator, left, right)


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = LlamaCppEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: FIXED_NOW.strftime(fmt)
    return env


def vocab_templates(models_dir):
    import gguf
    out = []
    for path in sorted(glob.glob(os.path.join(models_dir, "ggml-vocab-*.gguf"))):
        reader = gguf.GGUFReader(path)
        field = reader.fields.get("tokenizer.chat_template")
        if field is None:
            continue
        text = bytes(field.parts[field.data[0]]).decode("utf-8")
        tokens = reader.fields.get("tokenizer.ggml.tokens")

        def token(key):
            f = reader.fields.get(key)
            if f is None or tokens is None:
                return ""
            i = int(f.parts[f.data[0]][0])
            return bytes(tokens.parts[tokens.data[i]]).decode("utf-8", "replace")

        name = "vocab-" + os.path.basename(path)[len("ggml-vocab-"):-len(".gguf")]
        out.append((name, text, token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id")))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-cpp", default=os.path.expanduser("~/.cache/hotmoe-ref/llama_cpp_python-0.3.36/vendor/llama.cpp"))
    args = ap.parse_args()
    env = environment()
    os.makedirs(OUT_DIR, exist_ok=True)
    sources = []
    for stem, bos, eos in TEMPLATES:
        with open(os.path.join(args.llama_cpp, "models/templates", stem + ".jinja"), encoding="utf-8") as f:
            sources.append((stem, f.read(), bos, eos))
    sources += vocab_templates(os.path.join(args.llama_cpp, "models"))

    records = []
    for name, text, bos, eos in sources:
        with open(os.path.join(OUT_DIR, name + ".jinja"), "w", encoding="utf-8") as f:
            f.write(text)
        template = env.from_string(text)
        for case, ctx in CASES.items():
            context = copy.deepcopy(ctx)
            context["bos_token"] = bos
            context["eos_token"] = eos
            record = {"template": name, "case": case, "context": context}
            try:
                record["expected"] = template.render(**copy.deepcopy(context))
            except Exception as e:  # the Swift side must fail too
                record["error"] = f"{type(e).__name__}: {e}"
            records.append(record)
    golden = {"generator": "tools/chat_template/make_golden.py (jinja2 %s)" % jinja2.__version__,
              "now": FIXED_NOW.isoformat() + "Z", "records": records}
    with open(os.path.join(OUT_DIR, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
    ok = sum("expected" in r for r in records)
    print(f"{len(sources)} templates, {len(records)} cases ({ok} rendered, {len(records) - ok} raised)")


if __name__ == "__main__":
    sys.exit(main())
