/// llama.cpp's end-of-generation (EOG) set and the token-type fixes that come with it
/// (`llama_vocab::impl::load`). Conversions do not always mark end-of-turn tokens as control,
/// so llama.cpp recognises them by text and makes them control tokens: then they are only
/// parsed from text with `parseSpecial` and are hidden when decoding. Doing the same here
/// keeps encode/decode and the stop tokens equal to llama.cpp's.
enum EndOfGeneration {
    /// Token texts that end generation (llama.cpp's list).
    static let texts: [String] = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
        "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
        "<｜end▁of▁sentence｜>", "[e~[",
    ]
    /// Texts llama.cpp uses to find the end-of-turn, end-of-message and fill-in-the-middle
    /// pad/repo/separator tokens when the GGUF does not name them.
    static let eotTexts = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
        "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
    ]
    static let eomTexts = ["<|eom_id|>"]
    static let fimPadTexts = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]
    static let fimRepTexts = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]
    static let fimSepTexts = ["<|file_sep|>"]

    struct KnownIds {
        var eos: Int32?
        var eot: Int32?
        var eom: Int32?
        var fimPad: Int32?
        var fimRep: Int32?
        var fimSep: Int32?
    }

    /// The EOG token ids; updates `types` where llama.cpp overrides a token's type.
    static func resolve(types: inout [TokenType], tokenToId: [ByteKey: Int32], known: KnownIds) -> Set<Int32> {
        func makeControl(_ id: Int32) { types[Int(id)] = .control }
        // A role named in the GGUF is taken as is; otherwise the first token with a known text
        // (llama.cpp walks a hash map, so with several candidates its pick is arbitrary; the
        // lowest id is used here) plays the role and becomes a control token.
        func detect(_ given: Int32?, _ candidates: [String]) -> Int32? {
            if let given { return given }
            guard let id = candidates.compactMap({ tokenToId[ByteKey($0)] }).min() else { return nil }
            makeControl(id)
            return id
        }
        let eot = detect(known.eot, eotTexts)
        let eom = detect(known.eom, eomTexts)
        var eog = Set<Int32>()
        for id in [detect(known.fimPad, fimPadTexts), detect(known.fimRep, fimRepTexts), detect(known.fimSep, fimSepTexts)] {
            if let id { eog.insert(id) }
        }
        for text in texts {
            guard let id = tokenToId[ByteKey(text)] else { continue }
            eog.insert(id)
            makeControl(id)
        }
        for id in [known.eos, eot, eom] { if let id { eog.insert(id) } }

        func has(_ text: String) -> Int32? { tokenToId[ByteKey(text)].flatMap { eog.contains($0) ? $0 : nil } }
        // gpt-oss (harmony) and solar-open end a message with <|end|> but keep generating.
        if let end = has("<|end|>"), (has("<|return|>") != nil || has("<|flush|>") != nil),
           has("<|call|>") != nil || has("<|calls|>") != nil {
            eog.remove(end)
            types[Int(end)] = .userDefined
        }
        // Gemma 4 and PLaMo have an ordinary "</s>" token.
        if let s = has("</s>"), has("<|tool_response>") != nil || has("<|plamo:eos|>") != nil {
            eog.remove(s)
            types[Int(s)] = .normal
        }
        return eog
    }
}
