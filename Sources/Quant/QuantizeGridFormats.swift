// The five IQ2/IQ3 grid formats on top of Quantize.gridSearch: per format, the constants and
// the block layout of ggml's quantize_row_iq{2_xxs,2_xs,2_s,3_xxs,3_s}_impl.

/// One IQ2/IQ3 format: search settings and where its fields go.
struct GridFormat: Sendable {
    var table: GridTable
    var subBlock: Int
    /// sigma2 = sigmaScale * sum(x^2) / 256.
    var sigmaScale: Float
    /// A sub-block whose largest magnitude is below this is left zero.
    var eps: Float
    var evenParity: Bool
    var spec: GridSearchSpec
    /// IQ2_XXS starts from make_qp_quants' scale instead of max / (2 kMaxQ - 1).
    var qpStart = false
    /// d = max scale / 31 * fudge (ggml's empirical factors).
    var fudge: Float = 1
    /// Whether a block whose scales are all zero is cleared (the XXS/XS formats) or keeps the
    /// indices already written (IQ2_S, IQ3_S).
    var clearIfNoScale: Bool
    /// Writes sub-block ib's grid entries (one per group) and sign bytes (one per 8 values).
    var store: @Sendable (UnsafeMutableRawPointer, Int, UnsafePointer<Int>, UnsafePointer<UInt8>) -> Void
    /// Writes sub-block ib's 4-bit scale.
    var storeScale: @Sendable (UnsafeMutableRawPointer, Int, Int) -> Void
}

extension Quantize {
    @inline(__always)
    private static func orWord(_ y: UnsafeMutableRawPointer, _ o: Int, _ v: UInt32) {
        y.storeBytes(of: y.loadUnaligned(fromByteOffset: o, as: UInt32.self) | v, toByteOffset: o, as: UInt32.self)
    }

    /// Four 7-bit sign groups packed low first (the XXS formats' sign word).
    @inline(__always)
    private static func signs7(_ s: UnsafePointer<UInt8>) -> UInt32 {
        UInt32(s[0]) | UInt32(s[1]) << 7 | UInt32(s[2]) << 14 | UInt32(s[3]) << 21
    }

    /// Nibble ib % 2 of byte o + ib / 2.
    private static func storeNibble(_ o: Int) -> @Sendable (UnsafeMutableRawPointer, Int, Int) -> Void {
        { y, ib, l in orByte(y, o + ib / 2, l << (4 * (ib % 2))) }
    }

    static let iq2xxsFormat = GridFormat(
        table: .iq2xxs, subBlock: 32, sigmaScale: 1, eps: QuantizeK.groupMaxEps, evenParity: true,
        spec: GridSearchSpec(kMaxQ: 3, steps: 6, step: 0.1, refine: .always, initialOnGrid: true),
        qpStart: true, clearIfNoScale: true,
        store: { y, ib, e, s in
            for k in 0..<4 { y.storeBytes(of: UInt8(e[k]), toByteOffset: IQ2_XXS.qs + 8 * ib + k, as: UInt8.self) }
            orWord(y, IQ2_XXS.qs + 8 * ib + 4, signs7(s))
        },
        storeScale: { y, ib, l in orWord(y, IQ2_XXS.qs + 8 * ib + 4, UInt32(l) << 28) })

    static let iq2xsFormat = GridFormat(
        table: .iq2xs, subBlock: 16, sigmaScale: 1, eps: QuantizeK.groupMaxEps, evenParity: true,
        spec: GridSearchSpec(kMaxQ: 3, steps: 9, step: 0.1, refine: .offGridGroups, initialOnGrid: true),
        clearIfNoScale: true,
        store: { y, ib, e, s in
            for k in 0..<2 {
                y.storeBytes(of: UInt16(e[k] | Int(s[k]) << 9), toByteOffset: IQ2_XS.qs + 2 * (2 * ib + k), as: UInt16.self)
            }
        },
        storeScale: storeNibble(IQ2_XS.scales))

