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
    public static func run(_ traces: [RoutingTrace], policy: PolicySpec, capacity: CacheCapacity,
                           coldStart: ColdStart = .countMisses) -> SimulationResult {
        guard let first = traces.first else { return SimulationResult(layerIDs: [], hits: [], accesses: []) }
        let layers = first.layerCount, e = first.expertsPerLayer
        var result = SimulationResult(layerIDs: first.layerIDs, hits: .init(repeating: 0, count: layers),
                                      accesses: .init(repeating: 0, count: layers))
        // Partition p, key, layer index of every access, in replay order.
        var stream: [(partition: Int, key: Int, layer: Int, tick: Int)] = []
        var tickBase = 0
        for t in traces {
            precondition(t.layerIDs == first.layerIDs && t.expertsPerLayer == e, "traces must share one layout")
            for tok in 0..<t.tokenCount {
                for li in 0..<layers {
                    for x in t.selected(token: tok, layerIndex: li) {
                        switch capacity {
                        case .perLayer: stream.append((li, Int(x), li, tickBase + tok))
                        case .global: stream.append((0, li * e + Int(x), li, tickBase + tok))
                        }
                    }
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
            // One step = one token's selections in one layer, which are needed together: a hit is
            // an expert resident when the step starts. Hits are touched first, then misses load
            // (and may evict anything, the step's own experts included: they were already used).
            var i = 0
            while i < stream.count {
                var j = i
                while j < stream.count, stream[j].layer == stream[i].layer, stream[j].tick == stream[i].tick { j += 1 }
                for k in i..<j { hitFlags[k] = caches[stream[k].partition].isResident(stream[k].key) }
                for pass in [true, false] {
                    for k in i..<j where hitFlags[k] == pass { _ = caches[stream[k].partition].access(stream[k].key, tick: stream[k].tick) }
                }
                i = j
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
