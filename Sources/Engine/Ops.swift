import Foundation

/// Plain-loop building blocks, written to match ggml's CPU arithmetic (sums of squares in
/// double, float elsewhere) so logits track llama.cpp's closely.
enum Ops {
    /// y = x / sqrt(mean(x^2) + eps) * weight
    static func rmsNorm(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                        count n: Int, eps: Float) {
        var sum: Double = 0
        for i in 0..<n { sum += Double(x[i] * x[i]) }  // ggml: the square in float, the sum in double
        let scale = 1 / (Float(sum / Double(n)) + eps).squareRoot()
        for i in 0..<n { y[i] = (x[i] * scale) * weight[i] }
    }

    /// Rotates the first `ropeDim` dims of each of `heads` heads at `position`.
    /// `cosSin` holds (cos, sin) for each pair index, prepared once per position.
    static func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, ropeDim: Int,
                     style: RopeStyle, cosSin: UnsafePointer<Float>) {
        let half = ropeDim / 2
        for h in 0..<heads {
            let v = x + h * headDim
            for i in 0..<half {
                let c = cosSin[2 * i], s = cosSin[2 * i + 1]
                let (a, b) = style == .norm ? (2 * i, 2 * i + 1) : (i, i + half)
                let x0 = v[a], x1 = v[b]
                // ggml's rotate_pairs as GCC contracts it: one product each fused (checked on
                // compiled ggml code: fma(x0, c, -x1 s) and fma(x0, s, x1 c)).
                v[a] = (-(x1 * s)).addingProduct(x0, c)
                v[b] = (x1 * c).addingProduct(x0, s)
            }
        }
    }

    /// (cos, sin) of position * base^(-2i/ropeDim), computed by repeated multiplication in
    /// float as ggml does.
    static func ropeTable(position: Int, ropeDim: Int, base: Float, into out: UnsafeMutablePointer<Float>) {
        let thetaScale = powf(base, -2.0 / Float(ropeDim))
        var theta = Float(position)
        for i in 0..<(ropeDim / 2) {
            out[2 * i] = cosf(theta)
            out[2 * i + 1] = sinf(theta)
            theta *= thetaScale
        }
    }

    /// In-place softmax; returns nothing, leaves probabilities summing to one.
    static func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        var m = -Float.infinity
        for i in 0..<n { m = max(m, x[i]) }
        var sum: Double = 0
        for i in 0..<n {
            let e = expf(x[i] - m)
            x[i] = e
            sum += Double(e)
        }
        let inv = Float(1 / sum)
        for i in 0..<n { x[i] *= inv }
    }

    @inline(__always) static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    @inline(__always) static func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

    /// ggml's softplus: linear above 20, where log(1 + e^x) equals x in float.
    @inline(__always) static func softplus(_ x: Float) -> Float { x > 20 ? x : logf(1 + expf(x)) }

    /// Dot product with 8-wide partial sums (a float reduction the compiler will not
    /// vectorise on its own, since that reorders the additions).
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        var i = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 16 <= n {
            acc0 += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc1 += ra.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD8<Float>.self)
            i += 16
        }
        var sum = (acc0 + acc1).sum()
        while i < n {
            sum += a[i] * b[i]
            i += 1
        }
        return sum
    }

    /// y += a * x
    @inline(__always)
    static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n { y[i] += a * x[i] }
    }

    static func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n { y[i] += x[i] }
    }
}
