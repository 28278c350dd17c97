/// Text ↔ token ids for GGUF vocabularies, matching llama.cpp's tokenization.
///
/// Immutable after init, so one instance can be shared across threads; per-call scratch state
/// (BPE word cache, merge buffers) lives on the caller's stack.
public final class Tokenizer: Sendable {
    public enum Model: String, Sendable {
        /// `tokenizer.ggml.model = "gpt2"`: byte-level BPE with a regex pre-tokenizer; also
        /// `"gemma4"`: BPE over raw UTF-8 with "▁" for spaces and `<0xXX>` byte fallback
        /// (pre-tokenizer `.gemma4`).
        case bytePairEncoding
        /// `tokenizer.ggml.model = "llama"`: SentencePiece BPE with scores and byte fallback.
        case sentencePiece
    }

    public let model: Model
    /// The pre-tokenizer in use (byte-level BPE only).
    public let preTokenizer: PreTokenizerKind?
    /// `tokenizer.ggml.token_type`, after llama.cpp's fixes: end-of-turn tokens found by their
    /// text become control tokens (see `EndOfGeneration`).
    public let tokenTypes: [TokenType]
    public let bosToken: Int32?
    public let eosToken: Int32?
    public let unknownToken: Int32?
    public let paddingToken: Int32?
    /// What `encode` does when `addBOS`/`addEOS` are nil.
    public let addBOSByDefault: Bool
    public let addEOSByDefault: Bool
    /// SentencePiece: a space is prepended to text at the start and after special tokens.
    public let addSpacePrefix: Bool
    /// Tokens that end generation: llama.cpp's end-of-generation set (eos, end-of-turn and
    /// similar tokens found by their text).
    public let eosTokens: Set<Int32>
    public let chatTemplate: ChatTemplate
    /// The GGUF's `tokenizer.chat_template` text, for `ChatFormatter`.
    public let vocabularyChatTemplate: String?

    let tokens: [String]
    /// Decoded bytes of each token (special tokens as their literal text).
    let pieces: [[UInt8]]
    let specials: SpecialTokenMatcher
    let bpe: BPEModel?
    let spm: SPMModel?
    /// Keyed by bytes: Swift Strings compare up to canonical equivalence, tokens do not.
    let tokenToId: [ByteKey: Int32]

    public var vocabularySize: Int { tokens.count }

