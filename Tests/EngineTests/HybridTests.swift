import Foundation
import Testing
@testable import Engine
import GGUF

/// The DeltaNet block's numerics against float64 loops, and the hybrid session's state:
/// batch vs token path, checkpoints and rewinding, and hostile hybrid files.
@Suite struct HybridTests {
    func uniform(_ n: Int, _ rng: inout SeededGenerator, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) * scale }
    }

    func relErr(_ a: [Float], _ b: [Double]) -> Double {
        let num = zip(a, b).reduce(0.0) { $0 + (Double($1.0) - $1.1) * (Double($1.0) - $1.1) }
        return (num / max(1e-300, b.reduce(0.0) { $0 + $1 * $1 })).squareRoot()
    }

    @Test(arguments: [KeyHeadMapping.tiled, .interleaved])
    func deltaRuleMatchesAFloat64Reference(mapping: KeyHeadMapping) throws {
        let seed = UInt64.random(in: 1...1_000_000)
        var rng = SeededGenerator(seed: seed)
        let dn = DeltaNetConfig(convKernel: 4, stateSize: 16, keyHeads: 2, valueHeads: 6, keyHeadMapping: mapping)
        let n = 9, sv = dn.stateSize
        let mixed = uniform(n * dn.convChannels, &rng), beta = uniform(n * dn.valueHeads, &rng).map { 0.5 + 0.5 * $0 }
        let decay = uniform(n * dn.valueHeads, &rng).map { -0.5 + 0.4 * $0 }
        var state = uniform(dn.ssmStateFloats, &rng, scale: 0.3)
        var ref = state.map(Double.init), refOut = [Double](repeating: 0, count: n * dn.valueDim)
        for h in 0..<dn.valueHeads {
            let kh = mapping == .tiled ? h % dn.keyHeads : h / (dn.valueHeads / dn.keyHeads)
            for t in 0..<n {
                let row = t * dn.convChannels
                func q(_ i: Int) -> Double { Double(mixed[row + kh * sv + i]) }
                func k(_ i: Int) -> Double { Double(mixed[row + dn.keyDim + kh * sv + i]) }
                func v(_ j: Int) -> Double { Double(mixed[row + 2 * dn.keyDim + h * sv + j]) }
                let g = exp(Double(decay[t * dn.valueHeads + h])), b = Double(beta[t * dn.valueHeads + h])
                // S[i][j] lives at ref[h][j][i].
                func s(_ i: Int, _ j: Int) -> Int { h * sv * sv + j * sv + i }
                for i in 0..<sv { for j in 0..<sv { ref[s(i, j)] *= g } }
                var delta = [Double](repeating: 0, count: sv)
                for j in 0..<sv { delta[j] = (v(j) - (0..<sv).reduce(0.0) { $0 + ref[s($1, j)] * k($1) }) * b }
                for i in 0..<sv { for j in 0..<sv { ref[s(i, j)] += k(i) * delta[j] } }
                for j in 0..<sv {
                    refOut[t * dn.valueDim + h * sv + j] = (0..<sv).reduce(0.0) { $0 + ref[s($1, j)] * q($1) } / Double(sv).squareRoot()
                }
            }
        }
        var out = [Float](repeating: .nan, count: n * dn.valueDim)
        DeltaNet.recurrence(config: dn, mixed: mixed, beta: beta, decay: decay, tokens: n, state: &state, out: &out,
                            pool: WorkerPool(threads: 2))
        #expect(relErr(out, refOut) < 1e-5, "outputs, seed \(seed)")
        #expect(relErr(state, ref) < 1e-5, "state, seed \(seed)")
    }

    @Test func causalConvCarriesItsWindowAcrossCalls() throws {
        var rng = SeededGenerator(seed: UInt64.random(in: 1...1_000_000))
        let ch = 5, kk = 4, n = 11
        let taps = uniform(ch * kk, &rng), input = uniform(n * ch, &rng)
        var whole = input, state = [Float](repeating: 0, count: (kk - 1) * ch)
        var window = [Float](repeating: 0, count: (n + kk) * ch)
        DeltaNet.causalConv(&whole, tokens: n, channels: ch, kernel: kk, taps: taps, state: &state, window: &window)
        var ref = [Double](repeating: 0, count: n * ch)
        for t in 0..<n { for c in 0..<ch { for j in 0..<kk where t + j - (kk - 1) >= 0 {
            ref[t * ch + c] += Double(input[(t + j - (kk - 1)) * ch + c]) * Double(taps[c * kk + j])
        } } }
        #expect(relErr(whole, ref) < 1e-6)
        var split = input, state2 = [Float](repeating: 0, count: (kk - 1) * ch)
        split.withUnsafeMutableBufferPointer { p in
            DeltaNet.causalConv(p.baseAddress!, tokens: 4, channels: ch, kernel: kk, taps: taps, state: &state2, window: &window)
            DeltaNet.causalConv(p.baseAddress! + 4 * ch, tokens: n - 4, channels: ch, kernel: kk, taps: taps, state: &state2, window: &window)
        }
        #expect(split == whole && state2 == state)
    }

    func hybridModel(_ arch: String, type: String = "q8_0") throws -> MoEModel {
        var spec = SyntheticModelSpec.preset("tiny", architecture: arch)!
        spec.weightType = type
        spec.seed = UInt64.random(in: 1...1_000_000)
        let path = tempModelPath("hybrid-\(arch)-\(spec.seed).gguf")
        try SyntheticModel.write(spec, to: path)
        return try MoEModel(path: path)
    }

    @Test(arguments: ["qwen35moe", "qwen3next"])
    func batchedPromptAndTokenByTokenDecodeAgree(arch: String) throws {
        let model = try hybridModel(arch, type: "f32")
        let worst = try worstBatchedVsTokenByToken(model)
        print("hybrid \(arch): batched (chunks of 32) vs token-by-token, worst relative L2 \(worst)")
        #expect(worst < 1e-5)
    }

    @Test func rewindRestoresACheckpointAndReproducesColdLogits() throws {
        let model = try hybridModel("qwen35moe")
        let prompt: [Int32] = (0..<20).map { Int32(($0 * 13 + 5) % model.config.vocabSize) }
        let cold = InferenceSession(model: model, contextSize: 64, maxBatch: 16, threads: 2)
        let coldLast = Array(try cold.forward(prompt))
        let warm = InferenceSession(model: model, contextSize: 64, maxBatch: 16, threads: 2)
        warm.checkpointsBeforeLastToken = true
        _ = try warm.forward(prompt)
        for _ in 0..<3 { _ = try warm.forward(token: 9) }
        #expect(warm.rewind(to: 19) == 19, "the prompt's last token runs after a checkpoint")
        cold.reset()
        cold.checkpointsBeforeLastToken = true
        let coldSplit = Array(try cold.forward(prompt))
        #expect(relativeL2(coldSplit, coldLast) < 1e-5)
        #expect(Array(try warm.forward([prompt[19]])) == coldSplit)
        #expect(warm.rewind(to: 7) == 0, "no checkpoint at or before 7: back to the empty state")
        #expect(warm.position == 0)
        #expect(Array(try warm.forward(prompt)) == coldSplit)
    }

    @Test func hostileHybridFilesNameTheFieldAndValue() throws {
        let cases: [HostileCase] = [
            ("missing tensor 'blk.0.ssm_a'", [], ["blk.0.ssm_a"]),
            ("missing tensor 'blk.2.ssm_conv1d.weight'", [], ["blk.2.ssm_conv1d.weight"]),
            ("ssm.inner_size 100", [("qwen35moe.ssm.inner_size", .uint32(100))], []),
            ("ssm.time_step_rank 3 must be a multiple of ssm.group_count 2", [("qwen35moe.ssm.time_step_rank", .uint32(3)), ("qwen35moe.ssm.inner_size", .uint32(48))], []),
            ("ssm.conv_kernel 0", [("qwen35moe.ssm.conv_kernel", .uint32(0))], []),
            ("missing metadata key 'qwen35moe.ssm.state_size'", [], ["qwen35moe.ssm.state_size"]),
            ("full_attention_interval 0", [("qwen35moe.full_attention_interval", .uint32(0))], []),
        ]
        try expectEveryVariantRefused(architecture: "qwen35moe", seed: 3, cases)
    }
}
