// Dot products of the reference kernels against float64 arithmetic, and of the whole
// quantise-then-dot pipeline against a plain float dot product.
import Testing
@testable import Quant

@Suite struct DotReferenceTests {
    /// The reference dot equals sum(dequant(w) * dequant(act)) computed in float64, up to float
    /// rounding of the per-block partial sums (1e-5 of sum |w a|). For Q4_1/Q5_1 the min term
    /// uses the fp16 block sums of Q8_1 (as ggml), so the float64 side uses them too.
    @Test(arguments: computeTypes)
    func matchesFloat64OfDequantisedOperands(type: GGMLType) {
        var (rng, seed) = freshRNG()
        let cols = 1024, rows = 3
        let w = randomBlocks(type, count: cols * rows, &rng)
        let act = activations(for: type, gaussian(cols, &rng, outliers: true), count: cols, reference: true)
        let y = runMatmul(type, w, rows: 0..<rows, cols: cols, act, tokens: 1, outStride: rows, path: .reference)
        let a = decode64(act.type, activationBytes(act, token: 0), count: cols).values
        let rowBytes = type.byteCount(elements: cols)!
        for r in 0..<rows {
            let wRow = Array(w[r * rowBytes..<(r + 1) * rowBytes])
            let wr = decode64(type, wRow, count: cols).values
            var exact = q8_1SumCorrection(type, wRow, activationBytes(act, token: 0), count: cols), mag = 0.0
            for i in 0..<cols {
                exact += wr[i] * a[i]
                mag += abs(wr[i] * a[i])
            }
            #expect(abs(Double(y[r]) - exact) <= 1e-5 * mag, "\(type) row \(r): \(y[r]) vs \(exact) seed=\(seed)")
        }
    }

    /// Quantising the activations changes the dot product by no more than the activation
    /// rounding allows: each element moves by at most half a quantisation step (plus the fp16
    /// rounding of the block scale), so |dot - dot_float| <= sum |w_i| * err_i. Q8_1's block sum
    /// s (fp16, from the unrounded scale) adds up to |m| * |sum a| * 2^-10 per block.
    @Test(arguments: computeTypes)
    func tracksFloatDotWithinActivationError(type: GGMLType) {
        var (rng, seed) = freshRNG()
        let cols = 2048
        let x = gaussian(cols, &rng, outliers: true)
        let w = testWeights(type, count: cols, &rng)
        let wf = dequantize(type, w, count: cols)
        let act = activations(for: type, x, count: cols)
        let y = runMatmul(type, w, rows: 0..<1, cols: cols, act, tokens: 1, outStride: 1)[0]
        var plain = 0.0, bound = 0.0
        let block = act.type.blockSize
        for b in 0..<cols / block {
            let range = b * block..<(b + 1) * block
            let amax = range.map { Double(abs(x[$0])) }.max()!
            for i in range {
                plain += Double(wf[i]) * Double(x[i])
                let err: Double
                switch act.type {
                case .f32: err = 0
                case .f16: err = Double(abs(x[i])) * 0x1p-11
                case .bf16: err = Double(abs(x[i])) * 0x1p-8
                default: err = amax / 254 + Double(abs(x[i])) * 0x1p-10
                }
                bound += Double(abs(wf[i])) * err * 1.01 + 1e-6 * Double(abs(wf[i] * x[i]))
            }
            if act.type == .q8_1 {
                let a = decode64(.q8_1, activationBytes(act, token: 0), count: cols).values
                let o = b * type.typeSize + 2
                let m = Double(fp16Reference(UInt16(w[o]) | UInt16(w[o + 1]) << 8))
                bound += abs(m) * abs(range.reduce(0.0) { $0 + a[$1] }) * 0x1p-10 * 1.01
            }
        }
        #expect(abs(Double(y) - plain) <= bound, "\(type): \(y) vs float \(plain), bound \(bound) seed=\(seed)")
    }
}
