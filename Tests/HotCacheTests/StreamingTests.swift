import Engine
import ExpertCache
import Foundation
@testable import HotCache
import Logging
import GGUF
import Quant
import Testing

private let logger = Logger(label: "test")

private func modelFile(_ type: String, seed: UInt64, architecture: String = "qwen3moe", fusedGateUp: Bool = false) throws -> String {
    var spec = SyntheticModelSpec.preset("small", architecture: architecture)!
    spec.layers = 3
    spec.weightType = type
    spec.seed = seed
    spec.fusedGateUp = fusedGateUp
    let name = "stream-\(getpid())-\(architecture)\(fusedGateUp ? "-fused" : "")-\(type)-\(seed).gguf"
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
    if !FileManager.default.fileExists(atPath: path) { try SyntheticModel.write(spec, to: path) }
    return path
}

/// Prompt logits then greedy decode logits, one forward call per token after the prompt.
private func generate(_ model: MoEModel, runtime: MoERuntime?, prompt: [Int32], steps: Int) throws -> [Float] {
    let session = InferenceSession(model: model, contextSize: 128, maxBatch: 16, threads: 2)
    if let runtime { session.executor = runtime.makeExecutor(pool: session.pool) }
    var all = Array(try session.forward(prompt, logits: .last))
    for _ in 0..<steps {
        let next = all.suffix(model.config.vocabSize).withUnsafeBufferPointer { Sampler.argmax($0) }
        all += try session.forward([next], logits: .last)
    }
    return all
}

private func streamingOptions(capacity: Int, prefetch: PrefetchMode) -> HotCacheOptions {
    var o = HotCacheOptions()
    o.cachePolicy = "lru"
    o.cacheCapacity = capacity
    o.stream = true
    o.prefetch = prefetch
    return o
}

@Suite struct StreamingTests {
    /// Experts streamed from the file and repacked into the cache as they are read compute
    /// exactly what the fully repacked resident model computes (same kernels, same layout),
    /// with lookahead read-ahead on or off, for prompt batches and decode.
    /// The same on GLM-4.5 (leading dense layer, selection bias): streaming and lookahead skip
    /// the dense layer.
    @Test(arguments: [PrefetchMode.on, .off])
    func streamedGlmExpertsEqualResidentBitwise(prefetch: PrefetchMode) throws {
        try checkStreamedEqualsResident(type: "q8_0", prefetch: prefetch, architecture: "glm4moe")
    }

    /// The same on DeepSeek-V3's layout (latent attention, group-limited routing, dense layer 0).
    @Test(arguments: [PrefetchMode.on, .off])
    func streamedDeepSeek2ExpertsEqualResidentBitwise(prefetch: PrefetchMode) throws {
        try checkStreamedEqualsResident(type: "q8_0", prefetch: prefetch, architecture: "deepseek2")
    }

    /// The same on gpt-oss with MXFP4 experts: a streamed expert's biases come from the model.
    @Test(arguments: [PrefetchMode.on, .off])
    func streamedGptOSSExpertsEqualResidentBitwise(prefetch: PrefetchMode) throws {
        try checkStreamedEqualsResident(type: "mxfp4_moe", prefetch: prefetch, architecture: "gpt-oss")
    }

    /// The same on Gemma 4 with one fused ffn_gate_up_exps per layer (as its converter writes
    /// it): each expert's gate and up halves are read from their own place in the fused tensor.
    @Test(arguments: ["q8_0", "q4_k_m"])
    func streamedFusedGemmaExpertsEqualResidentBitwise(type: String) throws {
        try checkStreamedEqualsResident(type: type, prefetch: .on, architecture: "gemma4", fusedGateUp: true)
    }

    @Test(arguments: ["q8_0", "q4_k_m"], [PrefetchMode.on, .off])
    func streamedRepackedExpertsEqualResidentRepackedBitwise(type: String, prefetch: PrefetchMode) throws {
        try checkStreamedEqualsResident(type: type, prefetch: prefetch, architecture: "qwen3moe")
    }

