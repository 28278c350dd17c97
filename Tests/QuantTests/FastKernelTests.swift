// The AVX2 C kernels against their plain-Swift reference twins, on fresh random inputs.
import Testing
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

    /// Column counts the API allows: whole blocks for quantised types (including odd block
    /// counts and multiples of 256), anything for float types (SIMD tails).
    static func shapes(_ type: GGMLType) -> [Int] {
        switch type.blockSize {
        case 256: return [256, 512, 768, 4096]
        case 32: return [32, 64, 96, 1056, 4096]
        default: return [1, 7, 8, 31, 32, 33, 100, 4096 + 5]
        }
    }

    /// K-quant kernels reduce each block to exact integers and then repeat the reference's float
    /// steps, so results must be bit-identical. Others may differ only by float summation order:
    /// within 1e-5 of sum |w a| (about 80 float ulps of the largest partial sum).
    @Test(arguments: computeTypes)
    func matmulMatchesReference(type: GGMLType) {
        var (rng, seed) = freshRNG()
        let exact = type.blockSize == 256
        // 9 tokens crosses the C kernels' 8-token chunk; 1 takes their single-token path.
        for cols in Self.shapes(type) {
          for tokens in [1, Int.random(in: 2...4, using: &rng), 9] {
            let rows = 5
            let w = randomBlocks(type, count: cols * rows, &rng)
            let act = activations(for: type, gaussian(cols * tokens, &rng, outliers: true), count: cols)
            let sub = 1..<rows  // a row range not starting at 0
            let stride = sub.count + 2
            let fast = runMatmul(type, w, rows: sub, cols: cols, act, tokens: tokens, outStride: stride)
            let ref = runMatmul(type, w, rows: sub, cols: cols, act, tokens: tokens, outStride: stride, reference: true)
            let rowBytes = type.byteCount(elements: cols)!
            for t in 0..<tokens {
                for r in sub {
                    let i = (r - sub.lowerBound) + t * stride
                    if exact {
                        #expect(fast[i].bitPattern == ref[i].bitPattern, "\(type) cols \(cols) r \(r) t \(t): \(fast[i]) vs \(ref[i]) seed=\(seed)")
                    } else {
                        let mag = dotMagnitude(type, Array(w[r * rowBytes..<(r + 1) * rowBytes]), act, token: t)
                        #expect(abs(Double(fast[i]) - Double(ref[i])) <= 1e-5 * mag + 1e-30, "\(type) cols \(cols) r \(r) t \(t): \(fast[i]) vs \(ref[i]) seed=\(seed)")
                    }
                }
                // Padding between token rows is left alone.
                #expect(fast[t * stride + sub.count].isNaN && fast[t * stride + sub.count + 1].isNaN)
            }
          }
        }
    }

    /// Weight rows sliced out of a larger matrix at odd byte offsets (Q4_0 rows are 18-byte
    /// blocks) must not rely on alignment.
    @Test func unalignedWeightsAndSingleBlockRows() {
        var (rng, seed) = freshRNG()
        for type in computeTypes {
            let cols = type.blockSize == 1 ? 19 : type.blockSize
            let rowBytes = type.byteCount(elements: cols)!
            var w = [UInt8](repeating: 0, count: 1)
            w += randomBlocks(type, count: cols * 3, &rng)
            let act = activations(for: type, gaussian(cols, &rng), count: cols)
            var fast = [Float](repeating: 0, count: 3), ref = fast
            w.withUnsafeBytes { p in
                let base = p.baseAddress! + 1
                fast.withUnsafeMutableBufferPointer {
                    Kernels.matmul(type: type, weights: base, rowBytes: rowBytes, cols: cols, rows: 0..<3,
                                   activations: act, tokens: 1, out: $0.baseAddress!, outStride: 3)
                }
                ref.withUnsafeMutableBufferPointer {
                    Kernels.matmulReference(type: type, weights: base, rowBytes: rowBytes, cols: cols, rows: 0..<3,
                                            activations: act, tokens: 1, out: $0.baseAddress!, outStride: 3)
                }
            }
            for r in 0..<3 {
                let mag = dotMagnitude(type, Array(w[1 + r * rowBytes..<1 + (r + 1) * rowBytes]), act, token: 0)
                #expect(abs(Double(fast[r]) - Double(ref[r])) <= 1e-5 * mag, "\(type) r \(r) seed=\(seed)")
            }
        }
    }
}
