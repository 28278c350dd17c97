import ArgumentParser
import Engine
import Foundation
import GGUF
import HotCache
import HotMoEServer
import Hummingbird
import ServiceLifecycle
import Tokenizer

/// `hotmoe serve`: llama-server's flag names; each flag also from its LLAMA_ARG_* variable and
/// from the --config INI file (long names without --). Precedence: command line, env, INI.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "OpenAI-compatible server with the MoE hot-cache endpoints and a live perf page.")

    @Option(name: [.short, .customLong("model")], help: "GGUF model (LLAMA_ARG_MODEL; default: the embedded default model).") var model: String?
    @Option(name: .customLong("host"), help: "Listen addresses, comma-separated; a path ending in .sock is a unix socket (LLAMA_ARG_HOST; default 127.0.0.1).") var host: String?
    @Option(name: .customLong("port"), help: "Port (LLAMA_ARG_PORT; default 8080).") var port: Int?
    @Option(name: [.customLong("np", withSingleDash: true), .customLong("parallel")], help: "Slots decoding at once (LLAMA_ARG_N_PARALLEL; default 1).") var parallel: Int?
    @Option(name: [.short, .customLong("ctx-size")], help: "Total context, split evenly over the slots as in llama-server (LLAMA_ARG_CTX_SIZE; default 4096 per slot, or the model's length if shorter).") var ctxSize: Int?
    @Option(name: [.short, .customLong("threads")], help: "Threads per slot (LLAMA_ARG_THREADS; default: cores / parallel).") var threads: Int?
    @Option(name: [.customShort("b"), .customLong("batch-size")], help: "Prompt batch (LLAMA_ARG_BATCH; default 256).") var batchSize: Int?
    @Option(name: [.short, .customLong("n-predict")], parsing: .unconditional, help: "Default max tokens per request, -1 = until the context is full (LLAMA_ARG_N_PREDICT; default 256).") var nPredict: Int?
    @Option(name: .customLong("alias"), help: "Model names reported by /v1/models, comma-separated; the first in sorted order is the id (LLAMA_ARG_ALIAS).") var alias: String?
    @Option(name: .customLong("tags"), help: "Informational model tags listed by /v1/models, comma-separated (LLAMA_ARG_TAGS).") var tags: String?
    @Option(name: .customLong("api-key"), help: "Require 'Authorization: Bearer KEY' (LLAMA_API_KEY).") var apiKey: String?
    @Option(name: .customLong("queue-size"), help: "Requests that may wait for a slot before 503 (default 64).") var queueSize: Int?
    @Option(name: .customLong("moe-trace-out"), help: "Record the expert routing of every served request to this trace file (hotmoe trace's format; HOTMOE_MOE_TRACE_OUT); complete after shutdown.")
    var traceOut: String?
    @Option(name: .customLong("api-key-file"), help: "Read the API key from the first line of this file.") var apiKeyFile: String?
    @OptionGroup(title: "Default sampling (requests that leave a field out)") var sampling: SamplingOptions
    @Flag(name: .customLong("ignore-eos"), help: "Default for requests: keep generating past end-of-sequence tokens.") var ignoreEOS = false
    @Option(name: .customLong("repeat-penalty"), help: "Default for requests: penalty of repeated tokens (1 = off).") var repeatPenalty: Float = 1
    @Option(name: .customLong("presence-penalty"), help: "Default for requests: presence penalty (0 = off).") var presencePenalty: Float = 0
    @Option(name: .customLong("frequency-penalty"), help: "Default for requests: frequency penalty (0 = off).") var frequencyPenalty: Float = 0
    @Option(name: .customLong("repeat-last-n"), help: "Default for requests: tokens the penalties look back on (-1 = all, default 64).") var repeatLastN = 64
    @Option(name: .customLong("cors-origins"), help: "Browser origins allowed to call the server: a comma list, * (default) or localhost.") var corsOrigins: String?
    @Flag(inversion: .prefixedNo, help: "When a slot's context is full, drop the older half after n_keep and keep generating (default off, as llama-server; LLAMA_ARG_CONTEXT_SHIFT).") var contextShift = false
    @Flag(name: .customLong("no-ui"), help: "Do not serve the web UI at /.") var noUI = false
    @Flag(inversion: .prefixedNo, help: "Continue a conversation's final assistant message instead of answering after it (default on, as llama-server; LLAMA_ARG_PREFILL_ASSISTANT).") var prefillAssistant = true
    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Debug logs, and answers carry __verbose (the native result with the prompt) unless a request sets \"verbose\": false.") var verbose = false
    @Option(name: .customLong("reasoning-format"), help: "Thoughts in chat answers: auto (default: reasoning_content where the template has thought tags), deepseek, deepseek-legacy or none (LLAMA_ARG_THINK).") var reasoningFormat: String?
    @Option(name: [.customLong("reasoning")], help: "Thinking in chat: on, off or auto (default: the template's own default; LLAMA_ARG_REASONING).") var reasoning: String?
    @Flag(name: .customLong("metrics"), help: "Serve Prometheus metrics at /metrics (llamacpp:* and hotmoe_* names; LLAMA_ARG_ENDPOINT_METRICS).") var metrics = false
    @Flag(inversion: .prefixedNo, help: "Serve GET /slots (default on).") var slots = true
    @Option(name: .customLong("slot-save-path"), help: "Folder for /slots/{id}?action=save|restore files.") var slotSavePath: String?
    @Flag(name: [.customLong("embedding"), .customLong("embeddings")], help: "Serve /v1/embeddings and /embedding (LLAMA_ARG_EMBEDDINGS).") var embedding = false
    @Option(name: .customLong("pooling"), help: "Embedding pooling: mean (default), cls, last or none.") var pooling: String?
    @Flag(name: .customLong("check-tensors"), help: ArgumentHelp(stringLiteral: CheckTensors.help)) var checkTensors = false
    @OptionGroup(title: "Chat template") var chatTemplate: ChatTemplateFlags
    @OptionGroup(title: "MoE hot cache") var cache: HotCacheFlags
    @OptionGroup(title: "KV cache") var kvCache: KVCacheFlags
    @OptionGroup(title: "Agent tools") var agentFlags: AgentFlags

    func run() async throws {
        Log.setup(verbose: verbose)
        let logger = Log.main
        do {
            let source = try cache.settings()
            func int(_ cli: Int?, _ key: String, _ env: String, _ def: Int, _ range: ClosedRange<Int>) throws -> Int {
                let v = try cli ?? source.int(key, env: [env]) ?? def
                guard range.contains(v) else { throw CLIError("--\(key) must be in \(range.lowerBound)...\(range.upperBound), got \(v)") }
                return v
            }
            let modelPath = try ModelLocator.resolve(model ?? source.value("model", env: ["LLAMA_ARG_MODEL"]), logger: logger)
            var o = ServerOptions()
            o.host = host ?? source.value("host", env: ["LLAMA_ARG_HOST"]) ?? "127.0.0.1"
            o.port = try int(port, "port", "LLAMA_ARG_PORT", 8080, 0...65535)
            o.parallel = try int(parallel, "parallel", "LLAMA_ARG_N_PARALLEL", 1, 1...64)
            let cores = ProcessInfo.processInfo.activeProcessorCount
            o.threads = try int(threads, "threads", "LLAMA_ARG_THREADS", max(1, cores / o.parallel), 1...1024)
            o.batchSize = try int(batchSize, "batch-size", "LLAMA_ARG_BATCH", 256, 1...8192)
            let nPredictAsked = try int(nPredict, "n-predict", "LLAMA_ARG_N_PREDICT", 256, -1...1_000_000)
            guard nPredictAsked != 0 else { throw CLIError("--n-predict must be -1 (until the context is full) or at least 1") }
            o.defaultMaxTokens = nPredictAsked == -1 ? 1 << 30 : nPredictAsked
            o.maxQueue = try int(queueSize, "queue-size", "HOTMOE_QUEUE_SIZE", 64, 0...100_000)
            func commaSet(_ v: String?) -> [String] { Set((v ?? "").commaListItems).sorted() }
            o.aliases = commaSet(alias ?? source.value("alias", env: ["LLAMA_ARG_ALIAS"]))
            o.tags = commaSet(tags ?? source.value("tags", env: ["LLAMA_ARG_TAGS"]))
            o.apiKey = apiKey ?? source.value("api-key", env: ["LLAMA_API_KEY"])
            if let apiKeyFile {
                guard let text = try? String(contentsOfFile: apiKeyFile, encoding: .utf8),
                      let key = text.split(whereSeparator: \.isNewline).first.map(String.init), !key.isEmpty else {
                    throw CLIError("--api-key-file \(apiKeyFile): cannot read a key from its first line")
                }
                o.apiKey = key
            }
            guard !o.host.commaListItems.isEmpty else {
                throw CLIError("--host needs at least one address")
            }
            o.defaultSampling = sampling.params
            o.defaultIgnoreEOS = ignoreEOS
            o.defaultAdjustments = LogitAdjustments(repeatPenalty: repeatPenalty, frequencyPenalty: frequencyPenalty,
                                                    presencePenalty: presencePenalty, repeatLastN: repeatLastN)
            do { try o.defaultAdjustments.validate(vocabSize: Int(Int32.max)) } catch { throw CLIError("\(error)") }
            try chatTemplate.apply(to: &o)
            if let name = reasoningFormat ?? source.value("reasoning-format", env: ["LLAMA_ARG_THINK"]) {
                guard let format = ReasoningFormat(rawValue: name) else {
                    throw CLIError("--reasoning-format \(name): one of \(ReasoningFormat.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                o.reasoningFormat = format
            }
            if let mode = reasoning ?? source.value("reasoning", env: ["LLAMA_ARG_REASONING"]) {
                switch mode.lowercased() {
                case "on", "true", "1", "enabled": o.defaultChatTemplateKwargs["enable_thinking"] = .bool(true)
                case "off", "false", "0", "disabled": o.defaultChatTemplateKwargs["enable_thinking"] = .bool(false)
                case "auto": break
                default: throw CLIError("--reasoning \(mode): one of on, off, auto")
                }
            }
            o.traceOut = traceOut ?? source.value("moe-trace-out", env: ["HOTMOE_MOE_TRACE_OUT"])
            o.metricsEndpoint = metrics || ["1", "true"].contains(source.value("metrics", env: ["LLAMA_ARG_ENDPOINT_METRICS"])?.lowercased() ?? "")
            o.slotsEndpoint = slots
            o.webUI = !noUI
            o.prefillAssistant = prefillAssistant
            o.contextShift = contextShift || ["1", "true", "on", "enabled"].contains(source.value("context-shift", env: ["LLAMA_ARG_CONTEXT_SHIFT"])?.lowercased() ?? "")
            if let env = source.value("prefill-assistant", env: ["LLAMA_ARG_PREFILL_ASSISTANT"])?.lowercased(), ["0", "false", "off"].contains(env) {
                o.prefillAssistant = false
            }
            o.verboseResponses = verbose
            if let corsOrigins {
                let list = corsOrigins.commaListItems
                guard !list.isEmpty else { throw CLIError("--cors-origins needs at least one origin, * or localhost") }
                o.cors = CORSPolicy(origins: list)
            }
            try agentFlags.apply(to: &o, source: source, corsExplicit: corsOrigins != nil, logger: logger)
            o.embeddings = embedding || ["1", "true"].contains(source.value("embedding", env: ["LLAMA_ARG_EMBEDDINGS"])?.lowercased() ?? "")
            if let pooling {
                guard let p = EmbeddingPooling(rawValue: pooling) else {
                    throw CLIError("--pooling \(pooling): hotmoe pools by \(EmbeddingPooling.allCases.map(\.rawValue).joined(separator: ", ")) (rank is for rerankers, which hotmoe does not serve)")
                }
                o.pooling = p
            }
            if let slotSavePath {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: slotSavePath, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw CLIError("--slot-save-path \(slotSavePath): not an existing folder")
                }
                o.slotSavePath = slotSavePath
            }
            o.kvCacheTypes = try kvCache.types()
            let swaFull = ["1", "true", "on", "enabled"].contains(source.value("swa-full", env: ["LLAMA_ARG_SWA_FULL"])?.lowercased() ?? "")
            o.kvSlidingWindow = kvCache.swaFull || swaFull ? .full : .window
            logger.info("loading \(modelPath)")
            let file = try GGUFFile(path: modelPath)
            if checkTensors { try CheckTensors.run(file, logger: logger) }
            // llama-server's -c is the total over the slots; left out, each slot gets 4096.
            let explicitCtx = try ctxSize ?? source.int("ctx-size", env: ["LLAMA_ARG_CTX_SIZE"])
            let ctxTotal = try int(explicitCtx, "ctx-size", "LLAMA_ARG_CTX_SIZE", 4096 * o.parallel, 1...1 << 22)
            let ctxAsked = ctxTotal / o.parallel
            guard ctxAsked >= 8 else { throw CLIError("--ctx-size \(ctxTotal) over --parallel \(o.parallel) leaves \(ctxAsked) positions per slot") }
            // As in llama-server: an explicit -c beyond the trained context is honoured with a
            // warning; the default never exceeds it.
            let slotContext = { (m: MoEModel) in explicitCtx == nil ? min(ctxAsked, m.config.contextLength) : ctxAsked }
            // The server always has a runtime, so /moe-layer-perf and /moe-hot-cache work.
            let (m, loadedRuntime) = try cache.load(file: file, ctxSize: slotContext, parallel: o.parallel,
                                                    maxBatch: o.batchSize, kvTypes: o.kvCacheTypes, slidingWindow: o.kvSlidingWindow,
                                                    always: true, logger: logger)
            let tokenizer = try Tokenizer(gguf: file)
            o.contextSize = slotContext(m)
            if o.contextSize > m.config.contextLength {
                logger.warning("the slot context (\(o.contextSize)) exceeds the model's training context (\(m.config.contextLength)): output past \(m.config.contextLength) positions may degrade")
            }
            guard let runtime = loadedRuntime else { throw CLIError("internal: no MoE runtime") }
            let server = try HotMoEServer(model: m, tokenizer: tokenizer, runtime: runtime, options: o, logger: logger)
            let banner = "(\(o.parallel) slot(s), ctx \(o.contextSize) per slot, web UI at /, perf page at /#/moe-layer-perf)"
            let apps = server.applications { host, port in
                let url = host.hasSuffix(".sock") ? "unix:\(host)" : "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
                logger.info("hotmoe server listening on \(url) \(banner)")
            }
            // Every listener stops together on SIGINT/SIGTERM; one failing to bind stops them all.
            try await ServiceGroup(services: apps, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger).run()
            server.shutdown()
            logger.info("server stopped; perf JSON and routing trace written if --moe-layer-perf-out / --moe-trace-out were given")
        } catch let e as CLIError {
            throw e
        } catch {
            throw CLIError("\(error)")
        }
    }
}
