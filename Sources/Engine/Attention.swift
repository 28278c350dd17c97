import CKernels
import Foundation
import Quant

/// Causal multi-head attention with grouped KV heads over the cache.
enum Attention {
    /// q: [tokens, heads*headDim] for positions start..<start+tokens (already in the cache;
    /// a windowed layer's rows are read relative to the cache's window origin);
    /// out: [tokens, heads*valueDim], in the layer's shape. A sliding-window layer's query at
    /// position p sees positions p-window+1...p. `scratch`: `scratchFloats` floats, parts of
    /// `scratchPerPart` (`scratchFloatsPerPart`, computed once by the caller). `sinks`: one
    /// attention-sink logit per head joining each softmax (gpt-oss), or nil.
    static func run(config c: ModelConfig, layer: Int, cache: KVCache, start: Int, tokens: Int,
                    q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                    scratch: UnsafeMutablePointer<Float>, scratchPerPart: Int, pool: WorkerPool,
                    sinks: UnsafePointer<Float>? = nil) {
        let s = c.attentionShape(layer)
        if tokens >= 2 {
            let tiling = Tiling(shape: s, tokens: tokens)
            let parts = WorkerPool.partCount(tiling.count, parts: scratchRows(pool: pool) / Tiling.maxQueries, granularity: 1)
            pool.run(parts, Tiles(s: s, tiling: tiling, scale: c.attentionScale(layer), layer: layer, cache: cache,
                                  start: start, q: q, out: out, scratch: scratch, scratchPerPart: scratchPerPart,
                                  blocks: scratch + scratchRows(pool: pool) * scratchPerPart,
                                  blockFloats: tileBlockFloats(config: c), maxValueDim: c.maxValueDim, parts: parts,
                                  sinks: sinks))
            return
        }
        // One token: parts are whole GQA groups (the heads sharing one KV head are consecutive),
        // so a group's keys and values come from far memory once and from this core's cache after.
        let pairs = tokens * s.heads, group = s.heads / s.kvHeads
        let parts = WorkerPool.partCount(pairs, parts: scratchRows(pool: pool) / 2, granularity: group)
        pool.run(parts, Parts(s: s, scale: c.attentionScale(layer), layer: layer, cache: cache, start: start, q: q,
                              out: out, scratch: scratch, scratchPerPart: scratchPerPart, maxValueDim: c.maxValueDim,
                              pairs: pairs, parts: parts, sinks: sinks))
    }

    /// First position a query at `position` sees.
    @inline(__always) static func firstVisible(position p: Int, window: Int) -> Int {
        window > 0 ? max(0, p - window + 1) : 0
    }

    /// One part of a single token's attention: a range of its heads, whole GQA groups. Each head
    /// runs llama.cpp's arithmetic (hm_attend_ggml_kv).
    private struct Parts: ParallelBody {
        let s: AttentionShape, scale: Float, layer: Int, cache: KVCache, start: Int
        let q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
        let scratchPerPart: Int, maxValueDim: Int, pairs: Int, parts: Int, sinks: UnsafePointer<Float>?

        func run(_ part: Int) {
            let group = s.heads / s.kvHeads
            let scores = scratch + part * scratchPerPart
            let accumulators = scores + roundedPositions(cache.capacity)
            let queryScratch = UnsafeMutableRawPointer(accumulators + 64 * maxValueDim)
            for pair in WorkerPool.range(parts - 1 - part, of: parts, total: pairs, granularity: group) {
                let t = pair / s.heads, h = pair % s.heads
                let kvHead = h / group
                let qh = q + t * s.qDim + h * s.headDim
                let o = out + t * s.outDim + h * s.valueDim
                let p = start + t, first = Attention.firstVisible(position: p, window: s.slidingWindow)
                let (keyRows, keyStride, origin) = cache.keyRows(layer: layer), (valueRows, valueStride, _) = cache.valueRows(layer: layer)
                let keys = keyRows + kvHead * cache.types.keys.rowBytes(s.headDim)
                let valueType = cache.valueType(layer: layer)
                let values = valueRows + kvHead * (s.valuesInKeys ? cache.types.keys.rowBytes(s.headDim) : valueType.rowBytes(s.valueDim))
                hm_attend_ggml_kv(qh, keys, cache.types.keys.kernelCode, Int64(keyStride), values, valueType.kernelCode,
                                  Int64(valueStride), Int64(first - origin), Int64(p + 1 - origin), Int64(s.headDim), Int64(s.valueDim), scale,
                                  0, sinks.map { $0 + h }, scores, accumulators, queryScratch, o)
            }
        }
    }

    /// A batch's queries in tiles that read one KV head: up to `maxQueries` heads of one GQA
    /// group, times as many consecutive tokens as fill the tile. Tiles go token block by token
    /// block, the head blocks of each in order.
    struct Tiling {
        static let maxQueries = 8
        let headsPerTile: Int, tokensPerTile: Int, headBlocks: Int, tokens: Int

        init(shape s: AttentionShape, tokens: Int) {
            let group = s.heads / s.kvHeads
            var heads = min(group, Tiling.maxQueries)
            while group % heads != 0 { heads -= 1 }
            headsPerTile = heads
            tokensPerTile = max(1, Tiling.maxQueries / heads)
            headBlocks = s.heads / heads
            self.tokens = tokens
        }

