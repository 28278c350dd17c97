// Reference dot products of the 32-element block formats and of IQ4_XS, Q2_K, Q3_K, in the
// style of DotReference.swift: integer sums per block (or sub-block, times its integer scale),
// then one fixed sequence of float steps per block that the C kernels mirror.

extension DotReference {
    /// Q8_0, Q4_0, Q5_0, IQ4_NL, MXFP4 with Q8_0 activations: d_w * d_a * sum(q_w * q_a) per
    /// block. Q4_1, Q5_1 with Q8_1 activations add m_w * s_a, where the activation block carries
    /// s_a = d_a * sum(q_a) (rounded to fp16, as in ggml).
    static func block32(_ type: GGMLType, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ blocks: Int) -> Float {
        let act = type.vecDotType!
        var sum: Float = 0
        for b in 0..<blocks {
            let x = w + type.typeSize * b, y = a + act.typeSize * b
            var sumi = 0
            for j in 0..<32 { sumi += b32Value(type, x, j) * b32Value(act, y, j) }
            if act == .q8_1 {
                sum += loadHalf(x, Q4_1.d) * loadHalf(y, Q8_1.d) * Float(sumi) + loadHalf(x, Q4_1.m) * loadHalf(y, Q8_1.s)
            } else {
                sum += b32Scale(type, x) * loadHalf(y, Q8_0.d) * Float(sumi)
            }
        }
        return sum
    }

    /// sum over the 16 groups of 16 elements of scale(g) * sum(value(i) * q8[i]), for one block
    /// against the Q8_K block `y`.
    @inline(__always)
    static func groupSum16(_ y: UnsafeRawPointer, value: (Int) -> Int, scale: (Int) -> Int) -> Int {
        var sumi = 0
        for g in 0..<16 {
            var s = 0
            for i in 16 * g..<16 * g + 16 { s += value(i) * int8(y, Q8_K.qs + i) }
            sumi += s * scale(g)
        }
        return sumi
    }

    /// Formats whose only float step is d_w * d_a * sumi per block (Q3_K, Q6_K, IQ4_XS); `d` is
    /// the offset of the fp16 block scale.
    @inline(__always)
    static func scaledSuperBlocks(
        _ type: GGMLType, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ blocks: Int, d: Int,
        value: (UnsafeRawPointer, Int) -> Int, scale: (UnsafeRawPointer, Int) -> Int
    ) -> Float {
        var sum: Float = 0
        for b in 0..<blocks {
            let x = w + type.typeSize * b, y = a + GGMLType.q8_K.typeSize * b
            let sumi = groupSum16(y, value: { value(x, $0) }, scale: { scale(x, $0) })
            sum += loadHalf(x, d) * y.loadUnaligned(fromByteOffset: Q8_K.d, as: Float.self) * Float(sumi)
        }
        return sum
    }

    /// Sub-block i / 32's scale applies to both of its 16-element groups.
    static func iq4_xs(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ blocks: Int) -> Float {
        scaledSuperBlocks(.iq4_xs, w, a, blocks, d: IQ4_XS.d,
                          value: { x, i in iq4nlValues[nibble32(x, IQ4_XS.qs + 16 * (i / 32), i % 32)] },
                          scale: { x, g in iq4xsScale(x, g / 2) })
    }

    static func q3_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ blocks: Int) -> Float {
        scaledSuperBlocks(.q3_K, w, a, blocks, d: Q3_K.d, value: q3Value, scale: q3Scale)
    }

    /// d * sum(scale * q * a) - dmin * sum(min * bsum) per block, as ggml's Q2_K dot.
    static func q2_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ blocks: Int) -> Float {
        var sum: Float = 0
        for b in 0..<blocks {
            let x = w + GGMLType.q2_K.typeSize * b, y = a + GGMLType.q8_K.typeSize * b
            let sumi = groupSum16(y, value: { q2Bits(x, qs: Q2_K.qs, $0) }, scale: { byte(x, Q2_K.scales + $0) & 0xf })
            var summs = 0
            for g in 0..<16 {
                summs += Int(y.loadUnaligned(fromByteOffset: Q8_K.bsums + 2 * g, as: Int16.self)) * (byte(x, Q2_K.scales + g) >> 4)
            }
            let yd = y.loadUnaligned(fromByteOffset: Q8_K.d, as: Float.self)
            let dall = yd * loadHalf(x, Q2_K.d), dmin = yd * loadHalf(x, Q2_K.dmin)
            sum += dall * Float(sumi) - dmin * Float(summs)
        }
        return sum
    }
}
