import CKernels
import Foundation
import Testing
@testable import Engine

/// The AVX2 + F16C steps of attention over F16 KV rows (kv_attention_x86.c) against the loops
/// they replace: key scores as ggml_vec_dot_f16 per row (the AVX2 F16 matmul, ggml's order)
/// times the scale, and the weighted value sum as one fused multiply-add per element and position into
/// `slots` lane accumulators. Bit-identical, on fresh random rows.
struct KVAttentionSIMDTests {
    static let shapes: [(headDim: Int, valueDim: Int)] = [(64, 64), (128, 96), (40, 24), (256, 512)]

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

    /// A GQA group through hm_attend_ggml_kv_group equals one hm_attend_ggml_kv call per head,
    /// bit for bit, for every key / value type pair (F16 / F16 takes the shared-row kernels),
    /// one token and a batch, with a window start and sinks.
    @Test func groupCallEqualsOneCallPerHead() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        let heads = 4, headDim = 64, valueDim = 64, n = 133, first = 5, capacity = 144, scale: Float = 0.125
        func uniform(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.next() >> 40) / Float(1 << 23) - 1 } }
        let q = uniform(heads * headDim), keyFloats = uniform(n * headDim), valueFloats = uniform(n * valueDim), sinks = uniform(heads)
        for kType in KVCacheType.allCases {
            for vType in KVCacheType.allCases {
                var keys = [UInt8](repeating: 0, count: n * kType.rowBytes(headDim))
                var values = [UInt8](repeating: 0, count: n * vType.rowBytes(valueDim))
                for p in 0..<n {
                    keyFloats.withUnsafeBufferPointer { hm_kv_store_row(kType.kernelCode, $0.baseAddress! + p * headDim, &keys[p * kType.rowBytes(headDim)], Int64(headDim)) }
                    valueFloats.withUnsafeBufferPointer { hm_kv_store_row(vType.kernelCode, $0.baseAddress! + p * valueDim, &values[p * vType.rowBytes(valueDim)], Int64(valueDim)) }
                }
                for batched: Int32 in [0, 1] {
                    for withSinks in [false, true] {
                        var single = [Float](repeating: .nan, count: heads * valueDim), grouped = single
                        var scores = [Float](repeating: .nan, count: heads * capacity), acc = [Float](repeating: .nan, count: heads * 64 * valueDim)
                        var qScratch = [UInt8](repeating: 0, count: heads * 2 * headDim)
                        sinks.withUnsafeBufferPointer { sk in
                            let sinkBase = withSinks ? sk.baseAddress : nil
                            for h in 0..<heads {
                                single.withUnsafeMutableBufferPointer { out in
                                    q.withUnsafeBufferPointer { qp in
                                        hm_attend_ggml_kv(qp.baseAddress! + h * headDim, keys, kType.kernelCode, Int64(kType.rowBytes(headDim)), values,
                                                          vType.kernelCode, Int64(vType.rowBytes(valueDim)), Int64(first), Int64(n), Int64(headDim),
                                                          Int64(valueDim), scale, batched, sinkBase.map { $0 + h }, &scores, &acc, &qScratch,
                                                          out.baseAddress! + h * valueDim)
                                    }
                                }
                            }
                            hm_attend_ggml_kv_group(Int64(heads), q, Int64(headDim), keys, kType.kernelCode, Int64(kType.rowBytes(headDim)), values,
                                                    vType.kernelCode, Int64(vType.rowBytes(valueDim)), Int64(first), Int64(n), Int64(headDim),
                                                    Int64(valueDim), scale, batched, sinkBase, &scores, Int64(capacity), &acc, Int64(64 * valueDim),
                                                    &qScratch, &grouped, Int64(valueDim))
                        }
                        #expect(single.map(\.bitPattern) == grouped.map(\.bitPattern),
                                "K \(kType) V \(vType) batched \(batched) sinks \(withSinks) seed=\(seed)")
                    }
                }
            }
        }
    }
}
