import Engine
import ExpertCache
import Foundation
@testable import HotCache
import Logging
import Testing

@Suite struct OnlineTierTests {
    /// Decoding one token per call, the runtime's hits must be exactly what the offline
    /// simulator predicts for the same trace, policy and capacity; the output must not change.
    @Test(arguments: ["lru", "lfu", "lfu-decay", "window-lfu", "lfru"])
    func runtimeHitsEqualSimulatorAndOutputIsExact(policy: String) throws {
        var spec = SyntheticModelSpec.preset("small")!
        spec.layers = 2
        spec.weightType = "q8_0"
        spec.seed = 21
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("online-\(getpid())-\(policy).gguf").path
        try SyntheticModel.write(spec, to: path)
        let model = try MoEModel(path: path)
        let tokens: [Int32] = (0..<48).map { Int32(($0 * 53 + 7) % 300) }

        func run(_ runtime: MoERuntime?) throws -> ([Float], RoutingTrace) {
            let session = InferenceSession(model: model, contextSize: 64, maxBatch: 1, threads: 2)
            if let runtime { session.executor = runtime.makeExecutor(pool: session.pool) }
            var trace = RoutingTrace(layerIDs: [0, 1], expertsPerLayer: model.config.expertCount, topK: model.config.expertsUsed)
            var perLayer = [[Int]](repeating: [], count: 2)
            session.routeObserver = { layer, routes, _ in
                perLayer[layer] = (0..<routes.k).map { Int(routes.experts[$0]) }
                if layer == 1 { try? trace.append(perLayer) }
            }
            var logits = [Float]()
            for t in tokens { logits += try session.forward([t], logits: .last) }
            return (logits, trace)
        }

        let (plain, trace) = try run(nil)
        var o = HotCacheOptions()
        o.cachePolicy = policy
        o.cacheCapacity = 8
        o.stream = true
        let runtime = try MoERuntime(model: model, options: o, logger: Logger(label: "test"))
        let (cached, _) = try run(runtime)
        #expect(cached == plain, "streamed/cached experts must give bitwise the same logits")
        #expect(trace.tokenCount == tokens.count)

        let simulated = Simulator.run([trace], policy: try PolicySpec(name: policy), capacity: .perLayer(8), coldStart: .countMisses)
        let snap = runtime.telemetry.snapshot()
        for layer in 0..<2 {
            var hot: UInt64 = 0
            for e in 0..<model.config.expertCount { hot += snap.hits(ExpertID(layer: layer, expert: e)).hot }
            #expect(Int(hot) == simulated.hits[layer], "layer \(layer): runtime \(hot) hits, simulator \(simulated.hits[layer])")
        }
        #expect(runtime.metrics.streamedBytes > 0)
        #expect(runtime.metrics.hitRate > 0)
    }

    /// The trace's recorded lookahead guesses replayed by the simulator predict the streaming
    /// lane's read-ahead exactly: the misses it had already started reading, and all misses.
    @Test func recordedGuessesPredictTheRuntimeReadAhead() throws {
        var spec = SyntheticModelSpec.preset("small")!
        spec.layers = 3
        spec.weightType = "q8_0"
        spec.seed = 23
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lookahead-\(getpid()).gguf").path
        try SyntheticModel.write(spec, to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try MoEModel(path: path)
        var o = HotCacheOptions()
        o.cachePolicy = "lru"
        o.cacheCapacity = 6
        o.stream = true
        o.prefetch = .on
        let runtime = try MoERuntime(model: model, options: o, logger: Logger(label: "test"))
        let session = InferenceSession(model: model, contextSize: 64, maxBatch: 1, threads: 2)
        session.executor = runtime.makeExecutor(pool: session.pool)
        let collector = RouteCollector(model: model, lookaheadPool: session.pool)
        collector.attach(to: session)
        for t in (0..<40).map({ Int32(($0 * 37 + 5) % 300) }) { _ = try session.forward([t], logits: .last) }
        let (trace, _) = try collector.sequence()
        #expect(trace.lookahead != nil && trace.guessed(token: 3, layerIndex: 0) == nil && trace.guessed(token: 3, layerIndex: 1) != nil)

        let simulated = Simulator.run([trace], policy: .lru, capacity: .perLayer(6), lookahead: true)
        let demand = Simulator.run([trace], policy: .lru, capacity: .perLayer(6))
        let stats = try #require(runtime.prefetchStats)
        #expect(stats.misses == demand.accesses.reduce(0, +) - demand.hits.reduce(0, +))
        #expect(stats.missesPrefetched == simulated.readAheadHits)
        #expect(stats.prefetchReads == simulated.readAheadHits + simulated.readAheadWasted)
        #expect(simulated.readAheadHits > 0, "the guesses must serve some misses on this model")
    }

    @Test func onlineSettingsAreChecked() throws {
        func rejects(_ env: [String: String], _ fragment: String) {
            do {
                _ = try HotCacheOptions.resolve(.init(), source: try SettingsSource(environment: env))
                Issue.record("accepted \(env)")
            } catch {
                #expect("\(error)".contains(fragment), "\(error)")
            }
        }
        rejects(["HOTMOE_MOE_CACHE_POLICY": "fifo"], "unknown cache policy")
        rejects(["HOTMOE_MOE_CACHE_POLICY": "belady", "HOTMOE_MOE_CACHE_CAPACITY": "4"], "needs the future")
        rejects(["HOTMOE_MOE_PREFETCH": "sometimes"], "--moe-prefetch")
        rejects(["HOTMOE_MOE_READ_LANES": "0"], "HOTMOE_MOE_READ_LANES")
        rejects(["HOTMOE_MOE_CACHE_POLICY": "lru", "HOTMOE_MOE_CACHE_CAPACITY": "0"], "--moe-cache-capacity")
    }
}
