// Comparisons with fixtures written by tools/quant/make_golden.py from gguf-py (dequantisation)
// and from libggml itself (quantisation, activation conversion, dot products).
import Foundation
import Testing
@testable import Quant

struct Golden {
    struct Index: Decodable {
        struct Files: Decodable {
            var blocks: String?, floats: String?
            var input: String?, output: String?
            var activations: String?, activations_quantized: String?, results: String?
            var tokens: Int?
        }
        var row: Int
        var quant_row: Int
        var types: [String: [String: Files]]
    }

    static let dir: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    static let index: Index = {
        let data = try! Data(contentsOf: dir.appendingPathComponent("index.json"))
        return try! JSONDecoder().decode(Index.self, from: data)
    }()

    static func bytes(_ name: String) -> [UInt8] {
        [UInt8](try! Data(contentsOf: dir.appendingPathComponent(name)))
    }

    static func floats(_ name: String) -> [Float] {
        let b = bytes(name)
        return (0..<b.count / 4).map { i in
            Float(bitPattern: UInt32(b[4 * i]) | UInt32(b[4 * i + 1]) << 8 | UInt32(b[4 * i + 2]) << 16 | UInt32(b[4 * i + 3]) << 24)
        }
    }

    static func files(_ type: GGMLType, _ kind: String) -> Index.Files? {
        index.types[type.description.lowercased().replacingOccurrences(of: "_k", with: "_K")]?[kind]
    }
}

@Suite struct GoldenTests {
    static let types: [GGMLType] = [
        .f16, .bf16, .q8_0, .q4_0, .q4_K, .q5_K, .q6_K, .q4_1, .q5_0, .q5_1, .iq4_nl, .mxfp4, .q2_K, .q3_K, .iq4_xs,
    ] + gridTypes

    /// Our dequantisation of random blocks equals gguf-py's float32 output bit for bit.
    @Test(arguments: types)
    func dequantizeMatchesGgufPy(type: GGMLType) throws {
        let f = try #require(Golden.files(type, "dequant"))
        let got = dequantize(type, Golden.bytes(f.blocks!), count: Golden.index.row)
        let want = Golden.floats(f.floats!)
        let mismatches = (0..<want.count).filter { got[$0].bitPattern != want[$0].bitPattern }
        #expect(mismatches.isEmpty, "\(type): \(mismatches.count) differ, first at \(mismatches.first ?? -1)")
    }

    /// Our quantisers write the same bytes as ggml's quantize_row_*_ref (the llama.cpp
    /// model-writing path) for a 2048-element row.
    @Test(arguments: types.filter { quantizableTypes.contains($0) })
    func quantizeMatchesGgml(type: GGMLType) throws {
        let f = try #require(Golden.files(type, "quantize"))
        let got = quantize(type, Golden.floats(f.input!))
        let want = Golden.bytes(f.output!)
        let bad = (0..<want.count / type.typeSize).filter {
            got[$0 * type.typeSize..<($0 + 1) * type.typeSize] != want[$0 * type.typeSize..<($0 + 1) * type.typeSize]
        }
        #expect(bad.isEmpty, "\(type): blocks \(bad) differ")
    }

    /// Activation conversion matches ggml-cpu's from_float for the vec-dot type byte for byte
    /// (fast and reference paths), and the dot product matches ggml's vec_dot within float
    /// summation order (1e-5 of sum |w a|). The weights are ggml's own quantisation of a row
    /// (the grid formats with an importance matrix of ones).
    @Test(arguments: types)
    func activationsAndDotMatchGgml(type: GGMLType) throws {
        let f = try #require(Golden.files(type, "dot"))
        let n = Golden.index.row, tokens = f.tokens!
        let x = Golden.floats(f.activations!)
        let wantAct = Golden.bytes(f.activations_quantized!)
        let wantDot = Golden.floats(f.results!)
        let wRow = Array(Golden.bytes(Golden.files(type, "quantize")!.output!)[0..<type.byteCount(elements: n)!])
        for reference in [false, true] {
            let act = activations(for: type, x, count: n, reference: reference)
            for t in 0..<tokens {
                #expect(activationBytes(act, token: t) == Array(wantAct[t * act.rowBytes..<(t + 1) * act.rowBytes]),
                        "\(type) token \(t) reference=\(reference)")
            }
            let y = runMatmul(type, wRow, rows: 0..<1, cols: n, act, tokens: tokens, outStride: 1, path: reference ? .reference : nil)
            for t in 0..<tokens {
                let mag = dotMagnitude(type, wRow, act, token: t)
                #expect(abs(Double(y[t]) - Double(wantDot[t])) <= 1e-5 * mag,
                        "\(type) token \(t): \(y[t]) vs ggml \(wantDot[t]) reference=\(reference)")
            }
        }
    }
}

extension GoldenTests {
    /// Where the AVX2 kernel keeps ggml's x86 vec_dot float order (one 8-lane accumulator of
    /// 4-element integer sums times the block scales; Q4_1/Q5_1's mins in a scalar chain), the
    /// result equals ggml's bit for bit; so does every grid format (ggml's AVX2 lanes and float
    /// steps, iquant_portable.c). IQ4_NL (ggml: two blocks per step) and Q2_K and the older
    /// K-quants differ in summation order only here (activationsAndDotMatchGgml).
    @Test(.enabled(if: Kernels.usesSIMD, "needs AVX2+FMA+F16C"),
          arguments: [GGMLType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .mxfp4, .q3_K, .iq4_xs] + gridTypes)
    func simdDotIsBitExactWithGgml(type: GGMLType) throws {
        let f = try #require(Golden.files(type, "dot"))
        let n = Golden.index.row, tokens = f.tokens!
        let act = activations(for: type, Golden.floats(f.activations!), count: n)
        let wRow = Array(Golden.bytes(Golden.files(type, "quantize")!.output!)[0..<type.byteCount(elements: n)!])
        let y = runMatmul(type, wRow, rows: 0..<1, cols: n, act, tokens: tokens, outStride: 1, path: .simd)
        let want = Golden.floats(f.results!)
        for t in 0..<tokens {
            #expect(y[t].bitPattern == want[t].bitPattern, "\(type) token \(t): \(y[t]) vs ggml \(want[t])")
        }
    }
}
