/// Regex pre-splitting of byte-level BPE text into words, hand-coded per pre-tokenizer the way
/// llama.cpp's `unicode.cpp` does it: each splitter walks codepoints and mirrors the
/// alternation order of the original regex, which is much faster than a regex engine and
/// gives identical splits.
public enum PreTokenizerKind: String, Sendable, CaseIterable {
    /// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    case gpt2
    /// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    case llama3
    /// Same as llama3 but every digit is its own word (\p{N} instead of \p{N}{1,3}).
    case qwen2
    /// Qwen3.5/3.6: qwen2 with combining marks in letter runs, so a decomposed "é" stays one word:
    /// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    case qwen35
    /// Gemma 4: `[^\n]+|[\n]+`, i.e. only newline runs are split off. The vocabulary is
    /// SentencePiece-like (raw UTF-8 with "▁" for spaces), so BPE merges run over whole lines.
    case gemma4
    /// llama.cpp's fallback when a GGUF names no pre-tokenizer: punctuation runs, then gpt2,
    /// then digit runs, then ASCII digit triples.
    case `default`

    /// Maps `tokenizer.ggml.pre` to a splitter; nil for names this engine does not know.
    public init?(ggufName name: String?) {
        guard let name, !name.isEmpty else { self = .default; return }
        switch name {
        case "default": self = .default
        case "gpt-2", "gpt2", "mpt", "olmo", "jais", "trillion": self = .gpt2
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "smaug-bpe", "dbrx", "chatglm-bpe":
            self = .llama3
        case "qwen2", "deepseek-r1-qwen", "stablelm2", "hunyuan", "grok-2": self = .qwen2
        case "qwen35": self = .qwen35
        case "gemma4", "granite-embed-multi-311m": self = .gemma4
        default: return nil
        }
    }

    /// llama.cpp's `escape_whitespaces` for BPE: spaces become "▁" before splitting, and the
    /// vocabulary holds raw UTF-8 with `<0xXX>` byte tokens instead of GPT-2's byte alphabet.
    var escapesSpaces: Bool { self == .gemma4 }
}

struct PreTokenizer: Sendable {
    let kind: PreTokenizerKind

    /// Splits `text` into word byte ranges (relative to the slice start), in order, covering
    /// every byte exactly once.
    func split(_ text: ArraySlice<UInt8>) -> [Range<Int>] {
        if text.isEmpty { return [] }
        let decoded = DecodedText(text)
        let n = decoded.cps.count
        let words: [Range<Int>] = UnicodeClass.table.withUnsafeBufferPointer { table in
            decoded.cps.withUnsafeBufferPointer { cps in
                var splitter = Splitter(cps: cps, table: table)
                switch kind {
                case .gpt2: splitter.gpt2(0..<n)
                case .llama3: splitter.llama3(0..<n, maxDigits: 3)
                case .qwen2: splitter.llama3(0..<n, maxDigits: 1)
                case .qwen35: splitter.llama3(0..<n, maxDigits: 1, marksJoinLetters: true)
                case .gemma4: splitter.newlineRuns(0..<n)
                case .default:
                    var fragments = splitter.isolateRuns(in: [0..<n]) { cp, c in
                        c.contains(.punctuation) || cp == 0x24 || cp == 0x2B || cp == 0x3C || cp == 0x3D
                            || cp == 0x3E || cp == 0x5E || cp == 0x7E || cp == 0x7C
                    }
                    splitter.out = []
                    for f in fragments { splitter.gpt2(f) }
                    fragments = splitter.isolateRuns(in: splitter.out) { _, c in c.contains(.number) }
                    splitter.out = splitter.isolateASCIIDigitTriples(in: fragments)
                }
                return splitter.out
            }
        }
        return words.map { Int(decoded.offsets[$0.lowerBound])..<Int(decoded.offsets[$0.upperBound]) }
    }
}

/// Cursor-style splitter over codepoints; `out` collects codepoint ranges.
private struct Splitter {
    let cps: UnsafeBufferPointer<UInt32>
    let table: UnsafeBufferPointer<UInt8>
    var out: [Range<Int>] = []
    private var end = 0
    private var prevEnd = 0