        var count: Int { (tokens + tokensPerTile - 1) / tokensPerTile * headBlocks }
    }

    /// One part of a batch's attention: a range of tiles, heaviest (latest tokens) first as in
    /// `Parts`; each tile is one hm_attend_ggml_kv_tile call, bit-identical to a call per query.
    private struct Tiles: ParallelBody {
        let s: AttentionShape, tiling: Tiling, scale: Float, layer: Int, cache: KVCache, start: Int
        let q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
        let scratchPerPart: Int, blocks: UnsafeMutablePointer<Float>, blockFloats: Int, maxValueDim: Int, parts: Int
        let sinks: UnsafePointer<Float>?

        func run(_ part: Int) {
            let rows = scratch + part * Tiling.maxQueries * scratchPerPart, block = blocks + part * blockFloats
            let accOffset = roundedPositions(cache.capacity), queryOffset = accOffset + 64 * maxValueDim
            let group = s.heads / s.kvHeads
            let (keyRows, keyStride, origin) = cache.keyRows(layer: layer), (valueRows, valueStride, _) = cache.valueRows(layer: layer)
            let valueType = cache.valueType(layer: layer)
            let keyHeadBytes = cache.types.keys.rowBytes(s.headDim)
            let valueHeadBytes = s.valuesInKeys ? keyHeadBytes : valueType.rowBytes(s.valueDim)
            withUnsafeTemporaryAllocation(of: hm_attention_query.self, capacity: Tiling.maxQueries) { queries in
                for tile in WorkerPool.range(parts - 1 - part, of: parts, total: tiling.count, granularity: 1) {
                    let firstToken = tile / tiling.headBlocks * tiling.tokensPerTile
                    let firstHead = tile % tiling.headBlocks * tiling.headsPerTile
                    var count: Int32 = 0
                    for t in firstToken..<min(tiling.tokens, firstToken + tiling.tokensPerTile) {
                        let p = start + t
                        for h in firstHead..<(firstHead + tiling.headsPerTile) {
                            queries[Int(count)] = hm_attention_query(
                                q: q + t * s.qDim + h * s.headDim, out: out + t * s.outDim + h * s.valueDim,
                                first: Int64(Attention.firstVisible(position: p, window: s.slidingWindow) - origin),
                                n: Int64(p + 1 - origin), sink: sinks.map { $0 + h })
                            count += 1
                        }
                    }
                    let kvHead = firstHead / group
                    hm_attend_ggml_kv_tile(queries.baseAddress, count, keyRows + kvHead * keyHeadBytes, cache.types.keys.kernelCode,
                                           Int64(keyStride), valueRows + kvHead * valueHeadBytes, valueType.kernelCode,
                                           Int64(valueStride), Int64(s.headDim), Int64(s.valueDim), scale, rows,
                                           Int64(scratchPerPart), Int64(accOffset), Int64(queryOffset), block)
                }
            }
        }
    }

    static func roundedPositions(_ n: Int) -> Int { (n + 15) / 16 * 16 }

    /// Scratch one part needs: a score row, the kernel's 64 value accumulators and the query
    /// converted to the keys' type (2 bytes per element at most), for the widest attention layer.
    static func scratchFloatsPerPart(config c: ModelConfig, capacity: Int) -> Int {
        roundedPositions(capacity) + 64 * c.maxValueDim + roundedPositions(widestHead(c))
    }

    static func widestHead(_ c: ModelConfig) -> Int { (0..<c.layerCount).map { c.attentionShape($0).headDim }.max() ?? 0 }

    /// A tile part's block of widened rows (hm_attend_ggml_kv_tile).
    static func tileBlockFloats(config c: ModelConfig) -> Int { Int(HM_KV_TILE_ROWS) * max(widestHead(c), c.maxValueDim) }

    /// The parts' scratch rows, then one block per tile part.
    static func scratchFloats(config c: ModelConfig, capacity: Int, pool: WorkerPool) -> Int {
        scratchRows(pool: pool) * scratchFloatsPerPart(config: c, capacity: capacity)
            + scratchRows(pool: pool) / Tiling.maxQueries * tileBlockFloats(config: c)
    }

    /// Plain-loop attention of one query head over `count` positions: the float reference the
    /// kernel is tested against (within float summation order).
    static func attendReference(q: UnsafePointer<Float>, keys: UnsafePointer<Float>, kStride: Int,
                                values: UnsafePointer<Float>, vStride: Int, count n: Int, headDim: Int,
                                valueDim: Int, scale: Float, scores: UnsafeMutablePointer<Float>,
                                out: UnsafeMutablePointer<Float>) {
        for p in 0..<n { scores[p] = Ops.dot(q, keys + p * kStride, count: headDim) * scale }
        Ops.softmax(scores, count: n)
        for i in 0..<valueDim { out[i] = 0 }
        for p in 0..<n {
            Ops.axpy(scores[p], values + p * vStride, out, count: valueDim)
        }
    }

    /// Scratch rows: sixteen per thread. A token's parts take one row each (eight per thread);
    /// a batch's tiles take `Tiling.maxQueries` rows per part (two parts per thread).
    static func scratchRows(pool: WorkerPool) -> Int { pool.threadCount * 16 }
}
