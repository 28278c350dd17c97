// The AVX2 C kernels against their plain-Swift reference twins, on fresh random inputs.
import Testing
import CKernels
@testable import Quant

@Suite(.enabled(if: Kernels.usesSIMD, "needs AVX2+FMA+F16C"))
struct FastKernelTests {
    /// Activation quantisers (Q8_K, Q8_0, F16) must produce the reference bytes exactly,
    /// including blocks whose largest magnitude appears with both signs (the first one wins),
    /// all-zero blocks, and for F16 subnormals and overflow.
    @Test(arguments: [GGMLType.q4_K, .q8_0, .f16])
    func activationQuantiserIsByteExact(weightType: GGMLType) {
        var (rng, seed) = freshRNG()
        let count = 4096
        for trial in 0..<8 {
            var x = gaussian(count, &rng, scale: [1, 1e-3, 300][trial % 3], outliers: true)
            if trial == 1 {
                for i in 0..<256 { x[i] = 0 }  // an all-zero block
                x[300] = -7
                x[301] = 7  // tie on |max|: the negative one comes first
                x[600] = 5.5
                x[700] = -5.5
            }
            if trial == 2, weightType == .f16 {
                x[0] = 70000
                x[1] = -1e-7
                x[2] = 3e-5
                x[3] = 65519
            }
            let fast = activations(for: weightType, x, count: count)
            let ref = activations(for: weightType, x, count: count, reference: true)
            #expect(activationBytes(fast, token: 0) == activationBytes(ref, token: 0), "\(weightType) trial \(trial) seed=\(seed)")
        }
    }
}

/// Column counts the API allows: whole blocks for quantised types (including odd block counts
/// and multiples of 256), anything for float types (SIMD tails).
func kernelShapes(_ type: GGMLType) -> [Int] {
    switch type.blockSize {
    case 256: return [256, 512, 768, 4096]
    case 32: return [32, 64, 96, 1056, 4096]
    default: return [1, 7, 8, 31, 32, 33, 100, 4096 + 5]
    }
}

/// Compares one C path with the Swift reference on random weights and activations, for every
/// shape, 1 token, 2-4 tokens and 9 tokens (crossing the SIMD kernels' 8-token chunks), on a row
/// range not starting at 0, with padding between token rows that must stay untouched.
/// `exact`: results must be bit-identical (integer block sums plus the same float steps);
/// otherwise within 1e-5 of sum |w a| (float summation order only).
func checkAgainstReference(_ type: GGMLType, path: Kernels.Path, exact: Bool, reference: Kernels.Path = .reference) {
    var (rng, seed) = freshRNG()
    for cols in kernelShapes(type) {
        for tokens in [1, Int.random(in: 2...4, using: &rng), 9] {
            let rows = 5, sub = 1..<rows, stride = sub.count + 2
            let w = randomBlocks(type, count: cols * rows, &rng)
            let act = activations(for: type, gaussian(cols * tokens, &rng, outliers: true), count: cols)
            let got = runMatmul(type, w, rows: sub, cols: cols, act, tokens: tokens, outStride: stride, path: path)
            let ref = runMatmul(type, w, rows: sub, cols: cols, act, tokens: tokens, outStride: stride, path: reference)
            let rowBytes = type.byteCount(elements: cols)!
            for t in 0..<tokens {
                for r in sub {
                    let i = (r - sub.lowerBound) + t * stride
                    let what = "\(type) \(path) cols \(cols) r \(r) t \(t): \(got[i]) vs \(ref[i]) seed=\(seed)"
                    if exact {
                        #expect(got[i].bitPattern == ref[i].bitPattern, "\(what)")
                    } else {
                        let mag = dotMagnitude(type, Array(w[r * rowBytes..<(r + 1) * rowBytes]), act, token: t)
                        #expect(abs(Double(got[i]) - Double(ref[i])) <= 1e-5 * mag, "\(what)")
                    }
                }
                #expect(got[t * stride + sub.count].isNaN && got[t * stride + sub.count + 1].isNaN)
            }
        }
    }
    // Rows at an odd byte offset (as inside a GGUF tensor of 18-byte Q4_0 blocks).
    let cols = type.blockSize == 1 ? 19 : type.blockSize
    let w = [0] + randomBlocks(type, count: cols * 3, &rng)
    let act = activations(for: type, gaussian(cols, &rng), count: cols)
    let got = runMatmul(type, w, rows: 0..<3, cols: cols, act, tokens: 1, outStride: 3, path: path, weightOffset: 1)
    let ref = runMatmul(type, w, rows: 0..<3, cols: cols, act, tokens: 1, outStride: 3, path: reference, weightOffset: 1)
    let rowBytes = type.byteCount(elements: cols)!
    for r in 0..<3 {
        let mag = dotMagnitude(type, Array(w[1 + r * rowBytes..<1 + (r + 1) * rowBytes]), act, token: 0)
        #expect(abs(Double(got[r]) - Double(ref[r])) <= (exact ? 0 : 1e-5 * mag), "\(type) \(path) unaligned r \(r) seed=\(seed)")
    }
}