    private func checkStreamedEqualsResident(type: String, prefetch: PrefetchMode, architecture: String,
                                             fusedGateUp: Bool = false) throws {
        let path = try modelFile(type, seed: UInt64.random(in: 1...1_000_000), architecture: architecture, fusedGateUp: fusedGateUp)
        let prompt: [Int32] = (0..<24).map { _ in Int32.random(in: 0..<300) }
        let resident = try MoEModel(file: try GGUFFile(path: path), repack: true)
        let expected = try generate(resident, runtime: nil, prompt: prompt, steps: 12)

        let streamed = try MoEModel(file: try GGUFFile(path: path)).repacked(experts: false)
        #expect(!streamed.weights.hasRepackedExperts)
        let runtime = try MoERuntime(model: streamed, options: streamingOptions(capacity: 3, prefetch: prefetch), logger: logger)
        let got = try generate(streamed, runtime: runtime, prompt: prompt, steps: 12)
        #expect(got == expected, "streamed experts must give bitwise the resident logits")
        let reads = try #require(runtime.readStats)
        #expect(reads.bytes > 0 && reads.reads > 0)
        let p = try #require(runtime.prefetchStats)
        #expect((p.predictions > 0) == (prefetch == .on), "decode steps score the next-layer guesses when lookahead runs")
        #expect(p.enabled == (prefetch == .on))
        if prefetch == .on { #expect(p.prefetchReads > 0) } else { #expect(p.prefetchReads == 0 && p.missesPrefetched == 0) }
        if CPU.avx2 {
            // Slots hold the eight-row layout the resident model runs.
            let first = runtime.model.config.leadingDenseLayers
            let m = try #require((0..<runtime.model.config.expertCount).lazy.compactMap {
                runtime.residentSlot(layer: first, expert: $0)
            }.first)
            #expect(m.gate.layout == resident.weights.layers[first].moe?.gateExperts.layout)
        }
    }

    /// A read error mid-generation ends that forward pass with an error naming the file; the
    /// session is rewound and, once reads work again, continues with the exact output.
    @Test func injectedReadErrorEndsTheRequestAndTheSessionRecovers() throws {
        let path = try modelFile("q8_0", seed: 4242)
        let model = try MoEModel(file: try GGUFFile(path: path)).repacked(experts: false)
        let prompt: [Int32] = (0..<10).map { Int32(($0 * 31 + 5) % 300) }
        let runtime = try MoERuntime(model: model, options: streamingOptions(capacity: 2, prefetch: .off), logger: logger)
        let session = InferenceSession(model: model, contextSize: 64, maxBatch: 16, threads: 2)
        session.executor = runtime.makeExecutor(pool: session.pool)
        _ = try session.forward(prompt, logits: .last)
        let position = session.position
        runtime.injectReadFailure(afterParts: 2)
        var failures = 0
        for t in 0..<6 {
            do { _ = try session.forward([Int32(t + 1)], logits: .last) } catch {
                failures += 1
                #expect("\(error)".contains("injected I/O error") && "\(error)".contains(path), "\(error)")
                #expect(session.position == position, "a failed pass leaves the context as it was")
            }
        }
        #expect(failures > 0, "with every read failing, some step must miss the cache")
        runtime.online?.reader?.setFailure(afterParts: nil)
        let fresh = try MoERuntime(model: model, options: streamingOptions(capacity: 2, prefetch: .off), logger: logger)
        let reference = InferenceSession(model: model, contextSize: 64, maxBatch: 16, threads: 2)
        reference.executor = fresh.makeExecutor(pool: reference.pool)
        _ = try reference.forward(prompt, logits: .last)
        let a = Array(try session.forward([7], logits: .last)), b = Array(try reference.forward([7], logits: .last))
        #expect(a == b, "after the error the session computes what a fresh one does")
    }

    /// The load-time decision from given memory figures: resident when all fits, streaming
    /// with an LRU cache sized from what remains, a clear refusal below the minimum.
    @Test func autoResidencyFromGivenMemory() throws {
        let path = try modelFile("q8_0", seed: 99)
        let base = try MoEModel(file: try GGUFFile(path: path))
        var o = HotCacheOptions()
        o.autoReserveMiB = 0
        o.autoReserveGiven = true
        let f = AutoResidency.figures(model: base, options: o, repack: true, maxBatch: 16, availableBytes: 0)
        let everything = f.baseBytes + f.expertBytes

        let (resident, ro) = try AutoResidency.prepare(model: base, options: o, repack: true, maxBatch: 16, logger: logger,
                                                       availableBytes: everything)
        #expect(!ro.stream && ro.cachePolicy == nil)
        #expect(resident.weights.hasRepackedExperts == CPU.avx2)

        let short = f.baseBytes + f.expertBytes - 1
        let (streamed, so) = try AutoResidency.prepare(model: base, options: o, repack: true, maxBatch: 16, logger: logger,
                                                       availableBytes: short)
        #expect(so.stream && so.cachePolicy == AutoResidency.defaultPolicy)
        #expect(!streamed.weights.hasRepackedExperts)
        let capacity = try #require(so.cacheCapacity)
        let e = base.config.expertCount
        let expected = (short - f.baseBytes - f.streamingBytes) / (f.expertBytes / e)
        #expect(capacity == expected && capacity < e, "cache sized from what remains: \(capacity), expected \(expected) of \(e)")
        #expect(so.wantsRuntime)

        o.hotCache = "/nonexistent/profile.json"
        let (_, pinned) = try AutoResidency.prepare(model: base, options: o, repack: true, maxBatch: 16, logger: logger, availableBytes: short)
        #expect(pinned.cachePolicy == "pinned", "a profile pins its experts in the streaming cache")
        o.hotCache = nil

        do {
            _ = try AutoResidency.prepare(model: base, options: o, repack: true, maxBatch: 16, logger: logger,
                                          availableBytes: f.baseBytes + f.streamingBytes + f.minimumCacheBytes - 1)
            Issue.record("accepted less than the minimum")
        } catch {
            #expect("\(error)".contains("not enough memory") && "\(error)".contains("MiB available"), "\(error)")
        }

        var explicit = o
        explicit.stream = true
        explicit.cachePolicy = "lfu"
        explicit.cacheCapacity = 3
        let (_, eo) = try AutoResidency.prepare(model: base, options: explicit, repack: true, maxBatch: 16, logger: logger,
                                                availableBytes: everything * 100)
        #expect(eo == explicit, "explicit streaming flags are kept as given")
    }
}

