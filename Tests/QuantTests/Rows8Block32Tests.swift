import Testing
@testable import Quant

/// Q4_1, Q5_0, Q5_1, IQ4_NL and MXFP4 repacked eight rows at a time (b32_rows8_x86.c), both
/// instruction sets where the CPU has them, on fresh random blocks: within float rounding of the
/// Swift reference (DotReference.block32), and bit for bit the order they claim: IQ4_NL and MXFP4
/// llama.cpp's repacked one (`repackedOrderDot` below), Q4_1/Q5_0/Q5_1 ggml_vec_dot's (the per-row
/// AVX2 kernel). 1, 2-4, 5-7 and 9 tokens (the kernel takes four at a time), a row range that
/// starts at row 8, output rows between token rows left untouched.
@Suite(.enabled(if: Kernels.usesSIMD, "the rows8 kernels need AVX2"))
struct Rows8Block32Tests {
    static let types: [GGMLType] = [.q4_1, .q5_0, .q5_1, .iq4_nl, .mxfp4]
    static let instructionSets: [Bool] = CPU.avx512vnni ? [false, true] : [false]

    @Test(arguments: types, instructionSets)
    func repackedMatchesReferenceAndClaimedOrder(type: GGMLType, vnni: Bool) {
        let kernel = Kernels.rows8Kernel(type, vnni: vnni)!
        var (rng, seed) = freshRNG()
        for cols in [32, 96, 1024, 4096] {
            let rows = 24, sub = 8..<24, stride = sub.count + 2
            var w = randomBlocks(type, count: cols * rows, &rng, fullRange: true)
            // MXFP4 exponents at the ends of the range too (subnormal 2^-128, 2^-127; 2^72).
            if type == .mxfp4 {
                let blocks = cols * rows / 32
                for (k, e) in [0, 1, 2, 200].enumerated() { w[(blocks / 2 + 3 * k) * type.typeSize] = UInt8(e) }
            }
            let rowBytes = type.byteCount(elements: cols)!
            #expect(Kernels.canRepackRows8(type: type, rows: rows, cols: cols))
            #expect(Kernels.rows8RowBytes(type: type, cols: cols) == rowBytes)
            var packed = [UInt8](repeating: 0, count: rows * rowBytes)
            w.withUnsafeBytes { src in
                packed.withUnsafeMutableBytes { dst in
                    Kernels.repackRows8(type: type, source: src.baseAddress!, rowBytes: rowBytes, rows: rows, cols: cols,
                                        into: dst.baseAddress!)
                }
            }
            for tokens in [1, Int.random(in: 2...4, using: &rng), Int.random(in: 5...7, using: &rng), 9] {
                let act = activations(for: type, gaussian(cols * tokens, &rng, outliers: true), count: cols)
                var got = [Float](repeating: .nan, count: stride * tokens)
                packed.withUnsafeBytes { wp in
                    got.withUnsafeMutableBufferPointer { op in
                        kernel(wp.baseAddress! + sub.lowerBound * rowBytes, rowBytes, Int64(cols), Int64(sub.count),
                               act.row(token: 0), act.rowBytes, Int64(tokens), op.baseAddress!, Int64(stride))
                    }
                }
                let ref = runMatmul(type, w, rows: sub, cols: cols, act, tokens: tokens, outStride: stride, path: .reference)
                let vecDot = runMatmul(type, w, rows: sub, cols: cols, act, tokens: tokens, outStride: stride, path: .simd)
                for t in 0..<tokens {
                    for r in sub {
                        let i = (r - sub.lowerBound) + t * stride
                        let row = Array(w[r * rowBytes..<(r + 1) * rowBytes])
                        let mag = dotMagnitude(type, row, act, token: t)
                        let context = "\(type) vnni \(vnni) cols \(cols) tokens \(tokens) r \(r) t \(t) seed=\(seed)"
                        #expect(abs(Double(got[i]) - Double(ref[i])) <= 1e-5 * mag + 1e-30, "\(context): \(got[i]) vs \(ref[i])")
                        let claimed = type == .iq4_nl || type == .mxfp4
                            ? repackedOrderDot(type, row, activationBytes(act, token: t), blocks: cols / 32) : vecDot[i]
                        #expect(got[i].bitPattern == claimed.bitPattern, "\(context): \(got[i]) vs claimed order \(claimed)")
                    }
                    #expect(got[t * stride + sub.count].isNaN && got[t * stride + sub.count + 1].isNaN, "\(type) wrote past its rows")
                }
            }
        }
    }

    /// The public dispatch takes the rows8 kernels for these types and only on whole groups.
    @Test func publicDispatchRepacksWholeGroups() {
        for type in Self.types {
            #expect(Kernels.canRepackRows8(type: type, rows: 16, cols: 64))
            #expect(!Kernels.canRepackRows8(type: type, rows: 12, cols: 64))
        }
    }
}

/// llama.cpp's repacked IQ4_NL / MXFP4 order (ggml-cpu/arch/x86/repack.cpp,
/// gemv/gemm_q4_b32_8x8_q8_0_lut_avx): the block's exact integer sum, then
/// acc = fma(float(sum), d_w * d_a, acc).
func repackedOrderDot(_ type: GGMLType, _ row: [UInt8], _ act: [UInt8], blocks: Int) -> Float {
    row.withUnsafeBytes { w in
        act.withUnsafeBytes { a in
            var acc: Float = 0
            for b in 0..<blocks {
                let x = w.baseAddress! + type.typeSize * b, y = a.baseAddress! + GGMLType.q8_0.typeSize * b
                var sumi = 0
                for j in 0..<32 { sumi += b32Value(type, x, j) * b32Value(.q8_0, y, j) }
                acc = acc.addingProduct(Float(sumi), b32Scale(type, x) * loadHalf(y, Q8_0.d))
            }
            return acc
        }
    }
}
