// Dequantisers of the formats read from downloaded files (Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4,
// IQ4_XS, Q2_K, Q3_K) and of Q8_1, in ggml's dequantize_row_* arithmetic and order.

extension Dequantize {
    /// Q8_0, Q4_0, Q5_0, IQ4_NL, MXFP4, Q8_1: y = q * d (ggml multiplies the integer or
    /// code-book value first).
    static func scaled32(_ type: GGMLType, _ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = b32Scale(type, x)
        for j in 0..<32 { y[j] = Float(b32Value(type, x, j)) * d }
    }

    /// Q4_1, Q5_1: y = q * d + m.
    static func withMin32(_ type: GGMLType, _ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(x, Q4_1.d), m = loadHalf(x, Q4_1.m)
        for j in 0..<32 { y[j] = Float(b32Value(type, x, j)) * d + m }
    }

    static func iq4_xs(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(x, IQ4_XS.d)
        for ib in 0..<8 {
            let dl = d * Float(iq4xsScale(x, ib))
            for j in 0..<32 { y[32 * ib + j] = dl * Float(iq4nlValues[nibble32(x, IQ4_XS.qs + 16 * ib, j)]) }
        }
    }

    static func q2_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(x, Q2_K.d), dmin = loadHalf(x, Q2_K.dmin)
        for i in 0..<qkK {
            let sc = byte(x, Q2_K.scales + i / 16)
            let dl = d * Float(sc & 0xf), ml = dmin * Float(sc >> 4)
            y[i] = dl * Float(q2Bits(x, qs: Q2_K.qs, i)) - ml
        }
    }

    static func q3_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(x, Q3_K.d)
        for i in 0..<qkK {
            y[i] = d * Float(q3Scale(x, i / 16)) * Float(q3Value(x, i))
        }
    }
}
