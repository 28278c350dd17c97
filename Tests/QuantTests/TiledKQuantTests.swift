import Testing
@testable import Quant
import CKernels

/// Prompt batches of Q2_K, Q3_K, Q5_K, Q6_K, IQ4_XS and the grid formats (IQ2_XXS, IQ2_XS, IQ2_S,
/// IQ3_XXS, IQ3_S, IQ1_S, IQ1_M) run the tiled kernels
/// (kquant_tiled_x86.c) through the public `Kernels.matmul`: eight rows decoded once, then every
/// token; file-layout Q4_1, Q5_0, Q5_1, IQ4_NL and MXFP4 the eight-row kernels of
/// b32_rows8_x86.c on a strip repacked once per eight rows. Checked against float64 dot products of the decoded weights and activations, on fresh
/// random blocks (full-range scales and codes), over block counts below and above the kernel's
/// eight-block tile pass (tolerance: 1e-5 of the summed magnitudes of the terms, scales and mins
/// apart), token counts with and without a 4-token remainder, and row ranges with
/// a tail of fewer than eight rows (the per-dot kernel, or for the 256-element types from 8 tokens
/// the scalar form of llama.cpp's tiled order).
@Suite(.enabled(if: Kernels.usesSIMD, "the tiled kernels need AVX2"))
struct TiledKQuantTests {
    static let tiledTypes: [GGMLType] = [.q2_K, .q3_K, .q5_K, .q6_K, .iq4_xs, .q4_1, .q5_0, .q5_1, .iq4_nl, .mxfp4] + gridTypes
    /// AVX2, and AVX-512 VNNI where this CPU has it.
    static let instructionSets: [Bool] = CPU.avx512vnni ? [false, true] : [false]

