// Belady's MIN with bypass: on a miss, among the residents and the missed key, drop the one
// whose next use is farthest in the future (dropping the missed key = not caching it).
// This is optimal for any policy starting from the same contents, including ones that do
// not insert on every miss (e.g. a fully pinned cache), so it bounds every online policy.

public enum Belady {
    /// Hit flag per access of `keys` with a cache of `capacity`, starting with `initial` resident.
    public static func hits(keys: [Int], capacity: Int, initial: [Int] = []) -> [Bool] {
        guard capacity > 0 else { return [Bool](repeating: false, count: keys.count) }
        // nextUse[i] = index of the next access to keys[i], or Int.max.
        var nextUse = [Int](repeating: .max, count: keys.count)
        var seenAt: [Int: Int] = [:]
        for i in stride(from: keys.count - 1, through: 0, by: -1) {
            nextUse[i] = seenAt[keys[i]] ?? .max
            seenAt[keys[i]] = i
        }
        var set = ResidentSet()
        var next: [Int: Int] = [:]   // resident key -> its next access index
        for k in initial where set.count < capacity && !set.contains(k) {
            set.insert(k)
            next[k] = seenAt[k] ?? .max   // seenAt now holds first occurrences
        }
        var out = [Bool](repeating: false, count: keys.count)
        for (i, k) in keys.enumerated() {
            if set.contains(k) {
                out[i] = true
            } else {
                if set.count >= capacity,
                   let v = set.argmin({ -Double(next[$0] ?? .max) }, sequence: { $0 }) {
                    // Keep the resident if the missed key is needed no sooner than it.
                    if nextUse[i] >= (next[v] ?? .max) { continue }
                    set.remove(v)
                    next[v] = nil
                }
                set.insert(k)
            }
            next[k] = nextUse[i]
        }
        return out
    }
}
