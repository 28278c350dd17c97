// Byte offsets inside ggml's packed block structs (ggml-common.h) and small shared helpers.
// Blocks are read through raw pointers with unaligned loads: rows inside a GGUF tensor are
// only byte-aligned for types whose block size is not a multiple of 4 (e.g. Q4_0's 18 bytes).

/// `block_q4_0`: fp16 d, then 16 bytes of nibbles (element j low nibble, j+16 high nibble).
enum Q4_0 {
    static let d = 0, qs = 2
}

/// `block_q8_0`: fp16 d, then 32 int8 quants.
enum Q8_0 {
    static let d = 0, qs = 2
}

/// `block_q4_K`: fp16 d, fp16 dmin, 12 bytes of packed 6-bit scales/mins, 128 bytes of nibbles.
enum Q4_K {
    static let d = 0, dmin = 2, scales = 4, qs = 16
}

/// `block_q5_K`: as Q4_K plus 32 bytes of fifth bits before the nibbles.
enum Q5_K {
    static let d = 0, dmin = 2, scales = 4, qh = 16, qs = 48
}

/// `block_q6_K`: 128 bytes low nibbles, 64 bytes 2-bit highs, 16 int8 scales, fp16 d (last).
enum Q6_K {
    static let ql = 0, qh = 128, scales = 192, d = 208
}

/// `block_q8_K`: float d, 256 int8 quants, 16 int16 sums of 16 quants each.
enum Q8_K {
    static let d = 0, qs = 4, bsums = 260
}

/// Elements per K-quant super-block.
let qkK = 256

@inline(__always)
func loadHalf(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    fp16ToFloat(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}

@inline(__always)
func storeHalf(_ p: UnsafeMutableRawPointer, _ offset: Int, _ v: Float) {
    p.storeBytes(of: floatToFp16(v), toByteOffset: offset, as: UInt16.self)
}

@inline(__always)
func byte(_ p: UnsafeRawPointer, _ offset: Int) -> Int {
    Int(p.load(fromByteOffset: offset, as: UInt8.self))
}

/// ORs bits into one byte of a block being written (fields that share a byte).
@inline(__always)
func orByte(_ p: UnsafeMutableRawPointer, _ offset: Int, _ v: Int) {
    p.storeBytes(of: UInt8(truncatingIfNeeded: byte(p, offset) | v), toByteOffset: offset, as: UInt8.self)
}

@inline(__always)
func int8(_ p: UnsafeRawPointer, _ offset: Int) -> Int {
    Int(p.load(fromByteOffset: offset, as: Int8.self))
}

/// ggml's `nearest_int`: round-to-nearest-even through the 1.5*2^23 trick. Valid for
/// |f| <= 2^22; outside that it returns garbage exactly like ggml instead of trapping.
@inline(__always)
func nearestInt(_ f: Float) -> Int {
    let v = f + 12_582_912.0
    return Int(v.bitPattern & 0x007f_ffff) - 0x0040_0000
}

/// ggml's `get_scale_min_k4`: the j-th 6-bit (scale, min) pair of a Q4_K/Q5_K block,
/// where `q` points at the 12 packed scale bytes.
@inline(__always)
func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (scale: Int, min: Int) {
    if j < 4 {
        return (byte(q, j) & 63, byte(q, j + 4) & 63)
    }
    let sc = (byte(q, j + 4) & 0xf) | ((byte(q, j - 4) >> 6) << 4)
    let m = (byte(q, j + 4) >> 4) | ((byte(q, j) >> 6) << 4)
    return (sc, m)
}

/// Packs eight 6-bit (scale, min) pairs into ggml's 12-byte layout (inverse of `scaleMinK4`).
func packScaleMinK4(_ ls: SIMD8<Int32>, _ lm: SIMD8<Int32>, _ q: UnsafeMutableRawPointer) {
    let b = q.assumingMemoryBound(to: UInt8.self)
    for i in 0..<12 { b[i] = 0 }
    for j in 0..<8 {
        let s = Int(ls[j]), m = Int(lm[j])
        if j < 4 {
            b[j] = UInt8(s)
            b[j + 4] = UInt8(m)
        } else {
            b[j + 4] = UInt8((s & 0xf) | ((m & 0xf) << 4))
            b[j - 4] |= UInt8((s >> 4) << 6)
            b[j] |= UInt8((m >> 4) << 6)
        }
    }
}

/// The 5-bit value of element `l` (0..<32) in sub-block pair `pair` (0..<4), half `hi`
/// (0 = low nibble / even sub-block) of a Q5_K block.
@inline(__always)
func q5Value(_ block: UnsafeRawPointer, pair: Int, hi: Int, l: Int) -> Int {
    let b = byte(block, Q5_K.qs + 32 * pair + l)
    let low = hi == 0 ? b & 0xf : b >> 4
    let high = (byte(block, Q5_K.qh + l) >> (2 * pair + hi)) & 1
    return low | (high << 4)
}

/// The unsigned 6-bit value (0..<64, bias 32 not removed) of element `i` (0..<256) of a Q6_K block.
@inline(__always)
func q6Value(_ block: UnsafeRawPointer, _ i: Int) -> Int {
    let half = i / 128, r = i % 128
    let quarter = r / 32, l = r % 32
    // quarters 0,1 use low nibbles of ql[l], ql[l+32]; quarters 2,3 the high nibbles.
    let b = byte(block, Q6_K.ql + 64 * half + l + 32 * (quarter & 1))
    let low = quarter < 2 ? b & 0xf : b >> 4
    let high = (byte(block, Q6_K.qh + 32 * half + l) >> (2 * quarter)) & 3
    return low | (high << 4)
}
