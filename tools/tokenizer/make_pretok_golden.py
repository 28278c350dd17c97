#!/usr/bin/env python3
"""Regenerates Tests/TokenizerTests/Fixtures/pretokenizer.json: the words each pre-tokenizer
splits the golden texts into, computed with the original Hugging Face regexes via the
`regex` module. This checks the hand-written Swift splitters against a real regex engine,
independently of llama.cpp (which hand-codes the same splitters).
"""
import json
import os
import sys

import regex

sys.path.insert(0, os.path.dirname(__file__))
from make_golden import FIXTURES, TEXTS, SPECIAL_TEXTS  # noqa: E402

CONTRACTIONS = r"'s|'t|'re|'ve|'m|'ll|'d"
GPT2 = CONTRACTIONS + r"| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN35 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
GEMMA4 = r"[^\n]+|[\n]+"


def isolate(pieces, pattern):
    """Splits each piece so that regex matches and the gaps between them are separate words."""
    out = []
    for p in pieces:
        pos = 0
        for m in regex.finditer(pattern, p):
            if m.start() > pos:
                out.append(p[pos:m.start()])
            if m.end() > m.start():
                out.append(m.group())
            pos = m.end()
        if pos < len(p):
            out.append(p[pos:])
    return out


def split(kind, text):
    if kind == "gpt2":
        return isolate([text], GPT2)
    if kind == "llama3":
        return isolate([text], LLAMA3)
    if kind == "qwen2":
        return isolate([text], QWEN2)
    if kind == "qwen35":
        return isolate([text], QWEN35)
    if kind == "gemma4":
        return isolate([text], GEMMA4)
    # llama.cpp's "default": four regexes applied one after another
    words = isolate([text], r"[\p{P}\$\+<=>\^~\|]+")
    words = isolate(words, GPT2)
    words = isolate(words, r"\p{N}+")
    return isolate(words, r"[0-9][0-9][0-9]")


def main():
    texts = TEXTS + [t for ts in SPECIAL_TEXTS.values() for t in ts]
    cases = [{"kind": k, "text": t, "words": split(k, t)}
             for k in ["gpt2", "llama3", "qwen2", "qwen35", "gemma4", "default"] for t in texts]
    out = os.path.join(FIXTURES, "pretokenizer.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"generator": "tools/tokenizer/make_pretok_golden.py (Python regex)", "cases": cases},
                  f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
