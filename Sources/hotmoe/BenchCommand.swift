import ArgumentParser
import Engine
import Foundation
import GGUF
import HotCache

/// Prompt-processing and generation speed the way llama-bench measures them: pp = one prompt of
/// random tokens from an empty context, tg = tokens decoded one at a time from an empty context.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure prompt processing (pp) and generation (tg) tokens/s, like llama-bench.")

    @Option(name: [.short, .customLong("model")], help: "GGUF model file (default: the embedded default model).")
    var model: String?
    @Option(name: [.customShort("p"), .customLong("n-prompt")], help: "Prompt tokens for the pp test (0 skips it).") var nPrompt = 512
    @Option(name: [.customShort("n"), .customLong("n-gen")], help: "Generated tokens for the tg test (0 skips it).") var nGen = 128
    @Option(name: [.customShort("r"), .customLong("repetitions")], help: "Repetitions of each test.") var repetitions = 3
    @Option(name: [.customShort("t"), .customLong("threads")], help: "Threads (default: all cores).") var threads: Int?
    @Option(name: [.customShort("b"), .customLong("batch-size")], help: "Prompt batch size.") var batchSize = 512
    @Option(name: [.customShort("o"), .customLong("output")], help: "md or json.") var output = "md"
    @OptionGroup(title: "MoE hot cache") var cache: HotCacheFlags

    func validate() throws {
        if nPrompt < 0 || nGen < 0 { throw ValidationError("-p and -n must be >= 0") }
        if repetitions < 1 { throw ValidationError("-r must be >= 1") }
        if !["md", "json"].contains(output) { throw ValidationError("-o must be md or json") }
    }

    struct Result: Codable {
        var test: String
        var tokens: Int
        var samplesTokensPerSecond: [Double]
        var mean: Double { samplesTokensPerSecond.reduce(0, +) / Double(samplesTokensPerSecond.count) }
        var stddev: Double {
            let m = mean, n = Double(samplesTokensPerSecond.count)
            return n < 2 ? 0 : (samplesTokensPerSecond.map { ($0 - m) * ($0 - m) }.reduce(0, +) / (n - 1)).squareRoot()
        }
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
            try c.encode(mean, forKey: .mean); try c.encode(stddev, forKey: .stddev)
        }
    }

    func run() throws {
        Log.setup(verbose: false)
        let logger = Log.main
        do {
            let path = try ModelLocator.resolve(model, logger: logger)
            let m = try MoEModel(file: try GGUFFile(path: path))
            let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
            let ctx = min(m.config.contextLength, max(nPrompt, nGen) + 8)
            let runtime = try cache.runtime(for: m, ctxSize: ctx, logger: logger)
            let session = InferenceSession(model: m, contextSize: ctx, maxBatch: max(1, min(batchSize, max(nPrompt, 1))), threads: threadCount)
            if let runtime { session.executor = runtime.makeExecutor(pool: session.pool) }
            var rng = SeededGenerator(seed: 1234)
            func randomTokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(m.config.vocabSize)) } }
            let clock = ContinuousClock()
            // One warm-up pass maps the weights in, as llama-bench's warm-up run does.
            session.reset()
            try session.forward(randomTokens(min(16, max(nPrompt, 1))), logits: .last)
            var results = [Result]()
            if nPrompt > 0 {
                var samples = [Double]()
                for r in 0..<repetitions {
                    session.reset()
                    let tokens = randomTokens(nPrompt)
                    let t0 = clock.now
                    try session.forward(tokens, logits: .last)
                    samples.append(Double(nPrompt) / (clock.now - t0).seconds)
                    logger.info("pp\(nPrompt) run \(r + 1)/\(repetitions): \(String(format: "%.2f", samples.last!)) t/s")
                }
                results.append(Result(test: "pp\(nPrompt)", tokens: nPrompt, samples: samples))
            }
            if nGen > 0 {
                var samples = [Double]()
                for r in 0..<repetitions {
                    session.reset()
                    let tokens = randomTokens(nGen)
                    let t0 = clock.now
                    for t in tokens { try session.forward([t], logits: .last) }
                    samples.append(Double(nGen) / (clock.now - t0).seconds)
                    logger.info("tg\(nGen) run \(r + 1)/\(repetitions): \(String(format: "%.2f", samples.last!)) t/s")
                }
                results.append(Result(test: "tg\(nGen)", tokens: nGen, samples: samples))
            }
            if output == "json" {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try enc.encode(results), as: UTF8.self))
            } else {
                let c = m.config
                print("| model | size | params | threads | test | t/s |")
                print("| --- | ---: | ---: | ---: | ---: | ---: |")
                let params = m.file.tensors.reduce(0) { $0 + $1.elementCount }
                for r in results {
                    print(String(format: "| %@ %dx%d e%dk%d | %@ | %@ | %d | %@ | %.2f ± %.2f |", c.architecture, c.layerCount,
                                 c.embeddingLength, c.expertCount, c.expertsUsed, fmtBytes(m.file.fileSize), fmtCount(params),
                                 threadCount, r.test, r.mean, r.stddev))
                }
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
