import Foundation
import Testing
@testable import Engine
import GGUF

/// Helpers shared by the engine tests of the newer architectures.

/// One hostile variant of a good model file: the message the loader must give, metadata to
/// set, and metadata keys or tensors to leave out.
typealias HostileCase = (message: String, set: [(String, GGUFValue)], dropping: Set<String>)

/// Writes a copy of `source` with metadata changed and keys or tensors left out.
func rewriteGGUF(_ source: String, to path: String, set: [(String, GGUFValue)] = [], dropping: Set<String> = []) throws {
    try GGUFFile(path: source).writeCopy(to: path, set: set, dropping: dropping)
}

/// Writes the tiny preset of `architecture` (seeded), then every variant of it must be refused
/// at load with an error containing its message.
func expectEveryVariantRefused(architecture: String, seed: UInt64, _ cases: [HostileCase]) throws {
    var spec = SyntheticModelSpec.preset("tiny", architecture: architecture)!
    spec.seed = seed
    let good = tempModelPath("\(architecture)-good.gguf")
    try SyntheticModel.write(spec, to: good)
    for (i, c) in cases.enumerated() {
        let path = tempModelPath("\(architecture)-bad-\(i).gguf")
        try rewriteGGUF(good, to: path, set: c.set, dropping: c.dropping)
        do {
            _ = try MoEModel(path: path)
            Issue.record("accepted a file with \(c.message)")
        } catch {
            #expect("\(error)".contains(c.message), "\(error)")
        }
    }
}

/// The largest relative L2 between the logits of a 45-token prompt run in batches of 32 and
/// the same tokens decoded one at a time.
func worstBatchedVsTokenByToken(_ model: MoEModel) throws -> Double {
    let prompt: [Int32] = (0..<45).map { Int32(($0 * 31 + 7) % model.config.vocabSize) }
    let batched = InferenceSession(model: model, contextSize: 64, maxBatch: 32, threads: 2)
    let all = Array(try batched.forward(prompt, logits: .all))
    let stepwise = InferenceSession(model: model, contextSize: 64, maxBatch: 1, threads: 2)
    var worst = 0.0
    for (i, t) in prompt.enumerated() {
        let row = Array(try stepwise.forward(token: t))
        let v = model.config.vocabSize
        worst = max(worst, relativeL2(row, Array(all[(i * v)..<((i + 1) * v)])))
    }
    return worst
}
