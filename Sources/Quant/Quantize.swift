// Plain-loop quantisers. Weight formats follow ggml's quantize_row_*_ref (the algorithms that
// write model files) with the same float operations in the same order; the activation formats
// (Q8_0 for most 32-element formats, Q8_1 for Q4_1/Q5_1, Q8_K for the 256-element ones) follow what ggml's x86 CPU backend does,
// so dot products see the same integers llama.cpp sees.

enum Quantize {
    static func row(_ type: GGMLType, _ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, count: Int) {
        precondition(count % type.blockSize == 0, "\(type) rows must be whole blocks")
        let blocks = count / type.blockSize
        switch type {
        case .f32:
            for i in 0..<count { dst.storeBytes(of: src[i], toByteOffset: 4 * i, as: Float.self) }
        case .f16:
            for i in 0..<count { dst.storeBytes(of: floatToFp16(src[i]), toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16:
            for i in 0..<count { dst.storeBytes(of: floatToBf16(src[i]), toByteOffset: 2 * i, as: UInt16.self) }
        default:
            guard let encode = blockEncoder(type) else { preconditionFailure("quantisation to \(type) is not supported") }
            forEachBlock(type, src, dst, blocks, encode)
        }
    }

    /// The writer of one block of a quantised format, if hotmoe has one.
    static func blockEncoder(_ type: GGMLType) -> ((UnsafePointer<Float>, UnsafeMutableRawPointer) -> Void)? {
        switch type {
        case .q8_0: return q8_0
        case .q4_0: return q4_0
        case .q4_1: return { minMax32($0, $1, bits: 4) }
        case .q5_1: return { minMax32($0, $1, bits: 5) }
        case .q5_0: return q5_0
        case .mxfp4: return mxfp4
        case .q8_1: return q8_1Activation
        case .q8_K: return q8_K
        case .q4_K: return QuantizeK.q4_K
        case .q5_K: return QuantizeK.q5_K
        case .q6_K: return QuantizeK.q6_K
        case .q2_K: return QuantizeK.q2_K
        case .q3_K: return QuantizeK.q3_K
        case .iq4_nl: return iq4_nl
        case .iq4_xs: return iq4_xs
        case .iq2_xxs: return { gridBlock(iq2xxsFormat, $0, $1, size: GGMLType.iq2_xxs.typeSize) }
        case .iq2_xs: return { gridBlock(iq2xsFormat, $0, $1, size: GGMLType.iq2_xs.typeSize) }
        case .iq2_s: return { gridBlock(iq2sFormat, $0, $1, size: GGMLType.iq2_s.typeSize) }
        case .iq3_xxs: return { gridBlock(iq3xxsFormat, $0, $1, size: GGMLType.iq3_xxs.typeSize) }
        case .iq3_s: return { gridBlock(iq3sFormat, $0, $1, size: GGMLType.iq3_s.typeSize) }
        case .iq1_s: return iq1_s
        case .iq1_m: return iq1_m
        default: return nil
        }
    }

    @inline(__always)
    static func forEachBlock(
        _ type: GGMLType, _ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ blocks: Int,
        _ body: (UnsafePointer<Float>, UnsafeMutableRawPointer) -> Void
    ) {
        for b in 0..<blocks {
            body(src + b * type.blockSize, dst + b * type.typeSize)
        }
    }

    /// Index of the first element with the largest magnitude (ggml scans with a strict `>`).
    @inline(__always)
    static func firstAbsMax(_ x: UnsafePointer<Float>, _ n: Int) -> (amax: Float, max: Float) {
        var amax: Float = 0, max: Float = 0
        for i in 0..<n where abs(x[i]) > amax {
            amax = abs(x[i])
            max = x[i]
        }
        return (amax, max)
    }

    /// Float to int8 for values already known to be in range; clamps rather than trapping.
    @inline(__always)
    static func clampInt8(_ v: Float) -> Int8 {
        Int8(Swift.max(-128, Swift.min(127, v)))
    }

    /// `quantize_row_q8_0_ref`: d = amax/127, q = roundf(x/d) (ties away from zero).
    static func q8_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0..<32 { amax = Swift.max(amax, abs(x[j])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(y, Q8_0.d, d)
        for j in 0..<32 {
            y.storeBytes(of: clampInt8((x[j] * id).rounded()), toByteOffset: Q8_0.qs + j, as: Int8.self)
        }
    }

    /// ggml x86 `quantize_row_q8_0` (used for activations): id = 127/amax and
    /// round-to-nearest-even, which differs from the _ref variant in rare last-bit cases.
    static func q8_0Activation(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        _ = q8Activation(x, y, qs: Q8_0.qs)
    }

    /// ggml x86 `quantize_row_q8_1` (Q4_1/Q5_1 activations): Q8_0's quants and scale, plus
    /// s = d * sum(q) in fp16 so the weights' min needs no per-element work.
    static func q8_1Activation(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let (d, sum) = q8Activation(x, y, qs: Q8_1.qs)
        storeHalf(y, Q8_1.s, d * Float(sum))
    }

    /// Writes the fp16 scale at 0 and 32 quants at `qs`; returns the unrounded scale and the
    /// sum of the quants.
    @inline(__always)
    static func q8Activation(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, qs: Int) -> (Float, Int) {
        var amax: Float = 0
        for j in 0..<32 { amax = Swift.max(amax, abs(x[j])) }
        let d = amax / 127
        let id: Float = amax != 0 ? 127 / amax : 0
        storeHalf(y, 0, d)
        var sum = 0
        for j in 0..<32 {
            let q = clampInt8((x[j] * id).rounded(.toNearestOrEven))
            sum += Int(q)
            y.storeBytes(of: q, toByteOffset: qs + j, as: Int8.self)
        }
        return (d, sum)
    }

    /// `quantize_row_q4_0_ref`: d = max/-8 where max is the signed value of largest magnitude.
    static func q4_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let (_, max) = firstAbsMax(x, 32)
        let d = max / -8
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(y, Q4_0.d, d)
        for j in 0..<16 {
            // C truncates (int8_t)(v + 8.5f) toward zero, then caps at 15.
            let lo = Swift.min(15, Int(clampInt8(x[j] * id + 8.5)))
            let hi = Swift.min(15, Int(clampInt8(x[j + 16] * id + 8.5)))
            y.storeBytes(of: UInt8(truncatingIfNeeded: lo | (hi << 4)), toByteOffset: Q4_0.qs + j, as: UInt8.self)
        }
    }

    /// `quantize_row_q8_K_ref` (ggml's x86 backend uses it unchanged for activations).
    static func q8_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let (amax, max) = firstAbsMax(x, qkK)
        if amax == 0 {
            // ggml leaves bsums untouched here; zeroing them keeps the block deterministic.
            y.initializeMemory(as: UInt8.self, repeating: 0, count: GGMLType.q8_K.typeSize)
            return
        }
        let iscale = -127 / max
        for j in 0..<qkK {
            let v = Swift.min(127, nearestInt(iscale * x[j]))
            y.storeBytes(of: Int8(truncatingIfNeeded: v), toByteOffset: Q8_K.qs + j, as: Int8.self)
        }
        for g in 0..<16 {
            var sum = 0
            for i in 0..<16 { sum += int8(y, Q8_K.qs + 16 * g + i) }
            y.storeBytes(of: Int16(sum), toByteOffset: Q8_K.bsums + 2 * g, as: Int16.self)
        }
        y.storeBytes(of: 1 / iscale, toByteOffset: Q8_K.d, as: Float.self)
    }
}
