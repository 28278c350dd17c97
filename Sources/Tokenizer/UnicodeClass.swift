/// Per-codepoint class bits used by the pre-tokenizers: the regex classes \p{L}, \p{N}, \p{P},
/// \p{S}, \p{M} and \s. `valid` is set for every codepoint so that "out of range" (0) can be told
/// apart from "in range but in none of the classes", which the split rules depend on.
struct CharClass: OptionSet, Sendable {
    let rawValue: UInt8
    static let letter = CharClass(rawValue: 1 << 0)
    static let number = CharClass(rawValue: 1 << 1)
    static let whitespace = CharClass(rawValue: 1 << 2)
    static let punctuation = CharClass(rawValue: 1 << 3)
    static let symbol = CharClass(rawValue: 1 << 4)
    static let mark = CharClass(rawValue: 1 << 5)
    static let valid = CharClass(rawValue: 1 << 7)
}

enum UnicodeClass {
    /// Flat table over all codepoints (1.1 MB), built once per process on first use. A flat
    /// table keeps the splitters' inner loops to one load per codepoint.
    static let table: [UInt8] = build()

    /// The White_Space property, as llama.cpp and Python's `re` use for \s.
    static let whitespace: [UInt32] = [
        0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680,
        0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
        0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
    ]

    private static func build() -> [UInt8] {
        var t = [UInt8](repeating: CharClass.valid.rawValue, count: 0x110000)
        t.withUnsafeMutableBufferPointer { buf in
            for cp in 0..<UInt32(0x110000) {
                guard let scalar = Unicode.Scalar(cp) else { continue }  // surrogates
                var c: CharClass = .valid
                switch scalar.properties.generalCategory {
                case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
                    c.insert(.letter)
                case .decimalNumber, .letterNumber, .otherNumber:
                    c.insert(.number)
                case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
                     .initialPunctuation, .finalPunctuation, .otherPunctuation:
                    c.insert(.punctuation)
                case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
                    c.insert(.symbol)
                case .nonspacingMark, .spacingMark, .enclosingMark:
                    c.insert(.mark)
                default:
                    break
                }
                buf[Int(cp)] = c.rawValue
            }
            for cp in whitespace { buf[Int(cp)] |= CharClass.whitespace.rawValue }
        }
        return t
    }
}

/// Text decoded once into codepoints, keeping each codepoint's byte offset so that the
/// splitters can work on codepoints and hand back byte ranges of the original UTF-8.
struct DecodedText {
    var cps: [UInt32] = []
    /// offsets[i] is the byte offset of codepoint i; offsets[cps.count] is the byte length.
    var offsets: [Int32] = []

    init(_ bytes: ArraySlice<UInt8>) {
        cps.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var i = bytes.startIndex
        let base = bytes.startIndex
        let end = bytes.endIndex
        // The input comes from a Swift String, so it is valid UTF-8; the length checks only
        // keep a malformed tail from reading past the end.
        while i < end {
            let b0 = UInt32(bytes[i])
            var cp = b0
            var len = 1
            if b0 >= 0xF0 { len = 4; cp = b0 & 0x07 } else if b0 >= 0xE0 { len = 3; cp = b0 & 0x0F } else if b0 >= 0xC0 { len = 2; cp = b0 & 0x1F }
            if i + len > end { len = 1; cp = 0xFFFD }
            for k in 1..<max(len, 1) { cp = (cp << 6) | (UInt32(bytes[i + k]) & 0x3F) }
            if cp >= 0x110000 { cp = 0xFFFD }
            cps.append(cp)
            offsets.append(Int32(i - base))
            i += len
        }
        offsets.append(Int32(end - base))
    }
}

/// Length of a UTF-8 sequence from its first byte (1 for continuation or invalid bytes, so a
/// scan always advances).
@inline(__always)
func utf8SequenceLength(_ b: UInt8) -> Int {
    if b < 0xC0 { return 1 }
    if b < 0xE0 { return 2 }
    if b < 0xF0 { return 3 }
    return b < 0xF8 ? 4 : 1
}

/// Dictionary key over a byte slice that hashes the bytes in one call; ArraySlice's own
/// Hashable feeds the hasher byte by byte, which dominated SentencePiece encoding time.
struct ByteKey: Hashable, Sendable {
    let bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }
    init(_ text: String) { self.bytes = Array(text.utf8)[...] }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    static func == (a: ByteKey, b: ByteKey) -> Bool {
        a.bytes.count == b.bytes.count && a.bytes.elementsEqual(b.bytes)
    }
}