@Suite struct MemoryLimitsTests {
    @Test func readsMemAvailableAndCgroupHeadroom() {
        #expect(MemoryLimits.memAvailable(meminfo: "MemTotal:  2048 kB\nMemAvailable:   1024 kB\n") == 1 << 20)
        #expect(MemoryLimits.memAvailable(meminfo: "MemTotal: 5 kB\n") == nil)
        // v2: limit - usage + reclaimable inactive file pages.
        #expect(MemoryLimits.cgroupHeadroom(limit: "1000000\n", usage: "600000", stat: "anon 1\ninactive_file 50000\n") == 450_000)
        #expect(MemoryLimits.cgroupHeadroom(limit: "max\n", usage: "5", stat: nil) == nil)
        // v1 reports "unlimited" as a number near 2^63.
        #expect(MemoryLimits.cgroupHeadroom(limit: "9223372036854771712", usage: "5", stat: nil) == nil)
        #expect(MemoryLimits.cgroupHeadroom(limit: "100", usage: "900", stat: "total_inactive_file 10") == 0)
        let dirs = MemoryLimits.cgroupDirectories(procSelfCgroup: "4:memory:/a/b\n1:cpu:/\n0::/u/v\n", root: "/cg")
        #expect(dirs.map(\.dir) == ["/cg/memory/a/b", "/cg/memory/a", "/cg/memory", "/cg/u/v", "/cg/u", "/cg"])
        #expect(dirs.map(\.v2) == [false, false, false, true, true, true])
        if let here = MemoryLimits.availableBytes() { #expect(here > 0) }
    }
}

@Suite struct ReserveTests {
    @Test func theDefaultReserveScalesWithAvailableMemoryAndAGivenOneIsKept() {
        var o = HotCacheOptions()
        let gib = 1 << 30
        #expect(AutoResidency.reserveBytes(o, availableBytes: 64 * gib) == 1024 << 20)
        #expect(AutoResidency.reserveBytes(o, availableBytes: 5 * gib) == 512 << 20)
        #expect(AutoResidency.reserveBytes(o, availableBytes: gib) == 256 << 20)
        o.autoReserveMiB = 2048
        o.autoReserveGiven = true
        #expect(AutoResidency.reserveBytes(o, availableBytes: gib) == 2048 << 20)
    }
}
