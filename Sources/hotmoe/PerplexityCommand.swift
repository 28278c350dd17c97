import ArgumentParser
import Engine
import Foundation

/// `hotmoe perplexity -m M -f text.txt [-c 512]`: llama-perplexity's chunking and scoring, so the
/// two engines' fidelity can be compared on one text without greedy near-tie noise.
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a text file, computed like llama.cpp's llama-perplexity.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: [.short, .customLong("file")], help: "Text file to score.") var file: String
    @Option(name: .customLong("chunks"), help: "Score at most this many chunks (default: all).") var chunks: Int?

    func run() throws {
        Log.setup(verbose: modelOptions.verbose)
        do {
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                throw CLIError("cannot read \(file) as UTF-8 text")
            }
            let (model, tokenizer, _, runtime) = try modelOptions.load(logger: Log.main)
            let context = modelOptions.ctxSize ?? 512
            guard context >= 4, context <= model.config.contextLength else {
                throw CLIError("--ctx-size \(context) must be in 4...\(model.config.contextLength) (the model's context)")
            }
            let tokens = tokenizer.encode(text)
            let bos = tokenizer.addBOSByDefault ? tokenizer.bosToken : nil
            let session = InferenceSession(model: model, contextSize: context, maxBatch: modelOptions.batchSize,
                                           threads: modelOptions.threadCount, cacheTypes: try modelOptions.kvCache.types(),
                                           slidingWindow: modelOptions.kvCache.slidingWindow)
            if let runtime { session.executor = runtime.makeExecutor(pool: session.pool) }
            Log.main.info("perplexity: \(tokens.count) tokens, \(min(tokens.count / context, chunks ?? .max)) chunks of \(context)")
            let clock = ContinuousClock(), t0 = clock.now
            let r = try Perplexity.evaluate(session: session, tokens: tokens, context: context, bos: bos, chunks: chunks) { done, total, ppl in
                Log.main.info("perplexity: chunk \(done)/\(total), running PPL \(String(format: "%.4f", ppl))")
            }
            print(r.afterChunk.enumerated().map { String(format: "[%d]%.4f", $0.offset + 1, $0.element) }.joined(separator: ","))
            print(String(format: "Final estimate: PPL = %.4f +/- %.5f", r.perplexity, r.uncertainty))
            Log.main.info("perplexity: \(r.scoredTokens) tokens scored in \(String(format: "%.1f", (clock.now - t0).seconds)) s")
        } catch let e as CLIError {
            throw e
        } catch {
            throw CLIError("\(error)")
        }
    }
}
