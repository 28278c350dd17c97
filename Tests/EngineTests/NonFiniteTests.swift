import Foundation
import Testing
@testable import Engine
import GGUF

/// Non-finite values (a corrupt download's NaN and Inf weights) never crash routing or sampling:
/// NaN ranks as -inf, ties go to the lowest index, every choice is a valid id.
@Suite struct NonFiniteRoutingAndSamplingTests {
    private func route(_ logits: [Float], k: Int, normalize: Bool = true) -> (experts: [Int32], weights: [Float]) {
        var l = logits
        var experts = [Int32](repeating: -7, count: k), weights = [Float](repeating: 0, count: k)
        Router.route(logits: &l, expertCount: logits.count, k: k, normalize: normalize, experts: &experts, weights: &weights)
        return (experts, weights)
    }

    @Test func routerTopKPicksDistinctValidExpertsOnNaNAndInf() {
        // Finite: the largest probabilities, ties to the lower id.
        #expect(route([0.5, 2, 2, -1], k: 2).experts == [1, 2])
        // -inf logits get probability 0: picked last, lowest id first among them.
        let minusInf = route([-.infinity, -.infinity, 1, 2], k: 3)
        #expect(minusInf.experts == [3, 2, 0])
        #expect(minusInf.weights.allSatisfy { $0.isFinite } && abs(minusInf.weights.reduce(0, +) - 1) < 1e-6)
        // A NaN or +inf logit makes the softmax NaN: the lowest ids, weights NaN as the row.
        for row: [Float] in [[.nan, .nan, .nan, .nan, .nan, .nan, .nan, .nan], [1, .nan, 3, 2, 0, 0, 0, 0],
                             [1, .infinity, 3, .infinity, 0, 0, 0, 0], [.nan, .infinity, -.infinity, 1, 0, 0, 0, 0]] {
            let r = route(row, k: 3)
            #expect(r.experts == [0, 1, 2], "\(row)")
            #expect(r.weights.allSatisfy { $0.isNaN }, "\(row)")
        }
        // Every expert once when k is all of them.
        #expect(Set(route([Float](repeating: .nan, count: 6), k: 6).experts) == Set(0..<6))
    }

    @Test func argmaxTreatsNaNAsMinusInfinityWithTiesToTheLowestId() {
        func argmax(_ l: [Float]) -> Int32 { l.withUnsafeBufferPointer { Sampler.argmax($0) } }
        #expect(argmax([.nan, 1, 3, .nan, 3]) == 2)
        #expect(argmax([.nan, .nan, .nan]) == 0)
        #expect(argmax([-.infinity, .nan, -.infinity]) == 0)
        #expect(argmax([1, .infinity, .infinity]) == 1)
        #expect(argmax([-2, -1, .nan]) == 1)
        func finite(_ l: [Float]) -> Bool { l.withUnsafeBufferPointer { Sampler.hasFiniteValue($0) } }
        #expect(!finite([.nan, .infinity, -.infinity]))
        #expect(finite([.nan, .infinity, 0]))
    }

    private func draws(_ logits: [Float], _ params: SamplingParams, count: Int = 200) -> [Int32] {
        var sampler = Sampler(params)
        return (0..<count).map { _ in logits.withUnsafeBufferPointer { sampler.sample($0) } }
    }

    @Test func samplingChainSkipsNaNAndSharesInfinity() {
        let seeded = SamplingParams(temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 9)
        // NaN candidates never win against a finite one.
        #expect(Set(draws([.nan, .nan, 5, .nan, 1], seeded)) == [2])
        #expect(Set(draws([.nan, 0, .nan], SamplingParams(temperature: 1, topK: 0, topP: 1, minP: 0, seed: 3))) == [1])
        // +inf logits share all the probability.
        #expect(Set(draws([0, .infinity, 3, .infinity], seeded)) == [1, 3])
        // Rows without any finite value still give valid ids, reproducibly for a seed.
        for row: [Float] in [[Float](repeating: .nan, count: 50), [Float](repeating: -.infinity, count: 50),
                             (0..<50).map { $0 % 2 == 0 ? Float.nan : -Float.infinity }] {
            for params in [seeded, SamplingParams(temperature: 1.5, topK: 0, topP: 1, minP: 0, seed: 4), .greedy] {
                let ids = draws(row, params)
                #expect(ids.allSatisfy { (0..<50).contains($0) })
                #expect(ids == draws(row, params))
            }
        }
        // Without top-k the whole all-NaN row is uniform: many ids come up.
        #expect(Set(draws([Float](repeating: .nan, count: 50), SamplingParams(temperature: 1, topK: 0, topP: 1, minP: 0, seed: 5))).count > 20)
    }
}

/// Generation through the engine on models holding NaN and Inf weights in the router, the
/// attention and the experts.
@Suite struct PoisonedModelTests {
    /// The first tensor (file order) whose name ends with `suffix`.
    static func tensorName(_ file: GGUFFile, endingWith suffix: String) throws -> String {
        try #require(file.tensors.first { $0.name.hasSuffix(suffix) }?.name, "no tensor *\(suffix)")
    }

