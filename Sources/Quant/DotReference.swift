// Plain-loop dot products of one weight row with one activation row, as ggml's CPU backend
// defines them: integer dot products per block, scaled by the product of the block scales.
// The float bookkeeping per block is fixed here and mirrored exactly by the C kernels
// (K-quants), so fast and reference results can be compared bit for bit.

enum DotReference {
    /// dot(w, a) for `n` elements; `a` is in `type.vecDotType` format.
    static func dot(_ type: GGMLType, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ n: Int) -> Float {
        switch type {
        case .f32: return f32(w, a, n)
        case .f16: return halfLike(w, a, n, fp16ToFloat)
        case .bf16: return halfLike(w, a, n, bf16ToFloat)
        case .q8_0, .q4_0, .q5_0, .iq4_nl, .mxfp4, .q4_1, .q5_1: return block32(type, w, a, n / 32)
        case .iq4_xs: return iq4_xs(w, a, n / qkK)
        case .q2_K: return q2_K(w, a, n / qkK)
        case .q3_K: return q3_K(w, a, n / qkK)
        case .q4_K: return q4_K(w, a, n / qkK)
        case .q5_K: return q5_K(w, a, n / qkK)
        case .q6_K: return q6_K(w, a, n / qkK)
        case .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m: return grid(type, w, a, n / qkK)
        default: preconditionFailure("dot products with \(type) weights are not supported")
        }
    }

    static func f32(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ n: Int) -> Float {
        var sum: Double = 0
        for i in 0..<n {
            let x = w.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
            let y = a.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
            sum += Double(x) * Double(y)
        }
        return Float(sum)
    }

    /// F16·F16 and BF16·BF16: exact products, accumulated in Double.
    @inline(__always)
    static func halfLike(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ n: Int, _ cvt: (UInt16) -> Float) -> Float {
        var sum: Double = 0
        for i in 0..<n {
            let x = cvt(w.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            let y = cvt(a.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            sum += Double(x * y)
        }
        return Float(sum)
    }

    /// Sum over the 16 groups of a Q8_K block of bsums[g] * mins[g / 2].
    @inline(__always)
    static func minSum(_ x: UnsafeRawPointer, _ y: UnsafeRawPointer) -> Int {
        var s = 0
        for g in 0..<16 {
            let bsum = Int(y.loadUnaligned(fromByteOffset: Q8_K.bsums + 2 * g, as: Int16.self))
            s += bsum * scaleMinK4(g / 2, x + Q4_K.scales).min
        }
        return s
    }

    /// Q4_K and Q5_K share scales, mins and the final float bookkeeping; `value(block, pair, hi, l)`
    /// yields the unsigned quant of element l in sub-block 2*pair+hi.
    @inline(__always)
    static func scaleMinDot(
        _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ blocks: Int, blockBytes: Int,
        _ value: (UnsafeRawPointer, Int, Int, Int) -> Int
    ) -> Float {
        var sum: Float = 0, sumMins: Float = 0
        for b in 0..<blocks {
            let x = w + blockBytes * b, y = a + GGMLType.q8_K.typeSize * b
            let yd = y.loadUnaligned(fromByteOffset: Q8_K.d, as: Float.self)
            var sumi = 0
            for pair in 0..<4 {
                for hi in 0..<2 {
                    var s = 0
                    for l in 0..<32 {
                        s += value(x, pair, hi, l) * int8(y, Q8_K.qs + 64 * pair + 32 * hi + l)
                    }
                    sumi += s * scaleMinK4(2 * pair + hi, x + Q4_K.scales).scale
                }
            }
            let d = yd * loadHalf(x, Q4_K.d), dmin = yd * loadHalf(x, Q4_K.dmin)
            sum += d * Float(sumi)
            sumMins += dmin * Float(minSum(x, y))
        }
        return sum - sumMins
    }

    static func q4_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ blocks: Int) -> Float {
        scaleMinDot(w, a, blocks, blockBytes: GGMLType.q4_K.typeSize) { x, pair, hi, l in
            let q = byte(x, Q4_K.qs + 32 * pair + l)
            return hi == 0 ? q & 0xf : q >> 4
        }
    }

    static func q5_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ blocks: Int) -> Float {
        scaleMinDot(w, a, blocks, blockBytes: GGMLType.q5_K.typeSize) { x, pair, hi, l in
            q5Value(x, pair: pair, hi: hi, l: l)
        }
    }

    /// Q6_K's unsigned 6-bit values carry a bias of 32.
    static func q6_K(_ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ blocks: Int) -> Float {
        scaledSuperBlocks(.q6_K, w, a, blocks, d: Q6_K.d,
                          value: { x, i in q6Value(x, i) - 32 }, scale: { x, g in int8(x, Q6_K.scales + g) })
    }
}
