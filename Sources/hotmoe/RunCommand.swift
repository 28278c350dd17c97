import ArgumentParser
import Engine
import Foundation
import GGUF
import HotCache
import Logging
import Tokenizer

/// Options every command that loads a model shares, with llama.cpp's flag names.
struct ModelOptions: ParsableArguments {
    @Option(name: [.short, .customLong("model")], help: "GGUF model file (default: the embedded default model).")
    var model: String?
    @Option(name: [.short, .customLong("threads")], help: "CPU threads (default: all cores).")
    var threads: Int?
    @Option(name: [.short, .customLong("ctx-size")], help: "Context size in tokens (default: 4096 or the model's, whichever is smaller).")
    var ctxSize: Int?
    @Option(name: [.customShort("b"), .customLong("batch-size")], help: "Tokens per prompt-processing batch.")
    var batchSize: Int = 256
    @Flag(name: .shortAndLong, help: "Verbose logging.")
    var verbose = false
    @Flag(name: .customLong("check-tensors"), help: ArgumentHelp(stringLiteral: CheckTensors.help))
    var checkTensors = false
    @OptionGroup var kvCache: KVCacheFlags

    var threadCount: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

    func validate() throws {
        if let t = threads, t < 1 || t > 1024 { throw ValidationError("--threads must be in 1...1024, got \(t)") }
        if let c = ctxSize, c < 1 { throw ValidationError("--ctx-size must be positive, got \(c)") }
        if batchSize < 1 || batchSize > 8192 { throw ValidationError("--batch-size must be in 1...8192, got \(batchSize)") }
    }

    /// Loads the model with progress on the log; experts resident or streamed as memory
    /// allows (`cache` gives the hot-cache flags, their defaults when nil; the runtime is nil
    /// when none is needed).
    func load(logger: Logger, cache flags: HotCacheFlags? = nil, parallel: Int = 1)
        throws -> (MoEModel, Tokenizer, String, MoERuntime?) {
        // Parsed, not HotCacheFlags(): reading an unparsed ArgumentParser property traps.
        let cache = try flags ?? HotCacheFlags.parse([])
        let path = try ModelLocator.resolve(model, logger: logger)
        let clock = ContinuousClock()
        let t0 = clock.now
        logger.info("loading \(path)")
        let file = try GGUFFile(path: path)
        if checkTensors { try CheckTensors.run(file, logger: logger) }
        let (model, runtime) = try cache.load(file: file, ctxSize: contextSize(for:), parallel: parallel, maxBatch: batchSize,
                                             kvTypes: try kvCache.types(), slidingWindow: kvCache.slidingWindow, logger: logger)
        let tokenizer = try Tokenizer(gguf: file)
        let c = model.config
        if case let ctx = contextSize(for: model), ctx > c.contextLength {
            logger.warning("--ctx-size \(ctx) exceeds the model's training context (\(c.contextLength)): output past \(c.contextLength) positions may degrade")
        }
        logger.info("loaded \(c.architecture): \(c.layerCount) layers, \(c.expertCount) experts (top-\(c.expertsUsed)), vocab \(c.vocabSize) in \(String(format: "%.2f", (clock.now - t0).seconds)) s")
        return (model, tokenizer, path, runtime)
    }

    /// As llama.cpp: an explicit -c beyond the trained context is honoured (`load` warns);
    /// the default never exceeds it.
    func contextSize(for model: MoEModel) -> Int {
        ctxSize ?? min(4096, model.config.contextLength)
    }
}

struct SamplingOptions: ParsableArguments {
    @Option(name: [.customLong("temp"), .customLong("temperature")], help: "Temperature; 0 = greedy.") var temperature: Float = 0.8
    @Option(name: .customLong("top-k")) var topK: Int = 40
    @Option(name: .customLong("top-p")) var topP: Float = 0.95
    @Option(name: .customLong("min-p")) var minP: Float = 0.05
    @Option(name: [.short, .customLong("seed")], help: "RNG seed (default: random).") var seed: UInt64?

    var params: SamplingParams {
        SamplingParams(temperature: temperature, topK: topK, topP: topP, minP: minP, seed: seed)
    }

