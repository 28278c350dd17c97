// ggml's quantize_row_iq4_nl_impl as ggml_quantize_chunk (llama-quantize) runs it without an
// importance matrix: weights x^2 and 7 scale trials each way (quantize_iq4_nl / _xs; the _ref
// row functions differ for IQ4_NL: no trials). Float operations in ggml's order.

extension Quantize {
    /// `best_index_int8` over `iq4nlValues`: the nearest code-book entry (lower one on ties).
    @inline(__always)
    static func iq4Index(_ x: Float) -> Int {
        let v = iq4nlValues
        if x <= Float(v[0]) { return 0 }
        if x >= Float(v[15]) { return 15 }
        var lo = 0, hi = 15
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if x < Float(v[mid]) { hi = mid } else { lo = mid }
        }
        return x - Float(v[hi - 1]) < Float(v[hi]) - x ? hi - 1 : hi
    }

    static func iq4_nl(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        iq4Block(x, y, superBlock: 32, d: IQ4_NL.d, qs: IQ4_NL.qs)
    }

    static func iq4_xs(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        iq4Block(x, y, superBlock: qkK, d: IQ4_XS.d, qs: IQ4_XS.qs)
    }

    /// One IQ4_NL block (superBlock 32) or IQ4_XS super-block (256: 6-bit sub-block scales
    /// against an fp16 d, low nibbles at scalesL, top two bits at scalesH).
    private static func iq4Block(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, superBlock: Int, d dOff: Int, qs: Int) {
        let ntry = 7, v0 = Float(iq4nlValues[0])
        let nb = superBlock / 32
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: superBlock) { lbuf in
            let L = lbuf.baseAddress!
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 32 + nb) { tmp in
                let weight = tmp.baseAddress!, scales = weight + 32
                var maxScale: Float = 0, amaxScale: Float = 0
                for ib in 0..<nb {
                    let xb = x + 32 * ib, Lb = L + 32 * ib
                    for j in 0..<32 { weight[j] = xb[j] * xb[j] }
                    let (amax, max) = firstAbsMax(xb, 32)
                    if amax < QuantizeK.groupMaxEps {
                        scales[ib] = 0
                        continue
                    }
                    var d = -max / v0
                    var id = 1 / d
                    var sumqx: Float = 0, sumq2: Float = 0
                    for j in 0..<32 {
                        let l = iq4Index(id * xb[j])
                        Lb[j] = UInt8(l)
                        let q = Float(iq4nlValues[l]), w = weight[j]
                        sumqx += w * q * xb[j]
                        sumq2 += w * q * q
                    }
                    d = sumq2 > 0 ? sumqx / sumq2 : 0
                    var best = d * sumqx
                    for itry in -ntry...ntry {
                        id = Float(itry + iq4nlValues[0]) / max
                        sumqx = 0
                        sumq2 = 0
                        for j in 0..<32 {
                            let q = Float(iq4nlValues[iq4Index(id * xb[j])]), w = weight[j]
                            sumqx += w * q * xb[j]
                            sumq2 += w * q * q
                        }
                        if sumq2 > 0 && sumqx * sumqx > best * sumq2 {
                            d = sumqx / sumq2
                            best = d * sumqx
                        }
                    }
                    scales[ib] = d
                    if abs(d) > amaxScale {
                        amaxScale = abs(d)
                        maxScale = d
                    }
                }
                if nb > 1 {
                    let d = -maxScale / 32
                    storeHalf(y, dOff, d)
                    let id: Float = d != 0 ? 1 / d : 0
                    var scalesH: UInt16 = 0
                    for ib in 0..<nb {
                        let l = Swift.max(-32, Swift.min(31, nearestInt(id * scales[ib])))
                        let dl = d * Float(l)
                        let idl: Float = dl != 0 ? 1 / dl : 0
                        for j in 0..<32 { L[32 * ib + j] = UInt8(iq4Index(idl * x[32 * ib + j])) }
                        let b = l + 32, o = IQ4_XS.scalesL + ib / 2
                        let low = UInt8(b & 0xf)
                        y.storeBytes(of: ib % 2 == 0 ? low : UInt8(byte(y, o)) | low << 4, toByteOffset: o, as: UInt8.self)
                        scalesH |= UInt16(b >> 4) << (2 * ib)
                    }
                    y.storeBytes(of: scalesH, toByteOffset: IQ4_XS.scalesH, as: UInt16.self)
                } else {
                    storeHalf(y, dOff, scales[0])
                    let id: Float = scales[0] != 0 ? 1 / scales[0] : 0
                    for j in 0..<superBlock { L[j] = UInt8(iq4Index(id * x[j])) }
                }
            }
            for i in 0..<superBlock / 32 {
                for j in 0..<16 {
                    y.storeBytes(of: L[32 * i + j] | (L[32 * i + 16 + j] << 4), toByteOffset: qs + 16 * i + j, as: UInt8.self)
                }
            }
        }
    }
}
