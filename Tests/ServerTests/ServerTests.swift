import Engine
import ExpertCache
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HotCache
@testable import HotMoEServer
import Hummingbird
import Logging
import Synchronization
import Testing
import Tokenizer

/// A real server on a loopback port with a generated model, for the duration of `body`; then
/// stopped and shut down the way `hotmoe serve` does after a signal. `derive` may turn the
/// generated file into another one (a corrupt copy, say) and return that one's path.
func withServer<T>(parallel: Int = 1, maxQueue: Int = 8, hotCache: (profile: String, mib: Int)? = nil, traceOut: String? = nil,
                   architecture: String = "qwen3moe", streaming: Bool = false, modelContext: Int? = nil, configure: (inout ServerOptions) -> Void = { _ in },
                   derive: (String) throws -> String = { $0 },
                   _ body: (URL, HotMoEServer) async throws -> T) async throws -> T {
    var spec = SyntheticModelSpec.preset("small", architecture: architecture)!
    spec.layers = 2
    spec.weightType = "q8_0"
    spec.seed = 77
    if let modelContext { spec.context = modelContext }
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("server-\(getpid())-\(UUID().uuidString.prefix(6)).gguf").path
    try SyntheticModel.write(spec, to: path)
    var model = try MoEModel(path: try derive(path))
    var o = HotCacheOptions()
    if let hotCache { o.hotCache = hotCache.profile; o.maxMiB = hotCache.mib }
    if streaming {
        // Experts streamed from the file into a small cache, as on a machine short of RAM.
        model = model.repacked(experts: false)
        o.stream = true
        o.cachePolicy = "lru"
        o.cacheCapacity = 2
    }
    let logger = Logger(label: "test-server")
    let runtime = try MoERuntime(model: model, options: o, logger: logger)
    var so = ServerOptions()
    so.port = 0
    so.parallel = parallel
    so.contextSize = min(512, spec.context)
    so.threads = 1
    so.maxQueue = maxQueue
    so.traceOut = traceOut
    so.metricsEndpoint = true
    configure(&so)
    let server = try HotMoEServer(model: model, tokenizer: try Tokenizer(gguf: model.file), runtime: runtime, options: so, logger: logger)
    let port = Mutex<Int>(0)
    let app = server.application { p in port.withLock { $0 = p } }
    let task = Task { try await app.run() }
    defer { task.cancel() }
    for _ in 0..<200 where port.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
    let bound = port.withLock { $0 }
    guard bound != 0 else { throw CancellationError() }
    let result: Result<T, Error>
    do { result = .success(try await body(URL(string: "http://127.0.0.1:\(bound)")!, server)) } catch { result = .failure(error) }
    task.cancel()
    _ = await task.result
    server.shutdown()
    return try result.get()
}

/// Waits until `count` slots are decoding (a fixed sleep races with slow request start-up on a
/// loaded machine).
func waitUntilSlotsBusy(_ base: URL, _ count: Int = 1) async throws {
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
        let (_, health, _) = try await request(base, "/health")
        if let busy = object(health)["slots_processing"] as? Int, busy >= count { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    Issue.record("no slot became busy within 60 s")
}

/// The writer's in-progress files next to `path` (`NAME.partial-PID-RANDOM`).
func partialTraces(of path: String) -> [String] {
    let url = URL(fileURLWithPath: path)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)) ?? []
    return names.filter { $0.hasPrefix(url.lastPathComponent + ".partial") }
}

func request(_ base: URL, _ path: String, method: String = "GET", json: String? = nil,
             headers: [String: String] = [:]) async throws -> (Int, String, [AnyHashable: Any]) {
    // A query stays a query (appendingPathComponent would escape the '?').
    let url = path.contains("?") ? URL(string: base.absoluteString + path)! : base.appendingPathComponent(path)
    var r = URLRequest(url: url)
    r.httpMethod = method
    for (k, v) in headers { r.setValue(v, forHTTPHeaderField: k) }
    r.timeoutInterval = 120
    if let json {
        r.httpBody = Data(json.utf8)
        r.setValue("application/json", forHTTPHeaderField: "Content-Type")
    }
    let (data, response) = try await URLSession.shared.data(for: r)
    let http = response as! HTTPURLResponse
    return (http.statusCode, String(decoding: data, as: UTF8.self), http.allHeaderFields)
}

