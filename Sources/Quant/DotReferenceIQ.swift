// Reference dot products of the grid formats (BlockLayoutIQ.swift) with Q8_K activations:
// exact integer sums per block, accumulated over blocks in float64. The C kernels keep ggml's
// float order instead (iquant_portable.c), so they agree with this within rounding.

extension DotReference {
    /// sum over blocks of d_w * d_a * factor * (sum (2s + 1) * value * q8 + sum (2s + 1) * shift * q8 / 8),
    /// where the dequantised weight is d_w * factor * (2s + 1) * (value + shift / 8).
    static func grid(_ type: GGMLType, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer, _ blocks: Int) -> Float {
        let factor: Double = switch type {
        case .iq2_xxs, .iq2_xs, .iq2_s: 0.125
        case .iq3_xxs: 0.25
        default: 1
        }
        var sum: Double = 0
        for b in 0..<blocks {
            let x = w + type.typeSize * b, y = a + GGMLType.q8_K.typeSize * b
            var sumi = 0, shifts = 0
            for i in 0..<qkK {
                let g = gridWeight(type, x, i), q = int8(y, Q8_K.qs + i)
                sumi += (2 * g.scale + 1) * g.value * q
                shifts += (2 * g.scale + 1) * g.shift * q
            }
            let yd = Double(y.loadUnaligned(fromByteOffset: Q8_K.d, as: Float.self))
            sum += Double(gridBlockScale(type, x)) * yd * factor * (Double(sumi) + Double(shifts) / 8)
        }
        return Float(sum)
    }
}
