// ggml's IQ1_S and IQ1_M quantisers (quantize_row_iq1_{s,m}_impl) with an importance matrix of
// ones: an exhaustive search of the two split points that sort a sub-block into the levels
// -1, 0, 1 (shifted by ±1/8), then a snap to the 2048-entry grid. Float operations in ggml's order.

extension Quantize {
    /// The three shifted levels for a +1/8 (`plus`) or -1/8 shift (IQ1S_DELTA = IQ1M_DELTA).
    private static let iq1Plus: [Float] = [-1 + 0.125, 0.125, 1 + 0.125]
    private static let iq1Minus: [Float] = [-1 - 0.125, -0.125, 1 - 0.125]

    /// Element indices of xb ordered by value (ties by index, as a stable sort leaves them).
    private static func iq1Order(_ xb: UnsafePointer<Float>, _ n: Int) -> [Int] {
        (0..<n).sorted { xb[$0] < xb[$1] || (xb[$0] == xb[$1] && $0 < $1) }
    }

    /// `iq1_find_best_neighbour2`: the grid entry for 8 levels, or off the grid the listed
    /// neighbour nearest to x at `scale` (whose levels replace L's).
    private static func iq1Snap(
        _ L: UnsafeMutablePointer<Int8>, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, scale: Float, _ xx: [Float]
    ) -> (entry: Int, onGrid: Bool) {
        let t = GridTable.iq1s
        let m = t.map[t.index(L)]
        if m >= 0 { return (Int(m), true) }
        var best = Float.greatestFiniteMagnitude, bestEntry = -1
        for j in t.neighbourList(m) {
            var d2: Float = 0
            for i in 0..<8 {
                let diff = scale * xx[Int(t.level(Int(j), i))] - x[i]
                d2 += weight[i] * diff * diff
            }
            if d2 < best {
                best = d2
                bestEntry = Int(j)
            }
        }
        precondition(bestEntry >= 0, "grid search found no neighbour")
        for i in 0..<8 { L[i] = t.level(bestEntry, i) }
        return (bestEntry, false)
    }

    /// Snaps each group of 8 (shift table per group) and, if any was off the grid, refits the
    /// scale to the snapped levels. Returns the scale.
    private static func iq1SnapGroups(
        _ n: Int, _ L: UnsafeMutablePointer<Int8>, _ xb: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
        scale: Float, shifts: (Int) -> [Float], entries: UnsafeMutablePointer<Int>
    ) -> Float {
        var allOnGrid = true
        for k in 0..<n / 8 {
            let (e, on) = iq1Snap(L + 8 * k, xb + 8 * k, weight + 8 * k, scale: scale, shifts(k))
            if !on { allOnGrid = false }
            entries[k] = e
        }
        if allOnGrid { return scale }
        var sumqx: Float = 0, sumq2: Float = 0
        for k in 0..<n / 8 {
            let xx = shifts(k)
            for j in 0..<8 {
                let w = weight[8 * k + j], q = xx[Int(GridTable.iq1s.level(entries[k], j))]
                sumqx += w * q * xb[8 * k + j]
                sumq2 += w * q * q
            }
        }
        return sumqx > 0 && sumq2 > 0 ? sumqx / sumq2 : scale
    }

    /// Takes a split whose sum(w x q)^2 / sum(w q^2) beats the best so far.
    @inline(__always)
    private static func iq1Better(_ sumqx: Float, _ sumq2: Float, _ best: inout Float, _ scale: inout Float) -> Bool {
        guard sumq2 > 0 && sumqx * sumqx > best * sumq2 else { return false }
        scale = sumqx / sumq2
        best = scale * sumqx
        return true
    }

    /// Levels 0/1/2 by sorted position (below i1, below i2, the rest).
    private static func iq1Levels(_ L: UnsafeMutablePointer<Int8>, _ order: [Int], _ i1: Int, _ i2: Int) {
        for (j, i) in order.enumerated() { L[i] = j < i1 ? 0 : j < i2 ? 1 : 2 }
    }

