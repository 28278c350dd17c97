/// Keys and values of every layer for positions 0..<capacity, in F32 (so attention matches
/// a float reference; llama.cpp is compared with its F32 cache too).
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    public let layerCount: Int
    public let kvDim: Int
    public let vDim: Int
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>
    /// Number of positions filled.
    public internal(set) var count = 0

    public init(config: ModelConfig, capacity: Int) {
        self.capacity = capacity
        layerCount = config.layerCount
        kvDim = config.kvDim
        vDim = config.vDim
        keys = .allocate(capacity: layerCount * capacity * kvDim)
        values = .allocate(capacity: layerCount * capacity * vDim)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    public var bytes: Int { layerCount * capacity * (kvDim + vDim) * MemoryLayout<Float>.size }

    @inline(__always) func key(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        keys + (layer * capacity + position) * kvDim
    }

    @inline(__always) func value(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        values + (layer * capacity + position) * vDim
    }

    /// Forgets positions from `position` on (a new prompt that shares a prefix keeps it).
    public func truncate(to position: Int) {
        count = min(count, max(0, position))
    }
}

/// Bytes a cache of `capacity` positions takes for a config; the hot-cache auto budget uses it.
public func kvCacheBytes(config: ModelConfig, capacity: Int, sequences: Int = 1) -> Int {
    config.layerCount * capacity * sequences * (config.kvDim + config.vDim) * MemoryLayout<Float>.size
}
