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

/// The reference loop and the llama.cpp-order kernel (both accumulation orders) agree with
/// float64 on random inputs, over lengths around its 16/64-position lanes and strided (GQA) rows.
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
        for batched: Int32 in [0, 1] {
            var fast = [Float](repeating: .nan, count: valueDim)
            var row = [Float](repeating: .nan, count: Attention.roundedPositions(n)), acc = [Float](repeating: .nan, count: 64 * valueDim)
            hm_attend_ggml_f32(q, keys, Int64(kStride), values, Int64(vStride), 0, Int64(n), Int64(headDim),
                               Int64(valueDim), scale, batched, nil, &row, &acc, &fast)
            outputs.append((batched == 1 ? "ggml batched" : "ggml single", fast))
        }
        for (name, got) in outputs {
            // Outputs are convex combinations of values in [-1, 1]: an absolute bound fits.
            let err = zip(got, want).map { abs(Double($0) - $1) }.max()!
            #expect(err <= 2e-6, "\(name) n \(n) dims \(headDim)/\(valueDim): max error \(err) seed=\(seed)")
        }
    }
}

/// A score far below the maximum must give weight 0, not NaN (ggml's exp polynomial flushes).
@Test(arguments: [Int32(0), 1]) func attentionUnderflowGivesZeroWeight(batched: Int32) {
    let headDim = 8, n = 9
    let q = [Float](repeating: 1, count: headDim)
    var keys = [Float](repeating: 0, count: n * headDim)
    for i in 0..<headDim { keys[3 * headDim + i] = 100 }  // position 3 dominates by 800
    let values = (0..<n * headDim).map { Float($0 / headDim) }
    var scores = [Float](repeating: 0, count: 16), out = [Float](repeating: .nan, count: headDim)
    var acc = [Float](repeating: 0, count: 64 * headDim)
    hm_attend_ggml_f32(q, keys, Int64(headDim), values, Int64(headDim), 0, Int64(n), Int64(headDim), Int64(headDim), 1,
                       batched, nil, &scores, &acc, &out)
    #expect(out.allSatisfy { $0 == 3 }, "\(out)")
}

/// Repacked weights (`.rows8`) compute what the file layout computes, within float summation
/// order (and its effect on requantized activations): every layer's experts (through the engine's executor, on random routes of 1, 9 and
/// 24 tokens) and attention projections. (Whole-model logits are not compared: a last-bit
/// difference may flip a near-tie in the router, which legitimately changes the output.)
@Test(arguments: ["q4_k_m", "q8_0"])
func repackedWeightsMatchFileLayout(weightType: String) throws {
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
    #expect(packed.weights.layers[0].denseMatrices.contains { $0.layout == .rows8 })
    let c = plain.config, k = c.expertsUsed, d = c.embeddingLength
    var rng = SeededGenerator(seed: spec.seed)
    func uniform(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) } }
    func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        let diff = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
        return diff / max(1e-30, a.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
    }
    let pool = WorkerPool(threads: 2)
    let plainExperts = PlainExpertExecutor(weights: plain.weights, config: c, pool: pool)
    let packedExperts = PlainExpertExecutor(weights: packed.weights, config: c, pool: pool)
    for layer in 0..<c.layerCount {
        for tokens in [1, 9, 24] {
            var experts = [Int32](), weights = [Float]()
            for _ in 0..<tokens {
                var chosen = [Int32]()
                while chosen.count < k {
                    let e = Int32(rng.next() % UInt64(c.expertCount))
                    if !chosen.contains(e) { chosen.append(e) }
                }
                experts += chosen
                weights += uniform(k).map { abs($0) }
            }
            let input = uniform(tokens * d)
            var a = [Float](repeating: .nan, count: tokens * d), b = a
            experts.withUnsafeBufferPointer { ep in
                weights.withUnsafeBufferPointer { wp in
                    let routes = ExpertRoutes(tokenCount: tokens, k: k, experts: ep.baseAddress!, weights: wp.baseAddress!)
                    plainExperts.computeExperts(layer: layer, input: input, routes: routes, output: &a)
                    packedExperts.computeExperts(layer: layer, input: input, routes: routes, output: &b)
                }
            }
            // The expert FFN requantizes its hidden activations (SwiGLU output -> Q8) before the
            // down projection: a last-bit difference in gate/up can move one hidden value to the
            // next quantization step, about 1e-4 of the output here. A wrong kernel is O(1) off.
            #expect(relativeError(a, b) < 2e-3, "layer \(layer) experts, \(tokens) tokens: \(relativeError(a, b)) seed \(spec.seed)")
            let (pw, qw) = (plain.weights.layers[layer], packed.weights.layers[layer])
            for (index, (x, y)) in zip(pw.denseMatrices, qw.denseMatrices).enumerated() {
                let name = "dense matrix \(index)"
                let acts = ActivationBuffers()
                let xin = uniform(tokens * x.cols)
                var oa = [Float](repeating: .nan, count: tokens * x.rows), ob = oa
                xin.withUnsafeBufferPointer {
                    acts.setInput($0.baseAddress!, cols: x.cols, tokens: tokens)
                    Linear.apply(x, acts, tokens: tokens, out: &oa, pool: pool)
                    Linear.apply(y, acts, tokens: tokens, out: &ob, pool: pool)
                }
                #expect(relativeError(oa, ob) < 1e-5, "layer \(layer) w\(name), \(tokens) tokens seed \(spec.seed)")
            }
        }
    }
}
