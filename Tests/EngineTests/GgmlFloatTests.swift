import CKernels
import Foundation
import Testing
@testable import Engine

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
}
