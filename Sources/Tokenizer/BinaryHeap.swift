/// Elements a `BinaryHeap` orders: `before` is true when `self` must pop first.
protocol HeapOrdered {
    func before(_ other: Self) -> Bool
}

/// Array-backed binary heap used by the merge loops of both tokenizers (BPE merges by rank,
/// SentencePiece by score). Keeps its storage across `removeAll` so encoding does not allocate
/// per word.
struct BinaryHeap<Element: HeapOrdered> {
    private var items: [Element] = []

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    mutating func push(_ v: Element) {
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

    mutating func pop() -> Element? {
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
