/// Byte-pair encoding over GGUF merges, in two flavours:
/// - byte-level (GPT-2 style, `byteLevel`): vocabulary strings are stored in GPT-2's printable
///   byte alphabet (byte 0x20 is "Ġ", ...); they are converted back to raw bytes once at load, so
///   the merge loop works on raw UTF-8 bytes and token ids instead of re-encoded strings. A word
///   starts as one symbol per byte.
/// - raw text (Gemma 4, SentencePiece-like): vocabulary strings are raw UTF-8 with "▁" for
///   spaces; a word starts as one symbol per character, and characters without a token fall
///   back to `<0xXX>` byte tokens, as llama.cpp does for non-byte-encoded BPE.
struct BPEModel: Sendable {
    /// (left id << 32 | right id) → (rank << 32 | merged id).
    let merges: [UInt64: UInt64]
    /// Byte-level: the token for each single raw byte. Raw text: the `<0xXX>` fallback token
    /// for each byte. -1 where the vocabulary has none.
    let byteTokens: [Int32]
    /// Raw-text only: the token of each one-byte (ASCII) character, -1 where none, so the
    /// common case skips a dictionary lookup.
    let asciiTokens: [Int32]
    /// Raw-byte text of every token → id, for whole-word and character lookups.
    let rawToId: [ByteKey: Int32]
    /// llama3-style vocabularies emit a word that is itself a token without merging.
    let ignoreMerges: Bool
    let byteLevel: Bool

    /// `textToId`: every vocabulary string (as stored) → id. Keys are bytes, not Strings:
    /// Swift compares Strings up to canonical equivalence, which would merge distinct tokens
    /// such as "ά" (U+03AC) and "ά" (U+03B1 U+0301) or ";" and the Greek question mark.
    init(tokens: [String], textToId: [ByteKey: Int32], merges mergeLines: [String], ignoreMerges: Bool, byteLevel: Bool = true) throws {
        let decode = GPT2ByteAlphabet.unicodeToByte
        var raw: [ByteKey: Int32] = byteLevel ? [:] : textToId
        raw.reserveCapacity(byteLevel ? tokens.count : 0)
        var byteTokens = [Int32](repeating: -1, count: 256)
        for (i, t) in tokens.enumerated() {
            if !byteLevel {
                if let b = Tokenizer.parseByteToken(t) { byteTokens[Int(b)] = Int32(i) }
                continue
            }
            // Tokens outside the byte alphabet (e.g. added tokens with raw spaces) cannot come
            // out of byte-level encoding, so they never take part in merges.
            guard let bytes = GPT2ByteAlphabet.decode(t, table: decode) else { continue }
            raw[ByteKey(bytes[...])] = Int32(i)
            if bytes.count == 1 { byteTokens[Int(bytes[0])] = Int32(i) }
        }
        var ascii = [Int32](repeating: -1, count: 128)
        if !byteLevel {
            for b in 0..<128 { ascii[b] = raw[ByteKey([UInt8(b)][...])] ?? -1 }
        }
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(mergeLines.count)
        for (rank, line) in mergeLines.enumerated() {
            // Split at the first space after the first character, as llama.cpp does, so a
            // merge whose left part is itself a space-like symbol still parses.
            let u = Array(line.utf8)
            guard u.count >= 3, let sp = u[1...].firstIndex(of: 0x20) else {
                throw TokenizerError.invalidField("tokenizer.ggml.merges", "entry \(rank) '\(line)' is not 'A B'")
            }
            let a = u[..<sp], b = u[(sp + 1)...]
            guard let l = textToId[ByteKey(a)], let r = textToId[ByteKey(b)] else {
                throw TokenizerError.invalidField("tokenizer.ggml.merges", "entry \(rank) '\(line)' names a token not in the vocabulary")
            }
            let joined = Array(a) + Array(b)
            guard let m = textToId[ByteKey(joined[...])] else {
                throw TokenizerError.invalidField("tokenizer.ggml.merges", "entry \(rank) '\(line)' merges into '\(String(decoding: joined, as: UTF8.self))', which is not in the vocabulary")
            }
            let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
            if table[key] == nil {  // first (lowest) rank wins, like llama.cpp's emplace
                table[key] = UInt64(rank) << 32 | UInt64(UInt32(m))
            }
        }
        self.merges = table
        self.byteTokens = byteTokens
        self.asciiTokens = ascii
        self.rawToId = raw
        self.ignoreMerges = ignoreMerges
        self.byteLevel = byteLevel
    }

