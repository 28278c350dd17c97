// Models that generate-model writes in the newer weight types (Q2_K, Q3_K, IQ4_NL, IQ4_XS and
// a grid format) load and give finite logits near the same model's F32 logits; and where
// llama-quantize wrote a K-quant mix from the same F32 model without an importance matrix,
// our quantisers give every tensor's bytes.
import Foundation
import Testing
@testable import Engine
import GGUF
import Quant

@Suite struct GeneratedQuantTests {
    /// One layer, two experts, rows 256 wide (whole K-quant / grid blocks): the shape of
    /// tools/golden/make_quantized_golden.py's t256 IQ cases, small enough for debug builds.
    static func spec(_ type: String) -> SyntheticModelSpec {
        var s = SyntheticModelSpec.preset("tiny")!
        s.layers = 1; s.embedding = 256; s.heads = 4; s.kvHeads = 2; s.headDim = 64
        s.experts = 2; s.expertsUsed = 2; s.expertFF = 256; s.seed = 7; s.weightType = type
        return s
    }

    static let prompt: [Int32] = (0..<12).map { Int32(3 + 17 * $0) }

    static func logits(_ type: String) throws -> [Float] {
        let path = tempModelPath("generated-\(type).gguf")
        try SyntheticModel.write(spec(type), to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try MoEModel(path: path)
        // Every matrix is 256 wide, so none falls back to another type.
        #expect(model.file.tensor("blk.0.ffn_up_exps.weight")?.type == GGMLType(name: type))
        let session = InferenceSession(model: model, contextSize: 64, maxBatch: 16, threads: 2)
        return Array(try session.forward(prompt, logits: .all))
    }

    static let f32Logits: [Float] = try! logits("f32")

    /// Relative L2 bounds: measured (seed 7, 12 positions) plus ~20%: q2_k 0.432, q3_k 0.236,
    /// iq4_nl 0.125, iq4_xs 0.126, iq2_s 0.438 (for scale: q4_k 0.107, q8_0 0.011). The grid
    /// type is IQ2_S, the fastest grid quantiser to run in a debug build after the IQ1s.
    static let bounds: [String: Double] = ["q2_k": 0.52, "q3_k": 0.29, "iq4_nl": 0.15, "iq4_xs": 0.15, "iq2_s": 0.53]

    @Test(arguments: ["q2_k", "q3_k", "iq4_nl", "iq4_xs", "iq2_s"])
    func logitsStayNearF32(type: String) throws {
        let ours = try Self.logits(type)
        #expect(ours.count == Self.f32Logits.count && ours.allSatisfy(\.isFinite))
        let err = relativeL2(ours, Self.f32Logits)
        print("generated \(type): relative L2 of logits vs f32 \(err)")
        #expect(err < Self.bounds[type]!, "\(type): relative L2 \(err)")
    }

    /// t256-Q2_K and t256-Q3_K_S (tools/golden/make_quantized_golden.py): each tensor of
    /// llama-quantize's file, in whatever type its mix chose, equals our quantisation of the
    /// F32 tensor it came from.
    @Test(arguments: ["t256-Q2_K.gguf", "t256-Q3_K_S.gguf"])
    func llamaQuantizeMixesAreOurBytes(file: String) throws {
        var spec = SyntheticModelSpec.preset("tiny")!
        spec.layers = 1; spec.embedding = 256; spec.heads = 4; spec.kvHeads = 2; spec.headDim = 64
        spec.experts = 4; spec.expertsUsed = 2; spec.expertFF = 256; spec.seed = 7
        let path = tempModelPath("llama-quantize-source-\(file)")
        try SyntheticModel.write(spec, to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let source = try GGUFFile(path: path)
        let theirs = try GGUFFile(path: LlamaQuantizeRecord.dir.appendingPathComponent(file).path)
        var types = Set<GGMLType>()
        for t in theirs.tensors where t.type != .f32 {
            let src = try #require(source.tensor(t.name))
            #expect(src.type == .f32 && src.dims == t.dims, "\(t.name)")
            types.insert(t.type)
            let rows = t.elementCount / t.rowLength
            var ours = [UInt8](repeating: 0, count: t.byteCount)
            let x = source.data(src).assumingMemoryBound(to: Float.self)
            ours.withUnsafeMutableBytes { buf in
                for r in 0..<rows {
                    Kernels.quantizeRow(type: t.type, x + r * t.rowLength, buf.baseAddress! + r * t.rowBytes, count: t.rowLength)
                }
            }
            let want = UnsafeRawBufferPointer(start: theirs.data(t), count: t.byteCount)
            #expect(ours.elementsEqual(want), "\(file) \(t.name) (\(t.type))")
        }
        print("llama-quantize \(file): types \(types.map(\.description).sorted())")
        #expect(types.contains(.q2_K) || types.contains(.q3_K))
    }
}
