// Replays a routing trace through a replacement policy and reports hit rates.

/// Per token, per MoE layer, the selected experts (top-k, fixed k). One trace = one sequence.
public struct RoutingTrace: Sendable, Equatable {
    public let layerIDs: [Int]
    public let expertsPerLayer: Int
    public let topK: Int
    /// Flat [token][layer index][k].
    public private(set) var selections: [Int32] = []

    public struct TraceError: Error, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public init(layerIDs: [Int], expertsPerLayer: Int, topK: Int) {
        self.layerIDs = layerIDs
        self.expertsPerLayer = expertsPerLayer
        self.topK = topK
    }

    public init(layout: ModelExpertLayout) {
        self.init(layerIDs: layout.moeLayers, expertsPerLayer: layout.expertsPerLayer, topK: layout.topK)
    }

    public var layerCount: Int { layerIDs.count }
    public var tokenCount: Int { layerIDs.isEmpty ? 0 : selections.count / (layerIDs.count * topK) }

    /// Appends one token: `perLayer[i]` holds the `topK` distinct experts chosen in layer `layerIDs[i]`.
    public mutating func append(_ perLayer: [[Int]]) throws(TraceError) {
        guard perLayer.count == layerIDs.count else {
            throw TraceError(message: "token \(tokenCount): \(perLayer.count) layers, expected \(layerIDs.count)")
        }
        for (i, sel) in perLayer.enumerated() {
            guard sel.count == topK, Set(sel).count == topK, sel.allSatisfy({ $0 >= 0 && $0 < expertsPerLayer }) else {
                throw TraceError(message: "token \(tokenCount), layer \(layerIDs[i]): expected \(topK) distinct experts in 0..<\(expertsPerLayer), got \(sel)")
            }
        }
        for sel in perLayer { selections += sel.map { Int32($0) } }
    }

    public func selected(token: Int, layerIndex: Int) -> ArraySlice<Int32> {
        let start = (token * layerIDs.count + layerIndex) * topK
        return selections[start..<start + topK]
    }

    /// Lookahead guesses, laid out like `selections`: for each token and MoE layer, the `topK`
    /// experts that layer's router picks from the previous MoE layer's input (what the streaming
    /// lane reads ahead), or `topK` x -1 where no guess was made (the first MoE layer). nil when
    /// the trace did not record them.
    public private(set) var lookahead: [Int32]?

    /// Attaches guesses for every recorded step; each step is k distinct valid experts or all -1.
    public mutating func attachLookahead(_ guesses: [Int32]) throws(TraceError) {
        guard guesses.count == selections.count else {
            throw TraceError(message: "\(guesses.count) lookahead guesses for \(selections.count) selections")
        }
        for step in 0..<(guesses.count / topK) {
            let g = guesses[(step * topK)..<((step + 1) * topK)]
            if g.allSatisfy({ $0 == -1 }) { continue }
            guard Set(g).count == topK, g.allSatisfy({ $0 >= 0 && Int($0) < expertsPerLayer }) else {
                let token = step / layerIDs.count, layer = layerIDs[step % layerIDs.count]
                throw TraceError(message: "token \(token), layer \(layer): lookahead guess must be \(topK) distinct experts in 0..<\(expertsPerLayer) or none, got \(Array(g))")
            }
        }
        lookahead = guesses
    }

    /// The guess for one step, nil where none was made or recorded.
    public func guessed(token: Int, layerIndex: Int) -> ArraySlice<Int32>? {
        guard let lookahead else { return nil }
        let start = (token * layerIDs.count + layerIndex) * topK
        let g = lookahead[start..<start + topK]
        return g.first == -1 ? nil : g
    }
}

