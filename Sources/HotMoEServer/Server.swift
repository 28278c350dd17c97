import AgentTools
import Engine
import ExpertCache
import Foundation
import HotCache
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Tokenizer

extension String {
    /// The items of a comma list (llama-server's --host, --alias, --tags, --cors-origins),
    /// trimmed, empty ones dropped.
    public var commaListItems: [String] {
        split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

public struct ServerOptions: Sendable {
    /// Listen addresses: a comma list of hosts, or unix socket paths ending in `.sock`.
    public var host = "127.0.0.1"
    public var port = 8080
    public var parallel = 1
    public var contextSize = 4096
    public var threads = 2
    public var batchSize = 256
    /// KV row types of every slot's cache (checked against the model by the caller).
    public var kvCacheTypes = KVCacheTypes.f32
    public var kvSlidingWindow = SlidingWindowRows.window
    /// Model names (llama-server's comma list in --alias); the first in sorted order is the id.
    public var aliases: [String] = []
    /// Informational tags listed by /v1/models (--tags).
    public var tags: [String] = []
    public var apiKey: String?
    /// Requests allowed to wait for a slot before the server answers 503.
    public var maxQueue = 64
    public var maxBodyBytes = 8 << 20
    public var defaultMaxTokens = 256
    /// Sampling for requests that leave a field out (llama-server's --temp, --top-k, ...).
    public var defaultSampling = SamplingParams()
    public var defaultIgnoreEOS = false
    /// Repetition penalties for requests that leave them out (--repeat-penalty, ...).
    public var defaultAdjustments = LogitAdjustments()
    /// --moe-trace-out: record the routing of every served request (hotmoe trace's format).
    public var traceOut: String?
    /// --metrics: serve /metrics (off by default, as in llama-server: a 501 names the flag).
    public var metricsEndpoint = false
    /// --slots / --no-slots: serve GET /slots (on by default, as in llama-server).
    public var slotsEndpoint = true
    /// --slot-save-path: the folder /slots/{id}?action=save|restore reads and writes.
    public var slotSavePath: String?
    /// --embedding: serve /v1/embeddings and /embedding, pooled as `pooling` says.
    public var embeddings = false
    public var pooling = EmbeddingPooling.mean
    /// --reasoning-format: how thoughts come back in chat answers.
    public var reasoningFormat = ReasoningFormat.auto
    /// --cors-origins (default: any origin).
    public var cors = CORSPolicy.any
    /// --no-ui: no web UI at /.
    public var webUI = true
    /// --tools: the built-in agent tools served at /tools (none by default).
    public var tools = AgentToolbox()
    /// --ui-mcp-proxy: serve /cors-proxy.
    public var corsProxy = false
    /// llama-server's --context-shift: a full slot drops old tokens and keeps generating.
    public var contextShift = false
    /// A chat template replacing the model's (`--chat-template-file`); rendered by Jinja
    /// unless `useJinja` is false (`--no-jinja`: the built-in family formats).
    public var chatTemplateSource: String?
    public var useJinja = true
    /// `--chat-template NAME`: a built-in format instead of any template.
    public var chatTemplateBuiltin: String?
    /// `--chat-template-kwargs`: template variables for every request (a request's own win).
    public var defaultChatTemplateKwargs: [String: JinjaValue] = [:]
    /// --no-prefill-assistant turns off continuing a conversation's final assistant message.
    public var prefillAssistant = true
    /// --verbose: answers carry `__verbose` (the native result, prompt included) unless the
    /// request says `"verbose": false`.
    public var verboseResponses = false
    public init() {}

    /// Serves `toolbox` at /tools. Tools act as the server process, so unless the origins
    /// were set explicitly browsers are then limited to localhost (llama-server's rule).
    /// Returns whether the origins were narrowed.
    public mutating func enableTools(_ toolbox: AgentToolbox, originsExplicit: Bool) -> Bool {
        tools = toolbox
        guard !toolbox.isEmpty, !originsExplicit else { return false }
        cors = CORSPolicy(origins: ["localhost"])
        return true
    }
}

/// The OpenAI-compatible server with seed 000's hot-cache endpoints and the live perf page.
public final class HotMoEServer: Sendable {
    let model: MoEModel
    let tokenizer: Tokenizer
    let runtime: MoERuntime
    let options: ServerOptions
    let scheduler: SlotScheduler
    /// Every slot, for GET /slots (the scheduler hands them out).
    let allSlots: [Slot]
    let metrics = ServerMetrics()
    let logger: Logger
    let modelName: String
    let trace: SharedTraceWriter?
    /// Every token's text, decoded once for grammar-constrained requests.
    let grammarVocabulary: GrammarVocabulary
    let chat: ChatFormatter

    public init(model: MoEModel, tokenizer: Tokenizer, runtime: MoERuntime, options: ServerOptions, logger: Logger) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.runtime = runtime
        self.options = options
        self.logger = logger
        if let builtin = options.chatTemplateBuiltin {
            chat = try ChatFormatter(tokenizer: tokenizer, builtin: builtin)
        } else {
            chat = ChatFormatter(tokenizer: tokenizer, source: options.chatTemplateSource, useJinja: options.useJinja)
        }
        if let warning = chat.warning { logger.warning("\(warning)") }
        modelName = options.aliases.min() ?? URL(fileURLWithPath: model.file.path).lastPathComponent
        let ctx = options.contextSize
        let trace = try options.traceOut.map { try SharedTraceWriter(path: $0, model: model, logger: logger) }
        self.trace = trace
        grammarVocabulary = GrammarVocabulary(pieces: (0..<model.config.vocabSize).map { tokenizer.tokenPiece(Int32($0), renderSpecial: false) },
                                              endOfGeneration: tokenizer.eosTokens)
        let busy = BusyCount()
        let slots = (0..<max(1, options.parallel)).map { i -> Slot in
            let s = InferenceSession(model: model, contextSize: ctx, maxBatch: options.batchSize, threads: options.threads,
                                     cacheTypes: options.kvCacheTypes, slidingWindow: options.kvSlidingWindow)
            s.executor = runtime.makeExecutor(pool: s.pool)
            return Slot(id: i, session: s, trace: trace, busy: busy)
        }
        logger.info("\(slots[0].session.cache.summary) per slot, \(slots.count) slot(s)")
        scheduler = SlotScheduler(slots: slots, maxQueue: options.maxQueue)
        allSlots = slots
        _ = HotMoEServer.startTime
    }

    /// Builds the application on the first --host address; `onRunning` receives the bound
    /// port (useful with port 0).
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: makeRouter(), configuration: .init(address: Self.bindAddress(listenAddresses[0], port: options.port), serverName: "hotmoe"),
                    onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) }, logger: logger)
    }

    /// One application per --host address, all on the same routes and slots (llama-server
    /// takes a comma list; an address ending in `.sock` is a unix socket). `onRunning` gets
    /// the address and the bound port.
    public func applications(onRunning: @escaping @Sendable (String, Int) async -> Void = { _, _ in }) -> [some ApplicationProtocol] {
        let router = makeRouter()
        return listenAddresses.map { host in
            Application(router: router, configuration: .init(address: Self.bindAddress(host, port: options.port), serverName: "hotmoe"),
                        onServerRunning: { channel in await onRunning(host, channel.localAddress?.port ?? 0) }, logger: logger)
        }
    }

    /// The --host list, split and trimmed (never empty).
    var listenAddresses: [String] {
        let list = options.host.commaListItems
        return list.isEmpty ? ["127.0.0.1"] : list
    }

    static func bindAddress(_ host: String, port: Int) -> BindAddress {
        host.hasSuffix(".sock") ? .unixDomainSocket(path: host) : .hostname(host, port: port)
    }

    private func makeRouter() -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        router.middlewares.add(JSONErrorMiddleware())
        router.middlewares.add(CORSMiddleware(policy: options.cors))
        router.middlewares.add(AuthMiddleware(apiKey: options.apiKey))
        addRoutes(router)
        return router
    }

    /// OpenAI's system_fingerprint; llama-server's is "b<build>-<commit>".
    static let fingerprint = "b1-hotmoe"
    /// When the process started serving (Unix seconds; /metrics' Process-Start-Time-Unix header).
    static let startTime = Int(Date().timeIntervalSince1970)

    /// Called at shutdown (after SIGINT/SIGTERM stopped the service): the final perf-out write
    /// and the routing trace moved into place.
    public func shutdown() {
        runtime.shutdown()
        trace?.close()
    }

    func body(_ request: Request, _ context: ServerContext) async throws -> Data {
        do {
            let buffer = try await request.body.collect(upTo: options.maxBodyBytes)
            return Data(buffer.readableBytesView)
        } catch {
            throw APIError(413, "request body exceeds \(options.maxBodyBytes) bytes")
        }
    }

    static func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func raw(_ text: String, type: String = "application/json", status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func error(_ e: APIError) -> Response {
        var r = raw(e.json, status: HTTPResponse.Status(code: e.status))
        if e.status == 503 { r.headers[.retryAfter] = "1" }
        return r
    }

    /// Runs a handler, turning every failure into an OpenAI-style error response.
    func guarded(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch let e as APIError {
            metrics.recordError()
            return HotMoEServer.error(e)
        } catch let e as SlotRangeError {
            return HotMoEServer.error(APIError(400, e.description))
        } catch is ServerBusy {
            metrics.recordError()
            return HotMoEServer.error(APIError(503, "server busy: all \(options.parallel) slots and \(options.maxQueue) queue places are taken", type: "server_error"))
        } catch {
            metrics.recordError()
            return HotMoEServer.error(APIError(500, "\(error)", type: "server_error"))
        }
    }

    /// After a request: the automatic hot-cache update and perf-out rewrite, with every slot idle.
    func afterRequest() {
        let runtime = runtime
        Task { await scheduler.exclusive { runtime.afterRequest() } }
    }
}

