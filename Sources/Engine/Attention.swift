import CKernels
import Foundation
import Quant

/// Causal multi-head attention with grouped KV heads over the cache.
enum Attention {
    /// q: [tokens, heads*headDim] for positions start..<start+tokens (already in the cache);
    /// out: [tokens, heads*valueDim]. `scratch` holds one score row of `cache.capacity` per task.
    static func run(config c: ModelConfig, layer: Int, cache: KVCache, start: Int, tokens: Int,
                    q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                    scratch: UnsafeMutablePointer<Float>, pool: WorkerPool) {
        // Parts are whole GQA groups (the heads sharing one KV head are consecutive pairs), so
        // a group's keys and values come from far memory once and from this core's cache after.
        let pairs = tokens * c.headCount, group = c.headCount / c.kvHeadCount
        let parts = WorkerPool.partCount(pairs, parts: scratchRows(pool: pool), granularity: group)
        pool.run(parts, Parts(c: c, layer: layer, cache: cache, start: start, q: q, out: out, scratch: scratch,
                              scratchPerPart: scratchFloatsPerPart(config: c, capacity: cache.capacity),
                              pairs: pairs, parts: parts, batched: tokens >= 2))
    }

    /// One part of `run`: a range of (token, head) pairs. Later tokens attend to more
    /// positions, so part i takes range parts-1-i: the dynamic scheduler starts the heaviest
    /// first and ends balanced. Each head runs llama.cpp's arithmetic (hm_attend_ggml_f32).
    private struct Parts: ParallelBody {
        let c: ModelConfig, layer: Int, cache: KVCache, start: Int
        let q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
        let scratchPerPart: Int, pairs: Int, parts: Int, batched: Bool

        func run(_ part: Int) {
            let group = c.headCount / c.kvHeadCount
            let scale = 1 / Float(c.headDim).squareRoot()
            let scores = scratch + part * scratchPerPart
            let accumulators = scores + roundedPositions(cache.capacity)
            for pair in WorkerPool.range(parts - 1 - part, of: parts, total: pairs, granularity: group) {
                let t = pair / c.headCount, h = pair % c.headCount
                let kvHead = h / group
                let qh = q + t * c.qDim + h * c.headDim
                let o = out + t * c.headCount * c.valueDim + h * c.valueDim
                let keys = cache.key(layer: layer, position: 0) + kvHead * c.headDim
                let values = cache.value(layer: layer, position: 0) + kvHead * c.valueDim
                hm_attend_ggml_f32(qh, keys, Int64(c.kvDim), values, Int64(c.vDim), Int64(start + t + 1),
                                   Int64(c.headDim), Int64(c.valueDim), scale, batched ? 1 : 0, scores, accumulators, o)
            }
        }
    }

    static func roundedPositions(_ n: Int) -> Int { (n + 15) / 16 * 16 }

    /// Scratch one part needs: a score row and the kernel's 64 value accumulators.
    static func scratchFloatsPerPart(config c: ModelConfig, capacity: Int) -> Int {
        roundedPositions(capacity) + 64 * c.valueDim
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
