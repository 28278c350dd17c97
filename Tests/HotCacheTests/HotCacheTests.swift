import Engine
import ExpertCache
import Foundation
@testable import HotCache
import Logging
import Testing

private func makeModel(_ type: String = "q8_0", seed: UInt64, architecture: String = "qwen3moe") throws -> MoEModel {
    var spec = SyntheticModelSpec.preset("small", architecture: architecture)!
    spec.layers = 3
    spec.weightType = type
    spec.seed = seed
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hotcache-tests-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent("m-\(architecture)-\(type)-\(seed).gguf").path
    if !FileManager.default.fileExists(atPath: path) { try SyntheticModel.write(spec, to: path) }
    return try MoEModel(path: path)
}

private let logger = Logger(label: "test")
private let prompt: [Int32] = (0..<40).map { Int32(($0 * 37 + 11) % 300) }

/// Logits of the prompt plus 8 greedy tokens, with an optional runtime behind the seam.
private func run(_ model: MoEModel, runtime: MoERuntime?) throws -> (logits: [Float], tokens: [Int32]) {
    let session = InferenceSession(model: model, contextSize: 128, maxBatch: 16, threads: 2)
    if let runtime { session.executor = runtime.makeExecutor(pool: session.pool) }
    var logits = Array(try session.forward(prompt, logits: .all))
    var tokens = [Int32]()
    for _ in 0..<8 {
        let next = logits.suffix(model.config.vocabSize).withUnsafeBufferPointer { Sampler.argmax($0) }
        tokens.append(next)
        logits = Array(try session.forward([next], logits: .last))
    }
    return (logits, tokens)
}

private func writeProfile(of model: MoEModel, to path: String) throws {
    var o = HotCacheOptions()
    o.perfOut = path
    let r = try MoERuntime(model: model, options: o, logger: logger)
    _ = try run(model, runtime: r)
    r.afterRequest()
}

@Suite struct HotCacheTests {
    @Test(arguments: [LaneParallelism.off, .auto, .force])
    func cacheOnEqualsCacheOffBitwise(parallelism: LaneParallelism) throws {
        let model = try makeModel(seed: UInt64.random(in: 1...1_000_000))
        let plain = try run(model, runtime: nil)
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("p-\(UUID()).json").path
        try writeProfile(of: model, to: profile)
        var o = HotCacheOptions()
        o.hotCache = profile
        o.maxMiB = 2
        o.parallelism = parallelism
        o.parallelMinSlots = 0
        let runtime = try MoERuntime(model: model, options: o, logger: logger)
        #expect(runtime.isActive)
        #expect(runtime.plan.hotCount > 0 && runtime.plan.hotCount < runtime.layout.totalExperts)
        #expect(runtime.plan.usedBytes <= 2 << 20)
        #expect(runtime.verifyTier())
        let cached = try run(model, runtime: runtime)
        #expect(cached.tokens == plain.tokens)
        #expect(cached.logits == plain.logits, "hot/cold merge must be exact")
        let m = runtime.metrics
        #expect(m.hitRate > 0 && m.hitRate < 1)
        // The plan was learned from this very workload: the hot experts carry more than their share.
        #expect(m.hitRate > Double(m.hotExperts) / Double(m.totalExperts))
    }

    /// A server shutting down frees its runtime while a slot may still decode: the slot's
    /// executor must then keep computing (every expert from the model), not read the freed
    /// runtime (it held it unowned and trapped).
    @Test func executorOutlivingItsRuntimeStillComputesExactly() throws {
        let model = try makeModel(seed: UInt64.random(in: 1...1_000_000))
        let reference = InferenceSession(model: model, contextSize: 128, maxBatch: 16, threads: 2)
        let plain = Array(try reference.forward(prompt, logits: .all))
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("p-\(UUID()).json").path
        try writeProfile(of: model, to: profile)
        let session = InferenceSession(model: model, contextSize: 128, maxBatch: 16, threads: 2)
        weak var released: MoERuntime?
        do {
            var o = HotCacheOptions()
            o.hotCache = profile
            o.maxMiB = 2
            let runtime = try MoERuntime(model: model, options: o, logger: logger)
            #expect(runtime.isActive)
            session.executor = runtime.makeExecutor(pool: session.pool)
            released = runtime
        }
        #expect(released == nil, "the executor must not keep its runtime alive")
        #expect(Array(try session.forward(prompt, logits: .all)) == plain)
    }

