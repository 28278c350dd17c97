/// Keys and values of every attention layer for positions 0..<capacity, in F32 (so attention
/// matches a float reference; llama.cpp is compared with its F32 cache too). Layers whose
/// mixer is recurrent own no rows.
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    public let layerCount: Int
    public let kvDim: Int
    public let vDim: Int
    /// Layer -> its slot among the attention layers (-1 for recurrent layers).
    private let slotOfLayer: [Int]
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>
    /// Number of positions filled.
    public internal(set) var count = 0

    public init(config: ModelConfig, capacity: Int) {
        self.capacity = capacity
        layerCount = config.layerCount
        kvDim = config.kvDim
        vDim = config.vDim
        var slots = [Int](), next = 0
        for l in 0..<config.layerCount {
            if config.mixer(l) == .attention { slots.append(next); next += 1 } else { slots.append(-1) }
        }
        slotOfLayer = slots
        keys = .allocate(capacity: max(1, next * capacity * kvDim))
        values = .allocate(capacity: max(1, next * capacity * vDim))
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    public var bytes: Int { slotOfLayer.filter { $0 >= 0 }.count * capacity * (kvDim + vDim) * MemoryLayout<Float>.size }

    @inline(__always) func key(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        keys + (slotOfLayer[layer] * capacity + position) * kvDim
    }

    @inline(__always) func value(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        values + (slotOfLayer[layer] * capacity + position) * vDim
    }

    /// Forgets positions from `position` on (a new prompt that shares a prefix keeps it).
    public func truncate(to position: Int) {
        count = min(count, max(0, position))
    }
}

/// Bytes a cache of `capacity` positions takes for a config; the hot-cache auto budget uses it.
public func kvCacheBytes(config: ModelConfig, capacity: Int, sequences: Int = 1) -> Int {
    config.attentionLayerCount * capacity * sequences * (config.kvDim + config.vDim) * MemoryLayout<Float>.size
        + sequences * RecurrentState.bytes(config: config, checkpoints: RecurrentState.defaultCheckpoints)
}