extension FastKernelTests {
    /// The SIMD kernels accumulate in vector lanes (like ggml's) and differ from the
    /// reference only in float summation order.
    @Test(arguments: computeTypes)
    func simdMatmulMatchesReference(type: GGMLType) {
        checkAgainstReference(type, path: .simd, exact: false)
    }
}

/// K-quants and grid formats whose C kernels follow llama.cpp's float order (kquant_portable.c,
/// iquant_portable.c), bit for bit on every path; tools/reference/kquant-vs-ggml.sh checks them
/// against libggml itself.
let ggmlOrderKQuants: [GGMLType] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K] + gridTypes

/// The portable C kernels (used without AVX2) run on every machine.
@Suite struct PortableKernelTests {
    /// Every other quantised portable kernel is bit-identical to the reference; float types and
    /// the ggml-order K-quants differ only in summation order.
    @Test(arguments: computeTypes)
    func portableMatmulMatchesReference(type: GGMLType) {
        checkAgainstReference(type, path: .portable, exact: type.blockSize > 1 && !ggmlOrderKQuants.contains(type))
    }
}

extension FastKernelTests {
    /// The AVX2 K-quant and grid-format kernels give exactly the bits of their plain-C twins (ggml's order),
    /// for 1, 2-4 and 9 tokens.
    @Test(arguments: ggmlOrderKQuants)
    func simdKQuantIsBitExactWithPortable(type: GGMLType) {
        checkAgainstReference(type, path: .simd, exact: true, reference: .portable)
    }
}

