/// SentencePiece BPE ("llama" vocabularies): start from UTF-8 characters, repeatedly merge
/// the adjacent pair whose concatenation is the highest-scoring token, and fall back to
/// `<0xXX>` byte tokens for characters the vocabulary lacks.
struct SPMModel: Sendable {
    let tokenToId: [ByteKey: Int32]
    let scores: [Float]
    /// Token for each byte: `<0xXX>`, else the one-byte token, else -1.
    let byteTokens: [Int32]
    let unknown: Int32?
    /// True when no token has "▁" after another character, so no token can span the start
    /// of a word: text is then split before each "▁" run and words are merged independently
    /// (and cached), which gives the same tokens as merging the whole text at once.
    let splitsAtSpaces: Bool

    init(tokens: [String], tokenToId: [ByteKey: Int32], scores: [Float], unknown: Int32?) {
        self.tokenToId = tokenToId
        self.scores = scores
        self.unknown = unknown
        var bt = [Int32](repeating: -1, count: 256)
        let hex = Array("0123456789ABCDEF".utf8)
        for b in 0..<256 {
            let name: [UInt8] = Array("<0x".utf8) + [hex[b >> 4], hex[b & 15], UInt8(ascii: ">")]
            if let id = tokenToId[ByteKey(name[...])] {
                bt[b] = id
            } else if let id = tokenToId[ByteKey([UInt8(b)][...])] {
                bt[b] = id
            }
        }
        self.byteTokens = bt
        splitsAtSpaces = !tokenToId.keys.contains { key in
            let b = Array(key.bytes)
            var i = 0
            while i + 3 <= b.count && Self.isSpaceMark(b, i) { i += 3 }
            while i + 3 <= b.count {
                if Self.isSpaceMark(b, i) { return true }
                i += 1
            }
            return false
        }
    }

    /// The escaped form of a text fragment: optional leading space, then every space as "▁".
    static func escape(_ text: ArraySlice<UInt8>, prefixSpace: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count + text.count / 4 + 3)
        if prefixSpace { out.append(contentsOf: [0xE2, 0x96, 0x81]) }
        for b in text {
            if b == 0x20 { out.append(contentsOf: [0xE2, 0x96, 0x81]) } else { out.append(b) }
        }
        return out
    }

    func encode(_ text: [UInt8], into out: inout [Int32]) {
        if text.isEmpty { return }
        var scratch = SPMScratch()
        guard splitsAtSpaces else {
            encodeSegment(text[...], into: &out, scratch: &scratch)
            return
        }
        // Words repeat a lot in natural text, so each distinct word is merged once per call.
        var cache: [ByteKey: [Int32]] = [:]
        var start = 0
        var p = 1  // a boundary at 0 would split off nothing
        while p <= text.count {
            let atSpace = p + 3 <= text.count && Self.isSpaceMark(text, p)
            if p == text.count || (atSpace && !Self.isSpaceMark(text, p - 3)) {
                let word = text[start..<p]
                if let hit = cache[ByteKey(word)] {
                    out.append(contentsOf: hit)
                } else {
                    let first = out.count
                    encodeSegment(word, into: &out, scratch: &scratch)
                    if cache.count >= 1 << 16 { cache.removeAll(keepingCapacity: true) }
                    cache[ByteKey(word)] = Array(out[first...])
                }
                start = p
                if p == text.count { break }
            }
            p += atSpace ? 3 : 1
        }
    }

    @inline(__always) static func isSpaceMark(_ t: [UInt8], _ i: Int) -> Bool {
        i >= 0 && t[i] == 0xE2 && t[i + 1] == 0x96 && t[i + 2] == 0x81
    }

    /// The merge loop over one independent stretch of escaped text.
    private func encodeSegment(_ text: ArraySlice<UInt8>, into out: inout [Int32], scratch s: inout SPMScratch) {
        s.reset()
        var off = text.startIndex
        while off < text.endIndex {
            let l = min(utf8SequenceLength(text[off]), text.endIndex - off)
            s.start.append(off)
            s.len.append(l)
            off += l
        }
        let n = s.start.count
        for i in 0..<n {
            s.prev.append(i - 1)
            s.next.append(i + 1 < n ? i + 1 : -1)
        }
        for i in 1..<max(n, 1) { tryAdd(i - 1, i, text, &s) }
        while let b = s.heap.pop() {
            let l = Int(b.left), r = Int(b.right)
            // Skip pairs that changed since they were queued (one side merged away or grown).
            if s.len[l] == 0 || s.len[r] == 0 || s.len[l] + s.len[r] != Int(b.size) { continue }
            s.len[l] += s.len[r]
            s.len[r] = 0
            s.next[l] = s.next[r]
            if s.next[r] >= 0 { s.prev[s.next[r]] = l }
            tryAdd(s.prev[l], l, text, &s)
            tryAdd(l, s.next[l], text, &s)
        }
        var i = 0
        while i >= 0 && n > 0 {
            let piece = text[s.start[i]..<(s.start[i] + s.len[i])]
            if let id = tokenToId[ByteKey(piece)] {
                out.append(id)
            } else {
                // Merged symbols are always tokens, so only single characters get here.
                for byte in piece {
                    let id = byteTokens[Int(byte)]
                    if id >= 0 { out.append(id) } else if let unknown { out.append(unknown) }
                }
            }
            i = s.next[i]
        }
    }

    @inline(__always) private func tryAdd(_ l: Int, _ r: Int, _ text: ArraySlice<UInt8>, _ s: inout SPMScratch) {
        guard l >= 0, r >= 0 else { return }
        let size = s.len[l] + s.len[r]
        guard let id = tokenToId[ByteKey(text[s.start[l]..<(s.start[l] + size)])] else { return }
        s.heap.push(Bigram(score: scores[Int(id)], left: Int32(l), right: Int32(r), size: Int32(size)))
    }
}

/// Reusable buffers for the merge loop.
struct SPMScratch {
    var start: [Int] = []
    var len: [Int] = []
    var prev: [Int] = []
    var next: [Int] = []
    var heap = BinaryHeap<Bigram>()

    mutating func reset() {
        start.removeAll(keepingCapacity: true)
        len.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        heap.removeAll()
    }
}

struct Bigram: HeapOrdered {
    var score: Float
    var left: Int32
    var right: Int32
    var size: Int32

    /// Pops first: higher score, then the leftmost pair.
    @inline(__always) func before(_ o: Bigram) -> Bool {
        score > o.score || (score == o.score && left < o.left)
    }
}

