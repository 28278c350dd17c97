import Quant

/// Quantised forms of a batch of input rows, one per activation format a weight type asks
/// for, reused across the products that read the same input (q, k, v share one).
/// Buffers grow on demand and are then reused: no allocation per token in steady state.
final class ActivationBuffers {
    private var byType: [GGMLType: QuantizedActivations] = [:]
    private var capacity: [GGMLType: (cols: Int, tokens: Int)] = [:]
    private var fresh: Set<GGMLType> = []
    private var source: UnsafePointer<Float>?
    private var cols = 0
    private var tokens = 0

    /// Points the buffers at a new input; quantisation happens lazily per weight type.
    func setInput(_ x: UnsafePointer<Float>, cols: Int, tokens: Int) {
        source = x
        self.cols = cols
        self.tokens = tokens
        fresh.removeAll(keepingCapacity: true)
    }

    func activations(for type: GGMLType) -> QuantizedActivations {
        if fresh.contains(type), let a = byType[type] { return a }
        if let cap = capacity[type], cap.cols == cols, cap.tokens >= tokens {} else {
            let rows = max(tokens, capacity[type]?.cols == cols ? capacity[type]!.tokens : 0)
            byType[type] = QuantizedActivations(type: type, count: cols, tokens: rows)
            capacity[type] = (cols, rows)
        }
        // Mutate in place (no copy-on-write copy): callers hold their copies only for one product.
        for t in 0..<tokens { byType[type]!.quantize(source! + t * cols, token: t) }
        fresh.insert(type)
        return byType[type]!
    }
}

enum Linear {
    /// out[t * rows + r] = dot(w[r], x[t]) for the input set on `acts`, rows split over the pool.
    static func apply(_ w: WeightMatrix, _ acts: ActivationBuffers, tokens: Int,
                      out: UnsafeMutablePointer<Float>, pool: WorkerPool) {
        let a = acts.activations(for: w.type)
        apply(w, a, tokens: tokens, out: out, outStride: w.rows, pool: pool)
    }

    static func apply(_ w: WeightMatrix, _ a: QuantizedActivations, tokens: Int,
                      out: UnsafeMutablePointer<Float>, outStride: Int, pool: WorkerPool) {
        let parts = WorkerPool.partCount(w.rows, parts: pool.threadCount * 2, granularity: 16)
        pool.run(parts, RowBlocks(w: w, a: a, tokens: tokens, out: out, outStride: outStride, parts: parts))
    }

    /// One part of `apply`: the part's share of the rows, 16-row aligned.
    private struct RowBlocks: ParallelBody {
        let w: WeightMatrix, a: QuantizedActivations, tokens: Int
        let out: UnsafeMutablePointer<Float>, outStride: Int, parts: Int

        func run(_ i: Int) {
            let rows = WorkerPool.range(i, of: parts, total: w.rows, granularity: 16)
            Kernels.matmul(type: w.type, weights: w.data, rowBytes: w.rowBytes, cols: w.cols, rows: rows,
                           activations: a, tokens: tokens, out: out + rows.lowerBound, outStride: outStride)
        }
    }

    /// Single-threaded variant for work that is already split across the pool;
    /// out[t * outStride + r] for r in `rows`.
    static func applyRows(_ w: WeightMatrix, _ a: QuantizedActivations, rows: Range<Int>, tokens: Int,
                          out: UnsafeMutablePointer<Float>, outStride: Int) {
        Kernels.matmul(type: w.type, weights: w.data, rowBytes: w.rowBytes, cols: w.cols, rows: rows,
                       activations: a, tokens: tokens, out: out + rows.lowerBound, outStride: outStride)
    }
}
