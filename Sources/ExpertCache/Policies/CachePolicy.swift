// Online replacement policies for a cache that loads an expert on a miss (seed 001).
// Keys are opaque Ints (expert id within a layer, or a layer-distinct flat id for a global
// cache). Victim search scans the residents: O(capacity) per miss, fine for cache sizes of
// a few thousand experts and keeps each policy obviously correct.

import Foundation

/// A demand-paging cache: every access either hits or inserts the key (evicting if full).
public protocol CachePolicy: Sendable {
    var capacity: Int { get }
    /// Accesses `key` during token `tick` (non-decreasing). Returns true on a hit.
    mutating func access(_ key: Int, tick: Int) -> Bool
    func isResident(_ key: Int) -> Bool
    var residents: Set<Int> { get }
}

/// Resident keys with O(1) insert/remove/contains and a scannable key list.
struct ResidentSet: Sendable {
    private(set) var keys: [Int] = []
    private var position: [Int: Int] = [:]

    var count: Int { keys.count }
    func contains(_ k: Int) -> Bool { position[k] != nil }

    mutating func insert(_ k: Int) {
        guard position[k] == nil else { return }
        position[k] = keys.count
        keys.append(k)
    }

    mutating func remove(_ k: Int) {
        guard let i = position.removeValue(forKey: k) else { return }
        let last = keys.removeLast()
        if i < keys.count {
            keys[i] = last
            position[last] = i
        }
    }

    /// The resident with the smallest `primary`, ties to the smallest `sequence` (a unique last-use stamp).
    func argmin(_ primary: (Int) -> Double, sequence: (Int) -> Int) -> Int? {
        keys.min { a, b in
            let pa = primary(a), pb = primary(b)
            return pa != pb ? pa < pb : sequence(a) < sequence(b)
        }
    }
}

/// Least recently used.
public struct LRUPolicy: CachePolicy {
    public let capacity: Int
    private var set = ResidentSet()
    private var lastUse: [Int: Int] = [:]
    private var clock = 0

    public init(capacity: Int) { self.capacity = max(0, capacity) }

    public mutating func access(_ key: Int, tick: Int) -> Bool {
        clock += 1
        defer { lastUse[key] = clock }
        if set.contains(key) { return true }
        guard capacity > 0 else { return false }
        if set.count >= capacity, let v = set.argmin({ _ in 0 }, sequence: { lastUse[$0] ?? 0 }) { set.remove(v) }
        set.insert(key)
        return false
    }

    public func isResident(_ key: Int) -> Bool { set.contains(key) }
    public var residents: Set<Int> { Set(set.keys) }
}

/// Frequency-ranked policies share one shape: a score per key (kept after eviction, so a
/// returning expert remembers its history), victim = lowest score, ties to least recent.
public struct FrequencyPolicy: CachePolicy {
    public enum Rule: Sendable, Equatable {
        /// All-time access count.
        case lfu
        /// Count decayed by half every `halfLife` tokens.
        case decay(halfLife: Double)
        /// Accesses within the last `window` tokens.
        case window(tokens: Int)
    }

    public let capacity: Int
    public let rule: Rule
    private var set = ResidentSet()
    private var lastUse: [Int: Int] = [:]
    private var clock = 0
    // lfu / window: count; decay: log2 of the score referenced to tick 0 (avoids under/overflow).
    private var score: [Int: Double] = [:]
    private var history: [(tick: Int, key: Int)] = []
    private var historyStart = 0

    public init(capacity: Int, rule: Rule) {
        self.capacity = max(0, capacity)
        self.rule = rule
    }

    public mutating func access(_ key: Int, tick: Int) -> Bool {
        clock += 1
        bump(key, tick: tick)
        lastUse[key] = clock
        if set.contains(key) { return true }
        guard capacity > 0 else { return false }
        if set.count >= capacity, let v = set.argmin({ score[$0] ?? -.infinity }, sequence: { lastUse[$0] ?? 0 }) {
            set.remove(v)
        }
        set.insert(key)
        return false
    }

