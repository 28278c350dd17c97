/// A piece of input after special-token matching: either raw text to tokenize or a token.
enum Fragment {
    case text(Range<Int>)
    case token(Int32)
}

/// Finds special tokens (control, user-defined, unknown) in raw text with llama.cpp's priority:
/// longer tokens claim text first everywhere, then shorter ones split what is left, each
/// token's occurrences taken left to right. User-defined tokens are always matched (as in
/// llama.cpp and Hugging Face); control and unknown tokens only with `parseSpecial`.
struct SpecialTokenMatcher: Sendable {
    struct Entry: Sendable {
        let bytes: [UInt8]
        let id: Int32
        let needsParseSpecial: Bool
    }
    /// Sorted by length descending, then id, which is the claim order.
    let entries: [Entry]
    /// Entry indices per first byte, so most text positions cost one array load.
    let byFirstByte: [[Int]]

    init(tokens: [String], types: [TokenType]) {
        var e: [Entry] = []
        for (i, t) in tokens.enumerated() where types[i].isSpecial && !t.isEmpty {
            e.append(Entry(bytes: Array(t.utf8), id: Int32(i), needsParseSpecial: types[i] != .userDefined))
        }
        e.sort { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }
        var index = [[Int]](repeating: [], count: 256)
        for (k, entry) in e.enumerated() { index[Int(entry.bytes[0])].append(k) }
        entries = e
        byFirstByte = index
    }

    func partition(_ text: [UInt8], parseSpecial: Bool) -> [Fragment] {
        if text.isEmpty { return [] }
        // Every occurrence of every eligible token, as (claim order, start).
        var hits: [(order: Int, start: Int)] = []
        text.withUnsafeBufferPointer { buf in
            for pos in 0..<buf.count {
                let candidates = byFirstByte[Int(buf[pos])]
                if candidates.isEmpty { continue }
                for k in candidates {
                    let entry = entries[k]
                    if entry.needsParseSpecial && !parseSpecial { continue }
                    let n = entry.bytes.count
                    guard pos + n <= buf.count else { continue }
                    var match = true
                    for j in 1..<max(n, 1) where buf[pos + j] != entry.bytes[j] { match = false; break }
                    if match { hits.append((k, pos)) }
                }
            }
        }
        if hits.isEmpty { return [.text(0..<text.count)] }
        hits.sort { $0.order != $1.order ? $0.order < $1.order : $0.start < $1.start }
        var claimed = [Bool](repeating: false, count: text.count)
        var accepted: [(start: Int, end: Int, id: Int32)] = []
        for h in hits {
            let end = h.start + entries[h.order].bytes.count
            if claimed[h.start] || claimed[end - 1] { continue }
            // Ends are free; an interior claim would mean a shorter-or-equal token sits inside.
            var free = true
            for p in h.start..<end where claimed[p] { free = false; break }
            if !free { continue }
            for p in h.start..<end { claimed[p] = true }
            accepted.append((h.start, end, entries[h.order].id))
        }
        accepted.sort { $0.start < $1.start }
        var out: [Fragment] = []
        var cursor = 0
        for a in accepted {
            if a.start > cursor { out.append(.text(cursor..<a.start)) }
            out.append(.token(a.id))
            cursor = a.end
        }
        if cursor < text.count { out.append(.text(cursor..<text.count)) }
        return out
    }
}