    public init(vocabulary v: TokenizerVocabulary) throws {
        guard !v.tokens.isEmpty else { throw TokenizerError.missingField("tokenizer.ggml.tokens") }
        let n = v.tokens.count
        guard n < Int(Int32.max) else { throw TokenizerError.invalidField("tokenizer.ggml.tokens", "too many tokens (\(n))") }
        var types = try v.validatedTypes()
        let scores = try v.validatedScores()  // checked for BPE too, though only SentencePiece uses them
        tokens = v.tokens
        var map: [ByteKey: Int32] = [:]
        map.reserveCapacity(n)
        for (i, t) in v.tokens.enumerated() { map[ByteKey(t)] = Int32(i) }
        tokenToId = map

        switch v.model {
        case "gpt2", "gemma4":
            model = .bytePairEncoding
            // llama.cpp always uses its Gemma 4 splitter for "gemma4" vocabularies, whatever
            // tokenizer.ggml.pre says.
            let preName = v.model == "gemma4" ? "gemma4" : v.pre
            guard let kind = PreTokenizerKind(ggufName: preName) else {
                throw TokenizerError.invalidField("tokenizer.ggml.pre", "unsupported pre-tokenizer '\(v.pre ?? "")'")
            }
            guard let merges = v.merges else { throw TokenizerError.missingField("tokenizer.ggml.merges") }
            preTokenizer = kind
            bpe = try BPEModel(tokens: v.tokens, textToId: map, merges: merges, ignoreMerges: kind == .llama3, byteLevel: !kind.escapesSpaces)
            spm = nil
            addSpacePrefix = v.addSpacePrefix ?? false
            // Gemma 4 needs its BOS; llama.cpp turns it on even when the GGUF says otherwise.
            addBOSByDefault = kind == .gemma4 ? true : v.addBOS ?? (kind == .llama3)
            bosToken = try TokenizerVocabulary.checkedId(v.bosTokenId, "tokenizer.ggml.bos_token_id", count: n)
            eosToken = try TokenizerVocabulary.checkedId(v.eosTokenId, "tokenizer.ggml.eos_token_id", count: n)
            unknownToken = try TokenizerVocabulary.checkedId(v.unknownTokenId, "tokenizer.ggml.unknown_token_id", count: n)
        case "llama":
            model = .sentencePiece
            preTokenizer = nil
            // llama.cpp's SentencePiece defaults when the ids are absent: <unk>=0, <s>=1, </s>=2.
            bosToken = try TokenizerVocabulary.checkedId(v.bosTokenId ?? (n > 1 ? 1 : nil), "tokenizer.ggml.bos_token_id", count: n)
            eosToken = try TokenizerVocabulary.checkedId(v.eosTokenId ?? (n > 2 ? 2 : nil), "tokenizer.ggml.eos_token_id", count: n)
            unknownToken = try TokenizerVocabulary.checkedId(v.unknownTokenId ?? 0, "tokenizer.ggml.unknown_token_id", count: n)
            spm = SPMModel(tokens: v.tokens, tokenToId: map, scores: scores, unknown: unknownToken)
            bpe = nil
            addSpacePrefix = v.addSpacePrefix ?? true
            addBOSByDefault = v.addBOS ?? true
        default:
            throw TokenizerError.invalidField("tokenizer.ggml.model", "unsupported tokenizer model '\(v.model)'")
        }
        paddingToken = try TokenizerVocabulary.checkedId(v.paddingTokenId, "tokenizer.ggml.padding_token_id", count: n)
        addEOSByDefault = v.addEOS ?? false
        if addBOSByDefault && bosToken == nil {
            throw TokenizerError.invalidField("tokenizer.ggml.add_bos_token", "is true but there is no bos token")
        }
        if addEOSByDefault && eosToken == nil {
            throw TokenizerError.invalidField("tokenizer.ggml.add_eos_token", "is true but there is no eos token")
        }
        let known = EndOfGeneration.KnownIds(
            eos: eosToken,
            eot: try TokenizerVocabulary.checkedId(v.eotTokenId, "tokenizer.ggml.eot_token_id", count: n),
            eom: try TokenizerVocabulary.checkedId(v.eomTokenId, "tokenizer.ggml.eom_token_id", count: n),
            fimPad: try TokenizerVocabulary.checkedId(v.fimPadTokenId, "tokenizer.ggml.fim_pad_token_id", count: n),
            fimRep: try TokenizerVocabulary.checkedId(v.fimRepTokenId, "tokenizer.ggml.fim_rep_token_id", count: n),
            fimSep: try TokenizerVocabulary.checkedId(v.fimSepTokenId, "tokenizer.ggml.fim_sep_token_id", count: n))
        eosTokens = EndOfGeneration.resolve(types: &types, tokenToId: map, known: known)
        tokenTypes = types
        specials = SpecialTokenMatcher(tokens: v.tokens, types: types)
        pieces = Self.makePieces(tokens: v.tokens, types: types, model: model,
                                 spacesEscaped: preTokenizer?.escapesSpaces ?? false)
        chatTemplate = ChatTemplate(source: v.chatTemplate)
        vocabularyChatTemplate = v.chatTemplate
    }

    /// Token id of an exact vocabulary string (e.g. "<|im_end|>").
    public func tokenId(_ text: String) -> Int32? { tokenToId[ByteKey(text)] }

    /// The vocabulary string of a token as stored in the GGUF, or nil for a bad id.
    public func tokenText(_ id: Int32) -> String? {
        id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : nil
    }