func object(_ s: String) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String: Any] ?? [:] }

func completionText(_ s: String) -> String {
    ((object(s)["choices"] as? [[String: Any]])?.first?["text"] as? String) ?? "<none>"
}

@Suite(.serialized) struct ServerTests {
    @Test func greedyCompletionMatchesTheEngineAndStreamingMatchesNonStreaming() async throws {
        try await withServer { base, server in
            let (status, health, _) = try await request(base, "/health")
            #expect(status == 200 && health.contains("\"ok\""))
            let (_, models, _) = try await request(base, "/v1/models")
            #expect(models.contains(server.modelName))
            let body = #"{"prompt": "The cache keeps", "max_tokens": 12, "temperature": 0, "ignore_eos": true}"#
            let (s1, plain, _) = try await request(base, "/v1/completions", method: "POST", json: body)
            #expect(s1 == 200)
            // The same greedy generation straight from the engine.
            let session = InferenceSession(model: server.model, contextSize: 64, maxBatch: 16, threads: 1)
            var sampler = Sampler(.greedy)
            var decoder = server.tokenizer.makeStreamingDecoder()
            var expected = ""
            _ = try Generator.generate(session: session, prompt: server.tokenizer.encode("The cache keeps"), maxTokens: 12,
                                       sampler: &sampler, stopTokens: []) { expected += decoder.push($0); return true }
            expected += decoder.finish()
            #expect(completionText(plain) == expected)
            let usage = object(plain)["usage"] as? [String: Any]
            #expect(usage?["completion_tokens"] as? Int == 12)

            let streamBody = #"{"prompt": "The cache keeps", "max_tokens": 12, "temperature": 0, "ignore_eos": true, "stream": true}"#
            let (s2, sse, headers) = try await request(base, "/v1/completions", method: "POST", json: streamBody)
            #expect(s2 == 200)
            #expect((headers["Content-Type"] as? String)?.contains("text/event-stream") == true)
            let events = sse.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.allSatisfy { $0.hasPrefix("data: ") })
            #expect(events.last == "data: [DONE]")
            let streamed = events.dropLast().map { completionText(String($0.dropFirst(6))) }.joined()
            #expect(streamed == expected)
            // A second identical request reuses the cached prompt prefix.
            let (_, again, _) = try await request(base, "/v1/completions", method: "POST", json: body)
            #expect(completionText(again) == expected)
            #expect(((object(again)["usage"] as? [String: Any])?["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int ?? 0 > 0)
        }
    }

    @Test func stopStringsCutTheOutput() async throws {
        try await withServer { base, _ in
            let (_, full, _) = try await request(base, "/v1/completions", method: "POST",
                                                 json: #"{"prompt": "Il modello", "max_tokens": 16, "temperature": 0, "ignore_eos": true}"#)
            let text = completionText(full)
            try #require(text.count >= 6)
            let stop = String(text.dropFirst(3).prefix(2))
            let payload = try JSONSerialization.data(withJSONObject: ["prompt": "Il modello", "max_tokens": 16, "temperature": 0,
                                                                      "ignore_eos": true, "stop": [stop]])
            let (_, cut, _) = try await request(base, "/v1/completions", method: "POST", json: String(decoding: payload, as: UTF8.self))
            let c = completionText(cut)
            #expect(!c.contains(stop))
            #expect(text.hasPrefix(c))
            #expect(text.range(of: stop).map { text[..<$0.lowerBound] == c } ?? false)
            #expect(((object(cut)["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String) == "stop")
        }
    }

    @Test func badRequestsGetOpenAIErrorsAndTheServerKeepsServing() async throws {
        try await withServer { base, _ in
            let cases: [(String, String, Int)] = [
                ("/v1/completions", "{not json", 400),
                ("/v1/completions", #"{"prompt": "x", "max_tokens": -2}"#, 400),
                ("/v1/completions", #"{"prompt": 42}"#, 400),
                ("/v1/completions", #"{"prompt": "x", "temperature": "warm"}"#, 400),
                ("/v1/completions", #"{"prompt": "x", "n": 17}"#, 400),
                ("/v1/chat/completions", #"{"messages": []}"#, 400),
                ("/v1/chat/completions", #"{"messages": [{"role": "wizard", "content": "x"}]}"#, 400),
                ("/v1/completions", "{\"prompt\": \"" + String(repeating: "word ", count: 2000) + "\"}", 400),
                ("/moe-layer-perf", #"{"mode": "sometimes"}"#, 400),
                ("/moe-hot-cache", #"{"schema":"llama.cpp.moe_layer_opt_perf.v1","layers":[{"layer":0,"experts":[[999,1]]}]}"#, 400),
            ]
            for (path, body, code) in cases {
                let (status, text, _) = try await request(base, path, method: "POST", json: body)
                #expect(status == code, "\(path) \(body.prefix(60)): \(status) \(text)")
                #expect((object(text)["error"] as? [String: Any])?["message"] != nil)
            }
            let (ok, _, _) = try await request(base, "/v1/completions", method: "POST", json: #"{"prompt": "still", "max_tokens": 2}"#)
            #expect(ok == 200)
            let (_, metrics, _) = try await request(base, "/metrics")
            #expect(metrics.contains("hotmoe_request_errors_total 10"))
            #expect(metrics.contains("hotmoe_moe_layer_hit_rate{layer=\"1\"}"))
        }
    }

    @Test func twoSlotsServeConcurrentRequestsWithUnchangedOutput() async throws {
        try await withServer(parallel: 2) { base, _ in
            let bodies = [#"{"prompt": "The quick", "max_tokens": 24, "temperature": 0, "ignore_eos": true}"#,
                          #"{"prompt": "Der schnelle", "max_tokens": 24, "temperature": 0, "ignore_eos": true}"#]
            var sequential = [String]()
            for b in bodies { sequential.append(completionText(try await request(base, "/v1/completions", method: "POST", json: b).1)) }
            async let a = request(base, "/v1/completions", method: "POST", json: bodies[0])
            async let b = request(base, "/v1/completions", method: "POST", json: bodies[1])
            let (ra, rb) = try await (a, b)
            #expect([completionText(ra.1), completionText(rb.1)] == sequential)
        }
    }

    @Test func manualApplyWaitsForTheRunningGenerationAndDoesNotChangeIt() async throws {
        // Profile from a first server, then a server with a hot cache built from it.
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("srv-\(UUID().uuidString.prefix(6)).json").path
        try await withServer { base, _ in
            _ = try await request(base, "/v1/completions", method: "POST", json: #"{"prompt": "warm up the profile", "max_tokens": 16, "ignore_eos": true}"#)
            let (_, perf, _) = try await request(base, "/moe-layer-perf")
            try perf.write(toFile: profile, atomically: true, encoding: .utf8)
        }
        try await withServer(hotCache: (profile, 1)) { base, server in
            let long = #"{"prompt": "A long answer:", "max_tokens": 160, "temperature": 0, "ignore_eos": true}"#
            let (_, reference, _) = try await request(base, "/v1/completions", method: "POST", json: long)
            // A list that swaps hot experts out: every expert's count inverted.
            let layer = server.runtime.plan.layers[0]
            let cold = (0..<server.model.config.expertCount).filter { !server.runtime.plan.isHot(ExpertID(layer: layer, expert: $0)) }
            let apply = #"{"schema":"llama.cpp.moe_layer_opt_perf.v1","layers":[{"layer":\#(layer),"experts":[\#(cold.prefix(4).map { "[\($0), 500]" }.joined(separator: ","))]}]}"#
            async let generation = request(base, "/v1/completions", method: "POST", json: long)
            try await waitUntilSlotsBusy(base)
            let (applyStatus, applied, _) = try await request(base, "/moe-hot-cache", method: "POST", json: apply)
            // The two responses travel on separate connections, so their arrival order is not the
            // server's order. The slot's state is: an apply that did not wait would return while
            // the 160-token generation still holds its slot (a wall-time bound was flaky under
            // ThreadSanitizer and CI load).
            let (_, health, _) = try await request(base, "/health")
            let (_, text, _) = try await generation
            #expect(applyStatus == 200)
            #expect(object(health)["slots_processing"] as? Int == 0, "the apply must wait until the slot is idle")
            #expect(completionText(text) == completionText(reference), "the running generation must not see the cache change")
            #expect((object(applied)["exchanged"] as? Int ?? 0) > 0)
            #expect(server.runtime.verifyTier())
        }
    }

    @Test func fullQueueAnswers503WithRetryAfter() async throws {
        try await withServer(parallel: 1, maxQueue: 0) { base, _ in
            async let long = request(base, "/v1/completions", method: "POST", json: #"{"prompt": "x", "max_tokens": 300, "ignore_eos": true}"#)
            try await waitUntilSlotsBusy(base)
            let (status, body, headers) = try await request(base, "/v1/completions", method: "POST", json: #"{"prompt": "y", "max_tokens": 2}"#)
            #expect(status == 503)
            #expect(body.contains("server busy"))
            #expect(headers["Retry-After"] as? String == "1")
            #expect(try await long.0 == 200)
        }
    }

    @Test func traceOutRecordsEveryServedRequestAndIsCompleteAfterShutdown() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("srv-trace-\(UUID().uuidString.prefix(6)).hmtrace").path
        let prompt = "Routing is recorded"
        let bodies = [("/v1/completions", #"{"prompt": "Routing is recorded", "max_tokens": 10, "temperature": 0, "ignore_eos": true}"#),
                      ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "and this one too"}], "max_tokens": 6, "temperature": 0, "ignore_eos": true}"#)]
        var usages = [[String: Any]]()
        let (model, engineRouting) = try await withServer(traceOut: path) { base, server in
            for (route, body) in bodies {
                let (status, text, _) = try await request(base, route, method: "POST", json: body)
                #expect(status == 200)
                usages.append(object(text)["usage"] as? [String: Any] ?? [:])
            }
            // Streaming to the partial file; the final name appears only at shutdown.
            #expect(partialTraces(of: path).count == 1)
            #expect(!FileManager.default.fileExists(atPath: path))
            // The first request's routing straight from the engine (same greedy tokens).
            let session = InferenceSession(model: server.model, contextSize: 64, maxBatch: 16, threads: 1)
            let collector = RouteCollector(model: server.model)
            collector.attach(to: session)
            var sampler = Sampler(.greedy)
            _ = try Generator.generate(session: session, prompt: server.tokenizer.encode(prompt), maxTokens: 10,
                                       sampler: &sampler, stopTokens: []) { _ in true }
            return (server.model, try collector.sequence().routing)
        }
        #expect(partialTraces(of: path).isEmpty)
        let (header, sequences) = try TraceReader.read(path: path)
        let c = model.config
        #expect(header.layerIDs == Array(0..<c.layerCount) && header.expertsPerLayer == c.expertCount && header.topK == c.expertsUsed)
        try #require(sequences.count == 2)
        #expect(sequences.map(\.domain) == ["completion", "chat"])
        for (s, u) in zip(sequences, usages) {
            // Computed tokens: the uncached prompt part, then every generated token but the last
            // (sampled, never fed back).
            let expected = (u["prompt_tokens"] as? Int ?? -1) - ((u["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int ?? 0)
                + (u["completion_tokens"] as? Int ?? -1) - 1
            #expect(s.routing.tokenCount == expected)
            #expect(s.routing.selections.count == expected * c.layerCount * c.expertsUsed)
            #expect(s.routing.selections.allSatisfy { (0..<Int32(c.expertCount)).contains($0) })
            #expect(s.weights?.count == s.routing.selections.count)
        }
        #expect(sequences[0].routing == engineRouting)
        try? FileManager.default.removeItem(atPath: path)
    }
}
