// K-quant quantisers: ggml's quantize_row_q{4,5,6}_K_ref, with the float operations kept in
// ggml's order so the blocks match llama.cpp's byte for byte (tested against libggml output).

enum QuantizeK {
    static let groupMaxEps: Float = 1e-15

    /// `make_qkx2_quants`: fits x ≈ scale * L - min with L in 0...nmax, minimising a weighted
    /// squared (or, with `useMAD`, absolute) error over a small grid of candidate scales.
    /// Returns (scale, min) with min >= 0.
    static func makeQKX2(
        n: Int, nmax: Int, x: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        L: UnsafeMutablePointer<UInt8>, Laux: UnsafeMutablePointer<UInt8>,
        rmin: Float, rdelta: Float, nstep: Int, useMAD: Bool = false
    ) -> (scale: Float, min: Float) {
        var min = x[0], max = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < min { min = x[i] }
            if x[i] > max { max = x[i] }
            let w = weights[i]
            sumW += w
            sumX += w * x[i]
        }
        if min > 0 { min = 0 }
        if max == min {
            for i in 0..<n { L[i] = 0 }
            return (0, -min)
        }
        let fmax = Float(nmax)
        var iscale = fmax / (max - min)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            let l = nearestInt(iscale * (x[i] - min))
            L[i] = UInt8(Swift.max(0, Swift.min(nmax, l)))
            let diff = scale * Float(L[i]) + min - x[i]
            bestError += weights[i] * (useMAD ? abs(diff) : diff * diff)
        }
        for step in 0...nstep {
            iscale = (rmin + rdelta * Float(step) + fmax) / (max - min)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = Swift.max(0, Swift.min(nmax, nearestInt(iscale * (x[i] - min))))
                Laux[i] = UInt8(l)
                let w = weights[i], fl = Float(l)
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            guard D > 0 else { continue }
            var thisScale = (sumW * sumXL - sumX * sumL) / D
            var thisMin = (sumL2 * sumX - sumL * sumXL) / D
            if thisMin > 0 {
                thisMin = 0
                thisScale = sumXL / sumL2
            }
            var curError: Float = 0
            for i in 0..<n {
                let diff = thisScale * Float(Laux[i]) + thisMin - x[i]
                curError += weights[i] * (useMAD ? abs(diff) : diff * diff)
            }
            if curError < bestError {
                for i in 0..<n { L[i] = Laux[i] }
                bestError = curError
                scale = thisScale
                min = thisMin
            }
        }
        return (scale, -min)
    }

    /// `make_qx_quants` with rmse_type 1 and no importance weights: symmetric quants in
    /// -nmax..<nmax (stored biased by +nmax), scale refined over 18 candidate steps.
    static func makeQX(n: Int, nmax: Int, x: UnsafePointer<Float>, L: UnsafeMutablePointer<UInt8>) -> Float {
        var max: Float = 0, amax: Float = 0
        for i in 0..<n where abs(x[i]) > amax {
            amax = abs(x[i])
            max = x[i]
        }
        if amax < groupMaxEps {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        let fmax = Float(nmax)
        @inline(__always) func level(_ iscale: Float, _ v: Float) -> Int {
            Swift.max(-nmax, Swift.min(nmax - 1, nearestInt(iscale * v)))
        }
        var iscale = -fmax / max
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let l = level(iscale, x[i])
            L[i] = UInt8(l + nmax)
            let w = x[i] * x[i], fl = Float(l)
            sumLX += w * x[i] * fl
            sumL2 += w * fl * fl
        }
        var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
        var best = scale * sumLX
        for step in -9...9 where step != 0 {
            iscale = -(fmax + 0.1 * Float(step)) / max
            sumLX = 0
            sumL2 = 0
            for i in 0..<n {
                let fl = Float(level(iscale, x[i]))
                let w = x[i] * x[i]
                sumLX += w * x[i] * fl
                sumL2 += w * fl * fl
            }
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                for i in 0..<n { L[i] = UInt8(level(iscale, x[i]) + nmax) }
                scale = sumLX / sumL2
                best = scale * sumLX
            }
        }
        return scale
    }

    /// Shared body of Q4_K and Q5_K: eight 32-element sub-blocks with 6-bit scales and mins.
    /// Fills L (256 levels) and writes d, dmin and the packed scales at the block's head.
    private static func scaleMinBlock(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, nmax: Int, rmin: Float, nstep: Int,
        _ L: UnsafeMutablePointer<UInt8>
    ) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 32 + 16) { tmp in
            let weights = tmp.baseAddress!
            let scales = weights + 32, mins = weights + 40
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { laux in
                var maxScale: Float = 0, maxMin: Float = 0
                for j in 0..<8 {
                    let xs = x + 32 * j
                    var sumX2: Float = 0
                    for l in 0..<32 { sumX2 += xs[l] * xs[l] }
                    let avX = (sumX2 / 32).squareRoot()
                    for l in 0..<32 { weights[l] = avX + abs(xs[l]) }
                    let (s, m) = makeQKX2(
                        n: 32, nmax: nmax, x: xs, weights: weights, L: L + 32 * j, Laux: laux.baseAddress!,
                        rmin: rmin, rdelta: 0.1, nstep: nstep)
                    scales[j] = s
                    mins[j] = m
                    if s > maxScale { maxScale = s }
                    if m > maxMin { maxMin = m }
                }
                let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
                let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
                var ls = SIMD8<Int32>(), lm = SIMD8<Int32>()
                for j in 0..<8 {
                    // ggml stores nearest_int into a uint8_t before capping at 63.
                    ls[j] = Int32(Swift.min(63, Int(UInt8(truncatingIfNeeded: nearestInt(invScale * scales[j])))))
                    lm[j] = Int32(Swift.min(63, Int(UInt8(truncatingIfNeeded: nearestInt(invMin * mins[j])))))
                }
                packScaleMinK4(ls, lm, y + Q4_K.scales)
                storeHalf(y, Q4_K.d, maxScale / 63)
                storeHalf(y, Q4_K.dmin, maxMin / 63)
                // Re-quantise against the rounded scales actually stored.
                let d = loadHalf(y, Q4_K.d), dmin = loadHalf(y, Q4_K.dmin)
                for j in 0..<8 {
                    let (sc, m) = scaleMinK4(j, y + Q4_K.scales)
                    let ds = d * Float(sc)
                    if ds == 0 { continue }
                    let dm = dmin * Float(m)
                    for i in 0..<32 {
                        let l = nearestInt((x[32 * j + i] + dm) / ds)
                        L[32 * j + i] = UInt8(Swift.max(0, Swift.min(nmax, l)))
                    }
                }
            }
        }
    }

    static func q4_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: qkK) { buf in
            let L = buf.baseAddress!
            scaleMinBlock(x, y, nmax: 15, rmin: -1, nstep: 20, L)
            for pair in 0..<4 {
                for l in 0..<32 {
                    let v = L[64 * pair + l] | (L[64 * pair + l + 32] << 4)
                    y.storeBytes(of: v, toByteOffset: Q4_K.qs + 32 * pair + l, as: UInt8.self)
                }
            }
        }
    }

    static func q5_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: qkK) { buf in
            let L = buf.baseAddress!
            scaleMinBlock(x, y, nmax: 31, rmin: -0.5, nstep: 15, L)
            // Low nibbles as Q4_K; the fifth bit of sub-block 2*pair+hi goes to qh bit 2*pair+hi.
            for l in 0..<32 {
                var h: UInt8 = 0
                for pair in 0..<4 {
                    let l1 = L[64 * pair + l], l2 = L[64 * pair + l + 32]
                    h |= (l1 >> 4) << (2 * pair) | (l2 >> 4) << (2 * pair + 1)
                    y.storeBytes(of: (l1 & 0xf) | ((l2 & 0xf) << 4), toByteOffset: Q5_K.qs + 32 * pair + l, as: UInt8.self)
                }
                y.storeBytes(of: h, toByteOffset: Q5_K.qh + l, as: UInt8.self)
            }
        }
    }

    static func q6_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: qkK) { buf in
            let L = buf.baseAddress!
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { scales in
                var maxScale: Float = 0, maxAbsScale: Float = 0
                for ib in 0..<16 {
                    let s = makeQX(n: 16, nmax: 32, x: x + 16 * ib, L: L + 16 * ib)
                    scales[ib] = s
                    if abs(s) > maxAbsScale {
                        maxAbsScale = abs(s)
                        maxScale = s
                    }
                }
                if maxAbsScale < groupMaxEps {
                    y.initializeMemory(as: UInt8.self, repeating: 0, count: GGMLType.q6_K.typeSize)
                    return
                }
                let iscale = -128 / maxScale
                storeHalf(y, Q6_K.d, 1 / iscale)
                for ib in 0..<16 {
                    let s = Swift.min(127, nearestInt(iscale * scales[ib]))
                    y.storeBytes(of: Int8(truncatingIfNeeded: s), toByteOffset: Q6_K.scales + ib, as: Int8.self)
                }
                let d = loadHalf(y, Q6_K.d)
                for j in 0..<16 {
                    let ds = d * Float(int8(y, Q6_K.scales + j))
                    if ds == 0 { continue }
                    for i in 0..<16 {
                        let l = Swift.max(-32, Swift.min(31, nearestInt(x[16 * j + i] / ds)))
                        L[16 * j + i] = UInt8(l + 32)
                    }
                }
            }
            for half in 0..<2 {
                let Lh = L + 128 * half
                for l in 0..<32 {
                    let ql0 = (Lh[l] & 0xf) | ((Lh[l + 64] & 0xf) << 4)
                    let ql1 = (Lh[l + 32] & 0xf) | ((Lh[l + 96] & 0xf) << 4)
                    let qh = (Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6)
                    y.storeBytes(of: ql0, toByteOffset: Q6_K.ql + 64 * half + l, as: UInt8.self)
                    y.storeBytes(of: ql1, toByteOffset: Q6_K.ql + 64 * half + l + 32, as: UInt8.self)
                    y.storeBytes(of: qh, toByteOffset: Q6_K.qh + 32 * half + l, as: UInt8.self)
                }
            }
        }
    }
}