    /// Tokenizes `text`. `addBOS`/`addEOS` default to the vocabulary's settings; with
    /// `parseSpecial` control tokens written in the text (e.g. "<|im_start|>") become their ids,
    /// otherwise they are tokenized as ordinary text. Never fails: every string has an encoding.
    public func encode(_ text: String, addBOS: Bool? = nil, addEOS: Bool? = nil, parseSpecial: Bool = false) -> [Int32] {
        let bytes = Array(text.utf8)
        var out: [Int32] = []
        out.reserveCapacity(bytes.count / 3 + 2)
        if addBOS ?? addBOSByDefault, let bosToken { out.append(bosToken) }
        let fragments = specials.partition(bytes, parseSpecial: parseSpecial)
        if let bpe, let preTokenizer {
            let pre = PreTokenizer(kind: preTokenizer)
            var scratch = BPEScratch()
            // Natural text repeats words constantly; caching per call avoids re-merging them
            // without shared mutable state.
            var cache: [ByteKey: [Int32]] = [:]
            for fragment in fragments {
                switch fragment {
                case .token(let id): out.append(id)
                case .text(let r):
                    // Gemma 4's vocabulary spells spaces "▁" (llama.cpp's escape_whitespaces).
                    let text = preTokenizer.escapesSpaces ? SPMModel.escape(bytes[r], prefixSpace: false)[...] : bytes[r]
                    let base = text.startIndex
                    for w in pre.split(text) {
                        let word = text[(base + w.lowerBound)..<(base + w.upperBound)]
                        if let hit = cache[ByteKey(word)] { out.append(contentsOf: hit); continue }
                        let start = out.count
                        bpe.encodeWord(word, into: &out, scratch: &scratch)
                        if cache.count >= 1 << 16 { cache.removeAll(keepingCapacity: true) }
                        cache[ByteKey(word)] = Array(out[start...])
                    }
                }
            }
        } else if let spm {
            var afterSpecial = true  // the first fragment counts as following a special token
            for fragment in fragments {
                switch fragment {
                case .token(let id):
                    out.append(id)
                    afterSpecial = true
                case .text(let r):
                    spm.encode(SPMModel.escape(bytes[r], prefixSpace: addSpacePrefix && afterSpecial), into: &out)
                    afterSpecial = false
                }
            }
        }
        if addEOS ?? addEOSByDefault, let eosToken { out.append(eosToken) }
        return out
    }

    /// The bytes a token stands for. Control and unknown tokens render as their literal text
    /// only with `renderSpecial`; bad ids give no bytes.
    public func tokenPiece(_ id: Int32, renderSpecial: Bool = true) -> [UInt8] {
        guard id >= 0, Int(id) < pieces.count else { return [] }
        if !renderSpecial && tokenTypes[Int(id)].isHidden { return [] }
        return pieces[Int(id)]
    }

    /// Text of a token sequence. Bytes that do not form valid UTF-8 become U+FFFD; bad ids are
    /// skipped. With `addSpacePrefix` (SentencePiece) the space that encoding put in front of
    /// the text is removed again, so `decode(encode(x)) == x`.
    public func decode(_ ids: [Int32], renderSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        var stripSpace = addSpacePrefix
        for (i, id) in ids.enumerated() {
            let piece = tokenPiece(id, renderSpecial: renderSpecial)
            if i == 0 && id == bosToken {  // the prefix space follows a leading BOS
                bytes.append(contentsOf: piece)
                continue
            }
            if stripSpace, piece.first == 0x20 {
                bytes.append(contentsOf: piece.dropFirst())
            } else {
                bytes.append(contentsOf: piece)
            }
            stripSpace = false
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A decoder for generated tokens that only ever yields complete UTF-8 characters.
    /// `startOfText`: the tokens begin the text (strip SentencePiece's prefix space like
    /// `decode`); leave false when continuing after a prompt. `preserving`: control tokens to
    /// render as text anyway.
    public func makeStreamingDecoder(renderSpecial: Bool = false, startOfText: Bool = false, preserving: Set<Int32> = []) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, renderSpecial: renderSpecial, startOfText: startOfText, preserved: preserving)
    }
}
