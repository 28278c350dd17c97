// Plain-loop dequantisers, one per block format, following ggml's dequantize_row_* arithmetic
// (same float operations in the same order, so results are bit-identical to ggml).

enum Dequantize {
    static func row(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % type.blockSize == 0, "\(type) rows must be whole blocks")
        let blocks = count / type.blockSize
        switch type {
        case .f32:
            for i in 0..<count { dst[i] = src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
        case .f16:
            for i in 0..<count { dst[i] = fp16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .bf16:
            for i in 0..<count { dst[i] = bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .q8_0, .q4_0, .q5_0, .iq4_nl, .mxfp4, .q8_1:
            forEachBlock(type, src, dst, blocks) { x, y in scaled32(type, x, y) }
        case .q4_1, .q5_1:
            forEachBlock(type, src, dst, blocks) { x, y in withMin32(type, x, y) }
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq4_xs:
            forEachBlock(type, src, dst, blocks, superBlock(type))
        case .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m:
            forEachBlock(type, src, dst, blocks) { x, y in grid(type, x, y) }
        default:
            preconditionFailure("dequantisation of \(type) is not supported")
        }
    }

    @inline(__always)
    static func forEachBlock(
        _ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int,
        _ body: (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void
    ) {
        for b in 0..<blocks {
            body(src + b * type.typeSize, dst + b * type.blockSize)
        }
    }

    /// The decoder of one 256-element super-block.
    static func superBlock(_ type: GGMLType) -> (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void {
        switch type {
        case .q4_K: return q4_K
        case .q5_K: return q5_K
        case .q6_K: return q6_K
        case .q8_K: return q8_K
        case .q2_K: return q2_K
        case .q3_K: return q3_K
        case .iq4_xs: return iq4_xs
        default: preconditionFailure("\(type) is not a K-quant format")
        }
    }

    static func q4_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(x, Q4_K.d), dmin = loadHalf(x, Q4_K.dmin)
        for pair in 0..<4 {
            let (s0, m0) = scaleMinK4(2 * pair, x + Q4_K.scales)
            let (s1, m1) = scaleMinK4(2 * pair + 1, x + Q4_K.scales)
            let d0 = d * Float(s0), min0 = dmin * Float(m0)
            let d1 = d * Float(s1), min1 = dmin * Float(m1)
            let out = y + 64 * pair
            for l in 0..<32 {
                let b = byte(x, Q4_K.qs + 32 * pair + l)
                out[l] = d0 * Float(b & 0xf) - min0
                out[l + 32] = d1 * Float(b >> 4) - min1
            }
        }
    }

    static func q5_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(x, Q5_K.d), dmin = loadHalf(x, Q5_K.dmin)
        for pair in 0..<4 {
            for hi in 0..<2 {
                let (s, m) = scaleMinK4(2 * pair + hi, x + Q5_K.scales)
                let ds = d * Float(s), mins = dmin * Float(m)
                let out = y + 64 * pair + 32 * hi
                for l in 0..<32 {
                    out[l] = ds * Float(q5Value(x, pair: pair, hi: hi, l: l)) - mins
                }
            }
        }
    }

    static func q6_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(x, Q6_K.d)
        for i in 0..<qkK {
            // ggml evaluates d * sc * q left to right.
            y[i] = d * Float(int8(x, Q6_K.scales + i / 16)) * Float(q6Value(x, i) - 32)
        }
    }

    static func q8_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = x.loadUnaligned(fromByteOffset: Q8_K.d, as: Float.self)
        for j in 0..<qkK { y[j] = d * Float(int8(x, Q8_K.qs + j)) }
    }
}
