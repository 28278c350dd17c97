/// A tokenizer problem in the vocabulary metadata, naming the GGUF key at fault.
public enum TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    case missingField(String)
    case invalidField(String, String)

    /// The GGUF metadata key the error is about.
    public var field: String {
        switch self {
        case .missingField(let f), .invalidField(let f, _): f
        }
    }

    public var description: String {
        switch self {
        case .missingField(let f): "tokenizer: missing \(f)"
        case .invalidField(let f, let why): "tokenizer: invalid \(f): \(why)"
        }
    }
}

/// `tokenizer.ggml.token_type` values.
public enum TokenType: Int, Sendable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6

    /// Tokens matched in text before ordinary tokenization (control ones only when asked).
    var isSpecial: Bool { self == .control || self == .userDefined || self == .unknown }
    /// Tokens that render as nothing unless special rendering is asked for.
    var isHidden: Bool { self == .control || self == .unknown }
}

/// The tokenizer-relevant GGUF metadata as plain Swift values, so the tokenizer can be built
/// and tested without a GGUF file. Field names follow the `tokenizer.ggml.*` keys.
public struct TokenizerVocabulary: Sendable {
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE), "gemma4" (space-escaped BPE) or
    /// "llama" (SentencePiece).
    public var model: String
    /// `tokenizer.ggml.pre`: the pre-tokenizer name for "gpt2" models.
    public var pre: String?
    public var tokens: [String]
    public var tokenTypes: [Int]?
    public var scores: [Float]?
    public var merges: [String]?
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    public var unknownTokenId: Int?
    public var paddingTokenId: Int?
    /// End-of-turn, end-of-message and fill-in-the-middle pad/repo/separator tokens; when
    /// absent they are found by their text, as llama.cpp does.
    public var eotTokenId: Int?
    public var eomTokenId: Int?
    public var fimPadTokenId: Int?
    public var fimRepTokenId: Int?
    public var fimSepTokenId: Int?
    public var addBOS: Bool?
    public var addEOS: Bool?
    public var addSpacePrefix: Bool?
    public var chatTemplate: String?

    public init(
        model: String, pre: String? = nil, tokens: [String], tokenTypes: [Int]? = nil,
        scores: [Float]? = nil, merges: [String]? = nil,
        bosTokenId: Int? = nil, eosTokenId: Int? = nil, unknownTokenId: Int? = nil, paddingTokenId: Int? = nil,
        eotTokenId: Int? = nil, eomTokenId: Int? = nil,
        fimPadTokenId: Int? = nil, fimRepTokenId: Int? = nil, fimSepTokenId: Int? = nil,
        addBOS: Bool? = nil, addEOS: Bool? = nil, addSpacePrefix: Bool? = nil, chatTemplate: String? = nil
    ) {
        self.model = model
        self.pre = pre
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.scores = scores
        self.merges = merges
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.unknownTokenId = unknownTokenId
        self.paddingTokenId = paddingTokenId
        self.eotTokenId = eotTokenId
        self.eomTokenId = eomTokenId
        self.fimPadTokenId = fimPadTokenId
        self.fimRepTokenId = fimRepTokenId
        self.fimSepTokenId = fimSepTokenId
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
        self.chatTemplate = chatTemplate
    }

    /// Token types, checked against the token count; all normal when the key is absent.
    func validatedTypes() throws -> [TokenType] {
        guard let raw = tokenTypes else { return Array(repeating: .normal, count: tokens.count) }
        guard raw.count == tokens.count else {
            throw TokenizerError.invalidField("tokenizer.ggml.token_type", "has \(raw.count) entries but tokenizer.ggml.tokens has \(tokens.count)")
        }
        return try raw.enumerated().map { i, v in
            guard let t = TokenType(rawValue: v) else {
                throw TokenizerError.invalidField("tokenizer.ggml.token_type", "entry \(i) has unknown type \(v)")
            }
            return t
        }
    }

    func validatedScores() throws -> [Float] {
        guard let s = scores else { return Array(repeating: 0, count: tokens.count) }
        guard s.count == tokens.count else {
            throw TokenizerError.invalidField("tokenizer.ggml.scores", "has \(s.count) entries but tokenizer.ggml.tokens has \(tokens.count)")
        }
        return s
    }

    /// A special token id, checked to be inside the vocabulary.
    static func checkedId(_ id: Int?, _ key: String, count: Int) throws -> Int32? {
        guard let id else { return nil }
        guard id >= 0, id < count else {
            throw TokenizerError.invalidField(key, "id \(id) is outside the vocabulary of \(count) tokens")
        }
        return Int32(id)
    }
}