    /// Appends the tokens of one pre-tokenized word (raw bytes).
    func encodeWord(_ word: ArraySlice<UInt8>, into out: inout [Int32], scratch: inout BPEScratch) {
        if word.isEmpty { return }
        if ignoreMerges, let id = rawToId[ByteKey(word)] { out.append(id); return }
        // llama.cpp's Gemma 4 fix: a run of newlines that is itself a token is emitted whole,
        // since the merges would not rebuild it.
        if !byteLevel, word.allSatisfy({ $0 == 0x0A }), let id = rawToId[ByteKey(word)] { out.append(id); return }
        if byteLevel && word.count == 1 {
            let id = byteTokens[Int(word.first!)]
            if id >= 0 { out.append(id) }
            return
        }
        scratch.reset()
        if byteLevel {
            for (i, b) in word.enumerated() {
                scratch.ids.append(byteTokens[Int(b)])
                scratch.starts.append(i)
            }
        } else {
            var off = word.startIndex
            while off < word.endIndex {
                let b = word[off]
                let len = min(utf8SequenceLength(b), word.endIndex - off)
                let id = len == 1 && b < 0x80 ? asciiTokens[Int(b)] : (rawToId[ByteKey(word[off..<(off + len)])] ?? -1)
                scratch.ids.append(id)
                scratch.starts.append(off - word.startIndex)
                off += len
            }
        }
        let n = scratch.ids.count
        for i in 0..<n {
            scratch.prev.append(i - 1)
            scratch.next.append(i + 1 < n ? i + 1 : -1)
            scratch.dead.append(false)
        }
        for i in 0..<(n - 1) { pushPair(i, i + 1, &scratch) }
        // Lowest rank first, leftmost on ties; stale entries are skipped by re-checking that the
        // pair at `left` still has the rank it was queued with (a rank names exactly one pair).
        while let top = scratch.heap.pop() {
            let rank = top >> 32
            let left = Int(top & 0xFFFF_FFFF)
            guard scratch.alive(left) else { continue }
            let right = scratch.next[left]
            guard right >= 0, let entry = lookup(scratch.ids[left], scratch.ids[right]), entry >> 32 == rank else { continue }
            scratch.ids[left] = Int32(truncatingIfNeeded: entry & 0xFFFF_FFFF)
            scratch.dead[right] = true
            let after = scratch.next[right]
            scratch.next[left] = after
            if after >= 0 { scratch.prev[after] = left }
            if scratch.prev[left] >= 0 { pushPair(scratch.prev[left], left, &scratch) }
            if after >= 0 { pushPair(left, after, &scratch) }
        }
        var i = 0
        while i >= 0 {
            let id = scratch.ids[i]
            let nextIndex = scratch.next[i]
            if id >= 0 {
                out.append(id)
            } else if !byteLevel {
                // Symbols without a token never merge, so this is one character: its bytes.
                let from = word.startIndex + scratch.starts[i]
                let to = nextIndex >= 0 ? word.startIndex + scratch.starts[nextIndex] : word.endIndex
                for b in word[from..<to] where byteTokens[Int(b)] >= 0 { out.append(byteTokens[Int(b)]) }
            }  // byte-level: bytes without a token are dropped, as llama.cpp does
            i = nextIndex
        }
    }

    @inline(__always) private func lookup(_ l: Int32, _ r: Int32) -> UInt64? {
        if l < 0 || r < 0 { return nil }
        return merges[UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))]
    }

    @inline(__always) private func pushPair(_ l: Int, _ r: Int, _ s: inout BPEScratch) {
        if let e = lookup(s.ids[l], s.ids[r]) { s.heap.push((e >> 32) << 32 | UInt64(l)) }
    }
}

/// Reusable per-encode buffers, so a long text does not allocate per word.
struct BPEScratch {
    var ids: [Int32] = []
    /// Byte offset of each symbol in the word; a symbol ends where the next live one starts.
    var starts: [Int] = []
    var prev: [Int] = []
    var next: [Int] = []
    var dead: [Bool] = []
    var heap = BinaryHeap<UInt64>()

    mutating func reset() {
        ids.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        dead.removeAll(keepingCapacity: true)
        heap.removeAll()
    }
    @inline(__always) func alive(_ i: Int) -> Bool { !dead[i] }
}

/// Packed merge keys: priority in the high bits, position in the low bits, so ties break toward
/// the leftmost position; the smallest pops first.
extension UInt64: HeapOrdered {
    @inline(__always) func before(_ other: UInt64) -> Bool { self < other }
}

/// GPT-2's reversible mapping of the 256 byte values to printable codepoints.
enum GPT2ByteAlphabet {
    /// byteToUnicode[b] is the codepoint that stands for byte b.
    static let byteToUnicode: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var n: UInt32 = 0
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable { table[b] = UInt32(b) } else { table[b] = 256 + n; n += 1 }
        }
        return table
    }()

    /// Inverse of byteToUnicode, indexed by codepoint (< 324); -1 where unmapped.
    static let unicodeToByte: [Int16] = {
        var inv = [Int16](repeating: -1, count: 324)
        for (b, u) in byteToUnicode.enumerated() { inv[Int(u)] = Int16(b) }
        return inv
    }()

    /// Raw bytes of a byte-alphabet string, or nil if it uses codepoints outside the alphabet.
    static func decode(_ s: String, table: [Int16]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            let v = Int(scalar.value)
            guard v < table.count, table[v] >= 0 else { return nil }
            out.append(UInt8(table[v]))
        }
        return out
    }
}