    init(cps: UnsafeBufferPointer<UInt32>, table: UnsafeBufferPointer<UInt8>) {
        self.cps = cps
        self.table = table
    }

    /// Class of the codepoint at `p`, or empty (0) outside the current fragment, which is what
    /// makes look-aheads like (?!\S) stop at fragment ends.
    @inline(__always) private func cls(_ p: Int) -> CharClass {
        p < end ? CharClass(rawValue: table[Int(cps[p])]) : []
    }
    @inline(__always) private func cp(_ p: Int) -> UInt32 { p < end ? cps[p] : 0xFFFF_FFFF }
    @inline(__always) private mutating func emit(_ to: Int) {
        if to > prevEnd { out.append(prevEnd..<to) }
        prevEnd = to
    }
    @inline(__always) private static func lowerASCII(_ c: UInt32) -> UInt32 {
        (c >= 0x41 && c <= 0x5A) ? c + 0x20 : c
    }

    /// Length of an English contraction ('s 't 'm 'd 're 've 'll) at `pos`, or 0.
    private func contraction(at pos: Int, caseInsensitive: Bool) -> Int {
        guard cps[pos] == 0x27, pos + 1 < end else { return 0 }
        let n1 = caseInsensitive ? Self.lowerASCII(cps[pos + 1]) : cps[pos + 1]
        if n1 == 0x73 || n1 == 0x74 || n1 == 0x6D || n1 == 0x64 { return 2 }  // s t m d
        guard pos + 2 < end else { return 0 }
        let n2 = caseInsensitive ? Self.lowerASCII(cps[pos + 2]) : cps[pos + 2]
        if (n1 == 0x72 && n2 == 0x65) || (n1 == 0x76 && n2 == 0x65) || (n1 == 0x6C && n2 == 0x6C) { return 3 }
        return 0
    }

    private static let wln: CharClass = [.whitespace, .letter, .number]

    mutating func gpt2(_ range: Range<Int>) {
        end = range.upperBound
        prevEnd = range.lowerBound
        var pos = range.lowerBound
        while pos < end {
            let c = cps[pos]
            let k = contraction(at: pos, caseInsensitive: false)
            if k > 0 { pos += k; emit(pos); continue }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run.
            let f2 = c == 0x20 ? cls(pos + 1) : cls(pos)
            let want: CharClass? =
                f2.contains(.letter) ? .letter
                : f2.contains(.number) ? .number
                : (f2.isDisjoint(with: Self.wln) && !f2.isEmpty) ? [] : nil
            if let want {
                pos += c == 0x20 ? 2 : 1
                if want.isEmpty {
                    while true { let f = cls(pos); if !f.isDisjoint(with: Self.wln) || f.isEmpty { break }; pos += 1 }
                } else {
                    while cls(pos).contains(want) { pos += 1 }
                }
                emit(pos)
                continue
            }
            whitespace(&pos, newlineRule: false)
        }
    }

