import CKernels
import Foundation

/// How sliding-window layers keep their rows. `.window` (llama.cpp's default): only the
/// last window plus room for two batches, in a buffer that slides, so a 128k context of gemma4
/// or gpt-oss costs its global layers' rows plus a few thousand rows per window layer.
/// `.full` (--swa-full): every position, so any prefix can be resumed.
public enum SlidingWindowRows: String, Sendable, Equatable, CaseIterable {
    case window, full
}

/// Keys and values of every attention layer for positions 0..<capacity, rows in the chosen
/// types (F32 by default, so attention matches a float reference and llama.cpp's F32 cache;
/// F16 / Q8_0 as llama.cpp's --cache-type-k/v). Layers whose mixer is recurrent own no rows;
/// layers that share another layer's KV (Gemma) read its rows. Each layer's rows have that
/// layer's width (Gemma's global and sliding-window layers differ). A multi-head latent
/// attention layer stores key rows only (latent + rotary key); its values are read from them.
/// Sliding-window layers may keep only `windowRows` rows: physical row i holds position
/// `windowOrigin + i`, and the origin moves forward (rows slide down) when a batch needs room.
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    public let layerCount: Int
    public let types: KVCacheTypes
    /// Widest key / value row over the layers, in elements.
    public let kvDim: Int
    public let vDim: Int
    /// Rows a windowed layer keeps (`capacity` when no layer is windowed).
    public let windowRows: Int
    /// Widest sliding window over the windowed layers (0 when none is).
    public let windowLength: Int
    /// Position held by physical row 0 of the windowed layers.
    public private(set) var windowOrigin = 0
    /// Per layer: byte offset of its position-0 key / value row (-1 for recurrent layers), the
    /// row widths in elements and in bytes.
    private let keyBase, valueBase, keyWidth, valueWidth, keyRowBytes, valueRowBytes: [Int]
    /// Layers whose rows live here (not recurrent, not reading another layer's).
    private let ownsRows: [Bool]
    /// Layers whose values are the leading part of their key rows (no value rows of their own).
    private let valuesInKeys: [Bool]
    /// Layers whose rows (their own or their source's) are windowed.
    private let windowed: [Bool]
    private let ownedBytes: Int
    let keys: UnsafeMutableRawPointer
    let values: UnsafeMutableRawPointer
    /// Number of positions filled.
    public internal(set) var count = 0

    /// The window origin is a multiple of this: attention assigns positions to accumulation
    /// lanes by row index (mod 64, as llama.cpp's by cache cell), so a windowed row keeps its
    /// position's lane and the window rows give the bits of full rows.
    static let originAlignment = 64

    /// Rows a windowed layer keeps: the window's previous positions (plus the origin's
    /// alignment) and two batches, so the rows slide once per batch at most.
    public static func windowRowCount(window: Int, maxBatch: Int) -> Int {
        (window - 1 + originAlignment - 1 + 2 * max(1, maxBatch) + 63) / 64 * 64
    }

    /// The aligned origin from which the rows that decoding at `position` sees are held.
    static func windowStart(position: Int, window: Int) -> Int {
        max(0, position - (window - 1)) / originAlignment * originAlignment
    }

    /// The layers that can keep only a window: sliding-window layers owning rows whose readers
    /// (shared-KV layers) are sliding-window too; and the widest of their windows.
    static func windowedLayers(config c: ModelConfig) -> (layers: [Bool], window: Int) {
        var windowed = (0..<c.layerCount).map { c.mixer($0) == .attention && c.ownsKVRows($0) && c.attentionShape($0).slidingWindow > 0 }
        var window = 0
        for l in 0..<c.layerCount where c.mixer(l) == .attention {
            let s = c.attentionShape(l), owner = s.kvSource ?? l
            if s.slidingWindow == 0 { windowed[owner] = false }
        }
        for l in 0..<c.layerCount where c.mixer(l) == .attention && windowed[c.attentionShape(l).kvSource ?? l] {
            window = max(window, c.attentionShape(l).slidingWindow)
        }
        return (windowed, window)
    }

    /// `types` must pass `types.check(config:)` (callers check user input first). `maxBatch`
    /// is the most positions one forward batch stores (the window rows leave room for it).
    public init(config: ModelConfig, capacity: Int, types: KVCacheTypes = .f32,
                slidingWindow: SlidingWindowRows = .window, maxBatch: Int = 256) {
        precondition((try? types.check(config: config)) != nil, "KV cache types \(types) do not fit the model's head widths")
        self.capacity = capacity
        self.types = types
        layerCount = config.layerCount
        var (windowedOwners, window) = Self.windowedLayers(config: config)
        let rows = window > 0 ? min(capacity, Self.windowRowCount(window: window, maxBatch: maxBatch)) : capacity
        if slidingWindow == .full || rows >= capacity {
            windowedOwners = windowedOwners.map { _ in false }
            window = 0
        }
        windowRows = window > 0 ? rows : capacity
        windowLength = window
        var kb = [Int](), vb = [Int](), kw = [Int](), vw = [Int](), owns = [Bool](), win = [Bool]()
        var nextK = 0, nextV = 0
        for l in 0..<config.layerCount {
            let s = config.attentionShape(l)
            kw.append(s.kvDim); vw.append(s.valuesInKeys ? 0 : s.vDim)
            owns.append(config.ownsKVRows(l))
            win.append(config.mixer(l) == .attention && windowedOwners[s.kvSource ?? l])
            if config.mixer(l) != .attention {
                kb.append(-1); vb.append(-1)
            } else if let src = s.kvSource {
                kb.append(kb[src]); vb.append(vb[src])
            } else {
                let positions = win[l] ? windowRows : capacity
                kb.append(nextK); vb.append(nextV)
                nextK += positions * types.keys.rowBytes(s.kvDim)
                nextV += positions * types.values.rowBytes(vw[l])
            }
        }
        keyBase = kb; valueBase = vb; keyWidth = kw; valueWidth = vw; ownsRows = owns; windowed = win
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

    /// One line for the load log, like llama.cpp's KV-cache size line.
    public var summary: String {
        let mib = String(format: "%.1f", Double(ownedBytes) / 1048576)
        let owners = (0..<layerCount).filter { ownsRows[$0] }, windowedCount = owners.filter { windowed[$0] }.count
        let rows = windowLength > 0
            ? "\(owners.count - windowedCount) layers x \(capacity) positions, \(windowedCount) sliding-window layers x \(windowRows) rows"
            : "\(owners.count) layers x \(capacity) positions"
        return "KV cache: \(mib) MiB (\(rows); \(types))"
    }

    /// The key / value rows of a layer: the row of position `origin`, the bytes between
    /// positions and `origin` (0, or the window origin for a windowed layer).
    @inline(__always) func keyRows(layer: Int) -> (UnsafeMutableRawPointer, Int, origin: Int) {
        (keys + keyBase[layer], keyRowBytes[layer], windowed[layer] ? windowOrigin : 0)
    }
    @inline(__always) func valueRows(layer: Int) -> (UnsafeMutableRawPointer, Int, origin: Int) {
        valuesInKeys[layer] ? keyRows(layer: layer) : (values + valueBase[layer], valueRowBytes[layer], windowed[layer] ? windowOrigin : 0)
    }

    /// The row type attention reads a layer's values in (the keys' type where values live in the key rows).
    @inline(__always) func valueType(layer: Int) -> KVCacheType { valuesInKeys[layer] ? types.keys : types.values }

    /// Physical row of a position in a layer's rows.
    @inline(__always) private func row(layer: Int, position: Int) -> Int {
        guard windowed[layer] else { return position }
        precondition(position >= windowOrigin && position < windowOrigin + windowRows,
                     "position \(position) is outside the window rows \(windowOrigin)..<\(windowOrigin + windowRows)")
        return position - windowOrigin
    }

    /// Makes room in the windowed layers for positions start..<start+tokens, before they are
    /// stored: when they would run past the rows, the rows that the batch's first query still
    /// sees (its window) move to the bottom. `tokens` must be at most the `maxBatch` given at init.
    func reserve(start: Int, tokens: Int) {
        guard windowLength > 0, start + tokens > windowOrigin + windowRows else { return }
        let keep = Self.windowStart(position: start, window: windowLength), moved = start - keep
        precondition(keep >= windowOrigin && moved + tokens <= windowRows, "a batch of \(tokens) does not fit the window rows")
        for l in 0..<layerCount where ownsRows[l] && windowed[l] {
            let sources = [(keys + keyBase[l], keyRowBytes[l])] + (valuesInKeys[l] ? [] : [(values + valueBase[l], valueRowBytes[l])])
            for (base, stride) in sources where moved > 0 {
                base.copyMemory(from: base + (keep - windowOrigin) * stride, byteCount: moved * stride)
            }
        }
        windowOrigin = keep
    }

    /// Whether decoding can go on from `position` (0..<count): every windowed row that a
    /// query there sees is still held.
    public func canResume(at position: Int) -> Bool {
        position == 0 || windowLength == 0 || position - (windowLength - 1) >= windowOrigin
    }

    /// Writes a position's key and value rows, converted to the cache's types (`value` is not
    /// read for a layer whose values live in its key rows).
    func store(layer: Int, position: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        let r = row(layer: layer, position: position)
        hm_kv_store_row(types.keys.kernelCode, key, keys + keyBase[layer] + r * keyRowBytes[layer], Int64(keyWidth[layer]))
        guard !valuesInKeys[layer] else { return }
        hm_kv_store_row(types.values.kernelCode, value, values + valueBase[layer] + r * valueRowBytes[layer], Int64(valueWidth[layer]))
    }

    /// A stored key / value row read back as floats (what attention sees).
    func storedRow(layer: Int, position: Int, key: Bool) -> [Float] {
        let inKeys = !key && valuesInKeys[layer]
        let width = key || inKeys ? keyWidth[layer] : valueWidth[layer]
        let (base, stride, _) = key ? keyRows(layer: layer) : valueRows(layer: layer)
        let r = row(layer: layer, position: position)
        return [Float](unsafeUninitializedCapacity: width) { buf, n in
            hm_kv_load_row((key || inKeys ? types.keys : types.values).kernelCode, base + r * stride, buf.baseAddress!, Int64(width))
            n = width
        }
    }

    /// F32 rows only: a position's key / value row in place (tests fill the cache directly).
    func key(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        precondition(types.keys == .f32, "key(layer:position:) reads F32 rows")
        return (keys + keyBase[layer] + row(layer: layer, position: position) * keyRowBytes[layer]).assumingMemoryBound(to: Float.self)
    }

    func value(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        precondition(types.values == .f32, "value(layer:position:) reads F32 rows")
        return (values + valueBase[layer] + row(layer: layer, position: position) * valueRowBytes[layer]).assumingMemoryBound(to: Float.self)
    }

    /// The first position a saved state of `n` positions holds in a windowed layer: only the
    /// window that decoding from `n` on still sees is kept.
    public func savedWindowStart(positions n: Int) -> Int {
        windowLength > 0 ? Self.windowStart(position: n, window: windowLength) : 0
    }

    /// Bytes that positions 0..<n take over the owned layers in a saved state (windowed
    /// layers: positions savedWindowStart(n)..<n).
    public func rowBytes(positions n: Int) -> Int {
        (0..<layerCount).filter { ownsRows[$0] }.map {
            (keyRowBytes[$0] + valueRowBytes[$0]) * (windowed[$0] ? n - savedWindowStart(positions: n) : n)
        }.reduce(0, +)
    }

    /// Copies the stored rows of positions 0..<n out (`toCache` false) or in (true), layer by
    /// layer, keys then values, in the cache's types; windowed layers from savedWindowStart(n).
    /// Out needs `canResume(at: n)`; in sets the count to n.
    func copyRows(positions n: Int, _ buffer: UnsafeMutableRawPointer, toCache: Bool) {
        let first = savedWindowStart(positions: n)
        if toCache { windowOrigin = first; count = n } else { precondition(canResume(at: n), "rows before \(n) are no longer held") }
        var at = buffer
        for l in 0..<layerCount where ownsRows[l] {
            let rows = [(keys + keyBase[l], keyRowBytes[l])] + (valuesInKeys[l] ? [] : [(values + valueBase[l], valueRowBytes[l])])
            let from = windowed[l] ? first : 0
            for (base, stride) in rows {
                let held = base + (from - (windowed[l] ? windowOrigin : 0)) * stride, bytes = (n - from) * stride
                if toCache { held.copyMemory(from: at, byteCount: bytes) } else { at.copyMemory(from: held, byteCount: bytes) }
                at += bytes
            }
        }
    }

    /// Forgets positions from `position` on (a new prompt that shares a prefix keeps it);
    /// callers check `canResume(at:)` first. An empty cache starts its window rows over.
    public func truncate(to position: Int) {
        count = min(count, max(0, position))
        if count == 0 { windowOrigin = 0 }
    }
}

