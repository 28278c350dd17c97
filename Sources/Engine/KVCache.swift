/// Keys and values of every attention layer for positions 0..<capacity, in F32 (so attention
/// matches a float reference; llama.cpp is compared with its F32 cache too). Layers whose
/// mixer is recurrent own no rows; layers that share another layer's KV (Gemma) read its rows.
/// Each layer's rows have that layer's width (Gemma's global and sliding-window layers differ).
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    public let layerCount: Int
    /// Widest key / value row over the layers.
    public let kvDim: Int
    public let vDim: Int
    /// Per layer: float offset of its position-0 key / value row, and the row widths
    /// (-1 offsets for recurrent layers).
    private let keyBase, valueBase, keyStride, valueStride: [Int]
    /// Layers whose rows live here (not recurrent, not reading another layer's).
    private let ownsRows: [Bool]
    private let ownedFloats: Int
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>
    /// Number of positions filled.
    public internal(set) var count = 0

    public init(config: ModelConfig, capacity: Int) {
        self.capacity = capacity
        layerCount = config.layerCount
        var kb = [Int](), vb = [Int](), ks = [Int](), vs = [Int](), owns = [Bool]()
        var nextK = 0, nextV = 0
        for l in 0..<config.layerCount {
            let s = config.attentionShape(l)
            ks.append(s.kvDim); vs.append(s.vDim)
            owns.append(config.mixer(l) == .attention && s.kvSource == nil)
            if config.mixer(l) != .attention {
                kb.append(-1); vb.append(-1)
            } else if let src = s.kvSource {
                kb.append(kb[src]); vb.append(vb[src])
            } else {
                kb.append(nextK); vb.append(nextV)
                nextK += capacity * s.kvDim
                nextV += capacity * s.vDim
            }
        }
        keyBase = kb; valueBase = vb; keyStride = ks; valueStride = vs; ownsRows = owns
        kvDim = ks.max() ?? 0
        vDim = vs.max() ?? 0
        ownedFloats = nextK + nextV
        keys = .allocate(capacity: max(1, nextK))
        values = .allocate(capacity: max(1, nextV))
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    public var bytes: Int { ownedFloats * MemoryLayout<Float>.size }

    @inline(__always) func key(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        keys + keyBase[layer] + position * keyStride[layer]
    }

    @inline(__always) func value(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        values + valueBase[layer] + position * valueStride[layer]
    }

    /// Floats that positions 0..<n take over the owned layers (a saved state's size).
    public func floats(positions n: Int) -> Int {
        (0..<layerCount).filter { ownsRows[$0] }.map { (keyStride[$0] + valueStride[$0]) * n }.reduce(0, +)
    }

    /// Copies the rows of positions 0..<n out (`toCache` false) or in (true), layer by layer.
    func copyRows(positions n: Int, _ buffer: UnsafeMutablePointer<Float>, toCache: Bool) {
        var at = buffer
        for l in 0..<layerCount where ownsRows[l] {
            for (base, width) in [(keys + keyBase[l], keyStride[l]), (values + valueBase[l], valueStride[l])] {
                if toCache { base.update(from: at, count: n * width) } else { at.update(from: base, count: n * width) }
                at += n * width
            }
        }
    }

    /// Forgets positions from `position` on (a new prompt that shares a prefix keeps it).
    public func truncate(to position: Int) {
        count = min(count, max(0, position))
    }
}

/// Bytes a cache of `capacity` positions takes for a config; the hot-cache auto budget uses it.
public func kvCacheBytes(config: ModelConfig, capacity: Int, sequences: Int = 1) -> Int {
    let rowFloats = (0..<config.layerCount).filter(config.ownsKVRows).map {
        config.attentionShape($0).kvDim + config.attentionShape($0).vDim
    }.reduce(0, +)
    return rowFloats * capacity * sequences * MemoryLayout<Float>.size
        + sequences * RecurrentState.bytes(config: config, checkpoints: RecurrentState.defaultCheckpoints)
}
