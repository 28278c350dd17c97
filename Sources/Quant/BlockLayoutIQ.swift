import CKernels

// The grid formats IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S and IQ1_M (ggml-common.h):
// each group of 8 weights (IQ3: two groups of 4) is an index into a code book (iquant_grids.c,
// generated from ggml-common.h by tools/quant/gen_iq_grids.py) plus 8 sign bits (IQ2/IQ3) or
// a shared +-1/8 shift (IQ1), times an odd scale 2s + 1 per 16 or 32 weights and the block's
// fp16 d. Element i of a block sits in sub-block i / 32, group (i % 32) / 8, place i % 8.

/// One weight of a grid-format block: the signed grid value (IQ2/IQ3: magnitude with its sign;
/// IQ1: -1, 0 or 1), the raw scale s of its group (the multiplier is 2s + 1) and, for IQ1,
/// the sign of its 1/8 shift (0 for the others).
struct GridWeight {
    var value: Int, scale: Int, shift: Int
}

/// Byte offsets of the block fields (after the fp16 d at 0, except IQ1_M which has none).
enum IQ2_XXS { static let qs = 2 }  // 8 bytes per sub-block: 4 grid indices, then a uint32 of 4x7 sign bits and the 4-bit scale
enum IQ2_XS { static let qs = 2, scales = 66 }  // uint16 per group: 9-bit index, 7 sign bits
enum IQ2_S { static let qs = 2, signs = 34, qh = 66, scales = 74 }
enum IQ3_XXS { static let qs = 2, scalesAndSigns = 66 }
enum IQ3_S { static let qs = 2, qh = 66, signs = 74, scales = 106 }
enum IQ1_S { static let qs = 2, qh = 34 }
enum IQ1_M { static let qs = 0, qh = 32, scales = 48 }

/// Byte j (0..<8) of a code-book entry, in memory order.
@inline(__always)
private func gridByte(_ entry: UInt64, _ j: Int) -> Int { Int(truncatingIfNeeded: (entry >> UInt64(8 * j)) & 0xff) }

/// The 8 sign bits of a 7-bit index: ggml's ksigns_iq2xs (the eighth makes the count of minus
/// signs even).
@inline(__always)
private func evenSigns(_ index: Int) -> Int { Int(hm_ksigns_iq2xs_table[index & 127]) }

@inline(__always)
private func signed(_ magnitude: Int, _ signs: Int, _ j: Int) -> Int { (signs >> j) & 1 == 1 ? -magnitude : magnitude }

@inline(__always)
private func u16(_ x: UnsafeRawPointer, _ offset: Int) -> Int { Int(x.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }

@inline(__always)
private func u32(_ x: UnsafeRawPointer, _ offset: Int) -> Int { Int(x.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }

/// The IQ1_M block's fp16 scale bits (it has no d field): the top nibbles of its four uint16
/// scale words at bytes 48..<56, lowest word first.
public func iq1mScaleBits(_ x: UnsafeRawPointer) -> UInt16 {
    let s = IQ1_M.scales
    return UInt16((u16(x, s) >> 12) | ((u16(x, s + 2) >> 8) & 0x00f0) | ((u16(x, s + 4) >> 4) & 0x0f00) | (u16(x, s + 6) & 0xf000))
}

/// Element i (0..<256) of a grid-format block.
func gridWeight(_ type: GGMLType, _ x: UnsafeRawPointer, _ i: Int) -> GridWeight {
    let ib = i / 32, l = (i % 32) / 8, j = i % 8
    switch type {
    case .iq2_xxs:
        let aux = u32(x, IQ2_XXS.qs + 8 * ib + 4)
        let g = gridByte(hm_iq2xxs_grid_table[byte(x, IQ2_XXS.qs + 8 * ib + l)], j)
        return GridWeight(value: signed(g, evenSigns(aux >> (7 * l)), j), scale: aux >> 28, shift: 0)
    case .iq2_xs:
        let q = u16(x, IQ2_XS.qs + 2 * (4 * ib + l))
        let g = gridByte(hm_iq2xs_grid_table[q & 511], j)
        return GridWeight(value: signed(g, evenSigns(q >> 9), j), scale: (byte(x, IQ2_XS.scales + ib) >> (4 * (l / 2))) & 0xf, shift: 0)
    case .iq2_s:
        let index = byte(x, IQ2_S.qs + 4 * ib + l) | ((byte(x, IQ2_S.qh + ib) << (8 - 2 * l)) & 0x300)
        let g = gridByte(hm_iq2s_grid_table[index], j)
        return GridWeight(value: signed(g, byte(x, IQ2_S.signs + 4 * ib + l), j),
                          scale: (byte(x, IQ2_S.scales + ib) >> (4 * (l / 2))) & 0xf, shift: 0)
    case .iq3_xxs:
        let aux = u32(x, IQ3_XXS.scalesAndSigns + 4 * ib)
        let entry = UInt64(hm_iq3xxs_grid_table[byte(x, IQ3_XXS.qs + 8 * ib + 2 * l + j / 4)])
        return GridWeight(value: signed(gridByte(entry, j % 4), evenSigns(aux >> (7 * l)), j), scale: aux >> 28, shift: 0)
    case .iq3_s:
        // Grid index k of the sub-block takes its ninth bit from bit k of qh[ib].
        let k = 2 * l + j / 4
        let index = byte(x, IQ3_S.qs + 8 * ib + k) | ((byte(x, IQ3_S.qh + ib) << (8 - k)) & 256)
        let g = gridByte(UInt64(hm_iq3s_grid_table[index]), j % 4)
        return GridWeight(value: signed(g, byte(x, IQ3_S.signs + 4 * ib + l), j),
                          scale: (byte(x, IQ3_S.scales + ib / 2) >> (4 * (ib % 2))) & 0xf, shift: 0)
    case .iq1_s:
        let qh = u16(x, IQ1_S.qh + 2 * ib)
        let entry = hm_iq1s_grid_table[byte(x, IQ1_S.qs + 4 * ib + l) | (((qh >> (3 * l)) & 7) << 8)]
        return GridWeight(value: Int(Int8(truncatingIfNeeded: gridByte(entry, j))), scale: (qh >> 12) & 7, shift: qh & 0x8000 != 0 ? -1 : 1)
    case .iq1_m:
        // Each qh nibble: 3 high index bits and the shift sign of one group; the uint16 scale
        // word ib / 2 holds 3-bit scales at 6 * (ib % 2) (first half) and 3 above it.
        let h = byte(x, IQ1_M.qh + 2 * ib + l / 2) >> (4 * (l % 2))
        let entry = hm_iq1s_grid_table[byte(x, IQ1_M.qs + 4 * ib + l) | ((h & 7) << 8)]
        let scale = (u16(x, IQ1_M.scales + 2 * (ib / 2)) >> (6 * (ib % 2) + 3 * (l / 2))) & 7
        return GridWeight(value: Int(Int8(truncatingIfNeeded: gridByte(entry, j))), scale: scale, shift: h & 8 != 0 ? -1 : 1)
    default:
        preconditionFailure("\(type) is not a grid format")
    }
}

extension GGMLType {
    /// IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S.
    var isGridFormat: Bool {
        switch self {
        case .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m: true
        default: false
        }
    }
}

/// The block scale d of a grid-format block.
@inline(__always)
func gridBlockScale(_ type: GGMLType, _ x: UnsafeRawPointer) -> Float {
    type == .iq1_m ? fp16ToFloat(iq1mScaleBits(x)) : loadHalf(x, 0)
}
