import CKernels
import Foundation
import Quant

/// Causal multi-head attention with grouped KV heads over the cache.
enum Attention {
    /// q: [tokens, heads*headDim] for positions start..<start+tokens (already in the cache);
    /// out: [tokens, heads*valueDim], in the layer's shape. A sliding-window layer's query at
    /// position p sees positions p-window+1...p. `scratch` holds one score row of
    /// `cache.capacity` per task.
    static func run(config c: ModelConfig, layer: Int, cache: KVCache, start: Int, tokens: Int,
                    q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                    scratch: UnsafeMutablePointer<Float>, pool: WorkerPool, simd: Bool = CPU.avx2) {
        let s = c.attentionShape(layer)
        // Parts are whole GQA groups (the heads sharing one KV head are consecutive pairs), so
        // a group's keys and values come from far memory once and from this core's cache after.
        let pairs = tokens * s.heads, group = s.heads / s.kvHeads
        let parts = WorkerPool.partCount(pairs, parts: scratchRows(pool: pool), granularity: group)
        pool.run(parts, Parts(s: s, scale: c.attentionScale(layer), layer: layer, cache: cache, start: start, q: q,
                              out: out, scratch: scratch, pairs: pairs, parts: parts,
                              simd: simd && s.headDim % 8 == 0 && s.valueDim % 8 == 0))
    }

    /// First position a query at `position` sees.
    @inline(__always) static func firstVisible(position p: Int, window: Int) -> Int {
        window > 0 ? max(0, p - window + 1) : 0
    }

    /// One part of `run`: a range of (token, head) pairs. Later tokens attend to more
    /// positions, so part i takes range parts-1-i: the dynamic scheduler starts the heaviest
    /// first and ends balanced.
    private struct Parts: ParallelBody {
        let s: AttentionShape, scale: Float, layer: Int, cache: KVCache, start: Int
        let q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
        let pairs: Int, parts: Int, simd: Bool

        func run(_ part: Int) {
            let group = s.heads / s.kvHeads
            let scores = scratch + part * cache.capacity
            for pair in WorkerPool.range(parts - 1 - part, of: parts, total: pairs, granularity: group) {
                let t = pair / s.heads, h = pair % s.heads
                let kvHead = h / group
                let qh = q + t * s.qDim + h * s.headDim
                let o = out + t * s.outDim + h * s.valueDim
                let p = start + t, first = Attention.firstVisible(position: p, window: s.slidingWindow)
                let keys = cache.key(layer: layer, position: first) + kvHead * s.headDim
                let values = cache.value(layer: layer, position: first) + kvHead * s.valueDim
                let n = p + 1 - first
                if simd {
                    hm_attend_f32(qh, keys, Int64(s.kvDim), values, Int64(s.vDim), Int64(n),
                                  Int64(s.headDim), Int64(s.valueDim), scale, scores, o)
                } else {
                    Attention.attendReference(q: qh, keys: keys, kStride: s.kvDim, values: values, vStride: s.vDim,
                                              count: n, headDim: s.headDim, valueDim: s.valueDim, scale: scale,
                                              scores: scores, out: o)
                }
            }
        }
    }

    /// Plain-loop attention of one query head over `count` positions: the reference the SIMD
    /// kernel is tested against, and the path on CPUs without AVX2.
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

    /// Number of score rows `run` uses: one per part, eight parts per thread.
    static func scratchRows(pool: WorkerPool) -> Int { pool.threadCount * 8 }
}
