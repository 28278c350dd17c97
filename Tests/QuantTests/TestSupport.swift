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
let halfFields: [GGMLType: [Int]] = [
    .q8_0: [0], .q4_0: [0], .q4_K: [0, 2], .q5_K: [0, 2], .q6_K: [208], .q4_1: [0, 2], .q5_0: [0], .q5_1: [0, 2],
    .q8_1: [0, 2], .iq4_nl: [0], .iq4_xs: [0], .q2_K: [80, 82], .q3_K: [108],
    .iq2_xxs: [0], .iq2_xs: [0], .iq2_s: [0], .iq3_xxs: [0], .iq3_s: [0], .iq1_s: [0],
]

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
            // MXFP4's exponent byte: scales 2^-20...2^-1 (not inf, not 2^127).
            if type == .mxfp4 { bytes[b * type.typeSize] = UInt8.random(in: 107...126, using: &rng) }
            if type == .iq1_m { setIQ1MScale(&bytes, at: b * type.typeSize, floatToFp16(Float.random(in: -0.05...0.05, using: &rng))) }
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
    if type.isGridFormat {
        let v = decodeGrid64(type, b, count: count)
        return (v, v.map(abs))
    }
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
        case .q4_1, .q5_0, .q5_1:
            // Q4_1: d, m, 16 nibble bytes; Q5_0: d, 4 bytes of fifth bits, 16 nibble bytes;
            // Q5_1: d, m, fifth bits, nibbles. Element i < 16 is the low nibble of byte i,
            // i >= 16 the high nibble of byte i - 16; the fifth bit of element i is bit i of the
            // little-endian 32-bit word. Q5_0: x = d * (q - 16); Q4_1/Q5_1: x = d * q + m.
            let hasMin = type != .q5_0, five = type != .q4_1
            let qsOff = o + (hasMin ? 4 : 2) + (five ? 4 : 0), qhOff = o + (hasMin ? 4 : 2)
            var q = i < 16 ? Int(b[qsOff + i] & 15) : Int(b[qsOff + i - 16] >> 4)
            if five { q += Int((b[qhOff + i / 8] >> (i % 8)) & 1) * 16 }
            if hasMin {
                let a = half(o) * Double(q), c = half(o + 2)
                v[e] = a + c
                m[e] = abs(a) + abs(c)
            } else {
                v[e] = half(o) * Double(q - 16)
            }
        case .q8_1:
            // d, s (not an element), 32 int8 quants.
            v[e] = half(o) * i8(o + 4 + i)
        case .iq4_nl, .mxfp4:
            // IQ4_NL: fp16 d then 16 nibble bytes (Q4_0 order) indexing the IQ4_NL code book.
            // MXFP4: exponent byte e, scale 2^(e - 127) / 2, nibbles index doubled E2M1 values.
            let isNL = type == .iq4_nl, qs = o + (isNL ? 2 : 1)
            let q = i < 16 ? Int(b[qs + i] & 15) : Int(b[qs + i - 16] >> 4)
            let book = isNL ? [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]
                            : [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]
            let d = isNL ? half(o) : pow(2.0, Double(Int(b[o]) - 128))
            v[e] = d * Double(book[q])
        case .iq4_xs:
            // d, uint16 of high scale bit pairs (sub-block s at bits 2s), 4 bytes of low scale
            // nibbles (sub-block s: nibble s % 2 of byte s / 2), then 16 nibble bytes per
            // sub-block of 32 in Q4_0 order. x = d * (scale - 32) * iq4nl[q].
            let s = i / 32, j = i % 32
            let high = (Int(b[o + 2]) | Int(b[o + 3]) << 8) >> (2 * s) & 3
            let low = Int(b[o + 4 + s / 2] >> (4 * (s % 2))) & 15
            let qb = b[o + 8 + 16 * s + j % 16]
            let q = j < 16 ? Int(qb & 15) : Int(qb >> 4)
            let book = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]
            v[e] = half(o) * Double((low | high << 4) - 32) * Double(book[q])
        case .q2_K, .q3_K:
            // Element i = 128h + 32j + l: 2 bits at shift 2j of qs byte 32h + l (qs at 16 for
            // Q2_K, 32 for Q3_K). Q2_K: 16 scale bytes (low nibble scale, high nibble min per
            // 16 elements), d at 80, dmin at 82: x = d * sc * q - dmin * mn. Q3_K: hmask bit
            // 4h + j of byte l clear subtracts 4; 16 6-bit scales (low 4 bits in nibbles of
            // bytes 96..103, group g >= 8 in the high nibble of byte g - 8; top 2 bits in byte
            // 104 + g % 4 at shift 2 * (g / 4)), bias 32, d at 108: x = d * (sc - 32) * q.
            let h = i / 128, j = (i % 128) / 32, l = i % 32, g = i / 16
            let isQ2 = type == .q2_K
            var q = Int(b[o + (isQ2 ? 16 : 32) + 32 * h + l] >> (2 * j)) & 3
            if isQ2 {
                let a = half(o + 80) * Double(b[o + g] & 15) * Double(q), c = half(o + 82) * Double(b[o + g] >> 4)
                v[e] = a - c
                m[e] = abs(a) + abs(c)
            } else {
                if (b[o + l] >> (4 * h + j)) & 1 == 0 { q -= 4 }
                let low = g < 8 ? Int(b[o + 96 + g] & 15) : Int(b[o + 96 + g - 8] >> 4)
                let high = Int(b[o + 104 + g % 4] >> (2 * (g / 4))) & 3
                v[e] = half(o + 108) * Double((low | high << 4) - 32) * Double(q)
            }
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

let computeTypes: [GGMLType] = [
    .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl, .mxfp4, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs,
] + gridTypes

/// The grid formats (ggml writes them only with an importance matrix; ours uses ones).
let gridTypes: [GGMLType] = [.iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m]

/// Compute types hotmoe can also write (ggml's reference quantisers).
let quantizableTypes = computeTypes.filter(\.isQuantizeSupported)

/// Weights for a test: quantised Gaussian rows where hotmoe has a quantiser, else random blocks.
func testWeights(_ type: GGMLType, count: Int, _ rng: inout SplitMix64) -> [UInt8] {
    quantizableTypes.contains(type) ? quantize(type, gaussian(count, &rng, scale: 0.02)) : randomBlocks(type, count: count, &rng)
}

/// For Q8_1 activations (Q4_1/Q5_1 weights): sum over blocks of m_w * (s_a - sum a), the
/// difference between the dot that uses the block sums ggml stores in fp16 and the exact one.
func q8_1SumCorrection(_ type: GGMLType, _ wRow: [UInt8], _ act: [UInt8], count: Int) -> Double {
    guard type.vecDotType == .q8_1 else { return 0 }
    func half(_ b: [UInt8], _ o: Int) -> Double { Double(fp16Reference(UInt16(b[o]) | UInt16(b[o + 1]) << 8)) }
    var c = 0.0
    for blk in 0..<count / 32 {
        let a = (0..<32).reduce(0.0) { $0 + half(act, 36 * blk) * Double(Int8(bitPattern: act[36 * blk + 4 + $1])) }
        c += half(wRow, type.typeSize * blk + 2) * (half(act, 36 * blk + 2) - a)
    }
    return c
}

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
