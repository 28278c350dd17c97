// ggml's quantize_row_q2_K_ref and quantize_row_q3_K_ref (what ggml_quantize_chunk runs for
// them without an importance matrix), float operations in ggml's order so the bytes match.

extension QuantizeK {
    static func q2_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: qkK + 16) { buf in
            let L = buf.baseAddress!, laux = L + qkK
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 48) { tmp in
                let weights = tmp.baseAddress!, scales = weights + 16, mins = weights + 32
                var maxScale: Float = 0, maxMin: Float = 0
                for j in 0..<16 {
                    let xs = x + 16 * j
                    for l in 0..<16 { weights[l] = abs(xs[l]) }
                    let (s, m) = makeQKX2(
                        n: 16, nmax: 3, x: xs, weights: weights, L: L + 16 * j, Laux: laux,
                        rmin: -0.5, rdelta: 0.1, nstep: 15, useMAD: true)
                    scales[j] = s
                    mins[j] = m
                    if s > maxScale { maxScale = s }
                    if m > maxMin { maxMin = m }
                }
                let q4scale: Float = 15
                // ggml stores nearest_int straight into the uint8_t scale byte (truncating).
                let iscale = maxScale > 0 ? q4scale / maxScale : 0
                for j in 0..<16 {
                    let l = maxScale > 0 ? UInt8(truncatingIfNeeded: nearestInt(iscale * scales[j])) : 0
                    y.storeBytes(of: l, toByteOffset: Q2_K.scales + j, as: UInt8.self)
                }
                storeHalf(y, Q2_K.d, maxScale > 0 ? maxScale / q4scale : 0)
                if maxMin > 0 {
                    let imin = q4scale / maxMin
                    for j in 0..<16 {
                        let s = UInt8(byte(y, Q2_K.scales + j)) | UInt8(truncatingIfNeeded: nearestInt(imin * mins[j]) << 4)
                        y.storeBytes(of: s, toByteOffset: Q2_K.scales + j, as: UInt8.self)
                    }
                }
                storeHalf(y, Q2_K.dmin, maxMin > 0 ? maxMin / q4scale : 0)
                // Re-quantise against the rounded scales actually stored.
                let dAll = loadHalf(y, Q2_K.d), dminAll = loadHalf(y, Q2_K.dmin)
                for j in 0..<16 {
                    let sc = byte(y, Q2_K.scales + j)
                    let d = dAll * Float(sc & 0xf)
                    if d == 0 { continue }
                    let dm = dminAll * Float(sc >> 4)
                    for i in 0..<16 {
                        L[16 * j + i] = UInt8(Swift.max(0, Swift.min(3, nearestInt((x[16 * j + i] + dm) / d))))
                    }
                }
            }
            pack2Bit(L, y + Q2_K.qs)
        }
    }

    /// The 2-bit quant layout shared by Q2_K and Q3_K: in each 128-element half, byte l holds
    /// elements l, l + 32, l + 64 and l + 96 from the low bits up.
    private static func pack2Bit(_ L: UnsafePointer<UInt8>, _ qs: UnsafeMutableRawPointer) {
        for half in 0..<2 {
            let Lh = L + 128 * half
            for l in 0..<32 {
                let v = Lh[l] | (Lh[l + 32] << 2) | (Lh[l + 64] << 4) | (Lh[l + 96] << 6)
                qs.storeBytes(of: v, toByteOffset: 32 * half + l, as: UInt8.self)
            }
        }
    }

    /// `make_q3_quants` with do_rmse: symmetric levels in -nmax..<nmax (returned biased by
    /// +nmax), then up to five passes of single-level changes that raise sum(lx)^2 / sum(l^2)
    /// with weights x^2.
    static func makeQ3(n: Int, nmax: Int, x: UnsafePointer<Float>, L: UnsafeMutablePointer<Int8>) -> Float {
        let (amax, max) = Quantize.firstAbsMax(x, n)
        if amax < groupMaxEps {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        @inline(__always) func clampLevel(_ l: Int) -> Int { Swift.max(-nmax, Swift.min(nmax - 1, l)) }
        let iscale = Float(-nmax) / max
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let l = clampLevel(nearestInt(iscale * x[i]))
            L[i] = Int8(l)
            let w = x[i] * x[i], fl = Float(l)
            sumLX += w * x[i] * fl
            sumL2 += w * fl * fl
        }
        for _ in 0..<5 {
            var changed = 0
            for i in 0..<n {
                let w = x[i] * x[i], li = Float(L[i])
                var slx = sumLX - w * x[i] * li
                guard slx > 0 else { continue }
                var sl2 = sumL2 - w * li * li
                let newL = clampLevel(nearestInt(x[i] * sl2 / slx))
                if newL != Int(L[i]) {
                    let fl = Float(newL)
                    slx += w * x[i] * fl
                    sl2 += w * fl * fl
                    if sl2 > 0 && slx * slx * sumL2 > sumLX * sumLX * sl2 {
                        L[i] = Int8(newL)
                        sumLX = slx
                        sumL2 = sl2
                        changed += 1
                    }
                }
            }
            if changed == 0 { break }
        }
        for i in 0..<n { L[i] += Int8(nmax) }
        return sumL2 > 0 ? sumLX / sumL2 : 0
    }

    static func q3_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        y.initializeMemory(as: UInt8.self, repeating: 0, count: GGMLType.q3_K.typeSize)
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: qkK) { buf in
            let L = buf.baseAddress!
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { tmp in
                let scales = tmp.baseAddress!
                var maxScale: Float = 0, amax: Float = 0
                for j in 0..<16 {
                    scales[j] = makeQ3(n: 16, nmax: 4, x: x + 16 * j, L: L + 16 * j)
                    if abs(scales[j]) > amax {
                        amax = abs(scales[j])
                        maxScale = scales[j]
                    }
                }
                let sc = y + Q3_K.scales
                if maxScale != 0 {
                    // 6-bit scales biased by 32: low nibbles in bytes 0..<8, top two bits in 8..<12.
                    let iscale = -32 / maxScale
                    for j in 0..<16 {
                        let l = Swift.max(-32, Swift.min(31, Int(Int8(truncatingIfNeeded: nearestInt(iscale * scales[j]))))) + 32
                        orByte(sc, j % 8, (l & 0xf) << (j < 8 ? 0 : 4))
                        orByte(sc, 8 + j % 4, (l >> 4) << (2 * (j / 4)))
                    }
                    storeHalf(y, Q3_K.d, 1 / iscale)
                } else {
                    storeHalf(y, Q3_K.d, 0)
                }
                let dAll = loadHalf(y, Q3_K.d)
                for j in 0..<16 {
                    let low = j < 8 ? byte(sc, j) & 0xf : byte(sc, j - 8) >> 4
                    let s = (low | (((byte(sc, 8 + j % 4) >> (2 * (j / 4))) & 3) << 4)) - 32
                    let d = dAll * Float(s)
                    if d == 0 { continue }
                    for i in 0..<16 {
                        L[16 * j + i] = Int8(Swift.max(-4, Swift.min(3, nearestInt(x[16 * j + i] / d))) + 4)
                    }
                }
            }
            // The third bit of element j goes to hmask byte j % 32, bit j / 32.
            for j in 0..<qkK where L[j] > 3 {
                let o = Q3_K.hmask + j % 32
                y.storeBytes(of: UInt8(byte(y, o) | 1 << (j / 32)), toByteOffset: o, as: UInt8.self)
                L[j] -= 4
            }
            L.withMemoryRebound(to: UInt8.self, capacity: qkK) { pack2Bit($0, y + Q3_K.qs) }
        }
    }
}
