#!/usr/bin/env python3
"""Train the byte-level BPE tokenizer and encode the corpus into token streams.

Pre-tokenizer: exactly llama.cpp's `qwen2` regex (LLAMA_VOCAB_PRE_TYPE_QWEN2), followed by the
GPT-2 byte<->unicode mapping (ByteLevel without its own regex). Output (git-ignored):
  .cache/tokenizer.json
  .cache/tokens/<domain>.{train,heldout}.npy   uint16 token stream, docs separated by <|endoftext|>
"""
import json, os, sys
import numpy as np
from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, ".cache")
DOMAINS = ["en", "py", "it", "de", "sh"]
VOCAB_SIZE = 4096
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# llama.cpp src/llama-vocab.cpp, LLAMA_VOCAB_PRE_TYPE_QWEN2
QWEN2_REGEX = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
TOK_TRAIN_BYTES_PER_DOMAIN = 2_500_000


def docs(dom, split):
    with open(os.path.join(CACHE, "corpus", f"{dom}.{split}.jsonl")) as f:
        for line in f:
            yield json.loads(line)["text"]


def build():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def train_iter():
    for dom in DOMAINS:
        n = 0
        for d in docs(dom, "train"):
            yield d
            n += len(d)
            if n >= TOK_TRAIN_BYTES_PER_DOMAIN:
                break


def main():
    tok = build()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(train_iter(), trainer=trainer)
    assert tok.get_vocab_size() == VOCAB_SIZE, tok.get_vocab_size()
    tok.save(os.path.join(CACHE, "tokenizer.json"))
    eot = tok.token_to_id("<|endoftext|>")
    os.makedirs(os.path.join(CACHE, "tokens"), exist_ok=True)
    stats = {}
    for dom in DOMAINS:
        for split in ("train", "heldout"):
            ds = list(docs(dom, split))
            encs = tok.encode_batch(ds)
            ids = []
            for e in encs:
                ids.extend(e.ids)
                ids.append(eot)
            arr = np.asarray(ids, dtype=np.uint16)
            np.save(os.path.join(CACHE, "tokens", f"{dom}.{split}.npy"), arr)
            nbytes = sum(len(d.encode()) for d in ds)
            stats[f"{dom}.{split}"] = {"tokens": int(arr.size), "bytes_per_token": round(nbytes / arr.size, 3)}
            print(dom, split, stats[f"{dom}.{split}"], flush=True)
    json.dump(stats, open(os.path.join(CACHE, "tokens", "stats.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
