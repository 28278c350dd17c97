#!/usr/bin/env python3
"""Regenerates Tests/TokenizerTests/Fixtures/golden.json: token ids that llama.cpp's
llama-tokenize produces for a varied set of texts, for each committed vocabulary.

Usage: tools/tokenizer/make_golden.py [--bin /work/ref/build/bin]

Each case records the flags it was tokenized with, so the Swift test calls
encode(text, addBOS:, parseSpecial:) the same way.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures")
VOCABS = ["qwen2", "llama-bpe", "llama-spm", "qwen35", "gemma-4"]

TEXTS = [
    # English prose and contractions
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure you're right, but he'll say they've gone and we'd better go. It's 5 o'clock.",
    "DON'T SHOUT, I'M LISTENING. WE'LL SEE. They'RE here. 'tis the season 'Quoted'",
    "Hello,world!How are you?I'm fine...thanks!!!",
    # Python code
    "def fib(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    a, b = 0, 1\n"
    "    for _ in range(n):\n        a, b = b, a + b\n    return a\n\nprint(fib(10))  # 55\n",
    "class Foo:\n\tdef __init__(self):\n\t\tself.x = {'a': [1, 2, 3]}\n\n\n\tdef bar(self): return self.x['a'][-1]\n",
    "if (x != y && z >= 10) { return x->y ?: nullptr; } // C++ style\r\n",
    # Italian and German
    "Perché è così difficile? La città è più bella d'estate, caffè e però.",
    "L'università dell'Aquila è un'istituzione, c'è anche l'altro.",
    "Größenwahn ist übermäßig; die Straße führt über Äcker. ÄÖÜ äöü ß ẞ",
    # Emoji, including ZWJ sequences, skin tones, flags, keycaps
    "Family: 👨‍👩‍👧‍👦 and 👩🏽‍💻 coding, 🏳️‍🌈 flag, 🇮🇹🇩🇪 flags, 1️⃣ keycap, ❤️ heart",
    "🦙🦙🦙 llamas! 😀😃😄😁 grin",
    # CJK and other scripts
    "中文文本的分词测试。我们今天去公园散步吧！",
    "日本語のテキスト、カタカナとひらがな。漢字も。",
    "한국어 텍스트 토큰화 테스트입니다.",
    "Русский текст: съешь же ещё этих мягких французских булок.",
    "العربية: مرحبا بالعالم",
    "हिन्दी पाठ का परीक्षण",
    "Ελληνικά: Γειά σου Κόσμε",
    # Whitespace runs, tabs, newlines, unusual spaces
    "a     b      c",
    "   leading spaces",
    "trailing spaces   ",
    "\n\n\nthree newlines then text\n\n",
    " \t \n \r\n\t\t  mixed whitespace \u00a0nbsp\u2028line sep\u3000ideographic",
    "tab\tseparated\tvalues\t1\t2\t3",
    "\t\t\t",
    "    ",
    "\r\n\r\n",
    # Numbers
    "12345678901234567890",
    "3.14159265358979 and 2.71828, 1,000,000 and 1e-10, -42, 0x1F, ٣٤٥ ½ Ⅻ",
    "Year 2024: 365 days, 8760 hours; phone +1-555-0100",
    # Combining marks, mixed
    "e\u0301 (e + combining acute) vs é; n\u0303; a\u0308",
    "URL: https://example.com/path?q=1&r=%20x#frag, email: a.b@c.io",
    '{"key": "value", "list": [1, 2.5, null, true], "nested": {"a": "b"}}',
    "Special-looking text that is not parsed: <|im_start|> <|endoftext|> <s> </s> [INST]",
    "Gemma-looking text: <|turn>user\nHi<turn|> <bos> <eos> <|tool_response> <|\"|> <start_of_turn> </s>",
    # Combining marks inside words (Qwen3.5 keeps them with the letters), decomposed and not
    "re\u0301sume\u0301 vs résumé, Vie\u0302\u0301t Nam, na\u0308i\u0308ve, \u0301leading mark, x\u20dd enclosed",
    # Characters a SentencePiece-style vocabulary may lack (byte fallback), carriage returns
    "private \ue000 plane \U0010fffd hieroglyph \U00013000 tag \U000e0001 end\r\nCRLF\r\r\n",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "!!!!!!!!!!?????......,,,,,;;;;;::::",
    "x",
    " ",
]

# Texts whose special tokens are parsed, per vocabulary (tokenized with the vocabulary's BOS default).
SPECIAL_TEXTS = {
    "qwen2": [
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n",
        "text<|endoftext|>more<|im_end|><|im_end|>end",
    ],
    "llama-bpe": [
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
        "plain<|eot_id|>text <|end_of_text|>",
    ],
    "llama-spm": [
        "[INST] Hi there! [/INST] Hello</s>[INST] again [/INST]",
        "<s>after bos</s> after eos <unk> unk",
    ],
    "qwen35": [
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nCafe\u0301?<|im_end|>\n<|im_start|>assistant\n",
        "text<|endoftext|>more<|im_end|><|im_end|>end </s>",
    ],
    "gemma-4": [
        "<|turn>system\nYou are helpful.<turn|>\n<|turn>user\nHi there!<turn|>\n<|turn>model\n",
        "<bos>text<eos> more <|tool_response>x<tool_response|> </s> <|\"|>quoted<|\"|> <|think|>",
    ],
}


def tokenize(bin_dir, vocab_path, text, add_bos, parse_special):
    cmd = [os.path.join(bin_dir, "llama-tokenize"), "-m", vocab_path, "--stdin", "--no-escape",
           "--ids", "--log-disable"]
    if not add_bos:
        cmd.append("--no-bos")
    if not parse_special:  # parsing special tokens is llama-tokenize's default
        cmd.append("--no-parse-special")
    env = dict(os.environ, LD_LIBRARY_PATH=bin_dir)
    res = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, env=env, check=True)
    line = [l for l in res.stdout.decode("utf-8").splitlines() if l.startswith("[")][-1]
    return json.loads(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="/work/ref/build/bin")
    args = ap.parse_args()
    cases = []
    for vocab in VOCABS:
        path = os.path.join(FIXTURES, f"ggml-vocab-{vocab}.gguf")
        for text in TEXTS:
            cases.append({"vocab": vocab, "text": text, "addBOS": False, "parseSpecial": False,
                          "ids": tokenize(args.bin, path, text, False, False)})
        for text in SPECIAL_TEXTS[vocab]:
            # addBOS null: the vocabulary's own default (llama-tokenize without --no-bos)
            cases.append({"vocab": vocab, "text": text, "addBOS": None, "parseSpecial": True,
                          "ids": tokenize(args.bin, path, text, True, True)})
    out = os.path.join(FIXTURES, "golden.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"generator": "llama.cpp llama-tokenize (tools/tokenizer/make_golden.py)", "cases": cases},
                  f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