public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request's connection: a generation whose client has gone stops (llama-server does).
    let channel: any Channel
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
    /// False once the client closed the connection.
    var clientConnected: @Sendable () -> Bool {
        let watch = ConnectionWatch(channel: channel)
        return { watch.isConnected() }
    }
    public var maxUploadSize: Int { 8 << 20 }
}

/// Whether a request's client is still there. While a handler runs, NIO reads nothing more
/// from its connection (backpressure), so the channel does not see the client's FIN: the TCP
/// state does (CLOSE_WAIT or CLOSED once the client has gone). Asked at most every 100 ms
/// from a slot's thread; a unix socket falls back to the channel's own state.
final class ConnectionWatch: @unchecked Sendable {
    private let channel: any Channel
    private let lock = NSLock()
    private var checked = ContinuousClock.now - .seconds(1)
    private var connected = true

    init(channel: any Channel) { self.channel = channel }

    func isConnected() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard connected, ContinuousClock.now - checked >= .milliseconds(100) else { return connected }
        checked = .now
        connected = channel.isActive
        #if os(Linux)
        if connected, let provider = channel as? SocketOptionProvider, let info = try? provider.getTCPInfo().wait() {
            connected = Int(info.tcpi_state) == Int(TCP_ESTABLISHED)
        }
        #endif
        return connected
    }
}