    /// llama3 (maxDigits 3), qwen2 (maxDigits 1) and qwen35 (qwen2 where \p{M} counts with
    /// \p{L} in the letter and punctuation rules).
    mutating func llama3(_ range: Range<Int>, maxDigits: Int, marksJoinLetters: Bool = false) {
        end = range.upperBound
        prevEnd = range.lowerBound
        let letter: CharClass = marksJoinLetters ? [.letter, .mark] : .letter
        let wln: CharClass = marksJoinLetters ? Self.wln.union(.mark) : Self.wln
        var pos = range.lowerBound
        while pos < end {
            let c = cps[pos]
            let f = cls(pos)
            let k = contraction(at: pos, caseInsensitive: true)
            if k > 0 { pos += k; emit(pos); continue }
            // `[^\r\n\p{L}\p{N}]?\p{L}+` (qwen35: `[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+`)
            if !(c == 0x0D || c == 0x0A || f.contains(.number)) && (!f.isDisjoint(with: letter) || !cls(pos + 1).isDisjoint(with: letter)) {
                pos += 1
                while !cls(pos).isDisjoint(with: letter) { pos += 1 }
                emit(pos)
                continue
            }
            // `\p{N}{1,maxDigits}`, repeated over a digit run
            if f.contains(.number) {
                var start = pos
                while cls(pos).contains(.number) {
                    pos += 1
                    if pos - start >= maxDigits { emit(pos); start = pos }
                }
                emit(pos)
                continue
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*` (qwen35: `[^\s\p{L}\p{M}\p{N}]`)
            let f2 = c == 0x20 ? cls(pos + 1) : f
            if f2.isDisjoint(with: wln) && !f.isEmpty {
                if c == 0x20 { pos += 1 }
                while true { let g = cls(pos); if !g.isDisjoint(with: wln) || g.isEmpty { break }; pos += 1 }
                while cp(pos) == 0x0D || cp(pos) == 0x0A { pos += 1 }
                emit(pos)
                continue
            }
            whitespace(&pos, newlineRule: true)
        }
    }

    /// `[^\n]+|[\n]+`: alternating runs of non-newlines and newlines.
    mutating func newlineRuns(_ range: Range<Int>) {
        end = range.upperBound
        prevEnd = range.lowerBound
        var pos = range.lowerBound
        while pos < end {
            let isNewline = cps[pos] == 0x0A
            while pos < end && (cps[pos] == 0x0A) == isNewline { pos += 1 }
            emit(pos)
        }
    }

    /// Splits each fragment so that maximal runs of codepoints matching `pred` become their own
    /// fragments (a regex applied with "isolated" behaviour).
    mutating func isolateRuns(in fragments: [Range<Int>], _ pred: (UInt32, CharClass) -> Bool) -> [Range<Int>] {
        var result: [Range<Int>] = []
        result.reserveCapacity(fragments.count)
        for frag in fragments {
            var start = frag.lowerBound
            var pos = frag.lowerBound
            while pos < frag.upperBound {
                let c = cps[pos]
                if pred(c, CharClass(rawValue: table[Int(c)])) {
                    var e = pos + 1
                    while e < frag.upperBound, pred(cps[e], CharClass(rawValue: table[Int(cps[e])])) { e += 1 }
                    if pos > start { result.append(start..<pos) }
                    result.append(pos..<e)
                    start = e
                    pos = e
                } else {
                    pos += 1
                }
            }
            if frag.upperBound > start { result.append(start..<frag.upperBound) }
        }
        return result
    }

    /// `[0-9][0-9][0-9]` matched left to right without overlap, isolated.
    func isolateASCIIDigitTriples(in fragments: [Range<Int>]) -> [Range<Int>] {
        var result: [Range<Int>] = []
        result.reserveCapacity(fragments.count)
        @inline(__always) func isDigit(_ c: UInt32) -> Bool { c >= 0x30 && c <= 0x39 }
        for frag in fragments {
            var start = frag.lowerBound
            var pos = frag.lowerBound
            while pos + 3 <= frag.upperBound {
                if isDigit(cps[pos]) && isDigit(cps[pos + 1]) && isDigit(cps[pos + 2]) {
                    if pos > start { result.append(start..<pos) }
                    result.append(pos..<(pos + 3))
                    pos += 3
                    start = pos
                } else {
                    pos += 1
                }
            }
            if frag.upperBound > start { result.append(start..<frag.upperBound) }
        }
        return result
    }

    /// `\s*[\r\n]+` (when `newlineRule`), then `\s+(?!\S)`, then `\s+`, then a lone codepoint.
    private mutating func whitespace(_ pos: inout Int, newlineRule: Bool) {
        var count = 0
        var lastNewlineEnd = -1
        while cls(pos + count).contains(.whitespace) {
            let c2 = cps[pos + count]
            if c2 == 0x0D || c2 == 0x0A { lastNewlineEnd = pos + count + 1 }
            count += 1
        }
        if newlineRule && lastNewlineEnd >= 0 {
            pos = lastNewlineEnd
        } else if count > 1 && pos + count < end {
            pos += count - 1  // leave the last space to prefix the next word
        } else if count > 0 {
            pos += count
        } else {
            pos += 1
        }
        emit(pos)
    }
}