    @Test(arguments: tiledTypes, instructionSets)
    func batchesMatchFloat64(type: GGMLType, vnni: Bool) {
        let kernel = Kernels.tiledKernel(type, vnni: vnni)!
        var (rng, seed) = freshRNG()
        // 32-element types: also rows too wide for the strip (8 * 4608 bytes of Q5_1), which take the per-row kernel.
        for cols in type.blockSize == 32 ? [32, 256, 1056, 4096, 6144] : [256, 768, 2304, 4096] {
            // 13 and 23: the VNNI form's passes of 8, then 4, then the rest.
            for tokens in [4, Int.random(in: 5...7, using: &rng), 13, 23] {
                let rows = 3..<24, stride = rows.count + 2
                let rowBytes = type.byteCount(elements: cols)!
                let w = randomBlocks(type, count: cols * rows.upperBound, &rng, fullRange: true)
                let act = activations(for: type, gaussian(cols * tokens, &rng, outliers: true), count: cols)
                var got = [Float](repeating: .nan, count: stride * tokens)
                w.withUnsafeBytes { wp in
                    got.withUnsafeMutableBufferPointer { op in
                        Kernels.matmulTiled(kernel, type: type, weights: wp.baseAddress!, rowBytes: rowBytes, cols: cols,
                                            rows: rows, activations: act, tokens: tokens, out: op.baseAddress!, outStride: stride)
                    }
                }
                for t in 0..<tokens {
                    let a = decode64(act.type, activationBytes(act, token: t), count: cols).values
                    for r in rows {
                        let row = Array(w[r * rowBytes..<(r + 1) * rowBytes])
                        let wr = decode64(type, row, count: cols)
                        // Q4_1/Q5_1: the activation block sums as Q8_1 stores them (fp16).
                        var exact = q8_1SumCorrection(type, row, activationBytes(act, token: t), count: cols), magnitude = 0.0
                        for i in 0..<cols { exact += wr.values[i] * a[i]; magnitude += abs(wr.magnitude[i] * a[i]) }
                        let value = got[(r - rows.lowerBound) + t * stride]
                        #expect(abs(Double(value) - exact) <= 1e-5 * magnitude + 1e-30,
                                "\(type) vnni \(vnni) cols \(cols) tokens \(tokens) r \(r) t \(t): \(value) vs \(exact) seed=\(seed)")
                    }
                    #expect(got[t * stride + rows.count].isNaN && got[t * stride + rows.count + 1].isNaN,
                            "\(type) wrote past its rows, seed=\(seed)")
                }
            }
        }
    }

    static let orderTypes: [GGMLType] = [.q2_K, .q3_K, .q5_K, .q6_K, .iq4_xs] + gridTypes

    /// The 256-element kernels give, bit for bit, llama.cpp's tiled float order as the scalar
    /// model states it (per block: float(sum) * d, the dmin term in one fma, then one fma of
    /// r * yd into the output), on random full-range blocks, in both instruction sets.
    /// (tools/reference/tiled-vs-ggml.sh checks the same kernels against ggml's mul_mat.)
    @Test(arguments: instructionSets)
    func batchesTakeLlamaCppTiledOrder(vnni: Bool) {
        var (rng, seed) = freshRNG()
        for type in Self.orderTypes {
            let kind = Kernels.tiledOrderKind(type)!
            // 21 rows: two tiles of 8 and a ragged tail of 5, which takes the scalar form of the order.
            let cols = 256 * Int.random(in: 1...11, using: &rng), rows = 0..<21, tokens = Int.random(in: 8...13, using: &rng)
            let rowBytes = type.byteCount(elements: cols)!
            let w = randomBlocks(type, count: cols * rows.count, &rng, fullRange: true)
            let act = activations(for: type, gaussian(cols * tokens, &rng, outliers: true), count: cols)
            var got = [Float](repeating: .nan, count: rows.count * tokens), model = got
            w.withUnsafeBytes { wp in
                got.withUnsafeMutableBufferPointer { op in
                    Kernels.matmulTiled(Kernels.tiledKernel(type, vnni: vnni)!, type: type, weights: wp.baseAddress!,
                                        rowBytes: rowBytes, cols: cols, rows: rows, activations: act, tokens: tokens,
                                        out: op.baseAddress!, outStride: rows.count)
                }
                model.withUnsafeMutableBufferPointer { op in
                    hm_tiled_order_model(kind, wp.baseAddress!, rowBytes, Int64(cols), Int64(rows.count),
                                         act.row(token: 0), act.rowBytes, Int64(tokens), op.baseAddress!, Int64(rows.count))
                }
            }
            let differing = zip(got, model).filter { $0.0.bitPattern != $0.1.bitPattern }.count
            #expect(differing == 0, "\(type) vnni \(vnni) cols \(cols) tokens \(tokens): \(differing) outputs differ, seed=\(seed)")
        }
    }

    /// The public dispatch keeps the per-dot kernels (vec_dot's order) below 8 tokens for the
    /// 256-element types and takes the tiled ones from 8, where llama.cpp's tiled kernels start.
    @Test(arguments: orderTypes)
    func dispatchFollowsLlamaCppTiledFloor(type: GGMLType) {
        var (rng, seed) = freshRNG()
        let cols = 768, rows = 0..<16
        let w = randomBlocks(type, count: cols * rows.count, &rng, fullRange: true)
        for tokens in [4, 7, 8, 11] {
            let act = activations(for: type, gaussian(cols * tokens, &rng, outliers: true), count: cols)
            let dispatched = runMatmul(type, w, rows: rows, cols: cols, act, tokens: tokens, outStride: rows.count)
            let perDot = runMatmul(type, w, rows: rows, cols: cols, act, tokens: tokens, outStride: rows.count, path: .simd)
            var tiled = [Float](repeating: .nan, count: rows.count * tokens)
            w.withUnsafeBytes { wp in
                tiled.withUnsafeMutableBufferPointer { op in
                    Kernels.matmulTiled(Kernels.tiledKernel(type)!, type: type, weights: wp.baseAddress!,
                                        rowBytes: type.byteCount(elements: cols)!, cols: cols, rows: rows, activations: act,
                                        tokens: tokens, out: op.baseAddress!, outStride: rows.count)
                }
            }
            let expected = tokens >= 8 ? tiled : perDot
            #expect(zip(dispatched, expected).allSatisfy { $0.0.bitPattern == $0.1.bitPattern },
                    "\(type) tokens \(tokens): dispatch is not the \(tokens >= 8 ? "tiled" : "per-dot") kernel, seed=\(seed)")
            // Both are real candidates: they differ somewhere, or the check above proves nothing.
            #expect(zip(tiled, perDot).contains { $0.0.bitPattern != $0.1.bitPattern }, "\(type): tiled == per-dot, seed=\(seed)")
        }
    }

    /// Batches agree with the per-dot kernel (decode's path) to float rounding, so a prompt and
    /// the same tokens decoded one by one see the same weights.
    /// The public dispatch takes the tiled kernels from `tiledMinTokens(type)` tokens.
    @Test(arguments: tiledTypes)
    func batchesMatchPerDotKernel(type: GGMLType) {
        var (rng, seed) = freshRNG()
        let cols = 1024, rows = 0..<16, tokens = 8
        let w = testWeights(type, count: cols * rows.count, &rng)
        let act = activations(for: type, gaussian(cols * tokens, &rng), count: cols)
        let tiled = runMatmul(type, w, rows: rows, cols: cols, act, tokens: tokens, outStride: rows.count)
        let perDot = runMatmul(type, w, rows: rows, cols: cols, act, tokens: tokens, outStride: rows.count, path: .simd)
        #expect(relRMS(tiled, perDot) < 1e-6, "\(type) seed=\(seed)")
    }
}