/// Errors the router raises itself (no such route, wrong method) answered with a JSON body.
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do { return try await next(request, context) } catch let e as HTTPError {
            let code = Int(e.status.code)
            let message = code == 404 ? "no such endpoint: \(request.method) \(request.uri.path)"
                : code == 405 ? "method \(request.method) not allowed on \(request.uri.path)" : (e.body ?? "\(e.status)")
            return HotMoEServer.error(APIError(code, message, type: code == 404 ? "not_found_error" : "invalid_request_error"))
        }
    }
}

/// Which browser origins may call the server (llama-server's --cors-origins): a list of
/// origins, `*` for any, `localhost` for http(s) on localhost, 127.0.0.1 or [::1] at any port.
public struct CORSPolicy: Sendable, Equatable {
    public let origins: [String]
    public static let any = CORSPolicy(origins: ["*"])
    public init(origins: [String]) { self.origins = origins }

    public func allows(_ origin: String) -> Bool {
        origins.contains { allowed in
            if allowed == "*" || allowed == origin { return true }
            guard allowed == "localhost", let url = URL(string: origin), ["http", "https"].contains(url.scheme ?? ""),
                  url.path.isEmpty || url.path == "/" else { return false }
            return ["localhost", "127.0.0.1", "::1", "[::1]"].contains(url.host ?? "")
        }
    }
}

