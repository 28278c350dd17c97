#!/usr/bin/env python3
"""Per-file table of llama.cpp's server suite run against hotmoe (reads pytest's junit XML).

A failure counts as "model text" when the assertion is about what tinyllama (stories260K)
writes or how its tokenizer counts (regexes over the generated text, prompt token counts);
as "vision / network" when the test needs what no text model or this offline machine has (an
image answered by tinygemma3's vision encoder, a page fetched from example.com); everything
else is "protocol". The rules are the patterns below, applied to the failure text.
"""
import re, sys, collections
import xml.etree.ElementTree as ET

TEXT_PATTERNS = [r"match_regex\(", r"\bn_prompt\b", r"prompt_n\"\] == ", r"prompt_tokens == ", r"n_tokens == ",
                 r"content ==", r"tokens_evaluated", r"assert res.body\[\"content\"\] ==", r"== n_prompt", r"predicted_n\"\] == ",
                 r"bosId", r"\"<s> \" \+ prompt",
                 # tinyllama's BOS text at the start of a rendered prompt (the default model has no BOS)
                 r"== '<s> ",
                 # prompt batches counted: prompt tokens / n_batch, so the tokenizer's count
                 r"total_batch_count == batch_count",
                 # whether LONG_TEXT overflows a 256-token slot depends on the tokenizer's count
                 r"\"prompt\": LONG_TEXT"]

# an image that only a vision model (tinygemma3 with its projector) answers; the internet
CAPABILITY_PATTERNS = [r"ServerPreset\.tinygemma3\(\)", r"url=http://example\.com"]

def classify(text):
    if any(re.search(p, text) for p in CAPABILITY_PATTERNS):
        return "vision / network"
    return "model text" if any(re.search(p, text) for p in TEXT_PATTERNS) else "protocol"

root = ET.parse(sys.argv[1]).getroot()
rows = collections.OrderedDict()
failures = []
for case in root.iter("testcase"):
    f = case.get("classname", "").split(".")[-1] + ".py"
    r = rows.setdefault(f, collections.Counter())
    bad = case.find("failure") if case.find("failure") is not None else case.find("error")
    if case.find("skipped") is not None:
        r["skipped"] += 1
    elif bad is not None:
        text = (bad.get("message") or "") + "\n" + (bad.text or "")
        kind = classify(text)
        r[kind] += 1
        failures.append((f, case.get("name"), kind, (bad.get("message") or "").splitlines()[0][:160] if bad.get("message") else ""))
    else:
        r["passed"] += 1
print("| file | passed | failed: model text | failed: vision / network | failed: protocol | skipped |")
print("|---|---|---|---|---|---|")
tot = collections.Counter()
for f, r in rows.items():
    tot.update(r)
    print(f"| {f} | {r['passed']} | {r['model text']} | {r['vision / network']} | {r['protocol']} | {r['skipped']} |")
print(f"| total | {tot['passed']} | {tot['model text']} | {tot['vision / network']} | {tot['protocol']} | {tot['skipped']} |")
print()
for f, name, kind, msg in failures:
    print(f"- {kind}: {f}::{name}: {msg}")
