import CKernels
import Foundation
import Testing
@testable import Engine
import Quant

/// CKernels' ggml-order float ops against their Swift twins (same operations, same order:
/// identical bits) and against float64 (the rounding is only last-bit).
@Suite struct GgmlFloatTests {
    func random(_ n: Int, _ rng: inout SeededGenerator, scale: Float = 4) -> [Float] {
        (0..<n).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) * scale }
    }

    @Test(arguments: [1, 15, 16, 37, 64, 128, 200])
    func siluMatchesItsTwinAndLibm(count: Int) throws {
        var rng = SeededGenerator(seed: UInt64.random(in: 1...1_000_000))
        var x = random(count, &rng, scale: 12)
        x[0] = -100  // exp overflow side of the polynomial: silu -> -0
        var y = [Float](repeating: .nan, count: count)
        hm_ggml_silu_f32(x, &y, Int64(count))
        #expect(y == GgmlFloat.silu(x))
        for (a, v) in zip(x, y) {
            let exact = Double(a) / (1 + exp(-Double(a)))
            #expect(abs(Double(v) - exact) <= 4e-7 * max(1, abs(exact)), "silu(\(a)) = \(v), float64 \(exact)")
        }
        var g = random(count, &rng), s = [Float](repeating: .nan, count: count)
        hm_ggml_swiglu_f32(x, &g, &s, Int64(count))
        #expect(s == zip(y, g).map { $0 * $1 })
    }

    @Test(arguments: [3, 16, 63, 64, 128, 130, 256])
    func dotAndMadMatchTheirTwinsAndFloat64(count: Int) throws {
        var rng = SeededGenerator(seed: UInt64.random(in: 1...1_000_000))
        let x = random(count, &rng), y = random(count, &rng)
        let d = hm_ggml_dot_f32(x, y, Int64(count))
        #expect(d == GgmlFloat.dot(x, y))
        let exact = zip(x, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let scale = zip(x, y).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
        #expect(abs(Double(d) - exact) <= 1e-6 * scale)
        var acc = y
        hm_ggml_mad_f32(&acc, x, 0.37, Int64(count))
        #expect(acc == zip(x, y).map { $1.addingProduct($0, 0.37) })
    }

    /// F16 x F16 dense products (the MLA attn_k_b / attn_v_b maps): ggml_vec_dot_f16 for one
    /// token or a matrix whose rows are not a multiple of 4, tinyBLAS for 2+ tokens when
    /// cols % 16 == 0; bit for bit against the twins, within float rounding of float64.
    @Test(arguments: [(64, 8, 1), (64, 8, 3), (256, 4, 2), (96, 6, 5), (40, 8, 3), (72, 4, 2)])
    func f16ProductsFollowGgmlsOrder(cols: Int, rows: Int, tokens: Int) throws {
        var rng = SeededGenerator(seed: UInt64.random(in: 1...1_000_000))
        let weights = random(rows * cols, &rng).map(floatToFp16), acts = random(tokens * cols, &rng).map(floatToFp16)
        var out = [Float](repeating: .nan, count: rows * tokens)
        var activations = QuantizedActivations(type: .f16, count: cols, tokens: tokens)
        for t in 0..<tokens {
            let row = acts[(t * cols)..<((t + 1) * cols)].map(fp16ToFloat)
            activations.quantize(row, token: t)
        }
        weights.withUnsafeBytes { w in
            Kernels.matmulDense(type: .f16, weights: w.baseAddress!, rowBytes: 2 * cols, cols: cols, rows: 0..<rows,
                                matrixRows: rows, activations: activations, tokens: tokens, out: &out, outStride: rows)
        }
        let tiny = tokens >= 2 && cols % 16 == 0 && rows % 4 == 0
        for r in 0..<rows {
            let w = weights[(r * cols)..<((r + 1) * cols)].map(fp16ToFloat)
            for t in 0..<tokens {
                let a = acts[(t * cols)..<((t + 1) * cols)].map(fp16ToFloat), got = out[r + t * rows]
                #expect(got == (tiny ? GgmlFloat.tinyBLASDot(w, a) : GgmlFloat.dotF16(w, a)), "row \(r) token \(t)")
                let exact = zip(w, a).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let scale = zip(w, a).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
                #expect(abs(Double(got) - exact) <= 1e-6 * scale)
            }
        }
    }
}
