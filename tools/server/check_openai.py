#!/usr/bin/env python3
"""Checks a running `hotmoe serve` with the official `openai` Python client: chat and
completion, streaming and not; a tool-call round trip (assistant tool_calls -> role tool ->
answer), streamed tool calls equal to unstreamed ones, json_schema output that parses and
validates, logprobs. Usage: python3 tools/server/check_openai.py [http://127.0.0.1:8080]"""
import json, math, sys
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

# Tool calls: tool_choice "required" makes the grammar sampler produce a call even from a model
# that was never trained on tools; the client must parse it into tool_calls. (The default
# model's tokens are about one character each, hence the generous max_tokens; its own template
# has no tool format, so the server runs with a Qwen template: see .ci/run.)
tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 16},
                                                        "days": {"type": "integer", "minimum": 1, "maximum": 14}},
                         "required": ["city", "days"], "additionalProperties": False}}}]
ask = [{"role": "user", "content": "What is the weather in Paris?"}]
first = client.chat.completions.create(model=model, messages=ask, tools=tools, tool_choice="required",
                                       max_tokens=256, temperature=0)
calls = first.choices[0].message.tool_calls
assert calls and calls[0].function.name == "get_weather" and first.choices[0].finish_reason == "tool_calls", first
args = json.loads(calls[0].function.arguments)
assert isinstance(args["city"], str) and isinstance(args["days"], int), args
print("tool call:", calls[0].function.name, args)
names, arguments = {}, {}
for chunk in client.chat.completions.create(model=model, messages=ask, tools=tools, tool_choice="required",
                                            max_tokens=256, temperature=0, stream=True):
    for d in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
        if d.function and d.function.name:
            names[d.index] = d.function.name
        arguments[d.index] = arguments.get(d.index, "") + ((d.function.arguments or "") if d.function else "")
assert names == {0: "get_weather"} and json.loads(arguments[0]) == args, (names, arguments)
print("tool call stream: identical to non-stream")
answer = client.chat.completions.create(model=model, max_tokens=16, temperature=0, tools=tools, messages=ask + [
    {"role": "assistant", "content": None, "tool_calls": [{"id": calls[0].id, "type": "function",
                                                           "function": {"name": "get_weather", "arguments": calls[0].function.arguments}}]},
    {"role": "tool", "tool_call_id": calls[0].id, "content": json.dumps({"forecast": "sunny", "celsius": 21})}])
assert answer.choices[0].message.role == "assistant" and answer.usage.completion_tokens > 0, answer
print("tool round trip: answered after the tool result:", repr(answer.choices[0].message.content))

# json_schema: the output parses and satisfies the schema (checked here without jsonschema).
schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20},
                                           "age": {"type": "integer", "minimum": 0, "maximum": 120},
                                           "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
          "required": ["name", "age", "tags"], "additionalProperties": False}
js = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Describe a person."}], max_tokens=256,
                                    temperature=0, response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}})
person = json.loads(js.choices[0].message.content)
assert set(person) == {"name", "age", "tags"} and isinstance(person["name"], str) and len(person["name"]) <= 20, person
assert isinstance(person["age"], int) and 0 <= person["age"] <= 120, person
assert isinstance(person["tags"], list) and len(person["tags"]) <= 3 and all(isinstance(t, str) for t in person["tags"]), person
print("json_schema:", person)

# logprobs: one entry per generated token, each with the asked number of alternatives.
lp = client.chat.completions.create(model=model, messages=ask, max_tokens=6, temperature=0, logprobs=True, top_logprobs=3)
entries = lp.choices[0].logprobs.content
assert len(entries) == lp.usage.completion_tokens and all(len(e.top_logprobs) == 3 for e in entries), lp.choices[0].logprobs
assert all(e.logprob <= 0 and math.isclose(e.logprob, max(t.logprob for t in e.top_logprobs), abs_tol=1e-4) for e in entries), entries
print("logprobs: %d tokens, greedy token is the top alternative each time" % len(entries))
print("all openai client checks passed")
