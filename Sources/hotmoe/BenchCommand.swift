import ArgumentParser
import Engine
import CUDA
import Foundation
import GGUF
import ExpertCache
import HotCache

/// Prompt-processing and generation speed the way llama-bench measures them: pp = one prompt of
/// random tokens, tg = tokens decoded one at a time, each after -d tokens of context (llama-bench's
/// n_depth; 0: from an empty context).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure prompt processing (pp) and generation (tg) tokens/s, like llama-bench.")

    @Option(name: [.short, .customLong("model")], help: "GGUF model file (default: the embedded default model).")
    var model: String?
    @Option(name: [.customShort("p"), .customLong("n-prompt")], help: "Prompt tokens for the pp test (0 skips it).") var nPrompt = 512
    @Option(name: [.customShort("n"), .customLong("n-gen")], help: "Generated tokens for the tg test (0 skips it).") var nGen = 128
    @Option(name: [.customShort("d"), .customLong("n-depth")], help: "Tokens already in the context before each pp / tg test (llama-bench's -d).") var depth = 0
    @Option(name: [.customShort("r"), .customLong("repetitions")], help: "Repetitions of each test.") var repetitions = 3
    @Option(name: [.customShort("t"), .customLong("threads")], help: "Threads (default: all cores).") var threads: Int?
    @Option(name: [.customShort("b"), .customLong("batch-size")], help: "Prompt batch size.") var batchSize = 512
    @Option(name: [.customShort("o"), .customLong("output")], help: "md or json.") var output = "md"
    @OptionGroup(title: "MoE hot cache") var cache: HotCacheFlags
    @OptionGroup(title: "KV cache") var kvCache: KVCacheFlags
    @Flag(name: .customLong("sweep-cache"), help: "Decode (tg) at several hot-cache budgets against the no-cache baseline; prints the hit-rate table and the break-even hit rate.")
    var sweepCache = false
    @Option(name: .customLong("sweep-mib"), help: "With --sweep-cache: budgets in MiB, comma separated (default: 1x, 2x, 4x, 8x top-k per layer and all experts).")
    var sweepMiB: String?
    @Flag(name: .customLong("memory-bound"), help: "Also print the physical bound on decode: weight bytes read per token, copy bandwidth, and their quotient in tokens/s.")
    var memoryBound = false
    @Flag(name: .customLong("count-allocations"), help: "Count heap allocations per decoded token in the steady state (run through bench/alloc-check.sh).")
    var countAllocations = false

    func validate() throws {
        if nPrompt < 0 || nGen < 0 { throw ValidationError("-p and -n must be >= 0") }
        if depth < 0 { throw ValidationError("-d must be >= 0") }
        if repetitions < 1 { throw ValidationError("-r must be >= 1") }
        if !["md", "json"].contains(output) { throw ValidationError("-o must be md or json") }
        if sweepMiB != nil && !sweepCache { throw ValidationError("--sweep-mib needs --sweep-cache") }
        if sweepCache && nGen == 0 { throw ValidationError("--sweep-cache measures decoding: -n must be > 0") }
    }

    struct Result: Codable {
        var test: String
        var tokens: Int
        var samplesTokensPerSecond: [Double]
        var stats: SampleStats { SampleStats(samplesTokensPerSecond) }
        enum CodingKeys: String, CodingKey { case test, tokens, samplesTokensPerSecond = "samples_ts", mean = "avg_ts", stddev = "stddev_ts" }
        init(test: String, tokens: Int, samples: [Double]) { self.test = test; self.tokens = tokens; samplesTokensPerSecond = samples }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            test = try c.decode(String.self, forKey: .test)
            tokens = try c.decode(Int.self, forKey: .tokens)
            samplesTokensPerSecond = try c.decode([Double].self, forKey: .samplesTokensPerSecond)
        }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(test, forKey: .test); try c.encode(tokens, forKey: .tokens)
            try c.encode(samplesTokensPerSecond, forKey: .samplesTokensPerSecond)
            try c.encode(stats.mean, forKey: .mean); try c.encode(stats.stddev, forKey: .stddev)
        }
    }

    /// "qwen3moe 16x1024 e64k8", the model column of the tables.
    static func describe(_ m: MoEModel) -> String {
        let c = m.config
        return "\(c.architecture) \(c.layerCount)x\(c.embeddingLength) e\(c.expertCount)k\(c.expertsUsed)"
    }

    /// tg: `tokens` decoded one at a time after `context` (not timed), in tokens per second.
    static func decodeRate(_ session: InferenceSession, _ tokens: [Int32], after context: [Int32] = []) throws -> Double {
        try fill(session, context)
        let clock = ContinuousClock()
        let t0 = clock.now
        for t in tokens { try session.forward(token: t, logits: .last) }
        return Double(tokens.count) / (clock.now - t0).seconds
    }

    /// Empties the session, then runs `context` through it as prompt batches (the -d depth).
    static func fill(_ session: InferenceSession, _ context: [Int32]) throws {
        session.reset()
        if !context.isEmpty { try session.forward(context, logits: .last) }
    }

    /// A test's name as llama-bench prints it: "tg128", "tg128 @ d4096".
    static func testName(_ kind: String, _ tokens: Int, depth: Int) -> String {
        depth > 0 ? "\(kind)\(tokens) @ d\(depth)" : "\(kind)\(tokens)"
    }

    /// Heap allocations per decoded token once warm: decodes half the tokens, then counts over
    /// the other half. Needs the counting malloc of bench/alloc-check.sh (LD_PRELOAD).
    static func allocationsPerToken(_ session: InferenceSession, _ tokens: [Int32]) throws -> (tokens: Int, allocations: UInt64) {
        guard let symbol = dlsym(nil, "hm_alloc_count") else {
            throw CLIError("--count-allocations needs the counting allocator: run bench/alloc-check.sh")
        }
        let count = unsafeBitCast(symbol, to: (@convention(c) () -> UInt64).self)
        session.reset()
        let warm = tokens.count / 2
        for t in tokens[..<warm] { try session.forward(token: t, logits: .last) }
        let before = count()
        for t in tokens[warm...] { try session.forward(token: t, logits: .last) }
        return (tokens.count - warm, count() - before)
    }

    func run() throws {
        Log.setup(verbose: false)
        let logger = Log.main
        do {
            let path = try ModelLocator.resolve(model, logger: logger)
            let maxBatch = max(1, min(batchSize, max(nPrompt, 1)))
            let kvTypes = try kvCache.types()
            let positions = depth + max(nPrompt, nGen) + 8
            let file = try GGUFFile(path: path)
            // The sweep builds one runtime per budget and its own VRAM tiers (--device).
            let (m, runtime) = try cache.load(file: file, ctxSize: { min($0.config.contextLength, positions) },
                                              parallel: 1, maxBatch: maxBatch, kvTypes: kvTypes, slidingWindow: kvCache.slidingWindow,
                                              attachDevice: !sweepCache, logger: logger)
            guard positions <= m.config.contextLength else {
                throw CLIError("-d \(depth) + max(-p, -n) needs \(positions) positions; the model's context is \(m.config.contextLength)")
            }
            let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
            let session = InferenceSession(model: m, contextSize: positions, maxBatch: maxBatch, threads: threadCount, cacheTypes: kvTypes,
                                           slidingWindow: kvCache.slidingWindow)
            var rng = SeededGenerator(seed: 1234)
            if sweepCache {
                let gpu = try GPUSetup.open(try cache.deviceName(), logger: logger)
                let fileLayout = gpu != nil ? try DeviceTierSetup.fileLayout(of: m, file: file) : m
                return try runSweep(model: m, fileLayout: fileLayout, session: session, threads: threadCount, gpu: gpu, rng: &rng, logger: logger)
            }
            if let runtime { session.executor = runtime.makeExecutor(pool: session.pool) }
            func randomTokens(_ n: Int) -> [Int32] { rng.tokens(n, vocab: m.config.vocabSize) }
            let clock = ContinuousClock()
            // One warm-up pass maps the weights in, as llama-bench's warm-up run does.
            session.reset()
            try session.forward(randomTokens(min(16, max(nPrompt, 1))), logits: .last)
            var results = [Result]()
            if countAllocations {
                let (counted, allocations) = try BenchCommand.allocationsPerToken(session, randomTokens(max(nGen, 2)))
                print(String(format: "allocations per decoded token (steady state, %d tokens, %d threads): %.2f (%llu in all)",
                             counted, threadCount, Double(allocations) / Double(counted), allocations))
                return
            }
            if nPrompt > 0 {
                var samples = [Double]()
                for r in 0..<repetitions {
                    try BenchCommand.fill(session, randomTokens(depth))
                    let tokens = randomTokens(nPrompt)
                    let t0 = clock.now
                    try session.forward(tokens, logits: .last)
                    samples.append(Double(nPrompt) / (clock.now - t0).seconds)
                    logger.info("\(BenchCommand.testName("pp", nPrompt, depth: depth)) run \(r + 1)/\(repetitions): \(String(format: "%.2f", samples.last!)) t/s")
                }
                results.append(Result(test: BenchCommand.testName("pp", nPrompt, depth: depth), tokens: nPrompt, samples: samples))
            }
            if nGen > 0 {
                var samples = [Double]()
                let readBefore = runtime?.readStats
                for r in 0..<repetitions {
                    let context = randomTokens(depth)
                    samples.append(try BenchCommand.decodeRate(session, randomTokens(nGen), after: context))
                    logger.info("\(BenchCommand.testName("tg", nGen, depth: depth)) run \(r + 1)/\(repetitions): \(String(format: "%.2f", samples.last!)) t/s")
                }
                results.append(Result(test: BenchCommand.testName("tg", nGen, depth: depth), tokens: nGen, samples: samples))
                if let before = readBefore, let after = runtime?.readStats, let runtime {
                    // Disk traffic of the decode runs alone, for bench/low-ram.sh's I/O bound.
                    let mib = Double(after.bytes - before.bytes) / 1048576
                    let seconds = Double(after.busyNanos - before.busyNanos) / 1e9
                    let p = runtime.prefetchStats ?? PrefetchStats()
                    // Bytes of the experts a decoded token missed, at this cumulative hit rate.
                    let c = m.config
                    let selectionMiB = Double(m.weights.fileExpertBytes) / Double(c.layerCount * c.expertCount) * Double(c.layerCount * c.expertsUsed) / 1048576
                    let line = String(format: "stream-tg: read-mib-per-token %.3f read-mib-per-s %.1f hit-rate %.4f lookahead-precision %.4f lookahead-on %d missed-mib-per-token %.3f",
                                      mib / Double(max(1, nGen * repetitions)), seconds > 0 ? mib / seconds : 0,
                                      runtime.metrics.hitRate, p.precision, p.enabled ? 1 : 0, (1 - runtime.metrics.hitRate) * selectionMiB)
                    FileHandle.standardError.write(Data((line + "\n").utf8))
                }
            }
            if output == "json" {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try enc.encode(results), as: UTF8.self))
            } else {
                print("| model | size | params | threads | test | t/s |")
                print("| --- | ---: | ---: | ---: | ---: | ---: |")
                let params = m.file.tensors.reduce(0) { $0 + $1.elementCount }
                for r in results {
                    print(String(format: "| %@ | %@ | %@ | %d | %@ | %.2f ± %.2f |", BenchCommand.describe(m), fmtBytes(m.file.fileSize),
                                 fmtCount(params), threadCount, r.test, r.stats.mean, r.stats.stddev))
                }
            }
            if memoryBound {
                logger.info("measuring copy bandwidth (\(threadCount) threads, 512 MiB)")
                let bytes = MemoryBound.bytesPerToken(m)
                let bandwidth = MemoryBound.bandwidth(threads: threadCount)
                let bound = bandwidth.read / Double(bytes)
                var line = String(format: "memory bound: %.2f MiB of weights per decoded token; %d threads: copy %.2f GB/s (read + write), read %.2f GB/s -> at most %.1f t/s",
                                  Double(bytes) / 1048576, threadCount, bandwidth.copy / 1e9, bandwidth.read / 1e9, bound)
                if let tg = results.first(where: { $0.test.hasPrefix("tg") }) {
                    line += String(format: "; tg reached %.1f%%", 100 * tg.stats.mean / bound)
                }
                // One machine-readable line for bench/compare-llama.sh.
                FileHandle.standardError.write(Data(String(format: "memory-bound-ts: %.3f bytes-per-token: %d read-bytes-per-s: %.0f copy-bytes-per-s: %.0f\n", bound, bytes, bandwidth.read, bandwidth.copy).utf8))
                print(line)
            }
            if let state = session.recurrent, let pp = results.first(where: { $0.test.hasPrefix("pp") }) {
                // Prefix reuse on a recurrent model restores a state checkpoint instead of
                // recomputing the prompt: what one copy costs, in prompt tokens at this pp rate.
                let t0 = clock.now
                for i in 0..<20 { state.checkpoint(position: i + 1) }
                let copy = (clock.now - t0).seconds / 20
                let line = String(format: "recurrent state: %.2f MiB per sequence (with %d checkpoints %.2f MiB); one checkpoint copy %.2f ms = recomputing %.1f prompt tokens at pp %.1f t/s",
                                  Double(state.bytes) / Double(1 + RecurrentState.defaultCheckpoints) / 1048576, RecurrentState.defaultCheckpoints,
                                  Double(state.bytes) / 1048576, copy * 1e3, copy * pp.stats.mean, pp.stats.mean)
                if output == "json" { logger.info("\(line)") } else { print(line) }
            }
            if let runtime {
                runtime.afterRequest()
                logger.info("\(runtime.summaryLine)")
            }
        } catch let e as CLIError {
            throw e
        } catch {
            throw CLIError("\(error)")
        }
    }
}