/// KV bytes one position takes over a config's owned layers with the given row types.
public func kvBytesPerPosition(config: ModelConfig, types: KVCacheTypes = .f32) -> Int {
    (0..<config.layerCount).filter(config.ownsKVRows).map { kvRowBytes(config: config, layer: $0, types: types) }.reduce(0, +)
}

private func kvRowBytes(config: ModelConfig, layer: Int, types: KVCacheTypes) -> Int {
    let s = config.attentionShape(layer)
    return types.keys.rowBytes(s.kvDim) + (s.valuesInKeys ? 0 : types.values.rowBytes(s.vDim))
}

/// Bytes a cache of `capacity` positions takes for a config (as KVCache allocates them, window
/// rows included); the hot-cache auto budget uses it.
public func kvCacheBytes(config: ModelConfig, capacity: Int, sequences: Int = 1, types: KVCacheTypes = .f32,
                         slidingWindow: SlidingWindowRows = .window, maxBatch: Int = 256) -> Int {
    let (windowed, window) = KVCache.windowedLayers(config: config)
    let rows = min(capacity, window > 0 ? KVCache.windowRowCount(window: window, maxBatch: maxBatch) : capacity)
    let useWindow = slidingWindow == .window && window > 0 && rows < capacity
    let perSequence = (0..<config.layerCount).filter(config.ownsKVRows).map {
        kvRowBytes(config: config, layer: $0, types: types) * (useWindow && windowed[$0] ? rows : capacity)
    }.reduce(0, +)
    return perSequence * sequences + sequences * RecurrentState.bytes(config: config, checkpoints: RecurrentState.defaultCheckpoints)
}