    /// On the hybrids and GLM-4.5: every MoE layer is in the layout and the profile, the shared
    /// expert and GLM's leading dense layer are no slots, and the merge stays exact.
    /// DeepSeek-V3's layout (latent attention, group-limited sigmoid routing, leading dense layer) likewise.
    @Test(arguments: ["qwen35moe", "qwen3next", "glm4moe", "deepseek2"])
    func hybridModelsCacheExactlyWithTheSharedExpertOutsideTheCache(architecture: String) throws {
        let model = try makeModel(seed: UInt64.random(in: 1...1_000_000), architecture: architecture)
        #expect(model.config.sharedExpertFFLength > 0)
        #expect(["glm4moe", "deepseek2"].contains(architecture) ? model.config.leadingDenseLayers == 1 : model.config.hasRecurrentLayers)
        let plain = try run(model, runtime: nil)
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("p-\(UUID()).json").path
        try writeProfile(of: model, to: profile)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: profile))) as? [String: Any]
        let layers = (json?["layers"] as? [[String: Any]])?.compactMap { $0["layer"] as? Int } ?? []
        #expect(layers == model.config.moeLayers, "every MoE layer, DeltaNet or attention, is profiled; no dense layer")
        #expect(model.config.moeLayers.count == model.config.layerCount - model.config.leadingDenseLayers)
        var o = HotCacheOptions()
        o.hotCache = profile
        o.maxMiB = 1
        o.parallelism = .force
        o.parallelMinSlots = 0
        let runtime = try MoERuntime(model: model, options: o, logger: logger)
        #expect(runtime.layout.totalExperts == model.config.moeLayers.count * model.config.expertCount)
        let cached = try run(model, runtime: runtime)
        #expect(cached.tokens == plain.tokens)
        #expect(cached.logits == plain.logits, "hot/cold merge must be exact")
        #expect(runtime.metrics.hitRate > 0 && runtime.metrics.hitRate < 1)
    }

    /// gpt-oss: hot copies of experts keep their projection biases (which stay in the model),
    /// so the hot/cold merge is exact there too, with the MXFP4 experts of the family.
    @Test(arguments: ["q8_0", "mxfp4_moe"])
    func gptOSSCacheOnEqualsCacheOffBitwise(type: String) throws {
        let model = try makeModel(type, seed: UInt64.random(in: 1...1_000_000), architecture: "gpt-oss")
        #expect(model.weights.layers.allSatisfy { $0.moe?.expertBiases != nil })
        let plain = try run(model, runtime: nil)
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("p-\(UUID()).json").path
        try writeProfile(of: model, to: profile)
        var o = HotCacheOptions()
        o.hotCache = profile
        o.maxMiB = 1
        o.parallelism = .force
        o.parallelMinSlots = 0
        let runtime = try MoERuntime(model: model, options: o, logger: logger)
        #expect(runtime.plan.hotCount > 0 && runtime.plan.hotCount < runtime.layout.totalExperts)
        let cached = try run(model, runtime: runtime)
        #expect(cached.tokens == plain.tokens)
        #expect(cached.logits == plain.logits, "hot/cold merge must be exact")
        #expect(runtime.metrics.hitRate > 0 && runtime.metrics.hitRate < 1)
    }

    @Test func profileRunWritesTheSeedSchema() throws {
        let model = try makeModel(seed: 5)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("p-\(UUID()).json").path
        try writeProfile(of: model, to: path)
        let profile = try PerfProfile.load(contentsOf: URL(fileURLWithPath: path), layout: nil)
        #expect(profile.schema == "llama.cpp.moe_layer_opt_perf.v1")
        #expect(profile.layers.map(\.layer) == [0, 1, 2])
        for layer in profile.layers {
            let hits = layer.experts!.reduce(0) { $0 + $1.hits }
            // 40 prompt tokens + 8 decoded tokens fed back -> 48 tokens x top-4.
            #expect(hits == UInt64(48 * model.config.expertsUsed))
            #expect(layer.hotExperts!.isEmpty)
            // Prompt in batches of 16 (16+16+8 -> 3 calls) plus 8 single-token calls.
            #expect(layer[.calls] == Double(3 + 8))
        }
    }

    @Test func manualApplyCopiesOnlyChangedSlotsAndRejectsBadInput() throws {
        let model = try makeModel(seed: 9)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("p-\(UUID()).json").path
        try writeProfile(of: model, to: path)
        var o = HotCacheOptions()
        o.hotCache = path
        o.maxMiB = 1
        let runtime = try MoERuntime(model: model, options: o, logger: logger)
        let before = runtime.plan
        // Bad inputs: malformed JSON, an expert the model does not have, a negative count.
        for bad in ["{not json", #"{"schema":"llama.cpp.moe_layer_opt_perf.v1","layers":[{"layer":0,"experts":[[999,5]]}]}"#,
                    #"{"schema":"llama.cpp.moe_layer_opt_perf.v1","layers":[{"layer":0,"experts":[[1,-5]]}]}"#] {
            #expect(throws: HotCacheError.self) { try runtime.applyHotCache(json: Data(bad.utf8)) }
            #expect(runtime.plan == before)
        }
        // A list that favours experts that are cold now: a layer's slot count stays, contents change.
        let layer = before.layers[0]
        let cold = (0..<model.config.expertCount).filter { !before.isHot(ExpertID(layer: layer, expert: $0)) }
        let pairs = cold.prefix(before.slotCount(layer: layer)).map { "[\($0), 1000]" }.joined(separator: ",")
        let json = #"{"schema":"llama.cpp.moe_layer_opt_perf.v1","layers":[{"layer":\#(layer),"experts":[\#(pairs)]}]}"#
        let stats = try runtime.applyHotCache(json: Data(json.utf8))
        #expect(stats.exchanged == min(before.slotCount(layer: layer), cold.count))
        #expect(stats.layersChanged == 1)
        #expect(runtime.plan.slotCount(layer: layer) == before.slotCount(layer: layer))
        for l in before.layers where l != layer { #expect(runtime.plan.slots[l] == before.slots[l]) }
        #expect(runtime.verifyTier())
        #expect(stats.responseJSON().contains("\"exchanged\":\(stats.exchanged)"))
    }

    @Test func budgetLargerThanMemoryIsAClearError() throws {
        let model = try makeModel(seed: 5)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("p-\(UUID()).json").path
        try writeProfile(of: model, to: path)
        var o = HotCacheOptions()
        o.hotCache = path
        o.maxMiB = 1 << 30
        #expect(throws: HotCacheError.self) { try MoERuntime(model: model, options: o, logger: logger) }
        o.hotCache = "/nonexistent/profile.json"
        o.maxMiB = 1
        #expect(throws: HotCacheError.self) { try MoERuntime(model: model, options: o, logger: logger) }
    }
}