    static let iq2sFormat = GridFormat(
        table: .iq2s, subBlock: 16, sigmaScale: 2, eps: 1e-8, evenParity: false,
        spec: GridSearchSpec(kMaxQ: 3, steps: 9, step: 0.1, refine: .offGridGroups, initialOnGrid: true),
        fudge: 0.9875, clearIfNoScale: false,
        store: { y, ib, e, s in
            for k in 0..<2 {
                let i8 = 2 * ib + k
                y.storeBytes(of: UInt8(e[k] & 255), toByteOffset: IQ2_S.qs + i8, as: UInt8.self)
                orByte(y, IQ2_S.qh + i8 / 4, (e[k] >> 8) << (2 * (i8 % 4)))
                y.storeBytes(of: s[k], toByteOffset: IQ2_S.signs + i8, as: UInt8.self)
            }
        },
        storeScale: storeNibble(IQ2_S.scales))

    static let iq3xxsFormat = GridFormat(
        table: .iq3xxs, subBlock: 32, sigmaScale: 2, eps: 1e-8, evenParity: true,
        spec: GridSearchSpec(kMaxQ: 8, steps: 15, step: 0.2, refine: .offGridGroups, initialOnGrid: true),
        fudge: 1.0125, clearIfNoScale: true,
        store: { y, ib, e, s in
            for k in 0..<8 { y.storeBytes(of: UInt8(e[k]), toByteOffset: IQ3_XXS.qs + 8 * ib + k, as: UInt8.self) }
            orWord(y, IQ3_XXS.scalesAndSigns + 4 * ib, signs7(s))
        },
        storeScale: { y, ib, l in orWord(y, IQ3_XXS.scalesAndSigns + 4 * ib, UInt32(l) << 28) })

    /// ggml tests `!max` here; the magnitudes are >= 0, so that is max < the least nonzero float.
    static let iq3sFormat = GridFormat(
        table: .iq3s, subBlock: 32, sigmaScale: 2, eps: .leastNonzeroMagnitude, evenParity: false,
        spec: GridSearchSpec(kMaxQ: 8, steps: 9, step: 0.2, refine: .allIfAnyOffGrid, initialOnGrid: false),
        fudge: 1.033, clearIfNoScale: false,
        store: { y, ib, e, s in
            for k in 0..<8 {
                y.storeBytes(of: UInt8(e[k] & 255), toByteOffset: IQ3_S.qs + 8 * ib + k, as: UInt8.self)
                orByte(y, IQ3_S.qh + ib, (e[k] >> 8) << k)
            }
            for k in 0..<4 { y.storeBytes(of: s[k], toByteOffset: IQ3_S.signs + 4 * ib + k, as: UInt8.self) }
        },
        storeScale: storeNibble(IQ3_S.scales))

