// Conversions, dequantisation against an independent float64 decoder, and quantise→dequantise
// round trips.
import Testing
@testable import Quant

@Suite struct HalfFloatTests {
    @Test func fp16ToFloatMatchesFloat16ForEveryBitPattern() {
        for h in 0...UInt16.max {
            let a = fp16ToFloat(h), b = fp16Reference(h)
            #expect(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN), "h=\(h)")
        }
    }

    @Test func floatToFp16RoundsToNearestEven() {
        var (rng, seed) = freshRNG()
        // Random bit patterns cover normals, subnormals, overflow and NaN; plus the exact
        // midpoints, where ties-to-even decides.
        var inputs: [Float] = (0..<200_000).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)) }
        for h in stride(from: UInt16(0), to: 0x7bff, by: 7) {
            let lo = fp16ToFloat(h), hi = fp16ToFloat(h + 1)
            inputs.append((lo + hi) / 2)
            inputs.append(-(lo + hi) / 2)
        }
        inputs += [65504, 65519.99, 65520, 1e-8, 2.98e-8, 5.96e-8, .infinity, -.infinity, 0, -0.0]
        for x in inputs where !x.isNaN {
            #if !(os(macOS) && arch(x86_64))
            #expect(floatToFp16(x) == Float16(x).bitPattern, "x=\(x) seed=\(seed)")
            #endif
        }
        #expect(fp16ToFloat(floatToFp16(.nan)).isNaN)
    }

    @Test func bf16RoundsToNearestEvenLikeGgml() {
        var (rng, seed) = freshRNG()
        for _ in 0..<100_000 {
            let x = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
            let b = floatToBf16(x)
            if x.isNaN {
                #expect(bf16ToFloat(b).isNaN)
                continue
            }
            // The result must be one of the two neighbours, the nearer one, and even on ties.
            let down = Float(bitPattern: x.bitPattern & 0xffff_0000)
            let up = Float(bitPattern: (x.bitPattern & 0xffff_0000) &+ 0x1_0000)
            let r = bf16ToFloat(b)
            let rest = x.bitPattern & 0xffff
            let expected = rest > 0x8000 || (rest == 0x8000 && (x.bitPattern >> 16) & 1 == 1) ? up : down
            #expect(r.bitPattern == expected.bitPattern, "x=\(x) seed=\(seed)")
        }
    }
}

@Suite struct DequantizeTests {
    /// Every format decoded from random block bytes (random quants, random finite scales) must
    /// equal the float64 decoding within float rounding of the terms (1e-6 relative).
    @Test(arguments: computeTypes + [.q8_K, .q8_1])
    func matchesFloat64Decoder(type: GGMLType) {
        var (rng, seed) = freshRNG()
        for count in [type.blockSize, 4096] {
            var bytes = randomBlocks(type, count: count, &rng, fullRange: true)
            if type == .q8_K {
                // Q8_K's scale is a plain float.
                for b in 0..<count / 256 {
                    withUnsafeBytes(of: Float.random(in: -0.01...0.01, using: &rng)) {
                        for k in 0..<4 { bytes[b * 292 + k] = $0[k] }
                    }
                }
            }
            let got = dequantize(type, bytes, count: count)
            let (want, mag) = decode64(type, bytes, count: count)
            var worst = 0.0
            for i in 0..<count {
                let err = abs(Double(got[i]) - want[i])
                if err > 1e-6 * mag[i] { worst = max(worst, err / mag[i]) }
            }
            #expect(worst == 0, "\(type) count \(count): rel err \(worst) seed=\(seed)")
        }
    }
}

@Suite struct RoundTripTests {
    /// Upper bounds on relative RMS error of quantise→dequantise for Gaussian rows.
    static let bounds: [GGMLType: Double] = [
        .f32: 0, .f16: 4e-4, .bf16: 3e-3, .q8_0: 0.006, .q8_K: 0.008,
        .q4_0: 0.12, .q4_K: 0.08, .q5_K: 0.045, .q6_K: 0.025,
        .q4_1: 0.12, .q5_0: 0.06, .q5_1: 0.06, .mxfp4: 0.2, .q8_1: 0.006,
        // Measured maxima over scales 1e-3, 1, 50 plus ~15%: q2_K 0.30, q3_K 0.153, iq4_nl 0.077,
        // iq4_xs 0.080, iq3_xxs 0.184, iq3_s 0.137, iq2_xxs 0.344, iq2_xs 0.305, iq2_s 0.250,
        // iq1_s 0.491, iq1_m 0.461.
        .q2_K: 0.35, .q3_K: 0.18, .iq4_nl: 0.09, .iq4_xs: 0.095, .iq3_xxs: 0.21, .iq3_s: 0.16,
        .iq2_xxs: 0.39, .iq2_xs: 0.35, .iq2_s: 0.29, .iq1_s: 0.56, .iq1_m: 0.53,
    ]

    @Test(arguments: quantizableTypes + [.q8_K, .q8_1])
    func gaussianRowsStayWithinBound(type: GGMLType) {
        var (rng, seed) = freshRNG()
        for scale: Float in [1e-3, 1, 50] {
            let x = gaussian(4096, &rng, scale: scale)
            let err = relRMS(dequantize(type, quantize(type, x), count: x.count), x)
            #expect(err <= Self.bounds[type]!, "\(type) scale \(scale): relRMS \(err) seed=\(seed)")
        }
    }

    /// One-sided data exercises the K-quant min path; a constant row the degenerate range.
    @Test(arguments: [GGMLType.q4_K, .q5_K, .q6_K, .q4_0, .q8_0, .q4_1, .q5_0, .q5_1, .mxfp4])
    func oneSidedAndConstantRows(type: GGMLType) {
        var (rng, seed) = freshRNG()
        let positive = gaussian(2048, &rng).map { abs($0) + 0.5 }
        let err = relRMS(dequantize(type, quantize(type, positive), count: 2048), positive)
        #expect(err <= Self.bounds[type]!, "\(type) positive: \(err) seed=\(seed)")
        let constant = [Float](repeating: 0.75, count: 512)
        let back = dequantize(type, quantize(type, constant), count: 512)
        #expect(relRMS(back, constant) <= Self.bounds[type]!, "\(type) constant: \(back[0])")
    }

    @Test(arguments: quantizableTypes + [.q8_K, .q8_1])
    func zeroRowGivesZeros(type: GGMLType) {
        let back = dequantize(type, quantize(type, [Float](repeating: 0, count: 256)), count: 256)
        #expect(back.allSatisfy { $0 == 0 })
    }
}