@Suite struct SettingsTests {
    @Test func commandLineBeatsEnvironmentBeatsINI() throws {
        let ini = FileManager.default.temporaryDirectory.appendingPathComponent("c-\(UUID()).ini").path
        try """
        # comment
        [model]
        moe-hot-cache = from-ini.json
        moe-hot-cache-max-mib = 512
        moe-hot-cache-update-rate = 0.25
        moe-hot-cache-weighting = capped
        """.write(toFile: ini, atomically: true, encoding: .utf8)
        let source = try SettingsSource(environment: ["LLAMA_ARG_MOE_HOT_CACHE_MAX_MIB": "-1", "LLAMA_MOE_HOT_CACHE_PARALLEL": "force"],
                                        iniPath: ini, knownKeys: HotCacheOptions.settingKeys)
        var cli = HotCacheOptions.CommandLine()
        cli.updateRate = 0.5
        let o = try HotCacheOptions.resolve(cli, source: source)
        #expect(o.hotCache == "from-ini.json")
        #expect(o.maxMiB == -1)
        #expect(o.updateRate == 0.5)
        #expect(o.weighting == .smooth)
        #expect(o.parallelism == .force)
        #expect(o.perfMode == .full)
        cli.noPerf = true
        #expect(try HotCacheOptions.resolve(cli, source: source).perfMode == .off)
    }

    @Test func badValuesNameTheSetting() throws {
        func rejects(_ env: [String: String], _ fragment: String) {
            do {
                _ = try HotCacheOptions.resolve(.init(), source: try SettingsSource(environment: env))
                Issue.record("accepted \(env)")
            } catch {
                #expect("\(error)".contains(fragment), "\(error)")
            }
        }
        rejects(["LLAMA_ARG_MOE_HOT_CACHE_UPDATE_RATE": "1.5"], "update-rate")
        rejects(["LLAMA_ARG_MOE_HOT_CACHE_MAX_MIB": "-1"], "--moe-hot-cache FILE is required")
        rejects(["LLAMA_ARG_MOE_HOT_CACHE_MAX_MIB": "lots"], "moe-hot-cache-max-mib")
        rejects(["LLAMA_ARG_MOE_HOT_CACHE_WEIGHTING": "fancy"], "unknown mode 'fancy'")
        rejects(["LLAMA_MOE_LAYER_PERF": "sometimes"], "LLAMA_MOE_LAYER_PERF")
        let ini = FileManager.default.temporaryDirectory.appendingPathComponent("c-\(UUID()).ini").path
        try "moe-hot-cache-size = 3\n".write(toFile: ini, atomically: true, encoding: .utf8)
        #expect(throws: SettingsError("\(ini):1: unknown setting 'moe-hot-cache-size'")) {
            try SettingsSource(iniPath: ini, knownKeys: HotCacheOptions.settingKeys)
        }
    }
}