    func validate() throws {
        do { try params.validate() } catch { throw ValidationError("\(error)") }
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Generate text from a prompt, streaming tokens to stdout.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup(title: "MoE hot cache") var cache: HotCacheFlags
    @Option(name: [.short, .customLong("prompt")], help: "Prompt text.") var prompt: String?
    @Option(name: [.short, .customLong("file")], help: "Read the prompt from a file.") var file: String?
    @Option(name: [.short, .customLong("n-predict")], help: "Tokens to generate.") var nPredict: Int = 64
    @Flag(name: .customLong("chat"), help: "Wrap the prompt in the model's chat template as a user message.") var chat = false
    @Option(name: .customLong("system"), help: "System message (with --chat).") var system: String?
    @OptionGroup(title: "Chat template (with --chat)") var chatTemplate: ChatTemplateFlags
    @Flag(name: .customLong("ignore-eos"), help: "Keep generating past end-of-sequence tokens.") var ignoreEOS = false

    func validate() throws {
        if nPredict < 0 { throw ValidationError("--n-predict must be >= 0, got \(nPredict)") }
        if prompt != nil && file != nil { throw ValidationError("give --prompt or --file, not both") }
    }

    func run() throws {
        Log.setup(verbose: modelOptions.verbose)
        let logger = Log.main
        do {
            var text = prompt ?? "The"
            if let file { text = try String(contentsOfFile: file, encoding: .utf8) }
            let (model, tokenizer, _, runtime) = try modelOptions.load(logger: logger, cache: cache)
            if chat {
                var messages: [ChatMessage] = []
                if let system { messages.append(ChatMessage(role: "system", content: system)) }
                messages.append(ChatMessage(role: "user", content: text))
                text = try chatTemplate.renderer(tokenizer: tokenizer, logger: logger)(messages)
            }
            let tokens = tokenizer.encode(text, parseSpecial: chat)
            let ctx = modelOptions.contextSize(for: model)
            let session = InferenceSession(model: model, contextSize: ctx, maxBatch: modelOptions.batchSize,
                                           threads: modelOptions.threadCount, cacheTypes: try modelOptions.kvCache.types(),
                                           slidingWindow: modelOptions.kvCache.slidingWindow)
            if let runtime { session.executor = runtime.makeExecutor(pool: session.pool) }
            logger.info("\(session.cache.summary)")
            guard tokens.count + nPredict <= session.cache.capacity else {
                throw CLIError("prompt (\(tokens.count) tokens) + --n-predict \(nPredict) exceed the context of \(session.cache.capacity) tokens; raise --ctx-size")
            }
            print(tokenizer.decode(tokens), terminator: "")
            flushStdout()
            var sampler = Sampler(sampling.params)
            var decoder = tokenizer.makeStreamingDecoder()
            let stats = try Generator.generate(session: session, prompt: tokens, maxTokens: nPredict, sampler: &sampler,
                                               stopTokens: ignoreEOS ? [] : tokenizer.eosTokens) { token in
                print(decoder.push(token), terminator: "")
                flushStdout()
                return true
            }
            print(decoder.finish())
            logger.info("\(Self.summary(stats))")
            if stats.stoppedBy == .nonFiniteLogits { throw CLIError("\(NonFiniteLogitsError(position: session.position))") }
            if let runtime {
                runtime.afterRequest()
                logger.info("\(runtime.summaryLine)")
                if let line = runtime.streamingLine(tokens: stats.promptTokens + stats.generatedTokens) { logger.info("\(line)") }
                if let out = runtime.options.perfOut { logger.info("MoE perf JSON written to \(out)") }
            }
        } catch let e as CLIError {
            throw e
        } catch {
            throw CLIError("\(error)")
        }
    }

    static func summary(_ s: GenerationStats) -> String {
        String(format: "prompt: %d tokens, %.2f tok/s | generation: %d tokens, %.2f tok/s | stop: %@",
               s.promptTokens, s.promptTokensPerSecond, s.generatedTokens, s.generationTokensPerSecond, s.stoppedBy.rawValue)
    }
}