/// Which replacement policy to simulate. Names: lru, lfu, lfu-decay, window-lfu, lfru, pinned, belady.
public indirect enum PolicySpec: Sendable, Equatable {
    case lru
    case lfu
    case lfuDecay(halfLifeTokens: Double)
    case windowLFU(windowTokens: Int)
    case lfru(privilegedFraction: Double)
    /// Profile experts (in rank order) pinned, `remainder` serving the rest of the capacity.
    case pinned([ExpertID], remainder: PolicySpec)
    /// Offline optimum (reads the future); `initial` experts start resident.
    case belady(initial: [ExpertID])

    public struct UnknownPolicy: Error, Equatable, CustomStringConvertible {
        public var name: String
        public var description: String {
            "unknown cache policy \"\(name)\" (expected lru, lfu, lfu-decay, window-lfu, lfru, pinned, belady)"
        }
    }

    public init(name: String, halfLifeTokens: Double = 128, windowTokens: Int = 256, privilegedFraction: Double = 0.5,
                pinned: [ExpertID] = [], remainder: String = "lru") throws(UnknownPolicy) {
        switch name.lowercased() {
        case "lru": self = .lru
        case "lfu": self = .lfu
        case "lfu-decay": self = .lfuDecay(halfLifeTokens: halfLifeTokens)
        case "window-lfu": self = .windowLFU(windowTokens: windowTokens)
        case "lfru": self = .lfru(privilegedFraction: privilegedFraction)
        case "belady", "opt": self = .belady(initial: [])
        case "pinned":
            guard remainder.lowercased() != "pinned" else { throw UnknownPolicy(name: "pinned remainder \(remainder)") }
            self = .pinned(pinned, remainder: try PolicySpec(name: remainder, halfLifeTokens: halfLifeTokens,
                                                             windowTokens: windowTokens, privilegedFraction: privilegedFraction))
        default: throw UnknownPolicy(name: name)
        }
    }

    /// An online policy instance; nil for `.belady`, which the simulator runs offline.
    /// `key` maps an expert to the partition's key space, nil when it belongs to another partition.
    public func make(capacity: Int, key: (ExpertID) -> Int?) -> (any CachePolicy)? {
        switch self {
        case .lru: LRUPolicy(capacity: capacity)
        case .lfu: FrequencyPolicy(capacity: capacity, rule: .lfu)
        case .lfuDecay(let h): FrequencyPolicy(capacity: capacity, rule: .decay(halfLife: h))
        case .windowLFU(let w): FrequencyPolicy(capacity: capacity, rule: .window(tokens: w))
        case .lfru(let f): LFRUPolicy(capacity: capacity, privilegedFraction: f)
        case .pinned(let ids, let rest):
            PinnedPolicy(capacity: capacity, pinned: ids.compactMap(key)) { c in
                rest.make(capacity: c, key: key) ?? LRUPolicy(capacity: c)
            }
        case .belady: nil
        }
    }
}

public enum CacheCapacity: Sendable, Equatable {
    /// Each MoE layer has its own cache of this many experts.
    case perLayer(Int)
    /// One cache of this many experts shared by all layers.
    case global(Int)
}

/// Cold-start convention for the first access to an expert.
public enum ColdStart: Sendable, Equatable {
    /// Default: the cache starts empty and every first access is a (compulsory) miss.
    case countMisses
    /// While fewer than `capacity` distinct experts have been seen in a partition, a first
    /// access counts as a hit (filling an empty cache is free; the SCH convention).
    case freeFill
}

public struct SimulationResult: Sendable, Equatable {
    public let layerIDs: [Int]
    public var hits: [Int]
    public var accesses: [Int]
    /// With lookahead: selected misses whose read a guess had already started (counted in `hits`).
    public var readAheadHits = 0
    /// With lookahead: guessed experts that were neither resident nor selected (wasted reads).
    public var readAheadWasted = 0

    public func hitRate(layerIndex: Int) -> Double {
        accesses[layerIndex] == 0 ? 0 : Double(hits[layerIndex]) / Double(accesses[layerIndex])
    }

    public var totalHitRate: Double {
        let a = accesses.reduce(0, +)
        return a == 0 ? 0 : Double(hits.reduce(0, +)) / Double(a)
    }
}

