import AgentTools
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// llama-server's `GET /tools` (the enabled built-in tools with their function definitions)
/// and `POST /tools` (`{"tool": NAME, "params": {...}, "stream": bool}` runs one). Off unless
/// `--tools` names some: then 403, as llama-server answers a disabled feature.
extension HotMoEServer {
    static func featureDisabled() -> Response {
        json(["error": ["message": "this feature is disabled", "type": "feature_disabled", "code": 403]], status: .forbidden)
    }

    func addToolRoutes(_ router: Router<ServerContext>) {
        let toolbox = options.tools
        router.get("/tools") { _, _ in
            guard !toolbox.isEmpty else { return HotMoEServer.featureDisabled() }
            return HotMoEServer.json(toolbox.tools.map(\.listing))
        }
        router.post("/tools") { req, ctx in
            guard !toolbox.isEmpty else { return HotMoEServer.featureDisabled() }
            return await self.guarded {
                let f = try JSONFields(try await self.body(req, ctx))
                try f.refuse(except: ["tool", "params", "stream"])
                guard let name = try f.string("tool") else { throw APIError(400, "'tool' is required: the name of a tool from GET /tools") }
                let params: [String: Any]
                switch f.object["params"] {
                case nil, is NSNull: params = [:]
                case let p as [String: Any]: params = p
                default: throw APIError(400, "'params' must be an object")
                }
                let stream = try f.bool("stream") ?? false
                guard let tool = toolbox.tool(named: name) else { throw APIError(404, "unknown tool \"\(name)\"", type: "not_found_error") }
                guard !stream || tool.streams else { throw APIError(404, "tool \"\(name)\" does not support stream = true", type: "not_found_error") }
                if let runtime = req.headers[HTTPField.Name("X-Tool-Runtime")!], !runtime.isEmpty {
                    throw APIError(400, Self.runtimeRefusal(runtime))
                }
                let workspace = ToolWorkspace(directory: req.headers[HTTPField.Name("X-Tool-Cwd")!].flatMap { $0.isEmpty ? nil : $0 },
                                              base64Files: req.headers[HTTPField.Name("X-Resp-Type")!] == "base64")
                // As in llama-server, these belong to the client's headers, not to the model:
                // a model that writes one into its call does not choose where the tool runs.
                let reserved = params.keys.filter { Self.headerOnlyParams.contains($0) }.sorted()
                if !reserved.isEmpty {
                    self.logger.info("tool call \(name): params \(reserved.joined(separator: ", ")) dropped (set only by the X-Tool-Cwd / X-Tool-Runtime / X-Resp-Type headers)")
                }
                let arguments: ToolArguments
                do {
                    arguments = try ToolArguments(params.filter { !Self.headerOnlyParams.contains($0.key) }, for: tool)
                } catch let e as ToolArgumentError { throw APIError(400, e.description) }
                self.logger.info("tool call: \(name)")
                return stream ? self.streamTool(tool, arguments, workspace, connected: ctx.clientConnected)
                              : HotMoEServer.json(try await Self.runTool(tool, arguments, workspace))
            }
        }
    }

    static let headerOnlyParams: Set<String> = ["cwd", "runtime", "resp_type"]

    /// Why an X-Tool-Runtime header is refused: a malformed one names its fault (as
    /// llama-server's checks do); a well-formed one is a runtime hotmoe does not have.
    static func runtimeRefusal(_ spec: String) -> String {
        func validID(_ id: Substring) -> Bool {
            guard let first = id.first, first.isASCII, first.isLetter || first.isNumber else { return false }
            return id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".-_".contains($0)) }
        }
        let unsupported = "tool runtime \(spec): container and ssh runtimes are not supported by hotmoe; tools run on this host"
        for engine in ["docker", "podman"] {
            if spec.hasPrefix("\(engine)-container:") {
                let id = spec.dropFirst(engine.count + 11)
                return validID(id) ? unsupported : "invalid container id: \(id)"
            }
            if spec.hasPrefix("\(engine):") { return "tool runtime must name a running container: \(spec)" }
        }
        if spec.hasPrefix("ssh:") {
            let target = spec.dropFirst(4)
            return target.isEmpty || target.hasPrefix("-") || target.contains(where: \.isWhitespace) ? "invalid ssh target: \(target)" : unsupported
        }
        return "unknown tool runtime: \(spec)"
    }

    /// Tools block on files and processes: they run on a dispatch thread, never on one of the
    /// few cooperative threads the slots and the HTTP server share.
    static func runTool(_ tool: any AgentTool, _ arguments: ToolArguments, _ workspace: ToolWorkspace,
                        output: (@Sendable (String) -> Bool)? = nil) async throws -> [String: Any] {
        let result = try await withCheckedThrowingContinuation { (c: CheckedContinuation<UncheckedBox<[String: Any]>, Error>) in
            DispatchQueue.global().async {
                do {
                    c.resume(returning: UncheckedBox(try tool.invoke(arguments, in: workspace, output: output)))
                } catch let e as ToolArgumentError {
                    c.resume(throwing: APIError(400, e.description))
                } catch {
                    c.resume(throwing: error)
                }
            }
        }
        return result.value
    }

    /// `data: {"chunk": ...}` events as the tool prints, then `data: {"done": true}` (with
    /// `"error"` when it failed). A client that leaves stops the tool.
    private func streamTool(_ tool: any AgentTool, _ arguments: ToolArguments, _ workspace: ToolWorkspace,
                            connected: @escaping @Sendable () -> Bool) -> Response {
        let (chunks, continuation) = AsyncStream<String>.makeStream()
        let run = Task {
            defer { continuation.finish() }
            // A streamed tool's output is its chunks; what it returns after them is empty.
            _ = try await Self.runTool(tool, arguments, workspace) { chunk in
                continuation.yield(chunk)
                return connected()
            }
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: ResponseBody { writer in
            func send(_ object: [String: Any]) async throws { try await writer.write(try HotMoEServer.sseEvent(object)) }
            do {
                for await chunk in chunks { try await send(["chunk": chunk]) }
                var done: [String: Any] = ["done": true]
                if case .failure(let error) = await run.result { done["error"] = "\(error)" }
                try await send(done)
            } catch {
                run.cancel()
            }
            try? await writer.finish(nil)
        })
    }
}

extension HotMoEServer {
    /// One server-sent event, `data: JSON` and a blank line (keys sorted).
    static func sseEvent(_ object: [String: Any]) throws -> ByteBuffer {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return ByteBuffer(string: "data: " + String(decoding: data, as: UTF8.self) + "\n\n")
    }
}

/// Moves a non-Sendable value across the dispatch hop; only one side touches it at a time.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
