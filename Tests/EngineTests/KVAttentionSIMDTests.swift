import CKernels
import Foundation
import Testing
@testable import Engine

/// The AVX2 + F16C steps of attention over F16 KV rows (kv_attention_x86.c) against the loops
/// they replace: key scores as ggml_vec_dot_f16 per row (the AVX2 F16 matmul, ggml's order)
/// times the scale, and the weighted value sum as one fused multiply-add per element and position into
/// `slots` lane accumulators. Bit-identical, on fresh random rows.
struct KVAttentionSIMDTests {
    static let shapes: [(headDim: Int, valueDim: Int)] = [(64, 64), (128, 96), (40, 24), (256, 512), (36, 20)]

    func halves(_ n: Int, _ rng: inout SeededGenerator) -> [UInt16] {
        (0..<n).map { _ in
            let unit = Double(rng.next() >> 11) / Double(UInt64(1) << 53)
            let x = Float(unit * 4 - 2)
            return Float16(x).bitPattern
        }
    }

    @Test(arguments: shapes.indices) func f16StepsAreBitIdenticalToTheLoopsTheyReplace(shape: Int) throws {
        try #require((hm_cpu_features() & 19) == 19, "needs AVX2 + F16C")
        let (headDim, valueDim) = Self.shapes[shape]
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        let n = 150, first = 7, scale = 1 / Float(headDim).squareRoot()
        let keys = halves(n * headDim, &rng), values = halves(n * valueDim, &rng), query = halves(headDim, &rng)
        var simd = [Float](repeating: .nan, count: n), plain = [Float](repeating: .nan, count: n)
        hm_kv_scores_f16(query, keys, Int64(2 * headDim), Int64(first), Int64(n), Int64(headDim), scale, &simd)
        keys.withUnsafeBytes { k in
            plain.withUnsafeMutableBufferPointer { out in
                hm_matmul_f16_f16(k.baseAddress! + first * 2 * headDim, 2 * headDim, Int64(headDim), Int64(n - first),
                                           query, 2 * headDim, 1, out.baseAddress! + first, Int64(n))
            }
        }
        for p in first..<n {
            #expect((plain[p] * scale).bitPattern == simd[p].bitPattern, "score \(p): \(plain[p] * scale) vs \(simd[p]) seed=\(seed)")
        }
        let weights: [Float] = (0..<n).map { _ in
            let x = Float(rng.next() >> 40) / Float(1 << 24)
            return Float(Float16(x))
        }
        for slots in [16, 64] {
            var accSIMD: [Float] = (0..<(slots * valueDim)).map { _ in Float(rng.next() >> 40) / Float(1 << 24) }
            var accPlain = accSIMD
            hm_kv_accumulate_f16(values, Int64(2 * valueDim), weights, Int64(first), Int64(n), Int64(valueDim), Int64(slots), &accSIMD)
            for p in first..<n {
                for i in 0..<valueDim {
                    let a = (p % slots) * valueDim + i
                    accPlain[a] = fmaf(Float(Float16(bitPattern: values[p * valueDim + i])), weights[p], accPlain[a])
                }
            }
            #expect(accSIMD.map(\.bitPattern) == accPlain.map(\.bitPattern), "slots \(slots) seed=\(seed)")
        }
    }

    /// The softmax step: the max, ggml's exp per lane (with lanes far below the max, whose
    /// exponent leaves the fast range), the chunk sums, a sink and the F16 rounding of the weights.
    @Test func softmaxIsBitIdenticalToThePortableLoops() throws {
        try #require((hm_cpu_features() & 19) == 19, "needs AVX2 + F16C")
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        for n in [1, 15, 16, 37, 150, 203] {
            for first in [0, 5, 17] where first < n {
                for sink: Float? in [nil, 1.5] {
                    for round: Int32 in [0, 1] {
                        // Mostly within 20 of each other; one in eight far below (exp's slow lanes).
                        let scores: [Float] = (0..<n).map { _ in
                            let unit = Float(Double(rng.next() >> 11) / Double(UInt64(1) << 53))
                            return rng.next() % 8 == 0 ? -90 - 60 * unit : 20 * unit - 10
                        }
                        var simd = scores, plain = scores
                        let sinkRow = sink.map { [$0] } ?? []
                        sinkRow.withUnsafeBufferPointer { sp in
                            hm_kv_softmax(&simd, Int64(first), Int64(n), sink == nil ? nil : sp.baseAddress, round)
                            hm_kv_softmax_portable(&plain, Int64(first), Int64(n), sink == nil ? nil : sp.baseAddress, round)
                        }
                        #expect(simd[first...].map(\.bitPattern) == plain[first...].map(\.bitPattern),
                                "n \(n) first \(first) sink \(String(describing: sink)) round \(round) seed=\(seed)")
                    }
                }
            }
        }
    }
}