    private static func iq1Weights(_ xb: UnsafePointer<Float>, _ n: Int, _ sigma2: Float, _ weight: UnsafeMutablePointer<Float>) -> Float {
        var max = abs(xb[0])
        for i in 0..<n {
            weight[i] = (sigma2 + xb[i] * xb[i]).squareRoot()
            if i > 0 { max = Swift.max(max, abs(xb[i])) }
        }
        return max
    }

    static func iq1_s(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        y.initializeMemory(as: UInt8.self, repeating: 0, count: GGMLType.iq1_s.typeSize)
        let n = 32, xp = iq1Plus, xm = iq1Minus
        let (p0, p1, p2, m0, m1, m2) = (xp[0], xp[1], xp[2], xm[0], xm[1], xm[2])
        let sigma2 = 2 * sumSquares(x) / Float(qkK)
        var scales = [Float](repeating: 0, count: 8), shifts = [Int](repeating: 1, count: 8)
        var maxScale: Float = 0
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * n + 2) { fbuf in
            let weight = fbuf.baseAddress!, sumx = weight + n, sumw = sumx + n + 1
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: n) { lbuf in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: 4) { ebuf in
                    let L = lbuf.baseAddress!, entries = ebuf.baseAddress!
                    for ib in 0..<qkK / n {
                        let xb = x + n * ib
                        let max = iq1Weights(xb, n, sigma2, weight)
                        if max < 1e-12 { continue }
                        let order = iq1Order(xb, n)
                        sumx[0] = 0
                        sumw[0] = 0
                        for (j, i) in order.enumerated() {
                            sumx[j + 1] = sumx[j] + weight[i] * xb[i]
                            sumw[j + 1] = sumw[j] + weight[i]
                        }
                        var best = -Float.greatestFiniteMagnitude, scale = max
                        var bi1 = -1, bi2 = -1, bestShift = 0
                        for i1 in 0...n {
                            for i2 in i1...n {
                                let a = sumx[i1] - sumx[0], b = sumx[i2] - sumx[i1], c = sumx[n] - sumx[i2]
                                let wa = sumw[i1] - sumw[0], wb = sumw[i2] - sumw[i1], wc = sumw[n] - sumw[i2]
                                if iq1Better(a * p0 + b * p1 + c * p2, wa * p0 * p0 + wb * p1 * p1 + wc * p2 * p2, &best, &scale) {
                                    (bi1, bi2, bestShift) = (i1, i2, 1)
                                }
                                if iq1Better(a * m0 + b * m1 + c * m2, wa * m0 * m0 + wb * m1 * m1 + wc * m2 * m2, &best, &scale) {
                                    (bi1, bi2, bestShift) = (i1, i2, -1)
                                }
                            }
                        }
                        if bi1 < 0 || bi2 < 0 || bestShift == 0 { continue }
                        iq1Levels(L, order, bi1, bi2)
                        if scale < 0 {
                            for j in 0..<n { L[j] = 2 - L[j] }
                            scale = -scale
                            bestShift = -bestShift
                        }
                        let xx = bestShift == 1 ? xp : xm
                        scale = iq1SnapGroups(n, L, xb, weight, scale: scale, shifts: { _ in xx }, entries: entries)
                        var h = 0
                        for k in 0..<4 {
                            y.storeBytes(of: UInt8(entries[k] & 255), toByteOffset: IQ1_S.qs + 4 * ib + k, as: UInt8.self)
                            h |= (entries[k] >> 8) << (3 * k)
                        }
                        y.storeBytes(of: UInt16(h), toByteOffset: IQ1_S.qh + 2 * ib, as: UInt16.self)
                        scales[ib] = scale
                        shifts[ib] = bestShift
                        maxScale = Swift.max(maxScale, scale)
                    }
                }
            }
        }
        if maxScale == 0 { return }
        let d = maxScale / 15
        storeHalf(y, 0, d * 1.125)
        let id = 1 / d
        for ib in 0..<qkK / n {
            let l = gridScale(scales[ib], id: id, max: 7) | (shifts[ib] == -1 ? 8 : 0)
            let o = IQ1_S.qh + 2 * ib
            y.storeBytes(of: y.loadUnaligned(fromByteOffset: o, as: UInt16.self) | UInt16(l << 12), toByteOffset: o, as: UInt16.self)
        }
    }

    static func iq1_m(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        y.initializeMemory(as: UInt8.self, repeating: 0, count: GGMLType.iq1_m.typeSize)
        let n = 16, xp = iq1Plus, xm = iq1Minus
        // Shift kinds 0...3: (group 0, group 1) = (+,+), (+,-), (-,+), (-,-); qh flag bits 3 and 7.
        let shiftTable = { (kind: Int, k: Int) -> [Float] in (k == 0 ? kind < 2 : kind % 2 == 0) ? xp : xm }
        let masks = [0x00, 0x80, 0x08, 0x88]
        let sigma2 = 2 * sumSquares(x) / Float(qkK)
        var scales = [Float](repeating: 0, count: 16), kinds = [Int](repeating: 0, count: 16)
        var maxScale: Float = 0
        withUnsafeTemporaryAllocation(of: Float.self, capacity: n + 4 * (n + 1)) { fbuf in
            // Prefix sums of w x and w over the sorted order, kept per half of the sub-block.
            let weight = fbuf.baseAddress!, px = [weight + n, weight + 2 * n + 1], pw = [weight + 3 * n + 2, weight + 4 * n + 3]
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: n) { lbuf in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: 2) { ebuf in
                    let L = lbuf.baseAddress!, entries = ebuf.baseAddress!
                    let p2 = xp[2], m2 = xm[2]
                    let cp1 = xp[0] * xp[0] - xp[1] * xp[1], cp2 = xp[1] * xp[1] - xp[2] * xp[2]
                    let cm1 = xm[0] * xm[0] - xm[1] * xm[1], cm2 = xm[1] * xm[1] - xm[2] * xm[2]
                    for ib in 0..<qkK / n {
                        let xb = x + n * ib
                        let max = iq1Weights(xb, n, sigma2, weight)
                        if max < 1e-7 { continue }
                        let order = iq1Order(xb, n)
                        for h in 0..<2 {
                            px[h][0] = 0
                            pw[h][0] = 0
                        }
                        for (j, i) in order.enumerated() {
                            let h = i < n / 2 ? 0 : 1
                            px[h][j + 1] = px[h][j] + weight[i] * xb[i]
                            px[1 - h][j + 1] = px[1 - h][j]
                            pw[h][j + 1] = pw[h][j] + weight[i]
                            pw[1 - h][j + 1] = pw[1 - h][j]
                        }
                        let tx0 = px[0][n], tx1 = px[1][n], tw0 = pw[0][n], tw1 = pw[1][n]
                        let px0 = px[0], px1 = px[1], pw0 = pw[0], pw1 = pw[1]
                        var best = -Float.greatestFiniteMagnitude, scale = max
                        var bi1 = -1, bi2 = -1, bestKind = -1
                        for i1 in 0...n {
                            for i2 in i1...n {
                                let sx0 = px0[i1] + px0[i2], sx1 = px1[i1] + px1[i2]
                                let qxp0 = tx0 * p2 - sx0, qxm0 = tx0 * m2 - sx0
                                let qxp1 = tx1 * p2 - sx1, qxm1 = tx1 * m2 - sx1
                                let q2p0 = tw0 * p2 * p2 + pw0[i1] * cp1 + pw0[i2] * cp2
                                let q2m0 = tw0 * m2 * m2 + pw0[i1] * cm1 + pw0[i2] * cm2
                                let q2p1 = tw1 * p2 * p2 + pw1[i1] * cp1 + pw1[i2] * cp2
                                let q2m1 = tw1 * m2 * m2 + pw1[i1] * cm1 + pw1[i2] * cm2
                                if iq1Better(qxp0 + qxp1, q2p0 + q2p1, &best, &scale) { (bi1, bi2, bestKind) = (i1, i2, 0) }
                                if iq1Better(qxp0 + qxm1, q2p0 + q2m1, &best, &scale) { (bi1, bi2, bestKind) = (i1, i2, 1) }
                                if iq1Better(qxm0 + qxp1, q2m0 + q2p1, &best, &scale) { (bi1, bi2, bestKind) = (i1, i2, 2) }
                                if iq1Better(qxm0 + qxm1, q2m0 + q2m1, &best, &scale) { (bi1, bi2, bestKind) = (i1, i2, 3) }
                            }
                        }
                        if bi1 < 0 || bi2 < 0 || bestKind < 0 { continue }
                        iq1Levels(L, order, bi1, bi2)
                        if scale < 0 {
                            for j in 0..<n { L[j] = 2 - L[j] }
                            scale = -scale
                            bestKind = 3 - bestKind
                        }
                        let kind = bestKind
                        scale = iq1SnapGroups(n, L, xb, weight, scale: scale, shifts: { shiftTable(kind, $0) }, entries: entries)
                        for k in 0..<2 {
                            y.storeBytes(of: UInt8(entries[k] & 255), toByteOffset: IQ1_M.qs + 2 * ib + k, as: UInt8.self)
                        }
                        y.storeBytes(of: UInt8((entries[0] >> 8) | ((entries[1] >> 8) << 4)), toByteOffset: IQ1_M.qh + ib, as: UInt8.self)
                        scales[ib] = scale
                        kinds[ib] = kind
                        maxScale = Swift.max(maxScale, scale)
                    }
                    if maxScale == 0 { return }
                    // 3-bit scales, then d refitted to the stored levels and scales.
                    var d = maxScale / 15
                    let id = 1 / d
                    var sc: [UInt16] = [0, 0, 0, 0]
                    var sumqx: Float = 0, sumq2: Float = 0
                    for ib in 0..<qkK / n {
                        let l = gridScale(scales[ib], id: id, max: 7)
                        sc[ib / 4] |= UInt16(l << (3 * (ib % 4)))
                        let qh = byte(y, IQ1_M.qh + ib) | masks[kinds[ib]]
                        y.storeBytes(of: UInt8(qh), toByteOffset: IQ1_M.qh + ib, as: UInt8.self)
                        let xb = x + n * ib
                        _ = iq1Weights(xb, n, sigma2, weight)
                        for k in 0..<2 {
                            let xx = shiftTable(kinds[ib], k)
                            let entry = byte(y, IQ1_M.qs + 2 * ib + k) + ((qh << (8 - 4 * k)) & 0x700)
                            for j in 0..<8 {
                                let w = weight[8 * k + j], q = xx[Int(GridTable.iq1s.level(entry, j))] * Float(2 * l + 1)
                                sumqx += w * q * xb[8 * k + j]
                                sumq2 += w * q * q
                            }
                        }
                    }
                    if sumq2 > 0 { d = sumqx / sumq2 }
                    // IQ1_M has no d field: its fp16 bits go to the top nibbles of the scale words.
                    let s = floatToFp16(d * 1.1125)
                    sc[0] |= (s & 0x000f) << 12
                    sc[1] |= (s & 0x00f0) << 8
                    sc[2] |= (s & 0x0f00) << 4
                    sc[3] |= s & 0xf000
                    for i in 0..<4 { y.storeBytes(of: sc[i], toByteOffset: IQ1_M.scales + 2 * i, as: UInt16.self) }
                }
            }
        }
    }
}
