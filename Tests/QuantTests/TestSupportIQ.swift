// The float64 decoder of the grid formats for decode64, written from the block layouts in
// ggml-common.h (the code books are the generated tables, checked against gguf-py's own
// encodings of them by GoldenTests), and random IQ1_M scales for randomBlocks.
import CKernels
@testable import Quant

/// Gives an IQ1_M block (56 bytes at `o`) the fp16 scale `h`: its four nibbles are the top
/// nibbles of the block's uint16 scale words at bytes 48..<56, lowest nibble in the first word.
func setIQ1MScale(_ bytes: inout [UInt8], at o: Int, _ h: UInt16) {
    for k in 0..<4 { bytes[o + 49 + 2 * k] = bytes[o + 49 + 2 * k] & 0x0f | UInt8((h >> (4 * k)) & 0xf) << 4 }
}

/// Values of one row of a grid format in float64 (see decode64).
func decodeGrid64(_ type: GGMLType, _ b: [UInt8], count: Int) -> [Double] {
    func half(_ bits: Int) -> Double { Double(fp16Reference(UInt16(bits))) }
    func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
    func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
    // Byte j of a code-book entry (little-endian), and bit j of a sign byte as a factor.
    func entryByte(_ e: UInt64, _ j: Int) -> Int { Int((e >> UInt64(8 * j)) & 0xff) }
    func sign(_ s: Int, _ j: Int) -> Double { (s >> j) & 1 == 1 ? -1 : 1 }
    var v = [Double](repeating: 0, count: count)
    for e in 0..<count {
        let o = e / 256 * type.typeSize, i = e % 256
        let ib = i / 32, l = (i % 32) / 8, j = i % 8
        switch type {
        case .iq2_xxs:
            // Per 32: 4 index bytes, then a uint32 of four 7-bit sign indices and a 4-bit
            // scale s on top; x = d * (2s + 1) / 8 * grid * sign.
            let aux = u32(o + 2 + 8 * ib + 4)
            let g = entryByte(hm_iq2xxs_grid_table[Int(b[o + 2 + 8 * ib + l])], j)
            let s = Int(hm_ksigns_iq2xs_table[(aux >> (7 * l)) & 127])
            v[e] = half(u16(o)) * Double(2 * (aux >> 28) + 1) / 8 * Double(g) * sign(s, j)
        case .iq2_xs, .iq2_s:
            // IQ2_XS: a uint16 per 8 (9-bit index, 7-bit sign index), scale nibbles at 66.
            // IQ2_S: index bytes at 2 with 2 high bits per 8 in qh[ib] (66), full sign bytes
            // at 34, scale nibbles at 74. Low nibble: first 16 of the 32, high: second 16.
            let g: Int, s: Int, sc: Int
            if type == .iq2_xs {
                let q = u16(o + 2 + 2 * (4 * ib + l))
                g = entryByte(hm_iq2xs_grid_table[q & 511], j)
                s = Int(hm_ksigns_iq2xs_table[q >> 9])
                sc = Int(b[o + 66 + ib])
            } else {
                let high = (Int(b[o + 66 + ib]) >> (2 * l)) & 3
                g = entryByte(hm_iq2s_grid_table[Int(b[o + 2 + 4 * ib + l]) | high << 8], j)
                s = Int(b[o + 34 + 4 * ib + l])
                sc = Int(b[o + 74 + ib])
            }
            let scale = l < 2 ? sc & 15 : sc >> 4
            v[e] = half(u16(o)) * Double(2 * scale + 1) / 8 * Double(g) * sign(s, j)
        case .iq3_xxs:
            // 64 index bytes (one per 4), then per 32 a uint32 of sign indices and the scale.
            let aux = u32(o + 66 + 4 * ib)
            let g = entryByte(UInt64(hm_iq3xxs_grid_table[Int(b[o + 2 + 8 * ib + 2 * l + j / 4])]), j % 4)
            let s = Int(hm_ksigns_iq2xs_table[(aux >> (7 * l)) & 127])
            v[e] = half(u16(o)) * Double(2 * (aux >> 28) + 1) / 4 * Double(g) * sign(s, j)
        case .iq3_s:
            // Index byte k of the 32 at 2 + 8ib + k with bit k of qh[ib] (66) as its ninth bit,
            // sign bytes at 74, a scale nibble per 32 at 106; x = d * (2s + 1) * grid * sign.
            let k = 2 * l + j / 4
            let index = Int(b[o + 2 + 8 * ib + k]) | ((Int(b[o + 66 + ib]) >> k) & 1) << 8
            let g = entryByte(UInt64(hm_iq3s_grid_table[index]), j % 4)
            let scale = (Int(b[o + 106 + ib / 2]) >> (4 * (ib % 2))) & 15
            v[e] = half(u16(o)) * Double(2 * scale + 1) * Double(g) * sign(Int(b[o + 74 + 4 * ib + l]), j)
        case .iq1_s:
            // Index bytes at 2; per 32 a uint16 at 34 with 3 high index bits per 8, the 3-bit
            // scale at bit 12 and the shift sign at bit 15; x = d * (2s + 1) * (grid +- 1/8).
            let qh = u16(o + 34 + 2 * ib)
            let g = Int8(truncatingIfNeeded: entryByte(hm_iq1s_grid_table[Int(b[o + 2 + 4 * ib + l]) | ((qh >> (3 * l)) & 7) << 8], j))
            let shift = qh & 0x8000 != 0 ? -0.125 : 0.125
            v[e] = half(u16(o)) * Double(2 * ((qh >> 12) & 7) + 1) * (Double(g) + shift)
        case .iq1_m:
            // Index bytes at 0; a qh nibble per 8 (3 high index bits, shift sign in bit 3);
            // 3-bit scales per 16 in the uint16 words at 48; d from the words' top nibbles.
            let h = (Int(b[o + 32 + 2 * ib + l / 2]) >> (4 * (l % 2))) & 15
            let g = Int8(truncatingIfNeeded: entryByte(hm_iq1s_grid_table[Int(b[o + 4 * ib + l]) | (h & 7) << 8], j))
            let d = (0..<4).reduce(0) { $0 | (u16(o + 48 + 2 * $1) >> 12) << (4 * $1) }
            let scale = (u16(o + 48 + 2 * (ib / 2)) >> (6 * (ib % 2) + 3 * (l / 2))) & 7
            v[e] = half(d) * Double(2 * scale + 1) * (Double(g) + (h & 8 != 0 ? -0.125 : 0.125))
        default:
            fatalError("\(type) is not a grid format")
        }
    }
    return v
}
