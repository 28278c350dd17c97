// ggml's IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and IQ3_S quantisers (quantize_row_iq*_impl) as
// ggml_quantize_chunk runs them with an importance matrix of ones, the one llama-quantize-like
// input hotmoe has: weights sqrt(sigma2 + x^2). Float operations in ggml's order.

/// How one grid format searches the scale of a sub-block (the knobs where ggml's five
/// quantisers differ).
struct GridSearchSpec: Sendable {
    enum Refine { case offGridGroups, allIfAnyOffGrid, always }
    /// Levels 0..<kMaxQ, grid values 2l + 1.
    var kMaxQ: Int
    /// Trial inverse scales (2 kMaxQ - 1 + is * step) / base for is in -steps...steps.
    var steps: Int, step: Float
    var refine: Refine
    /// Whether groups count as on the grid before any trial is accepted.
    var initialOnGrid: Bool
}

extension Quantize {
    /// Splits 8 values into magnitudes and sign bits. With `evenParity` (the 7-bit sign
    /// formats) an odd count of minus signs is fixed by flipping the value of least w x^2.
    @inline(__always)
    static func gridSigns(
        _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ xval: UnsafeMutablePointer<Float>, evenParity: Bool
    ) -> UInt8 {
        var s: UInt8 = 0, flips = 0
        for i in 0..<8 {
            if x[i] >= 0 {
                xval[i] = x[i]
            } else {
                xval[i] = -x[i]
                flips += 1
                s |= 1 << i
            }
        }
        guard evenParity else { return s }
        if flips % 2 == 1 {
            var imin = 0, min = weight[0] * x[0] * x[0]
            for i in 1..<8 where weight[i] * x[i] * x[i] < min {
                min = weight[i] * x[i] * x[i]
                imin = i
            }
            xval[imin] = -xval[imin]
            s ^= 1 << imin
        }
        return s & 127
    }

    /// sum w x q and sum w q^2 with q = 2l + 1.
    @inline(__always)
    static func gridFit(_ n: Int, _ L: UnsafePointer<Int8>, _ xval: UnsafePointer<Float>, _ weight: UnsafePointer<Float>)
        -> (sumqx: Float, sumq2: Float)
    {
        var sumqx: Float = 0, sumq2: Float = 0
        for i in 0..<n {
            let w = weight[i], q = Float(2 * Int(L[i]) + 1)
            sumqx += w * xval[i] * q
            sumq2 += w * q * q
        }
        return (sumqx, sumq2)
    }

    /// Quantises levels of every group of L at inverse scale id, snapping to the grid at scale
    /// `scale`; bit k of the result is set where group k was on the grid already.
    @inline(__always)
    static func gridSnapAll(
        _ table: GridTable, _ n: Int, _ kMaxQ: Int, id: Float, scale: Float, skip: UInt32,
        _ L: UnsafeMutablePointer<Int8>, _ xval: UnsafePointer<Float>, _ waux: UnsafePointer<Float>
    ) -> UInt32 {
        let g = table.groupSize
        var onGrid: UInt32 = 0
        for k in 0..<n / g where skip & (1 << k) == 0 {
            for i in 0..<g {
                L[g * k + i] = Int8(Swift.max(0, Swift.min(kMaxQ - 1, nearestInt(0.5 * (id * xval[g * k + i] - 1)))))
            }
            if table.snap(L + g * k, x: xval + g * k, weight: waux + g * k, scale: scale).onGrid { onGrid |= 1 << k }
        }
        return onGrid
    }

    /// The scale search shared by the grid formats: the trial scale whose grid levels give the
    /// best sum(w x q)^2 / sum(w q^2), then (per `refine`) the levels re-snapped at the fitted
    /// scale and the scale refitted. Leaves the levels in L.
    static func gridSearch(
        _ spec: GridSearchSpec, _ table: GridTable, n: Int, base: Float, scale initial: Float,
        xval: UnsafePointer<Float>, weight: UnsafePointer<Float>, waux: UnsafePointer<Float>,
        L: UnsafeMutablePointer<Int8>, Laux: UnsafeMutablePointer<Int8>
    ) -> Float {
        let groups = n / table.groupSize
        let all: UInt32 = (1 << groups) - 1
        var best: Float = 0, scale = initial
        var onGrid: UInt32 = spec.initialOnGrid ? all : 0
        for step in -spec.steps...spec.steps {
            let id = (Float(2 * spec.kMaxQ - 1) + Float(step) * spec.step) / base
            let auxOnGrid = gridSnapAll(table, n, spec.kMaxQ, id: id, scale: 1 / id, skip: 0, Laux, xval, waux)
            let (sumqx, sumq2) = gridFit(n, Laux, xval, weight)
            if sumq2 > 0 && sumqx * sumqx > best * sumq2 {
                scale = sumqx / sumq2
                best = scale * sumqx
                L.update(from: Laux, count: n)
                onGrid = auxOnGrid
            }
        }
        let refine = spec.refine == .always || onGrid != all
        if refine && scale > 0 {
            let skip = spec.refine == .offGridGroups ? onGrid : 0
            _ = gridSnapAll(table, n, spec.kMaxQ, id: 1 / scale, scale: scale, skip: skip, L, xval, waux)
            let (sumqx, sumq2) = gridFit(n, L, xval, weight)
            if sumq2 > 0 { scale = sumqx / sumq2 }
        }
        return scale
    }

    /// The entry of each group of L, which must lie on the grid.
    @inline(__always)
    static func gridEntry(_ table: GridTable, _ L: UnsafePointer<Int8>) -> Int {
        let m = table.map[table.index(L)]
        precondition(m >= 0, "grid levels off the grid")
        return Int(m)
    }

    /// sum x^2 of a 256-element block.
    @inline(__always)
    static func sumSquares(_ x: UnsafePointer<Float>) -> Float {
        var s: Float = 0
        for i in 0..<qkK { s += x[i] * x[i] }
        return s
    }

    /// The 4-bit sub-block scale of the block scale d: l with 2l + 1 ≈ scale / d.
    @inline(__always)
    static func gridScale(_ scale: Float, id: Float, max: Int = 15) -> Int {
        Swift.max(0, Swift.min(max, nearestInt(0.5 * (id * scale - 1))))
    }
}
