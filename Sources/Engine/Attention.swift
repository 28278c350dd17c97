import CKernels
import Foundation
import Quant

/// Causal multi-head attention with grouped KV heads over the cache.
enum Attention {
    /// q: [tokens, heads*headDim] for positions start..<start+tokens (already in the cache);
    /// out: [tokens, heads*valueDim], in the layer's shape. A sliding-window layer's query at
    /// position p sees positions p-window+1...p. `scratch`: `scratchFloats` floats, parts of
    /// `scratchPerPart` (`scratchFloatsPerPart`, computed once by the caller). `sinks`: one
    /// attention-sink logit per head joining each softmax (gpt-oss), or nil.
    static func run(config c: ModelConfig, layer: Int, cache: KVCache, start: Int, tokens: Int,
                    q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                    scratch: UnsafeMutablePointer<Float>, scratchPerPart: Int, pool: WorkerPool,
                    sinks: UnsafePointer<Float>? = nil) {
        let s = c.attentionShape(layer)
        // Parts are whole GQA groups (the heads sharing one KV head are consecutive pairs), so
        // a group's keys and values come from far memory once and from this core's cache after.
        let pairs = tokens * s.heads, group = s.heads / s.kvHeads
        let parts = WorkerPool.partCount(pairs, parts: scratchRows(pool: pool), granularity: group)
        pool.run(parts, Parts(s: s, scale: c.attentionScale(layer), layer: layer, cache: cache, start: start, q: q,
                              out: out, scratch: scratch, scratchPerPart: scratchPerPart, maxValueDim: c.maxValueDim,
                              pairs: pairs, parts: parts, batched: tokens >= 2, sinks: sinks))
    }

    /// First position a query at `position` sees.
    @inline(__always) static func firstVisible(position p: Int, window: Int) -> Int {
        window > 0 ? max(0, p - window + 1) : 0
    }

    /// One part of `run`: a range of (token, head) pairs. Later tokens attend to more
    /// positions, so part i takes range parts-1-i: the dynamic scheduler starts the heaviest
    /// first and ends balanced. Each head runs llama.cpp's arithmetic (hm_attend_ggml_kv).
    private struct Parts: ParallelBody {
        let s: AttentionShape, scale: Float, layer: Int, cache: KVCache, start: Int
        let q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
        let scratchPerPart: Int, maxValueDim: Int, pairs: Int, parts: Int, batched: Bool, sinks: UnsafePointer<Float>?

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
                let (keyRows, keyStride) = cache.keyRows(layer: layer), (valueRows, valueStride) = cache.valueRows(layer: layer)
                let keys = keyRows + kvHead * cache.types.keys.rowBytes(s.headDim)
                let valueType = cache.valueType(layer: layer)
                let values = valueRows + kvHead * (s.valuesInKeys ? cache.types.keys.rowBytes(s.headDim) : valueType.rowBytes(s.valueDim))
                hm_attend_ggml_kv(qh, keys, cache.types.keys.kernelCode, Int64(keyStride), values, valueType.kernelCode,
                                  Int64(valueStride), Int64(first), Int64(p + 1), Int64(s.headDim), Int64(s.valueDim), scale,
                                  batched ? 1 : 0, sinks.map { $0 + h }, scores, accumulators, queryScratch, o)
            }
        }
    }

    static func roundedPositions(_ n: Int) -> Int { (n + 15) / 16 * 16 }

    /// Scratch one part needs: a score row, the kernel's 64 value accumulators and the query
    /// converted to the keys' type (2 bytes per element at most), for the widest attention layer.
    static func scratchFloatsPerPart(config c: ModelConfig, capacity: Int) -> Int {
        let widestHead = (0..<c.layerCount).map { c.attentionShape($0).headDim }.max() ?? 0
        return roundedPositions(capacity) + 64 * c.maxValueDim + roundedPositions(widestHead)
    }

    static func scratchFloats(config c: ModelConfig, capacity: Int, pool: WorkerPool) -> Int {
        scratchRows(pool: pool) * scratchFloatsPerPart(config: c, capacity: capacity)
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

    /// Number of parts (scratch rows) `run` uses: eight per thread.
    static func scratchRows(pool: WorkerPool) -> Int { pool.threadCount * 8 }
}
