#!/usr/bin/env python3
"""Checks a running `hotmoe serve` with the official `openai` Python client: chat and
completion, streaming and not. Usage: python3 tools/server/check_openai.py [http://127.0.0.1:8080]"""
import sys
from openai import OpenAI

base = (sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080").rstrip("/") + "/v1"
client = OpenAI(base_url=base, api_key="none")
model = client.models.list().data[0].id
print("model:", model)

chat = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Write a shell loop."}],
                                      max_tokens=24, temperature=0)
assert chat.choices[0].message.role == "assistant" and chat.usage.completion_tokens > 0, chat
print("chat:", repr(chat.choices[0].message.content), chat.usage)

streamed = ""
for chunk in client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Write a shell loop."}],
                                            max_tokens=24, temperature=0, stream=True):
    if chunk.choices and chunk.choices[0].delta.content:
        streamed += chunk.choices[0].delta.content
assert streamed == chat.choices[0].message.content, (streamed, chat.choices[0].message.content)
print("chat stream: identical to non-stream")

comp = client.completions.create(model=model, prompt="def parse_args(", max_tokens=24, temperature=0, stop=["\n\n"])
print("completion:", repr(comp.choices[0].text), comp.choices[0].finish_reason)
text = "".join(c.choices[0].text for c in client.completions.create(model=model, prompt="def parse_args(", max_tokens=24,
                                                                      temperature=0, stop=["\n\n"], stream=True))
assert text == comp.choices[0].text, (text, comp.choices[0].text)
print("completion stream: identical to non-stream")
try:
    client.completions.create(model=model, prompt="x", max_tokens=-5)
    raise SystemExit("negative max_tokens was accepted")
except Exception as e:  # openai.BadRequestError
    assert "max_tokens" in str(e), e
    print("bad request rejected:", type(e).__name__)
print("all openai client checks passed")
