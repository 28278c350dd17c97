import CKernels
import Foundation

/// Plain Swift twins of CKernels' ggml-order float ops (ggml_float_ops.c): the same operations
/// in the same order, so the tests can demand identical bits. The engine calls the C versions.
enum GgmlFloat {
    /// One lane of ggml_v_expf (AVX-512 variant).
    static func laneExp(_ x: Float) -> Float {
        let r: Float = 0x1.8p23
        let z = r.addingProduct(x, 0x1.715476p+0)
        let n = z - r
        let b = x.addingProduct(-n, 0x1.62e4p-1).addingProduct(-n, 0x1.7f7d1cp-20)
        let u = b * b
        let p1 = Float(0x1.573e2ep-5).addingProduct(0x1.0e4020p-7, b)
        let p2 = Float(0x1.fffdb6p-2).addingProduct(0x1.555e66p-3, b)
        let j = Float(1).addingProduct(0x1.ffffecp-1, b).addingProduct(p2.addingProduct(p1, u), u)
        if abs(n) > 192 { return n <= 0 ? 0 : .infinity }
        return scalbnf(j, Int32(n))
    }

    static func silu(_ x: [Float]) -> [Float] {
        x.indices.map { i in
            i < x.count / 16 * 16 ? x[i] / (1 + laneExp(0 - x[i])) : x[i] / (1 + expf(-x[i]))
        }
    }

    /// ggml_vec_dot_f32's 4 accumulators of 16 lanes over the first `np` (a multiple of 64)
    /// elements, reduced by its tree.
    private static func laneSum(_ x: [Float], _ y: [Float], count np: Int) -> Float {
        var acc = [[Float]](repeating: [Float](repeating: 0, count: 16), count: 4)
        for i in stride(from: 0, to: np, by: 64) {
            for j in 0..<4 { for l in 0..<16 { acc[j][l] = acc[j][l].addingProduct(x[i + 16 * j + l], y[i + 16 * j + l]) } }
        }
        return reduce16((0..<16).map { (acc[0][$0] + acc[2][$0]) + (acc[1][$0] + acc[3][$0]) })
    }

    /// _mm512_reduce_add_ps's tree.
    static func reduce16(_ v: [Float]) -> Float {
        let h8 = (0..<8).map { v[8 + $0] + v[$0] }
        let h4 = (0..<4).map { h8[4 + $0] + h8[$0] }
        return (h4[0] + h4[2]) + (h4[1] + h4[3])
    }

    static func dot(_ x: [Float], _ y: [Float]) -> Float {
        let n = x.count, np = n / 64 * 64
        var sum: Float = np > 0 ? laneSum(x, y, count: np) : 0
        for i in np..<n { sum += x[i] * y[i] }
        return sum
    }

    /// ggml_vec_dot_f16 on halves given as floats: dot's lanes, the sum and leftovers in double.
    static func dotF16(_ x: [Float], _ y: [Float]) -> Float {
        let n = x.count, np = n / 64 * 64
        var sum = np > 0 ? Double(laneSum(x, y, count: np)) : 0
        for i in np..<n { sum += Double(x[i] * y[i]) }
        return Float(sum)
    }

    /// llamafile tinyBLAS<16>'s sum for one output: 16 lanes FMA'd over steps of 16, then the tree.
    static func tinyBLASDot(_ x: [Float], _ y: [Float]) -> Float {
        var acc = [Float](repeating: 0, count: 16)
        for l in stride(from: 0, to: x.count, by: 16) { for j in 0..<16 { acc[j] = acc[j].addingProduct(x[l + j], y[l + j]) } }
        return reduce16(acc)
    }
}
