import CKernels
import GGUF
import Foundation
import Quant
import Testing
@testable import Engine

/// float64 attention of one query head: softmax(scale * K q) . V.
private func attentionFloat64(q: [Float], keys: [Float], kStride: Int, values: [Float], vStride: Int,
                              count n: Int, headDim: Int, valueDim: Int, scale: Double) -> [Double] {
    let scores = (0..<n).map { p in (0..<headDim).reduce(0.0) { $0 + Double(q[$1]) * Double(keys[p * kStride + $1]) } * scale }
    let m = scores.max()!
    let e = scores.map { exp($0 - m) }
    let sum = e.reduce(0, +)
    return (0..<valueDim).map { i in (0..<n).reduce(0.0) { $0 + e[$1] / sum * Double(values[$1 * vStride + i]) } }
}

/// The reference loop and (where the CPU has AVX2) the SIMD kernel agree with float64 on random
/// inputs, over lengths around the kernel's 8-position steps and strided (GQA) cache rows.
@Test(arguments: [(64, 64), (128, 128), (16, 32)])
func attentionMatchesFloat64(headDim: Int, valueDim: Int) {
    let seed = UInt64.random(in: 0...UInt64.max)
    var rng = SeededGenerator(seed: seed)
    func uniform(_ n: Int, _ scale: Float) -> [Float] {
        (0..<n).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) * scale }
    }
    let kStride = headDim * 3, vStride = valueDim * 2
    for n in [1, 5, 8, 9, 31, 64, 200, 513] {
        let q = uniform(headDim, 4), keys = uniform(n * kStride, 4), values = uniform(n * vStride, 1)
        let scale = 1 / Float(headDim).squareRoot()
        let want = attentionFloat64(q: q, keys: keys, kStride: kStride, values: values, vStride: vStride,
                                    count: n, headDim: headDim, valueDim: valueDim, scale: Double(scale))
        var scores = [Float](repeating: .nan, count: n)
        var ref = [Float](repeating: .nan, count: valueDim)
        Attention.attendReference(q: q, keys: keys, kStride: kStride, values: values, vStride: vStride, count: n,
                                  headDim: headDim, valueDim: valueDim, scale: scale, scores: &scores, out: &ref)
        var outputs = [("reference", ref)]
        if CPU.avx2 {
            var fast = [Float](repeating: .nan, count: valueDim)
            hm_attend_f32(q, keys, Int64(kStride), values, Int64(vStride), Int64(n), Int64(headDim),
                          Int64(valueDim), scale, &scores, &fast)
            outputs.append(("simd", fast))
        }
        for (name, got) in outputs {
            // Outputs are convex combinations of values in [-1, 1]: an absolute bound fits.
            let err = zip(got, want).map { abs(Double($0) - $1) }.max()!
            #expect(err <= 2e-6, "\(name) n \(n) dims \(headDim)/\(valueDim): max error \(err) seed=\(seed)")
        }
    }
}

/// A score far below the maximum must give weight 0, not NaN (the fast exp clamps underflow).
@Test func attentionUnderflowGivesZeroWeight() {
    guard CPU.avx2 else { return }
    let headDim = 8, n = 9
    let q = [Float](repeating: 1, count: headDim)
    var keys = [Float](repeating: 0, count: n * headDim)
    for i in 0..<headDim { keys[3 * headDim + i] = 100 }  // position 3 dominates by 800
    let values = (0..<n * headDim).map { Float($0 / headDim) }
    var scores = [Float](repeating: 0, count: n), out = [Float](repeating: .nan, count: headDim)
    hm_attend_f32(q, keys, Int64(headDim), values, Int64(headDim), Int64(n), Int64(headDim), Int64(headDim), 1, &scores, &out)
    #expect(out.allSatisfy { $0 == 3 }, "\(out)")
}

/// A model with its experts repacked (`.rows8`) computes what the file layout computes:
/// prompt logits and teacher-forced decode logits within float summation order.
@Test(arguments: ["q4_k_m", "q8_0"])
func repackedExpertsMatchFileLayout(weightType: String) throws {
    guard CPU.avx2 else { return }
    var spec = SyntheticModelSpec.preset("small")!
    spec.weightType = weightType
    spec.seed = UInt64.random(in: 1...1_000_000)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("hotmoe-repack-\(spec.seed).gguf").path
    try SyntheticModel.write(spec, to: path)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let plain = try MoEModel(file: try GGUFFile(path: path))
    let packed = try MoEModel(file: try GGUFFile(path: path), repack: true)
    #expect(!plain.weights.hasRepackedExperts && packed.weights.hasRepackedExperts)
    var rng = SeededGenerator(seed: spec.seed)
    let tokens = (0..<32).map { _ in Int32(rng.next() % UInt64(plain.config.vocabSize)) }
    // 24 tokens as one prompt, then 8 single-token steps.
    func logits(_ m: MoEModel) throws -> [[Float]] {
        let s = InferenceSession(model: m, contextSize: 64, threads: 2)
        var out = [Array(try s.forward(Array(tokens[..<24]), logits: .all))]
        for t in tokens[24...] { out.append(Array(try s.forward(token: t))) }
        return out
    }
    for (step, (a, b)) in zip(try logits(plain), try logits(packed)).enumerated() {
        let diff = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
        let norm = a.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        #expect(diff / norm < 1e-5, "step \(step): relative L2 \(diff / norm) seed \(spec.seed)")
    }
}
