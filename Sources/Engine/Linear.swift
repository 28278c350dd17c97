import Quant

/// Quantised forms of a batch of input rows, one per activation format a weight type asks
/// for, reused across the products that read the same input (q, k, v share one).
/// Buffers grow on demand and are then reused: no allocation per token in steady state.
final class ActivationBuffers {
    /// One buffer per activation format and row length: inputs of different widths (the
    /// hidden state, a wider attention output, a shared expert's hidden row) alternate within
    /// a layer, and each keeps its own buffer instead of reallocating on every switch.
    private struct Key: Hashable { let type: GGMLType, cols: Int }
    private var buffers: [Key: (activations: QuantizedActivations, tokens: Int)] = [:]
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
        let key = Key(type: type, cols: cols)
        if fresh.contains(type), let b = buffers[key] { return b.activations }
        if let b = buffers[key], b.tokens >= tokens {} else {
            buffers[key] = (QuantizedActivations(type: type, count: cols, tokens: tokens), tokens)
        }
        // Mutate in place (no copy-on-write copy): callers hold their copies only for one product.
        for t in 0..<tokens { buffers[key]!.activations.quantize(source! + t * cols, token: t) }
        fresh.insert(type)
        return buffers[key]!.activations
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
        let p = Projection(w: w, a: a, out: out, outStride: outStride)
        run(RowBlocks(p0: p, p1: nil, p2: nil, tokens: tokens, parts: 0), pool: pool)
    }

    /// Up to three products of the same input (q, k and v) in one parallel region: one start
    /// and one join instead of three. out[i] gets rows of w[i], stride w[i].rows; a nil matrix
    /// is skipped (a layer without its own v, or without k and v).
    static func apply(_ w0: WeightMatrix, _ w1: WeightMatrix?, _ w2: WeightMatrix?, _ acts: ActivationBuffers,
                      tokens: Int, outs o0: UnsafeMutablePointer<Float>, _ o1: UnsafeMutablePointer<Float>,
                      _ o2: UnsafeMutablePointer<Float>, pool: WorkerPool) {
        run(RowBlocks(p0: Projection(w: w0, a: acts.activations(for: w0.type), out: o0, outStride: w0.rows),
                      p1: w1.map { Projection(w: $0, a: acts.activations(for: $0.type), out: o1, outStride: $0.rows) },
                      p2: w2.map { Projection(w: $0, a: acts.activations(for: $0.type), out: o2, outStride: $0.rows) },
                      tokens: tokens, parts: 0), pool: pool)
    }

    private static func run(_ blocks: RowBlocks, pool: WorkerPool) {
        var blocks = blocks
        // Four parts per thread: with two threads the last part's wait is a small share.
        blocks.parts = WorkerPool.partCount(blocks.totalRows, parts: pool.threadCount * 4, granularity: 16)
        pool.run(blocks.parts, blocks)
    }

    private struct Projection {
        let w: WeightMatrix, a: QuantizedActivations, out: UnsafeMutablePointer<Float>, outStride: Int
    }

    /// One part of a region: its share of the concatenated rows of the projections, 16-row
    /// aligned (every matrix here has a multiple of 16 rows or is the last one).
    private struct RowBlocks: ParallelBody {
        let p0: Projection, p1: Projection?, p2: Projection?
        let tokens: Int
        var parts: Int

        var totalRows: Int { p0.w.rows + (p1?.w.rows ?? 0) + (p2?.w.rows ?? 0) }

        func run(_ i: Int) {
            var rows = WorkerPool.range(i, of: parts, total: totalRows, granularity: 16)
            segment(p0, &rows)
            if let p1 { segment(p1, &rows) }
            if let p2 { segment(p2, &rows) }
        }

        /// Computes the part of `rows` (in concatenated numbering) that falls in `p`, then
        /// renumbers `rows` past it.
        private func segment(_ p: Projection, _ rows: inout Range<Int>) {
            let mine = rows.clamped(to: 0..<p.w.rows)
            if !mine.isEmpty {
                Kernels.matmulDense(type: p.w.type, layout: p.w.layout, weights: p.w.data, rowBytes: p.w.rowBytes, cols: p.w.cols, rows: mine, matrixRows: p.w.rows,
                               activations: p.a, tokens: tokens, out: p.out + mine.lowerBound, outStride: p.outStride)
            }
            rows = max(0, rows.lowerBound - p.w.rows)..<max(0, rows.upperBound - p.w.rows)
        }
    }

    /// Single-threaded variant for work that is already split across the pool;
    /// out[t * outStride + r] for r in `rows`.
    static func applyRows(_ w: WeightMatrix, _ a: QuantizedActivations, rows: Range<Int>, tokens: Int,
                          out: UnsafeMutablePointer<Float>, outStride: Int) {
        Kernels.matmul(type: w.type, layout: w.layout, weights: w.data, rowBytes: w.rowBytes, cols: w.cols, rows: rows,
                       activations: a, tokens: tokens, out: out + rows.lowerBound, outStride: outStride)
    }
}
