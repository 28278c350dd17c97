import Foundation

/// Causal multi-head attention with grouped KV heads over the cache.
enum Attention {
    /// q: [tokens, heads*headDim] for positions start..<start+tokens (already in the cache);
    /// out: [tokens, heads*valueDim]. `scratch` holds one score row of `cache.capacity` per task.
    static func run(config c: ModelConfig, layer: Int, cache: KVCache, start: Int, tokens: Int,
                    q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                    scratch: UnsafeMutablePointer<Float>, pool: WorkerPool) {
        let group = c.headCount / c.kvHeadCount
        let scale = 1 / Float(c.headDim).squareRoot()
        let pairs = tokens * c.headCount
        let ranges = WorkerPool.split(pairs, parts: pool.threadCount * 2, granularity: 1)
        pool.run(ranges.count) { task in
            let scores = scratch + task * cache.capacity
            for pair in ranges[task] {
                let t = pair / c.headCount, h = pair % c.headCount
                let kvHead = h / group
                let qh = q + t * c.qDim + h * c.headDim
                let last = start + t
                var maxScore = -Float.infinity
                for p in 0...last {
                    let k = cache.key(layer: layer, position: p) + kvHead * c.headDim
                    let s = Ops.dot(qh, k, count: c.headDim) * scale
                    scores[p] = s
                    maxScore = max(maxScore, s)
                }
                var sum: Double = 0
                for p in 0...last {
                    let e = expf(scores[p] - maxScore)
                    scores[p] = e
                    sum += Double(e)
                }
                let inv = Float(1 / sum)
                let o = out + t * c.headCount * c.valueDim + h * c.valueDim
                for i in 0..<c.valueDim { o[i] = 0 }
                for p in 0...last {
                    let w = scores[p] * inv
                    Ops.axpy(w, cache.value(layer: layer, position: p) + kvHead * c.valueDim, o, count: c.valueDim)
                }
            }
        }
    }

    /// Number of score rows `run` may use at once.
    static func scratchRows(pool: WorkerPool) -> Int { pool.threadCount * 2 }
}
