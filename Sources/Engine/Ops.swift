import CKernels
import Foundation
import Quant

/// Plain-loop building blocks, written to match ggml's CPU arithmetic (sums of squares in
/// double, float elsewhere) so logits track llama.cpp's closely.
enum Ops {
    /// y = x / sqrt(mean(x^2) + eps) * weight
    static func rmsNorm(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                        count n: Int, eps: Float) {
        let scale = rmsScale(x, count: n, eps: eps)
        for i in 0..<n { y[i] = (x[i] * scale) * weight[i] }
    }

    /// 1 / sqrt(mean(x^2) + eps) as ggml_rms_norm computes it: each square in float, their sum
    /// in double, the mean rounded to float.
    static func rmsScale(_ x: UnsafePointer<Float>, count n: Int, eps: Float) -> Float {
        var sum: Double = 0
        for i in 0..<n { sum += Double(x[i] * x[i]) }
        return 1 / (Float(sum / Double(n)) + eps).squareRoot()
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

    /// (cos, sin) of position * base^(-2i/ropeDim) / freqFactors[i], computed by repeated
    /// multiplication in float as ggml does (freq factors: `rope_freqs`, e.g. Gemma 4's
    /// proportional RoPE, whose 1e30 factors leave the unrotated pairs as they are).
    /// With `scaling`, ggml's rope_yarn: the angle mixes its interpolated and original value by
    /// the correction-dim ramp, cos and sin are scaled by the YaRN magnitude.
    static func ropeTable(position: Int, ropeDim: Int, base: Float, freqFactors: UnsafePointer<Float>? = nil,
                          scaling yarn: RopeScaling? = nil, into out: UnsafeMutablePointer<Float>) {
        let thetaScale = powf(base, -2.0 / Float(ropeDim))
        var theta = Float(position)
        guard let yarn else {
            for i in 0..<(ropeDim / 2) {
                let t = freqFactors.map { theta / $0[i] } ?? theta
                out[2 * i] = cosf(t)
                out[2 * i + 1] = sinf(t)
                theta *= thetaScale
            }
            return
        }
        let (low, high) = yarn.correctionDims(ropeDim: ropeDim, base: base)
        var mscale = yarn.attnFactor
        // a * b + c contracts to one FMA in llama.cpp's GCC build.
        if yarn.extFactor != 0 { mscale *= Float(1).addingProduct(0.1, logf(1 / yarn.freqScale)) }
        for i in 0..<(ropeDim / 2) {
            let extrapolated = freqFactors.map { theta / $0[i] } ?? theta
            let interpolated = yarn.freqScale * extrapolated
            var t = interpolated
            if yarn.extFactor != 0 {
                // rope_yarn_ramp at i0 = 2i: 1 - clamp((i - low) / max(0.001, high - low), 0, 1).
                let y = (Float(i) - low) / max(0.001, high - low)
                let mix = (1 - min(1, max(0, y))) * yarn.extFactor
                // GCC fuses the first product: fma(interp, 1 - mix, extrap * mix).
                t = (extrapolated * mix).addingProduct(interpolated, 1 - mix)
            }
            out[2 * i] = cosf(t) * mscale
            out[2 * i + 1] = sinf(t) * mscale
            theta *= thetaScale
        }
    }

    /// y = x / sqrt(mean(x^2) + eps), no weight (ggml_rms_norm alone).
    static func rmsNormUnweighted(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int, eps: Float) {
        let scale = rmsScale(x, count: n, eps: eps)
        for i in 0..<n { y[i] = x[i] * scale }
    }

    /// ggml's GELU formula (tanh approximation) in float, as GCC compiles ggml_gelu_f32 (its
    /// default -ffp-contract=fast fuses 1 + a*x*x into one FMA; unfused, one of the 65536 fp16
    /// table entries differ).
    @inline(__always) static func geluTanh(_ x: Float) -> Float {
        let sqrt2OverPi: Float = 0.79788456080286535587989211986876, a: Float = 0.044715
        return 0.5 * x * (1 + tanhf(sqrt2OverPi * x * Float(1).addingProduct(a * x, x)))
    }

    /// GELU as ggml computes it on the CPU (GGML_GELU_FP16): 0 at or below -10, x at or above
    /// 10, else the fp16-rounded input looked up in a table of fp16-rounded `geluTanh`.
    @inline(__always) static func gelu(_ x: Float, table: UnsafePointer<Float> = geluTable) -> Float {
        if x <= -10 { return 0 }
        if x >= 10 { return x }
        return table[Int(floatToFp16(x))]
    }

    /// `geluTanh` of every fp16 value, rounded to fp16 (ggml_table_gelu_f16), as floats.
    nonisolated(unsafe) static let geluTable: UnsafePointer<Float> = {
        let t = UnsafeMutablePointer<Float>.allocate(capacity: 1 << 16)
        for h in 0..<(1 << 16) { t[h] = fp16ToFloat(floatToFp16(geluTanh(fp16ToFloat(UInt16(h))))) }
        return UnsafePointer(t)
    }()

    /// gate = act(gate) * up over `rows` rows of `rowLength`; SiLU as ggml's swiglu, row by
    /// row (its 16-lane chunking decides which exp each value gets).
    static func gatedActivation(_ act: FFNActivation, gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>,
                                rows: Int, rowLength f: Int) {
        switch act {
        case .silu:
            for r in 0..<rows { hm_ggml_swiglu_f32(gate + r * f, up + r * f, gate + r * f, Int64(f)) }
        case .gelu:
            let table = geluTable
            for i in 0..<(rows * f) { gate[i] = gelu(gate[i], table: table) * up[i] }
        case .swigluOAI:
            for i in 0..<(rows * f) { gate[i] = swigluOAI(gate[i], up[i]) }
        }
    }

    /// ggml_swiglu_oai with gpt-oss's constants (alpha 1.702, limit 7): NaN passes through as
    /// std::min / std::clamp pass it.
    @inline(__always) static func swigluOAI(_ gate: Float, _ up: Float) -> Float {
        let alpha: Float = 1.702, limit: Float = 7
        let x = limit < gate ? limit : gate
        let y = up < -limit ? -limit : (limit < up ? limit : up)
        let glu = x / (1 + expf(alpha * -x))
        return glu * (y + 1)
    }

    /// x = cap * tanh(x / cap), as ggml_scale, ggml_tanh, ggml_scale.
    static func softcap(_ x: UnsafeMutablePointer<Float>, count n: Int, cap: Float) {
        let inv = 1 / cap
        for i in 0..<n { x[i] = tanhf(x[i] * inv) * cap }
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