public enum Simulator {
    /// Replays `traces` (sequences, one after another, cache state carried over) in token order,
    /// then layer order. Hit = the expert was resident when its token's layer step began (the
    /// rule the runtime's load-on-miss cache follows); within a step hits update the policy first.
    ///
    /// `lookahead`: the streaming lane's read-ahead on top of the policy. A selected expert also
    /// counts as a hit when its step's guess (recorded in the trace) named it and it was not
    /// resident: its read started one layer early. The policy sees the same accesses either way
    /// (the runtime admits a read-ahead expert only when it is used), so only the hit count moves.
    /// Belady stays the demand-caching bound: `lookahead` does not apply to it.
    public static func run(_ traces: [RoutingTrace], policy: PolicySpec, capacity: CacheCapacity,
                           coldStart: ColdStart = .countMisses, lookahead: Bool = false) -> SimulationResult {
        guard let first = traces.first else { return SimulationResult(layerIDs: [], hits: [], accesses: []) }
        let layers = first.layerCount, e = first.expertsPerLayer
        var result = SimulationResult(layerIDs: first.layerIDs, hits: .init(repeating: 0, count: layers),
                                      accesses: .init(repeating: 0, count: layers))
        // Partition p, key, layer index of every access, in replay order.
        var stream: [(partition: Int, key: Int, layer: Int, tick: Int)] = []
        // One step = one token's selections in one layer: its range in `stream` and the keys its
        // lookahead guess named (empty without one).
        var steps: [(range: Range<Int>, guesses: [Int])] = []
        var tickBase = 0
        let perLayer = if case .perLayer = capacity { true } else { false }
        for t in traces {
            precondition(t.layerIDs == first.layerIDs && t.expertsPerLayer == e, "traces must share one layout")
            for tok in 0..<t.tokenCount {
                for li in 0..<layers {
                    let start = stream.count, partition = perLayer ? li : 0, keyBase = perLayer ? 0 : li * e
                    for x in t.selected(token: tok, layerIndex: li) { stream.append((partition, keyBase + Int(x), li, tickBase + tok)) }
                    let guesses = lookahead ? (t.guessed(token: tok, layerIndex: li)?.map { keyBase + Int($0) } ?? []) : []
                    steps.append((start..<stream.count, guesses))
                }
            }
            tickBase += t.tokenCount
        }
        let partitions: Int, cap: Int
        switch capacity {
        case .perLayer(let c): partitions = layers; cap = c
        case .global(let c): partitions = 1; cap = c
        }
        func key(_ id: ExpertID, partition p: Int) -> Int? {
            guard let li = first.layerIDs.firstIndex(of: id.layer), id.expert >= 0, id.expert < e else { return nil }
            switch capacity {
            case .perLayer: return li == p ? id.expert : nil
            case .global: return li * e + id.expert
            }
        }

        var hitFlags = [Bool](repeating: false, count: stream.count)
        if case .belady(let initial) = policy {
            for p in 0..<partitions {
                let idx = stream.indices.filter { stream[$0].partition == p }
                let flags = Belady.hits(keys: idx.map { stream[$0].key }, capacity: cap,
                                        initial: initial.compactMap { key($0, partition: p) })
                for (j, i) in idx.enumerated() { hitFlags[i] = flags[j] }
            }
        } else {
            var caches = (0..<partitions).map { p in policy.make(capacity: cap) { key($0, partition: p) }! }
            // A step's selections are needed together: a hit is an expert resident when the step
            // starts (or, with lookahead, read ahead by its guess). Hits are touched first, then
            // misses load (and may evict anything, the step's own experts included: they were used).
            for (range, guesses) in steps where !range.isEmpty {
                let p = stream[range.lowerBound].partition
                var readAhead = Set<Int>()
                for g in guesses where !caches[p].isResident(g) { readAhead.insert(g) }
                var resident = [Bool](repeating: false, count: range.count)
                for k in range {
                    resident[k - range.lowerBound] = caches[p].isResident(stream[k].key)
                    hitFlags[k] = resident[k - range.lowerBound]
                    if !hitFlags[k], readAhead.remove(stream[k].key) != nil {
                        hitFlags[k] = true
                        result.readAheadHits += 1
                    }
                }
                result.readAheadWasted += readAhead.count
                for pass in [true, false] {
                    for k in range where resident[k - range.lowerBound] == pass { _ = caches[p].access(stream[k].key, tick: stream[k].tick) }
                }
            }
        }

        var seen = [Set<Int>](repeating: [], count: partitions)
        for (i, a) in stream.enumerated() {
            var hit = hitFlags[i]
            if coldStart == .freeFill, !seen[a.partition].contains(a.key) {
                if seen[a.partition].count < cap { hit = true }
                seen[a.partition].insert(a.key)
            }
            result.accesses[a.layer] += 1
            if hit { result.hits[a.layer] += 1 }
        }
        return result
    }
}