/// Answers for the allowed origins, and a preflight OPTIONS here, before the API key check.
struct CORSMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    var policy = CORSPolicy.any
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        if request.method == .options {
            response = Response(status: .ok)
            // As llama-server answers a preflight.
            response.headers[.accessControlAllowMethods] = "GET, POST, DELETE, OPTIONS"
            response.headers[.accessControlAllowHeaders] = "*"
            response.headers[.accessControlMaxAge] = "86400"
        } else {
            response = try await next(request, context)
        }
        if let origin = request.headers[.origin] {
            if policy.allows(origin) {
                response.headers[.accessControlAllowOrigin] = origin
                response.headers[.accessControlAllowCredentials] = "true"
            }
        } else if policy.origins.contains("*") {
            response.headers[.accessControlAllowOrigin] = "*"
        }
        return response
    }
}

/// API key check when --api-key is set: `Authorization: Bearer KEY` or `X-Api-Key: KEY` on
/// everything but health, the model list and the web UI's static files (llama-server's public
/// endpoints).
struct AuthMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let apiKey: String?
    static let publicPaths = Set(["/health", "/v1/health", "/models", "/v1/models", "/sw.js", "/_app/version.json"] + WebUI.shellPaths)

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let apiKey, !Self.publicPaths.contains(request.uri.path) else { return try await next(request, context) }
        let bearer = request.headers[.authorization] == "Bearer \(apiKey)"
        guard bearer || request.headers[HTTPField.Name("X-Api-Key")!] == apiKey else {
            return HotMoEServer.error(APIError(401, "invalid or missing API key", type: "authentication_error"))
        }
        return try await next(request, context)
    }
}

extension HotMoEServer {
    /// The request's messages through the chat template; a template that refuses the
    /// conversation (raise_exception) or fails is a 400 with its message.
    /// The thought tags of the chat template, if it has any.
    var reasoningTags: ReasoningTags? { ReasoningTags.detect(template: chat.templateSource) }

    /// The request's `reasoning_format`, or the server's.
    func requestedReasoningFormat(_ f: JSONFields) throws -> ReasoningFormat {
        guard let name = try f.string("reasoning_format") else { return options.reasoningFormat }
        guard let requested = ReasoningFormat(rawValue: name) else {
            throw APIError(400, "'reasoning_format' must be one of \(ReasoningFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return requested
    }

    /// How this chat request's thoughts are split from its answer (nil: left in the content).
    func reasoningSetup(_ f: JSONFields, prompt: String) throws -> ReasoningSetup? {
        let format = try requestedReasoningFormat(f)
        guard format != .none, let tags = reasoningTags else { return nil }
        return ReasoningSetup(tags: tags, startsInside: tags.opens(prompt), keepInContent: format == .deepseekLegacy)
    }

    func renderChat(_ f: JSONFields, tools: [JinjaValue]) throws -> String {
        let messages = try f.messages()
        // Today's date as llama-server gives it to templates (Llama 3.x, FireFunction read it).
        let now = Date()
        let dates: [String: JinjaValue] = ["date_string": .string(JinjaBuiltins.strftime("%d %b %Y", now)),
                                           "datetime": .string(JinjaBuiltins.strftime("%b %d %Y", now))]
        let extra = dates.merging(options.defaultChatTemplateKwargs) { _, server in server }
            .merging(try f.chatTemplateKwargs()) { _, request in request }
        var addGenerationPrompt = true
        let continuation = try ChatContinuation.resolve(f, messages: messages, prefillAssistant: options.prefillAssistant,
                                                        addGenerationPrompt: &addGenerationPrompt)
        do {
            if let continuation {
                let text = try chat.render(messages: Array(messages.dropLast()), tools: tools, addGenerationPrompt: true, extra: extra)
                return text + continuation.tail(afterPrompt: text, tags: reasoningTags)
            }
            let text = try chat.render(messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt, extra: extra)
            // Thinking off on a template that opens a thought itself (DeepSeek-R1, QwQ): close it,
            // so the model answers directly, as llama-server does.
            if case .bool(false)? = extra["enable_thinking"], let tags = reasoningTags, tags.opens(text) {
                return text + tags.end
            }
            return text
        } catch let e as JinjaError {
            throw APIError(400, "chat template: \(e.message)")
        }
    }
}
