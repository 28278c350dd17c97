// Models that generate-model writes in the newer weight types (Q2_K, Q3_K, IQ4_NL, IQ4_XS and
// a grid format) load and give finite logits near the same model's F32 logits.
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
}
