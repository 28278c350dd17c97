// Shared test helpers: seeded random data, random block bytes, and an independent float64
// decoder written from the block layout descriptions in ggml-common.h.
@testable import Quant

/// Small, fast, seedable generator; every test draws a fresh seed and reports it on failure.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func freshRNG() -> (SplitMix64, UInt64) {
    let seed = UInt64.random(in: 0...UInt64.max)
    return (SplitMix64(seed: seed), seed)
}

/// Standard normal samples (Box-Muller), optionally with a few 8x outliers like real activations.
func gaussian(_ n: Int, _ rng: inout SplitMix64, scale: Float = 1, outliers: Bool = false) -> [Float] {
    var out = [Float](repeating: 0, count: n)
    for i in 0..<n {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &rng)
        let u2 = Double.random(in: 0..<1, using: &rng)
        out[i] = Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)) * scale
        if outliers && Int.random(in: 0..<64, using: &rng) == 0 { out[i] *= 8 }
    }
    return out
}

/// Byte offsets of fp16 scale fields in each block; filled with finite random halves so the
/// rest of a block can be uniformly random bytes.
let halfFields: [GGMLType: [Int]] = [.q8_0: [0], .q4_0: [0], .q4_K: [0, 2], .q5_K: [0, 2], .q6_K: [208]]

/// `count` elements of `type` as random bytes: random quants and random finite scales.
/// F16/BF16 values cover every finite bit pattern when `fullRange`, else lie in [-4, 4]
/// (so dot products cannot overflow).
func randomBlocks(_ type: GGMLType, count: Int, _ rng: inout SplitMix64, fullRange: Bool = false) -> [UInt8] {
    var bytes = (0..<type.byteCount(elements: count)!).map { _ in UInt8.random(in: 0...255, using: &rng) }
    switch type {
    case .f32:
        for i in 0..<count {
            let v = Float.random(in: -4...4, using: &rng)
            withUnsafeBytes(of: v) { for k in 0..<4 { bytes[4 * i + k] = $0[k] } }
        }
    case .f16 where !fullRange, .bf16 where !fullRange:
        for i in 0..<count {
            let f = Float.random(in: -4...4, using: &rng)
            let v = type == .f16 ? floatToFp16(f) : floatToBf16(f)
            bytes[2 * i] = UInt8(v & 0xff)
            bytes[2 * i + 1] = UInt8(v >> 8)
        }
    case .f16, .bf16:
        // Replace inf/NaN exponents (all ones) with a finite one.
        let expMask: UInt16 = type == .f16 ? 0x7c00 : 0x7f80
        for i in 0..<count {
            var v = UInt16(bytes[2 * i]) | UInt16(bytes[2 * i + 1]) << 8
            if v & expMask == expMask { v &= ~0x4000 }
            bytes[2 * i] = UInt8(v & 0xff)
            bytes[2 * i + 1] = UInt8(v >> 8)
        }
    default:
        for b in 0..<count / type.blockSize {
            for off in halfFields[type] ?? [] {
                let h = floatToFp16(Float.random(in: -0.05...0.05, using: &rng))
                bytes[b * type.typeSize + off] = UInt8(h & 0xff)
                bytes[b * type.typeSize + off + 1] = UInt8(h >> 8)
            }
        }
    }
    return bytes
}

/// Independent float64 decoding of one row. Returns each element's value and the magnitude of
/// the terms it is built from (the scale for rounding-error tolerances).
func decode64(_ type: GGMLType, _ b: [UInt8], count: Int) -> (values: [Double], magnitude: [Double]) {
    func half(_ o: Int) -> Double { Double(fp16Reference(UInt16(b[o]) | UInt16(b[o + 1]) << 8)) }
    func i8(_ o: Int) -> Double { Double(Int8(bitPattern: b[o])) }
    var v = [Double](repeating: 0, count: count), m = [Double](repeating: 0, count: count)
    for e in 0..<count {
        let blk = e / type.blockSize, i = e % type.blockSize, o = blk * type.typeSize
        switch type {
        case .f32:
            v[e] = Double(Float(bitPattern: UInt32(b[4 * e]) | UInt32(b[4 * e + 1]) << 8 | UInt32(b[4 * e + 2]) << 16 | UInt32(b[4 * e + 3]) << 24))
        case .f16:
            v[e] = half(2 * e)
        case .bf16:
            v[e] = Double(Float(bitPattern: (UInt32(b[2 * e]) | UInt32(b[2 * e + 1]) << 8) << 16))
        case .q8_0:
            // d (fp16) then 32 int8 quants: x = d * q.
            v[e] = half(o) * i8(o + 2 + i)
        case .q4_0:
            // d then 16 bytes; element i < 16 is the low nibble of byte i, element i >= 16 the high
            // nibble of byte i - 16; x = d * (q - 8).
            let q = i < 16 ? Int(b[o + 2 + i] & 15) : Int(b[o + 2 + i - 16] >> 4)
            v[e] = half(o) * Double(q - 8)
        case .q4_K, .q5_K:
            // Sub-block s = i / 32 has a 6-bit scale and min: s < 4 in the low 6 bits of
            // scales[s] and scales[s + 4]; s >= 4 in the nibbles of scales[s + 4] plus the top two
            // bits of scales[s - 4] (scale) and scales[s] (min). Quants of sub-blocks 2p and 2p+1
            // share byte 32p + l (low, high nibble); Q5_K adds bit s of qh[l] as 16.
            let s = i / 32, l = i % 32, sc = o + 4
            let scale = s < 4 ? Int(b[sc + s] & 63) : Int(b[sc + s + 4] & 15) | Int(b[sc + s - 4] >> 6) << 4
            let mn = s < 4 ? Int(b[sc + s + 4] & 63) : Int(b[sc + s + 4] >> 4) | Int(b[sc + s] >> 6) << 4
            let qsOff = type == .q4_K ? 16 : 48
            let byte = b[o + qsOff + 32 * (s / 2) + l]
            var q = s % 2 == 0 ? Int(byte & 15) : Int(byte >> 4)
            if type == .q5_K { q += Int((b[o + 16 + l] >> s) & 1) * 16 }
            let a = half(o) * Double(scale) * Double(q), c = half(o + 2) * Double(mn)
            v[e] = a - c
            m[e] = abs(a) + abs(c)
        case .q6_K:
            // Halves of 128: ql bytes 64h + l hold elements l (low) / l + 64 (high), bytes
            // 64h + 32 + l hold l + 32 / l + 96; qh[32h + l] holds their top two bits at
            // shifts 0, 2, 4, 6 for quarters 0..3. x = d * scale[i / 16] * (q - 32).
            let h = i / 128, r = i % 128, quarter = r / 32, l = r % 32
            let lowByte = b[o + 64 * h + l + 32 * (quarter % 2)]
            let low = quarter < 2 ? Int(lowByte & 15) : Int(lowByte >> 4)
            let high = Int((b[o + 128 + 32 * h + l] >> (2 * quarter)) & 3)
            v[e] = half(o + 208) * i8(o + 192 + i / 16) * Double((low | high << 4) - 32)
        case .q8_K:
            let d = Float(bitPattern: UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24)
            v[e] = Double(d) * i8(o + 4 + i)
        default:
            fatalError("no float64 decoder for \(type)")
        }
        if m[e] == 0 { m[e] = abs(v[e]) }
    }
    return (v, m)
}