    private mutating func bump(_ key: Int, tick: Int) {
        switch rule {
        case .lfu:
            score[key, default: 0] += 1
        case .decay(let halfLife):
            // value(t) = 2^(s - t/h). Adding 1 at tick t: s' = log2(2^s + 2^(t/h)), computed stably.
            let now = Double(tick) / max(halfLife, 1e-9)
            if let s = score[key] {
                let hi = max(s, now), lo = min(s, now)
                score[key] = hi + log2(1 + exp2(lo - hi))
            } else {
                score[key] = now
            }
        case .window(let w):
            history.append((tick, key))
            score[key, default: 0] += 1
            while historyStart < history.count, history[historyStart].tick <= tick - max(w, 1) {
                score[history[historyStart].key]! -= 1
                historyStart += 1
            }
            if historyStart > 4096, historyStart * 2 > history.count {
                history.removeFirst(historyStart)
                historyStart = 0
            }
        }
    }

    public func isResident(_ key: Int) -> Bool { set.contains(key) }
    public var residents: Set<Int> { Set(set.keys) }
}

/// LFRU (Bilal & Kang): a privileged LRU segment in front of an unprivileged LFU segment.
/// New keys enter the unprivileged segment; a hit there promotes the key, and the
/// privileged segment's least recent key is demoted back when it overflows.
public struct LFRUPolicy: CachePolicy {
    public let capacity: Int
    public let privilegedCapacity: Int
    private var privileged = ResidentSet()
    private var unprivileged = ResidentSet()
    private var count: [Int: Int] = [:]
    private var lastUse: [Int: Int] = [:]
    private var clock = 0

    public init(capacity: Int, privilegedFraction: Double = 0.5) {
        self.capacity = max(0, capacity)
        let p = Int((Double(self.capacity) * min(max(privilegedFraction, 0), 1)).rounded())
        privilegedCapacity = self.capacity <= 1 ? 0 : min(max(p, 1), self.capacity - 1)
    }

    public mutating func access(_ key: Int, tick: Int) -> Bool {
        clock += 1
        count[key, default: 0] += 1
        lastUse[key] = clock
        if privileged.contains(key) { return true }
        if unprivileged.contains(key) {
            guard privilegedCapacity > 0 else { return true }
            unprivileged.remove(key)
            if privileged.count >= privilegedCapacity, let d = privileged.argmin({ _ in 0 }, sequence: { lastUse[$0] ?? 0 }) {
                privileged.remove(d)
                unprivileged.insert(d)
            }
            privileged.insert(key)
            return true
        }
        let unprivilegedCapacity = capacity - privilegedCapacity
        guard unprivilegedCapacity > 0 else { return false }
        if unprivileged.count >= unprivilegedCapacity,
           let v = unprivileged.argmin({ Double(count[$0] ?? 0) }, sequence: { lastUse[$0] ?? 0 }) {
            unprivileged.remove(v)
        }
        unprivileged.insert(key)
        return false
    }

    public func isResident(_ key: Int) -> Bool { privileged.contains(key) || unprivileged.contains(key) }
    public var residents: Set<Int> { Set(privileged.keys).union(unprivileged.keys) }
}

/// Static profile experts pinned (never evicted) plus an online policy for the remaining capacity.
public struct PinnedPolicy: CachePolicy {
    public let capacity: Int
    public let pinned: Set<Int>
    private var remainder: any CachePolicy

    /// `pinned` is taken in order until the capacity is full; `makeRemainder` gets the capacity left.
    public init(capacity: Int, pinned: [Int], makeRemainder: (Int) -> any CachePolicy) {
        self.capacity = max(0, capacity)
        var kept: [Int] = []
        for k in pinned where kept.count < self.capacity && !kept.contains(k) { kept.append(k) }
        self.pinned = Set(kept)
        remainder = makeRemainder(self.capacity - kept.count)
    }

    public mutating func access(_ key: Int, tick: Int) -> Bool {
        if pinned.contains(key) { return true }
        return remainder.access(key, tick: tick)
    }

    public func isResident(_ key: Int) -> Bool { pinned.contains(key) || remainder.isResident(key) }
    public var residents: Set<Int> { pinned.union(remainder.residents) }
}
