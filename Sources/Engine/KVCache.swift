import CKernels

/// Keys and values of every attention layer for positions 0..<capacity, rows in the chosen
/// types (F32 by default, so attention matches a float reference and llama.cpp's F32 cache;
/// F16 / Q8_0 as llama.cpp's --cache-type-k/v). Layers whose mixer is recurrent own no rows;
/// layers that share another layer's KV (Gemma) read its rows. Each layer's rows have that
/// layer's width (Gemma's global and sliding-window layers differ). A multi-head latent
/// attention layer stores key rows only (latent + rotary key); its values are read from them.
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    public let layerCount: Int
    public let types: KVCacheTypes
    /// Widest key / value row over the layers, in elements.
    public let kvDim: Int
    public let vDim: Int
    /// Per layer: byte offset of its position-0 key / value row (-1 for recurrent layers), the
    /// row widths in elements and in bytes.
    private let keyBase, valueBase, keyWidth, valueWidth, keyRowBytes, valueRowBytes: [Int]
    /// Layers whose rows live here (not recurrent, not reading another layer's).
    private let ownsRows: [Bool]
    /// Layers whose values are the leading part of their key rows (no value rows of their own).
    private let valuesInKeys: [Bool]
    private let ownedBytes: Int
    let keys: UnsafeMutableRawPointer
    let values: UnsafeMutableRawPointer
    /// Number of positions filled.
    public internal(set) var count = 0

    /// `types` must pass `types.check(config:)` (callers check user input first).
    public init(config: ModelConfig, capacity: Int, types: KVCacheTypes = .f32) {
        precondition((try? types.check(config: config)) != nil, "KV cache types \(types) do not fit the model's head widths")
        self.capacity = capacity
        self.types = types
        layerCount = config.layerCount
        var kb = [Int](), vb = [Int](), kw = [Int](), vw = [Int](), owns = [Bool]()
        var nextK = 0, nextV = 0
        for l in 0..<config.layerCount {
            let s = config.attentionShape(l)
            kw.append(s.kvDim); vw.append(s.valuesInKeys ? 0 : s.vDim)
            owns.append(config.ownsKVRows(l))
            if config.mixer(l) != .attention {
                kb.append(-1); vb.append(-1)
            } else if let src = s.kvSource {
                kb.append(kb[src]); vb.append(vb[src])
            } else {
                kb.append(nextK); vb.append(nextV)
                nextK += capacity * types.keys.rowBytes(s.kvDim)
                nextV += capacity * types.values.rowBytes(vw[l])
            }
        }
        keyBase = kb; valueBase = vb; keyWidth = kw; valueWidth = vw; ownsRows = owns
        valuesInKeys = (0..<config.layerCount).map { config.attentionShape($0).valuesInKeys }
        keyRowBytes = kw.map(types.keys.rowBytes)
        valueRowBytes = vw.map(types.values.rowBytes)
        kvDim = kw.max() ?? 0
        vDim = vw.max() ?? 0
        ownedBytes = nextK + nextV
        keys = .allocate(byteCount: max(1, nextK), alignment: 64)
        values = .allocate(byteCount: max(1, nextV), alignment: 64)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    public var bytes: Int { ownedBytes }

    /// Position 0's key / value row of a layer and the bytes between positions.
    @inline(__always) func keyRows(layer: Int) -> (UnsafeMutableRawPointer, Int) { (keys + keyBase[layer], keyRowBytes[layer]) }
    @inline(__always) func valueRows(layer: Int) -> (UnsafeMutableRawPointer, Int) {
        valuesInKeys[layer] ? keyRows(layer: layer) : (values + valueBase[layer], valueRowBytes[layer])
    }

    /// The row type attention reads a layer's values in (the keys' type where values live in the key rows).
    @inline(__always) func valueType(layer: Int) -> KVCacheType { valuesInKeys[layer] ? types.keys : types.values }

    /// Writes a position's key and value rows, converted to the cache's types (`value` is not
    /// read for a layer whose values live in its key rows).
    func store(layer: Int, position: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        hm_kv_store_row(types.keys.kernelCode, key, keys + keyBase[layer] + position * keyRowBytes[layer], Int64(keyWidth[layer]))
        guard !valuesInKeys[layer] else { return }
        hm_kv_store_row(types.values.kernelCode, value, values + valueBase[layer] + position * valueRowBytes[layer], Int64(valueWidth[layer]))
    }

    /// A stored key / value row read back as floats (what attention sees).
    func storedRow(layer: Int, position: Int, key: Bool) -> [Float] {
        let inKeys = !key && valuesInKeys[layer]
        let width = key || inKeys ? keyWidth[layer] : valueWidth[layer]
        let (base, stride) = key ? keyRows(layer: layer) : valueRows(layer: layer)
        return [Float](unsafeUninitializedCapacity: width) { buf, n in
            hm_kv_load_row((key || inKeys ? types.keys : types.values).kernelCode, base + position * stride, buf.baseAddress!, Int64(width))
            n = width
        }
    }

    /// F32 rows only: a position's key / value row in place (tests fill the cache directly).
    func key(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        precondition(types.keys == .f32, "key(layer:position:) reads F32 rows")
        return (keys + keyBase[layer] + position * keyRowBytes[layer]).assumingMemoryBound(to: Float.self)
    }

    func value(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        precondition(types.values == .f32, "value(layer:position:) reads F32 rows")
        return (values + valueBase[layer] + position * valueRowBytes[layer]).assumingMemoryBound(to: Float.self)
    }

    /// Bytes that positions 0..<n take over the owned layers (a saved state's size).
    public func rowBytes(positions n: Int) -> Int {
        (0..<layerCount).filter { ownsRows[$0] }.map { (keyRowBytes[$0] + valueRowBytes[$0]) * n }.reduce(0, +)
    }

    /// Copies the stored rows of positions 0..<n out (`toCache` false) or in (true), layer by
    /// layer, keys then values, in the cache's types.
    func copyRows(positions n: Int, _ buffer: UnsafeMutableRawPointer, toCache: Bool) {
        var at = buffer
        for l in 0..<layerCount where ownsRows[l] {
            let rows = [(keys + keyBase[l], keyRowBytes[l])] + (valuesInKeys[l] ? [] : [(values + valueBase[l], valueRowBytes[l])])
            for (base, stride) in rows {
                if toCache { base.copyMemory(from: at, byteCount: n * stride) } else { at.copyMemory(from: base, byteCount: n * stride) }
                at += n * stride
            }
        }
    }

    /// Forgets positions from `position` on (a new prompt that shares a prefix keeps it).
    public func truncate(to position: Int) {
        count = min(count, max(0, position))
    }
}

/// KV bytes one position takes over a config's owned layers with the given row types.
public func kvBytesPerPosition(config: ModelConfig, types: KVCacheTypes = .f32) -> Int {
    (0..<config.layerCount).filter(config.ownsKVRows).map {
        let s = config.attentionShape($0)
        return types.keys.rowBytes(s.kvDim) + (s.valuesInKeys ? 0 : types.values.rowBytes(s.vDim))
    }.reduce(0, +)
}

/// Bytes a cache of `capacity` positions takes for a config; the hot-cache auto budget uses it.
public func kvCacheBytes(config: ModelConfig, capacity: Int, sequences: Int = 1, types: KVCacheTypes = .f32) -> Int {
    kvBytesPerPosition(config: config, types: types) * capacity * sequences
        + sequences * RecurrentState.bytes(config: config, checkpoints: RecurrentState.defaultCheckpoints)
}
