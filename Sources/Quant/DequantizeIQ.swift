// Dequantisers of the grid formats (BlockLayoutIQ.swift) in ggml's dequantize_row_iq*
// arithmetic: the group multiplier first (d * (0.5 + s) * 0.25 for IQ2, d * (0.5 + s) * 0.5 for
// IQ3_XXS, d * (1 + 2s) for IQ3_S, d * (2s + 1) for IQ1), then times the grid value (IQ1: the
// grid value plus its shift of +-1/8).

extension Dequantize {
    static func grid(_ type: GGMLType, _ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = gridBlockScale(type, x)
        for i in 0..<qkK {
            let w = gridWeight(type, x, i)
            let s = Float(w.scale)
            switch type {
            case .iq2_xxs, .iq2_xs, .iq2_s: y[i] = d * (0.5 + s) * 0.25 * Float(w.value)
            case .iq3_xxs: y[i] = d * (0.5 + s) * 0.5 * Float(w.value)
            case .iq3_s: y[i] = d * Float(1 + 2 * w.scale) * Float(w.value)
            default: y[i] = d * Float(2 * w.scale + 1) * (Float(w.value) + Float(w.shift) * 0.125)
            }
        }
    }
}