extension FastKernelTests {
    /// Q4_K and Q8_0 repacked eight rows at a time (`.rows8`) give what the reference gives on
    /// the file-layout bytes, within float summation order: 1, 2-4 and 9 tokens, a row range
    /// that starts at row 8, output rows between token rows left untouched.
    @Test(arguments: [GGMLType.q4_K, .q8_0])
    func repackedRows8MatchReference(type: GGMLType) {
        var (rng, seed) = freshRNG()
        for cols in type == .q4_K ? [256, 768, 1024] : [32, 96, 1024] {
            let rows = 24, sub = 8..<24, stride = sub.count + 2
            let w = randomBlocks(type, count: cols * rows, &rng)
            let rowBytes = type.byteCount(elements: cols)!
            let packedRowBytes = Kernels.rows8RowBytes(type: type, cols: cols)
            #expect(Kernels.canRepackRows8(type: type, rows: rows, cols: cols))
            var packed = [UInt8](repeating: 0, count: rows * packedRowBytes)
            w.withUnsafeBytes { src in
                packed.withUnsafeMutableBytes { dst in
                    Kernels.repackRows8(type: type, source: src.baseAddress!, rowBytes: rowBytes, rows: rows, cols: cols,
                                        into: dst.baseAddress!)
                }
            }
            for tokens in [1, Int.random(in: 2...4, using: &rng), 9] {
                let act = activations(for: type, gaussian(cols * tokens, &rng, outliers: true), count: cols)
                let ref = runMatmul(type, w, rows: sub, cols: cols, act, tokens: tokens, outStride: stride, path: .reference)
                var got = [Float](repeating: .nan, count: stride * tokens)
                packed.withUnsafeBytes { wp in
                    got.withUnsafeMutableBufferPointer { op in
                        Kernels.matmul(type: type, layout: .rows8, weights: wp.baseAddress!, rowBytes: packedRowBytes,
                                       cols: cols, rows: sub, activations: act, tokens: tokens, out: op.baseAddress!,
                                       outStride: stride)
                    }
                }
                // Q4_K: ggml's repacked gemv order, as the plain-C twin computes it.
                let portable = type == .q4_K
                    ? runMatmul(type, w, rows: sub, cols: cols, act, tokens: tokens, outStride: stride, path: .portable) : []
                for t in 0..<tokens {
                    for r in sub {
                        let i = (r - sub.lowerBound) + t * stride
                        let mag = dotMagnitude(type, Array(w[r * rowBytes..<(r + 1) * rowBytes]), act, token: t)
                        #expect(abs(Double(got[i]) - Double(ref[i])) <= 1e-5 * mag,
                                "\(type) cols \(cols) r \(r) t \(t): \(got[i]) vs \(ref[i]) seed=\(seed)")
                        if portable.count > i {
                            #expect(got[i].bitPattern == portable[i].bitPattern, "\(type) rows8 vs portable r \(r) t \(t) seed=\(seed)")
                        }
                    }
                    #expect(got[t * stride + sub.count].isNaN && got[t * stride + sub.count + 1].isNaN)
                }
                if type == .q4_K, tokens > 3 { checkDenseGemmOrder(packed, packedRowBytes, w, rowBytes, cols, sub, act, tokens, seed) }
            }
        }
        #expect(!Kernels.canRepackRows8(type: type, rows: 12, cols: 256))
        #expect(!Kernels.canRepackRows8(type: .q6_K, rows: 16, cols: 256))
    }

    /// A Q4_K matrix whose row count is not a multiple of 8 (llama.cpp leaves it unrepacked)
    /// takes ggml_vec_dot_q4_K_q8_K's order: SIMD bit for bit with its plain-C twin, and within
    /// float rounding of the reference.
    @Test func unrepackedQ4KTakesVecDotOrder() {
        var (rng, seed) = freshRNG()
        let rows = 12, cols = 512, tokens = 5
        let w = randomBlocks(.q4_K, count: cols * rows, &rng)
        let rowBytes = GGMLType.q4_K.byteCount(elements: cols)!
        let act = activations(for: .q4_K, gaussian(cols * tokens, &rng, outliers: true), count: cols)
        let ref = runMatmul(.q4_K, w, rows: 0..<rows, cols: cols, act, tokens: tokens, outStride: rows, path: .reference)
        var got = [Float](repeating: .nan, count: rows * tokens), twin = got
        w.withUnsafeBytes { wp in
            got.withUnsafeMutableBufferPointer { op in
                Kernels.matmulDense(type: .q4_K, weights: wp.baseAddress!, rowBytes: rowBytes, cols: cols, rows: 0..<rows,
                                    matrixRows: rows, activations: act, tokens: tokens, out: op.baseAddress!, outStride: rows)
            }
            twin.withUnsafeMutableBufferPointer { op in
                hm_matmul_q4_K_q8_K_vec_dot_portable(wp.baseAddress!, rowBytes, Int64(cols), Int64(rows), act.row(token: 0),
                                                     act.rowBytes, Int64(tokens), op.baseAddress!, Int64(rows))
            }
        }
        for i in 0..<got.count {
            #expect(got[i].bitPattern == twin[i].bitPattern, "r \(i % rows) t \(i / rows): \(got[i]) vs \(twin[i]) seed=\(seed)")
            let mag = dotMagnitude(.q4_K, Array(w[(i % rows) * rowBytes..<(i % rows + 1) * rowBytes]), act, token: i / rows)
            #expect(abs(Double(got[i]) - Double(ref[i])) <= 1e-5 * mag, "r \(i % rows) t \(i / rows) vs reference seed=\(seed)")
        }
    }

    /// A dense batch of n > 3 tokens takes ggml's gemm order for the first n - n % 4 tokens and
    /// its gemv order for the rest, bit for bit as the plain-C twins compute them.
    func checkDenseGemmOrder(_ packed: [UInt8], _ packedRowBytes: Int, _ w: [UInt8], _ rowBytes: Int, _ cols: Int,
                             _ sub: Range<Int>, _ act: QuantizedActivations, _ tokens: Int, _ seed: UInt64) {
        let batched = tokens - tokens % 4
        var dense = [Float](repeating: .nan, count: sub.count * tokens)
        var twin = [Float](repeating: .nan, count: sub.count * tokens)
        packed.withUnsafeBytes { wp in
            dense.withUnsafeMutableBufferPointer { op in
                Kernels.matmulDense(type: .q4_K, layout: .rows8, weights: wp.baseAddress!, rowBytes: packedRowBytes, cols: cols,
                                    rows: sub, matrixRows: sub.upperBound, activations: act, tokens: tokens, out: op.baseAddress!,
                                    outStride: sub.count)
            }
        }
        w.withUnsafeBytes { wp in
            twin.withUnsafeMutableBufferPointer { op in
                let rows = wp.baseAddress! + sub.lowerBound * rowBytes
                hm_matmul_q4_K_q8_K_gemm_portable(rows, rowBytes, Int64(cols), Int64(sub.count), act.row(token: 0), act.rowBytes,
                                                  Int64(batched), op.baseAddress!, Int64(sub.count))
                hm_matmul_q4_K_q8_K_portable(rows, rowBytes, Int64(cols), Int64(sub.count), act.row(token: batched), act.rowBytes,
                                             Int64(tokens - batched), op.baseAddress! + batched * sub.count, Int64(sub.count))
            }
        }
        // The file layout takes the same order (llama.cpp repacks such a matrix either way).
        var fileLayout = [Float](repeating: .nan, count: sub.count * tokens)
        w.withUnsafeBytes { wp in
            fileLayout.withUnsafeMutableBufferPointer { op in
                Kernels.matmulDense(type: .q4_K, weights: wp.baseAddress!, rowBytes: rowBytes, cols: cols, rows: sub,
                                    matrixRows: sub.upperBound, activations: act, tokens: tokens, out: op.baseAddress!,
                                    outStride: sub.count)
            }
        }
        for i in 0..<dense.count {
            #expect(dense[i].bitPattern == twin[i].bitPattern, "Q4_K dense r \(i % sub.count) t \(i / sub.count): \(dense[i]) vs \(twin[i]) seed=\(seed)")
            #expect(fileLayout[i].bitPattern == twin[i].bitPattern, "Q4_K dense file layout r \(i % sub.count) t \(i / sub.count) seed=\(seed)")
        }
    }
}
