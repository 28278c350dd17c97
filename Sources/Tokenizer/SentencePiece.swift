/// SentencePiece BPE ("llama" vocabularies): start from UTF-8 characters, repeatedly merge
/// the adjacent pair whose concatenation is the highest-scoring token, and fall back to
/// `<0xXX>` byte tokens for characters the vocabulary lacks.
struct SPMModel: Sendable {
    let tokenToId: [ArraySlice<UInt8>: Int32]
    let scores: [Float]
    /// Token for each byte: `<0xXX>`, else the one-byte token, else -1.
    let byteTokens: [Int32]
    let unknown: Int32?

    init(tokens: [String], tokenToId: [ArraySlice<UInt8>: Int32], scores: [Float], unknown: Int32?) {
        self.tokenToId = tokenToId
        self.scores = scores
        self.unknown = unknown
        var bt = [Int32](repeating: -1, count: 256)
        let hex = Array("0123456789ABCDEF".utf8)
        for b in 0..<256 {
            let name: [UInt8] = Array("<0x".utf8) + [hex[b >> 4], hex[b & 15], UInt8(ascii: ">")]
            if let id = tokenToId[name[...]] {
                bt[b] = id
            } else if let id = tokenToId[[UInt8(b)][...]] {
                bt[b] = id
            }
        }
        self.byteTokens = bt
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
        var start: [Int] = []
        var len: [Int] = []
        var prev: [Int] = []
        var next: [Int] = []
        start.reserveCapacity(text.count)
        len.reserveCapacity(text.count)
        var off = 0
        while off < text.count {
            let l = min(utf8SequenceLength(text[off]), text.count - off)
            start.append(off)
            len.append(l)
            off += l
        }
        let n = start.count
        for i in 0..<n {
            prev.append(i - 1)
            next.append(i + 1 < n ? i + 1 : -1)
        }
        var heap = BigramHeap()
        func tryAdd(_ l: Int, _ r: Int) {
            guard l >= 0, r >= 0 else { return }
            let size = len[l] + len[r]
            guard let id = tokenToId[text[start[l]..<(start[l] + size)]] else { return }
            heap.push(Bigram(score: scores[Int(id)], left: Int32(l), right: Int32(r), size: Int32(size)))
        }
        for i in 1..<max(n, 1) { tryAdd(i - 1, i) }
        while let b = heap.pop() {
            let l = Int(b.left), r = Int(b.right)
            // Skip pairs that changed since they were queued (one side merged away or grown).
            if len[l] == 0 || len[r] == 0 || len[l] + len[r] != Int(b.size) { continue }
            len[l] += len[r]
            len[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { prev[next[r]] = l }
            tryAdd(prev[l], l)
            tryAdd(l, next[l])
        }
        var i = 0
        while i >= 0 {
            let piece = text[start[i]..<(start[i] + len[i])]
            if let id = tokenToId[piece] {
                out.append(id)
            } else {
                // Merged symbols are always tokens, so only single characters get here.
                for byte in piece {
                    let id = byteTokens[Int(byte)]
                    if id >= 0 { out.append(id) } else if let unknown { out.append(unknown) }
                }
            }
            i = next[i]
        }
    }
}

struct Bigram {
    var score: Float
    var left: Int32
    var right: Int32
    var size: Int32

    /// Pops first: higher score, then the leftmost pair.
    @inline(__always) func before(_ o: Bigram) -> Bool {
        score > o.score || (score == o.score && left < o.left)
    }
}

struct BigramHeap {
    private var items: [Bigram] = []

    mutating func push(_ v: Bigram) {
        items.append(v)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) >> 1
            if !v.before(items[p]) { break }
            items[i] = items[p]
            i = p
        }
        items[i] = v
    }

    mutating func pop() -> Bigram? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return first }
        var i = 0
        let n = items.count
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            let r = l + 1
            let c = (r < n && items[r].before(items[l])) ? r : l
            if !items[c].before(last) { break }
            items[i] = items[c]
            i = c
        }
        items[i] = last
        return first
    }
}
