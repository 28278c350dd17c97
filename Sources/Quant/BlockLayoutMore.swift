// Byte offsets of the formats read from downloaded files (Q4_1, Q5_0, Q5_1, Q8_1, IQ4_NL, MXFP4,
// IQ4_XS, Q2_K, Q3_K; ggml-common.h), the code books, and per-element decoders shared by
// dequantisation and the reference dot products.

/// `block_q4_1`: fp16 d, fp16 m, 16 bytes of nibbles (Q4_0's order); x = d * q + m.
enum Q4_1 {
    static let d = 0, m = 2, qs = 4
}

/// `block_q5_0`: fp16 d, 32 fifth bits (element j is bit j), 16 bytes of nibbles; x = d * (q - 16).
enum Q5_0 {
    static let d = 0, qh = 2, qs = 6
}

/// `block_q5_1`: fp16 d, fp16 m, 32 fifth bits, 16 bytes of nibbles; x = d * q + m.
enum Q5_1 {
    static let d = 0, m = 2, qh = 4, qs = 8
}

/// `block_q8_1` (activations of Q4_1/Q5_1): fp16 d, fp16 s = d * sum(qs), 32 int8 quants.
enum Q8_1 {
    static let d = 0, s = 2, qs = 4
}

/// `block_iq4_nl`: fp16 d, 16 bytes of nibbles indexing `iq4nlValues`; x = d * value.
enum IQ4_NL {
    static let d = 0, qs = 2
}

/// `block_mxfp4`: one E8M0 exponent byte, 16 bytes of nibbles indexing `mxfp4Values`
/// (twice the E2M1 values, so the scale is half the exponent's power of two).
enum MXFP4 {
    static let e = 0, qs = 1
}

/// ggml's `kvalues_iq4nl`: the non-linear 4-bit code book of IQ4_NL and IQ4_XS.
let iq4nlValues: [Int] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

/// ggml's `kvalues_mxfp4`: E2M1 values doubled.
let mxfp4Values: [Int] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]

/// ggml's `GGML_E8M0_TO_FP32_HALF`: 2^(e - 128), i.e. half the exponent's scale (exact,
/// including e < 2 where the result is subnormal).
@inline(__always)
func e8m0Half(_ e: Int) -> Float {
    Float(bitPattern: e < 2 ? UInt32(0x0020_0000) << UInt32(e) : UInt32(e - 1) << 23)
}

/// Nibble `j` (0..<32) of a 16-byte nibble array in Q4_0's order: element j < 16 is the low
/// nibble of byte j, element j >= 16 the high nibble of byte j - 16.
@inline(__always)
func nibble32(_ p: UnsafeRawPointer, _ qs: Int, _ j: Int) -> Int {
    j < 16 ? byte(p, qs + j) & 0xf : byte(p, qs + j - 16) >> 4
}

/// The unsigned 5-bit value of element j of a Q5_0/Q5_1 block: nibble plus bit j of qh.
@inline(__always)
func q5Value32(_ p: UnsafeRawPointer, qh: Int, qs: Int, _ j: Int) -> Int {
    let bits = p.loadUnaligned(fromByteOffset: qh, as: UInt32.self)
    return nibble32(p, qs, j) | Int((bits >> UInt32(j)) & 1) << 4
}

/// The signed integer weight of element j of a 32-element block (before the block scale; for
/// Q4_1/Q5_1 unsigned, the min is added separately).
@inline(__always)
func b32Value(_ type: GGMLType, _ x: UnsafeRawPointer, _ j: Int) -> Int {
    switch type {
    case .q8_0: return int8(x, Q8_0.qs + j)
    case .q8_1: return int8(x, Q8_1.qs + j)
    case .q4_0: return nibble32(x, Q4_0.qs, j) - 8
    case .q4_1: return nibble32(x, Q4_1.qs, j)
    case .q5_0: return q5Value32(x, qh: Q5_0.qh, qs: Q5_0.qs, j) - 16
    case .q5_1: return q5Value32(x, qh: Q5_1.qh, qs: Q5_1.qs, j)
    case .iq4_nl: return iq4nlValues[nibble32(x, IQ4_NL.qs, j)]
    case .mxfp4: return mxfp4Values[nibble32(x, MXFP4.qs, j)]
    default: preconditionFailure("\(type) is not a 32-element block format")
    }
}

/// The multiplier of a 32-element block's integer weights.
@inline(__always)
func b32Scale(_ type: GGMLType, _ x: UnsafeRawPointer) -> Float {
    type == .mxfp4 ? e8m0Half(byte(x, MXFP4.e)) : loadHalf(x, 0)
}

/// `block_iq4_xs`: fp16 d, 16 high scale bit pairs, 4 bytes of low scale nibbles, 128 bytes of
/// nibbles (sub-block ib of 32 at 16 * ib, Q4_0's order inside it).
enum IQ4_XS {
    static let d = 0, scalesH = 2, scalesL = 4, qs = 8
}

/// The 6-bit scale of sub-block ib (0..<8) of an IQ4_XS block, bias 32 removed.
@inline(__always)
func iq4xsScale(_ x: UnsafeRawPointer, _ ib: Int) -> Int {
    let high = Int(x.loadUnaligned(fromByteOffset: IQ4_XS.scalesH, as: UInt16.self) >> UInt16(2 * ib)) & 3
    return ((byte(x, IQ4_XS.scalesL + ib / 2) >> (4 * (ib % 2))) & 0xf | high << 4) - 32
}

/// `block_q2_K`: 16 bytes of (4-bit scale, 4-bit min) per 16 elements, 64 bytes of 2-bit
/// quants, fp16 d, fp16 dmin.
enum Q2_K {
    static let scales = 0, qs = 16, d = 80, dmin = 82
}

/// `block_q3_K`: 32 bytes of high bits, 64 bytes of 2-bit quants, 12 bytes of packed 6-bit
/// scales, fp16 d.
enum Q3_K {
    static let hmask = 0, qs = 32, scales = 96, d = 108
}

/// The 2-bit quant of element i (0..<256) of a Q2_K/Q3_K block: elements 128h + 32j + l sit at
/// bits 2j of byte 32h + l of `qs`.
@inline(__always)
func q2Bits(_ x: UnsafeRawPointer, qs: Int, _ i: Int) -> Int {
    let h = i / 128, j = (i % 128) / 32, l = i % 32
    return (byte(x, qs + 32 * h + l) >> (2 * j)) & 3
}

/// The signed 3-bit value (-4...3) of element i of a Q3_K block: a clear high bit (bit 4h + j
/// of hmask[l]) subtracts 4.
@inline(__always)
func q3Value(_ x: UnsafeRawPointer, _ i: Int) -> Int {
    let h = i / 128, j = (i % 128) / 32, l = i % 32
    let high = (byte(x, Q3_K.hmask + l) >> (4 * h + j)) & 1
    return q2Bits(x, qs: Q3_K.qs, i) - (high == 1 ? 0 : 4)
}

/// The 6-bit scale of group g (0..<16 of 16 elements) of a Q3_K block, bias 32 removed: low
/// nibble from byte g (g < 8) or the high nibble of byte g - 8, top two bits from byte
/// 8 + g % 4 at shift 2 * (g / 4).
@inline(__always)
func q3Scale(_ x: UnsafeRawPointer, _ g: Int) -> Int {
    let s = Q3_K.scales
    let low = g < 8 ? byte(x, s + g) & 0xf : byte(x, s + g - 8) >> 4
    let high = (byte(x, s + 8 + g % 4) >> (2 * (g / 4))) & 3
    return (low | high << 4) - 32
}