    /// One 256-element block of an IQ2/IQ3 format.
    static func gridBlock(_ f: GridFormat, _ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, size: Int) {
        y.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let n = f.subBlock, g = f.table.groupSize
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * n + qkK / n) { fbuf in
            let weight = fbuf.baseAddress!, waux = weight + n, xval = waux + n, scales = xval + n
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: 2 * n) { lbuf in
                let L = lbuf.baseAddress!, Laux = L + n
                withUnsafeTemporaryAllocation(of: Int.self, capacity: n / g) { ebuf in
                    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n / 8) { sbuf in
                        let entries = ebuf.baseAddress!, signs = sbuf.baseAddress!
                        let sigma2 = f.sigmaScale * sumSquares(x) / Float(qkK)
                        var maxScale: Float = 0
                        for ib in 0..<qkK / n {
                            let xb = x + n * ib
                            for i in 0..<n { weight[i] = (sigma2 + xb[i] * xb[i]).squareRoot() }
                            for i in 0..<n { waux[i] = weight[i].squareRoot() }
                            for k in 0..<n / 8 {
                                signs[k] = gridSigns(xb + 8 * k, weight + 8 * k, xval + 8 * k, evenParity: f.evenParity)
                            }
                            var max = xval[0]
                            for i in 1..<n { max = Swift.max(max, xval[i]) }
                            scales[ib] = 0
                            if max < f.eps { continue }
                            var base = max, start = max / Float(2 * f.spec.kMaxQ - 1)
                            if f.qpStart {
                                start = makeQP(n: n, nmax: f.spec.kMaxQ + 1, x: xval, weights: weight)
                                base = start * Float(f.spec.kMaxQ)
                                if base <= 0 { continue }
                            }
                            var scale = gridSearch(
                                f.spec, f.table, n: n, base: base, scale: start,
                                xval: xval, weight: weight, waux: waux, L: L, Laux: Laux)
                            if scale < 0 {
                                // ggml: cannot happen, but the scale is stored unsigned.
                                scale = -scale
                                for k in 0..<n / 8 { signs[k] = ~signs[k] & (f.evenParity ? 127 : 255) }
                            }
                            for k in 0..<n / g { entries[k] = gridEntry(f.table, L + g * k) }
                            f.store(y, ib, entries, signs)
                            scales[ib] = scale
                            maxScale = Swift.max(maxScale, scale)
                        }
                        if maxScale == 0 {
                            if f.clearIfNoScale { y.initializeMemory(as: UInt8.self, repeating: 0, count: size) }
                            return
                        }
                        let d = maxScale / 31
                        storeHalf(y, 0, d * f.fudge)
                        let id = 1 / d
                        for ib in 0..<qkK / n { f.storeScale(y, ib, gridScale(scales[ib], id: id)) }
                    }
                }
            }
        }
    }

    /// `make_qp_quants`: levels 0...nmax (ggml keeps them in uint8_t, so a negative level from
    /// a parity-flipped value wraps) with weighted refinement; returns the fitted scale.
    static func makeQP(n: Int, nmax: Int, x: UnsafePointer<Float>, weights: UnsafePointer<Float>) -> Float {
        var max: Float = 0
        for i in 0..<n { max = Swift.max(max, x[i]) }
        if max < QuantizeK.groupMaxEps { return 0 }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n) { buf in
            let L = buf.baseAddress!
            @inline(__always) func level(_ iscale: Float, _ v: Float) -> Int { Swift.min(nmax, nearestInt(iscale * v)) }
            var iscale = Float(nmax) / max
            for i in 0..<n { L[i] = UInt8(truncatingIfNeeded: nearestInt(iscale * x[i])) }
            let scale = 1 / iscale
            var bestMSE: Float = 0
            for i in 0..<n {
                let diff = x[i] - scale * Float(L[i])
                bestMSE += weights[i] * diff * diff
            }
            for step in -4...4 where step != 0 {
                let iscaleIs = (0.1 * Float(step) + Float(nmax)) / max
                let scaleIs = 1 / iscaleIs
                var mse: Float = 0
                for i in 0..<n {
                    let diff = x[i] - scaleIs * Float(level(iscaleIs, x[i]))
                    mse += weights[i] * diff * diff
                }
                if mse < bestMSE {
                    bestMSE = mse
                    iscale = iscaleIs
                }
            }
            var sumLX: Float = 0, sumL2: Float = 0
            for i in 0..<n {
                let l = level(iscale, x[i])
                L[i] = UInt8(truncatingIfNeeded: l)
                let w = weights[i], fl = Float(l)
                sumLX += w * x[i] * fl
                sumL2 += w * fl * fl
            }
            for _ in 0..<5 {
                var changed = 0
                for i in 0..<n {
                    let w = weights[i], li = Float(L[i])
                    var slx = sumLX - w * x[i] * li
                    var sl2 = sumL2 - w * li * li
                    guard slx > 0 && sl2 > 0 else { continue }
                    let newL = Swift.min(nmax, nearestInt(x[i] * sl2 / slx))
                    if newL != Int(L[i]) {
                        slx += w * x[i] * Float(newL)
                        sl2 += w * Float(newL) * Float(newL)
                        if slx * slx * sumL2 > sumLX * sumLX * sl2 {
                            L[i] = UInt8(truncatingIfNeeded: newL)
                            sumLX = slx
                            sumL2 = sl2
                            changed += 1
                        }
                    }
                }
                if changed == 0 { break }
            }
            return sumL2 > 0 ? sumLX / sumL2 : 0
        }
    }
}