    /// A tiny model of `architecture` with NaN and ±Inf in a router, an attention projection and
    /// two expert tensors; returns its path and the name of the first poisoned tensor in file order.
    static func writePoisoned(_ architecture: String) throws -> (path: String, firstBad: String) {
        var spec = SyntheticModelSpec.preset("tiny", architecture: architecture)!
        spec.seed = 31
        let good = tempModelPath("\(architecture)-finite.gguf"), bad = tempModelPath("\(architecture)-poisoned.gguf")
        try SyntheticModel.write(spec, to: good)
        let file = try GGUFFile(path: good)
        let router = try tensorName(file, endingWith: "ffn_gate_inp.weight")
        let poison = [CorruptModel.Poison(router, element: 0, .nan), CorruptModel.Poison(router, element: 5, .infinity),
                      CorruptModel.Poison(try tensorName(file, endingWith: "attn_q.weight"), element: 3, .nan),
                      CorruptModel.Poison(try tensorName(file, endingWith: "ffn_up_exps.weight"), element: 11, -.infinity),
                      CorruptModel.Poison(try tensorName(file, endingWith: "ffn_down_exps.weight"), element: 2, .nan)]
        try CorruptModel.write(from: good, to: bad, poison: poison)
        let names = Set(poison.map(\.tensor))
        return (bad, file.tensors.first { names.contains($0.name) }!.name)
    }

    @Test(arguments: ["qwen3moe", "gemma4", "qwen35moe"])
    func generationFinishesWithValidTokensAndRoutes(_ architecture: String) throws {
        let (path, _) = try Self.writePoisoned(architecture)
        let model = try MoEModel(path: path)
        let c = model.config, vocab = c.vocabSize
        let prompt: [Int32] = [5, 17, 40, 3]
        // Through the Generator: it stops at the first all-non-finite logits instead of sampling noise.
        let session = InferenceSession(model: model, contextSize: 64, maxBatch: 8, threads: 2)
        var badRoutes = 0
        session.routeObserver = { _, routes, _ in
            for t in 0..<routes.tokenCount {
                let chosen = (0..<routes.k).map { Int(routes.experts[t * routes.k + $0]) }
                if Set(chosen).count != routes.k || !chosen.allSatisfy({ (0..<c.expertCount).contains($0) }) { badRoutes += 1 }
            }
        }
        var greedy = Sampler(.greedy)
        var tokens: [Int32] = []
        let stats = try Generator.generate(session: session, prompt: prompt, maxTokens: 6, sampler: &greedy, stopTokens: []) {
            tokens.append($0)
            return true
        }
        #expect(stats.stoppedBy == .nonFiniteLogits)
        #expect(tokens.allSatisfy { (0..<Int32(vocab)).contains($0) })
        // Decoding on regardless (what llama.cpp does): every sampler keeps giving valid ids.
        for params in [SamplingParams.greedy, SamplingParams(seed: 12)] {
            let s = InferenceSession(model: model, contextSize: 64, maxBatch: 8, threads: 2)
            s.routeObserver = session.routeObserver
            var sampler = Sampler(params)
            var logits = try s.forward(prompt, logits: .last)
            #expect(!Sampler.hasFiniteValue(logits), "the poison did not reach the logits: the test tests nothing")
            for _ in 0..<5 {
                let token = sampler.sample(logits)
                #expect((0..<Int32(vocab)).contains(token))
                logits = try s.forward(token: token, logits: .last)
            }
        }
        #expect(badRoutes == 0)
    }

    @Test func tensorCheckNamesTheFirstPoisonedTensor() throws {
        let (path, firstBad) = try Self.writePoisoned("qwen3moe")
        #expect(throws: InvalidTensorValue.self) { try TensorCheck.check(try GGUFFile(path: path)) }
        do { try TensorCheck.check(try GGUFFile(path: path)) } catch let e as InvalidTensorValue {
            #expect(e.tensor == firstBad)
            #expect("\(e)".contains("tensor '\(firstBad)' (F32) holds"), "\(e)")
        }
        // A poisoned block scale of a quantised tensor is found too.
        var spec = SyntheticModelSpec.preset("tiny", architecture: "qwen3moe")!
        spec.weightType = "q8_0"
        let good = tempModelPath("q8-finite.gguf"), bad = tempModelPath("q8-poisoned.gguf")
        try SyntheticModel.write(spec, to: good)
        try TensorCheck.check(try GGUFFile(path: good))
        try CorruptModel.write(from: good, to: bad, poison: [CorruptModel.Poison("blk.1.ffn_gate_exps.weight", element: 70, .nan)])
        do {
            try TensorCheck.check(try GGUFFile(path: bad))
            Issue.record("a NaN block scale passed the check")
        } catch let e as InvalidTensorValue {
            #expect(e.tensor == "blk.1.ffn_gate_exps.weight" && e.field == "d" && e.index == 2 && e.value.isNaN, "\(e)")
        }
    }
}
