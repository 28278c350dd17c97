import GGUF

extension TokenizerVocabulary {
    /// Reads the `tokenizer.*` keys, checking that each present key has the expected type.
    public init(metadata m: [String: GGUFValue]) throws {
        func string(_ key: String) throws -> String? {
            guard let v = m[key] else { return nil }
            guard let s = v.string else { throw TokenizerError.invalidField(key, "expected a string, found \(v.type)") }
            return s
        }
        func int(_ key: String) throws -> Int? {
            guard let v = m[key] else { return nil }
            guard let i = v.int, v.bool == nil else { throw TokenizerError.invalidField(key, "expected an integer, found \(v.type)") }
            return i
        }
        func bool(_ key: String) throws -> Bool? {
            guard let v = m[key] else { return nil }
            guard let b = v.bool else { throw TokenizerError.invalidField(key, "expected a bool, found \(v.type)") }
            return b
        }
        func array<T>(_ key: String, _ what: String, _ get: (GGUFValue) -> [T]?) throws -> [T]? {
            guard let v = m[key] else { return nil }
            guard let a = get(v) else {
                let found = if case .array(let t, _) = v { "an array of \(t)" } else { "\(v.type)" }
                throw TokenizerError.invalidField(key, "expected an array of \(what), found \(found)")
            }
            return a
        }
        guard let model = try string("tokenizer.ggml.model") else { throw TokenizerError.missingField("tokenizer.ggml.model") }
        guard let tokens = try array("tokenizer.ggml.tokens", "strings", { $0.stringArray }) else {
            throw TokenizerError.missingField("tokenizer.ggml.tokens")
        }
        self.init(
            model: model,
            pre: try string("tokenizer.ggml.pre"),
            tokens: tokens,
            tokenTypes: try array("tokenizer.ggml.token_type", "integers", { $0.intArray }),
            scores: try array("tokenizer.ggml.scores", "numbers", { $0.floatArray }),
            merges: try array("tokenizer.ggml.merges", "strings", { $0.stringArray }),
            bosTokenId: try int("tokenizer.ggml.bos_token_id"),
            eosTokenId: try int("tokenizer.ggml.eos_token_id"),
            unknownTokenId: try int("tokenizer.ggml.unknown_token_id"),
            paddingTokenId: try int("tokenizer.ggml.padding_token_id"),
            eotTokenId: try int("tokenizer.ggml.eot_token_id"),
            eomTokenId: try int("tokenizer.ggml.eom_token_id"),
            fimPadTokenId: try int("tokenizer.ggml.fim_pad_token_id"),
            fimRepTokenId: try int("tokenizer.ggml.fim_rep_token_id"),
            fimSepTokenId: try int("tokenizer.ggml.fim_sep_token_id"),
            addBOS: try bool("tokenizer.ggml.add_bos_token"),
            addEOS: try bool("tokenizer.ggml.add_eos_token"),
            addSpacePrefix: try bool("tokenizer.ggml.add_space_prefix"),
            chatTemplate: try string("tokenizer.chat_template"))
    }
}

extension Tokenizer {
    public convenience init(metadata: [String: GGUFValue]) throws {
        try self.init(vocabulary: TokenizerVocabulary(metadata: metadata))
    }

    public convenience init(gguf: GGUFFile) throws {
        try self.init(metadata: gguf.metadata)
    }
}
