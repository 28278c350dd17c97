extension Tokenizer {
    /// Precomputes each token's bytes, mirroring llama.cpp's token_to_piece: normal tokens are
    /// un-escaped (byte alphabet for BPE, "▁" → space for SentencePiece and space-escaped BPE),
    /// byte tokens give their byte, special tokens their literal text, unused/undefined tokens
    /// nothing.
    static func makePieces(tokens: [String], types: [TokenType], model: Model, spacesEscaped: Bool) -> [[UInt8]] {
        let inverse = GPT2ByteAlphabet.unicodeToByte
        return tokens.enumerated().map { i, text -> [UInt8] in
            switch types[i] {
            case .control, .userDefined, .unknown:
                return Array(text.utf8)
            case .byte:
                return parseByteToken(text).map { [$0] } ?? Array(text.utf8)
            case .unused, .undefined:
                return []
            case .normal:
                switch model {
                case .sentencePiece:
                    return unescapeSpaces(Array(text.utf8))
                case .bytePairEncoding where spacesEscaped:
                    return unescapeSpaces(Array(text.utf8))
                case .bytePairEncoding:
                    var out: [UInt8] = []
                    out.reserveCapacity(text.utf8.count)
                    for scalar in text.unicodeScalars {
                        let v = Int(scalar.value)
                        if v < inverse.count, inverse[v] >= 0 {
                            out.append(UInt8(inverse[v]))
                        } else {
                            // Outside the byte alphabet: keep the character itself.
                            out.append(contentsOf: Array(String(scalar).utf8))
                        }
                    }
                    return out
                }
            }
        }
    }

    /// "<0xAB>" → 0xAB.
    static func parseByteToken(_ text: String) -> UInt8? {
        let u = Array(text.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    static func unescapeSpaces(_ b: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            if i + 2 < b.count, b[i] == 0xE2, b[i + 1] == 0x96, b[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return out
    }
}

/// Turns tokens into text as they are generated. A character whose UTF-8 bytes are split
/// across tokens (common for emoji and CJK with byte-level vocabularies) is held back until
/// it is complete, so every returned piece is valid text. Concatenating the pieces equals
/// `decode` of all the tokens when `startOfText` is set; otherwise (continuing after a prompt)
/// a SentencePiece leading space is kept, since it separates the output from the prompt.
public struct StreamingDecoder: Sendable {
    let tokenizer: Tokenizer
    let renderSpecial: Bool
    /// Control tokens rendered as text even without `renderSpecial` (llama.cpp's preserved
    /// tokens: the markup a chat format's parser reads, such as harmony's `<|channel|>`).
    let preserved: Set<Int32>
    private var stripSpace: Bool
    private var seenAny = false
    private var pending: [UInt8] = []

    init(tokenizer: Tokenizer, renderSpecial: Bool, startOfText: Bool, preserved: Set<Int32> = []) {
        self.tokenizer = tokenizer
        self.renderSpecial = renderSpecial
        self.preserved = preserved
        self.stripSpace = startOfText && tokenizer.addSpacePrefix
    }

    /// Adds one token; returns the text that became complete (possibly empty).
    public mutating func push(_ id: Int32) -> String {
        var piece = tokenizer.tokenPiece(id, renderSpecial: renderSpecial || preserved.contains(id))
        let leadingBOS = !seenAny && id == tokenizer.bosToken
        seenAny = true
        if stripSpace && !leadingBOS {
            if piece.first == 0x20 { piece.removeFirst() }
            stripSpace = false
        }
        pending.append(contentsOf: piece)
        let keep = Self.incompleteTailLength(pending)
        if keep == pending.count { return "" }
        let text = String(decoding: pending[..<(pending.count - keep)], as: UTF8.self)
        pending.removeFirst(pending.count - keep)
        return text
    }

    /// Ends the stream: whatever is still held back, with U+FFFD for an unfinished character.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Bytes at the end that start a UTF-8 sequence more bytes could still complete. Anything
    /// that can never become valid is released (and rendered as U+FFFD) instead of stalling.
    static func incompleteTailLength(_ b: [UInt8]) -> Int {
        let n = b.count
        var k = 1
        while k <= min(3, n) {
            let byte = b[n - k]
            if byte & 0xC0 == 0x80 { k += 1; continue }  // continuation byte: look further back
            let need: Int
            switch byte {
            case 0xC2...0xDF: need = 2
            case 0xE0...0xEF: need = 3
            case 0xF0...0xF4: need = 4
            default: return 0  // ASCII or an invalid lead byte
            }
            return need > k ? k : 0
        }
        return 0
    }
}