/// IEEE half to Float through the platform's own Float16 where it exists.
func fp16Reference(_ h: UInt16) -> Float {
    #if !(os(macOS) && arch(x86_64))
    return Float(Float16(bitPattern: h))
    #else
    return fp16ToFloat(h)
    #endif
}

/// sqrt(sum (a-b)^2 / sum b^2).
func relRMS(_ a: [Float], _ b: [Float]) -> Double {
    var num = 0.0, den = 0.0
    for i in 0..<a.count {
        num += Double(a[i] - b[i]) * Double(a[i] - b[i])
        den += Double(b[i]) * Double(b[i])
    }
    return (num / den).squareRoot()
}

func quantize(_ type: GGMLType, _ x: [Float]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: type.byteCount(elements: x.count)!)
    x.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBytes { Kernels.quantizeRow(type: type, src.baseAddress!, $0.baseAddress!, count: x.count) }
    }
    return out
}

func dequantize(_ type: GGMLType, _ bytes: [UInt8], count: Int) -> [Float] {
    var out = [Float](repeating: .nan, count: count)
    bytes.withUnsafeBytes { src in
        out.withUnsafeMutableBufferPointer { Kernels.dequantizeRow(type: type, src.baseAddress!, $0.baseAddress!, count: count) }
    }
    return out
}

/// Quantised activations for `tokens` rows of `xs` (concatenated), through the public path.
func activations(for type: GGMLType, _ xs: [Float], count: Int, reference: Bool = false) -> QuantizedActivations {
    let tokens = xs.count / count
    var act = QuantizedActivations(type: type, count: count, tokens: tokens)
    xs.withUnsafeBufferPointer { p in
        for t in 0..<tokens {
            if reference {
                act.quantizeReference(p.baseAddress! + t * count, token: t)
            } else {
                act.quantize(p.baseAddress! + t * count, token: t)
            }
        }
    }
    return act
}

func activationBytes(_ act: QuantizedActivations, token: Int) -> [UInt8] {
    Array(UnsafeRawBufferPointer(start: act.row(token: token), count: act.rowBytes))
}

/// Runs `Kernels.matmul` (public dispatch when `path` is nil) over rows of a weight matrix.
func runMatmul(
    _ type: GGMLType, _ w: [UInt8], rows: Range<Int>, cols: Int, _ act: QuantizedActivations,
    tokens: Int, outStride: Int, path: Kernels.Path? = nil, weightOffset: Int = 0
) -> [Float] {
    let rowBytes = type.byteCount(elements: cols)!
    var out = [Float](repeating: .nan, count: outStride * tokens)
    w.withUnsafeBytes { wp in
        out.withUnsafeMutableBufferPointer { op in
            let base = wp.baseAddress! + weightOffset
            if let path {
                Kernels.matmul(
                    path: path, type: type, weights: base, rowBytes: rowBytes, cols: cols, rows: rows,
                    activations: act, tokens: tokens, out: op.baseAddress!, outStride: outStride)
            } else {
                Kernels.matmul(
                    type: type, weights: base, rowBytes: rowBytes, cols: cols, rows: rows,
                    activations: act, tokens: tokens, out: op.baseAddress!, outStride: outStride)
            }
        }
    }
    return out
}

let computeTypes: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_K, .q5_K, .q6_K]

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// sum |w_i a_i| over one weight row and one activation row, in float64: the scale for
/// float-summation-order tolerances.
func dotMagnitude(_ type: GGMLType, _ wRow: [UInt8], _ act: QuantizedActivations, token: Int) -> Double {
    let w = decode64(type, wRow, count: act.count).values
    let a = decode64(act.type, activationBytes(act, token: token), count: act.count).values
    return zip(w, a).reduce(0.0) { $0 + abs($1.0 * $1.1) }
}
