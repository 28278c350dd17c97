import Foundation

/// llama-server's built-in agent tools (`--tools`): file reading, searching, editing and shell
/// commands that a client (llama.cpp's web UI, an agent loop) calls through `POST /tools` after
/// the model asked for them. They run on the server's machine with the server's rights, which
/// is why llama-server limits browser origins to localhost when they are on.
public protocol AgentTool: Sendable {
    /// The function name the model calls.
    var name: String { get }
    var displayName: String { get }
    /// Whether the tool changes anything (files, or whatever a shell command does).
    var writes: Bool { get }
    /// Whether its output can be streamed as it is produced (`"stream": true`).
    var streams: Bool { get }
    var description: String { get }
    /// The parameters, in order: name, JSON type, description, required.
    var parameters: [ToolParameter] { get }
    /// Runs the tool. `output`, when streaming, receives the output as it comes and returns
    /// false once nobody listens any more; the result is then what follows the stream.
    func invoke(_ arguments: ToolArguments, in workspace: ToolWorkspace, output: ((String) -> Bool)?) throws -> [String: Any]
}

public struct ToolParameter: Sendable {
    public let name: String
    public let type: String
    public let description: String
    public let required: Bool
    /// The JSON schema of an array's items.
    public let items: [String: any Sendable]?

    public init(_ name: String, _ type: String, _ description: String, required: Bool = false, items: [String: any Sendable]? = nil) {
        self.name = name
        self.type = type
        self.description = description
        self.required = required
        self.items = items
    }
}

extension AgentTool {
    public var streams: Bool { false }

    /// The OpenAI function definition a client puts in a chat request's `tools`.
    public var definition: [String: Any] {
        var properties: [String: Any] = [:]
        for p in parameters {
            var schema: [String: Any] = ["type": p.type, "description": p.description]
            if let items = p.items { schema["items"] = items }
            properties[p.name] = schema
        }
        var schema: [String: Any] = ["type": "object", "properties": properties]
        let required = parameters.filter(\.required).map(\.name)
        if !required.isEmpty { schema["required"] = required }
        return ["type": "function", "function": ["name": name, "description": description, "parameters": schema]]
    }

    /// One entry of `GET /tools`, in llama-server's shape.
    public var listing: [String: Any] {
        ["tool": name, "display_name": displayName, "type": "server", "permissions": ["write": writes],
         "uses_cwd": true, "definition": definition]
    }
}

/// A request the tool cannot run: a missing or mistyped argument, an unknown one. The server
/// answers 400 with the message.
public struct ToolArgumentError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A tool's JSON arguments, checked against its parameters: every argument must be one the
/// tool declares (nothing is silently ignored) and of the declared type. Sendable because the
/// values are immutable JSON (strings, numbers, arrays and objects) only ever read.
public struct ToolArguments: @unchecked Sendable {
    let values: [String: Any]

    public init(_ values: [String: Any], for tool: any AgentTool) throws {
        let known = Set(tool.parameters.map(\.name))
        if let unknown = values.keys.sorted().first(where: { !known.contains($0) }) {
            let names = tool.parameters.map(\.name)
            throw ToolArgumentError("\(tool.name) has no parameter '\(unknown)'" + (names.isEmpty ? " (it takes none)" : " (it takes \(names.joined(separator: ", ")))"))
        }
        for p in tool.parameters where p.required && (values[p.name] == nil || values[p.name] is NSNull) {
            throw ToolArgumentError("\(tool.name) needs '\(p.name)'")
        }
        self.values = values
    }

    private func present(_ key: String) -> Any? {
        guard let v = values[key], !(v is NSNull) else { return nil }
        return v
    }

    public func string(_ key: String) throws -> String? {
        guard let v = present(key) else { return nil }
        guard let s = v as? String else { throw ToolArgumentError("'\(key)' must be a string") }
        return s
    }

    public func requiredString(_ key: String) throws -> String {
        guard let s = try string(key) else { throw ToolArgumentError("'\(key)' is required") }
        return s
    }

    /// JSON true/false (on Linux a decoded number also casts to Bool: the decoded type tells).
    static func isBoolean(_ v: Any) -> Bool { "\(type(of: v))".contains("Bool") }

    public func int(_ key: String) throws -> Int? {
        guard let v = present(key) else { return nil }
        guard !Self.isBoolean(v), let n = v as? NSNumber, let i = Int(exactly: n.doubleValue) else {
            throw ToolArgumentError("'\(key)' must be an integer")
        }
        return i
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = present(key) else { return nil }
        guard Self.isBoolean(v), let b = v as? Bool else { throw ToolArgumentError("'\(key)' must be a boolean") }
        return b
    }

    public func array(_ key: String) throws -> [Any]? {
        guard let v = present(key) else { return nil }
        guard let a = v as? [Any] else { throw ToolArgumentError("'\(key)' must be an array") }
        return a
    }
}

/// Where a tool call runs: relative paths resolve against `directory` (the request's
/// `X-Tool-Cwd` header) or the server's working directory. `base64Files` (`X-Resp-Type:
/// base64`, which the client sets and the model cannot) makes read_file return raw bytes.
public struct ToolWorkspace: Sendable {
    public let directory: String?
    public let base64Files: Bool
    public init(directory: String? = nil, base64Files: Bool = false) {
        self.directory = directory
        self.base64Files = base64Files
    }

    /// `~` expanded, made absolute and normalised (no `.` or `..` parts).
    public func resolve(_ path: String) -> String {
        var p = path
        if p == "~" || p.hasPrefix("~/"), let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty {
            p = home + p.dropFirst()
        }
        if !p.hasPrefix("/") {
            let base = directory ?? FileManager.default.currentDirectoryPath
            p = base + "/" + p
        }
        var parts: [Substring] = []
        for part in p.split(separator: "/") {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The working directory a command starts in.
    var runDirectory: String { directory.map { resolve($0) } ?? FileManager.default.currentDirectoryPath }
}

/// The tools `--tools` turned on.
public struct AgentToolbox: Sendable {
    public let tools: [any AgentTool]

    /// Every built-in tool, in llama-server's order.
    public static let builtIn: [any AgentTool] = [ReadFileTool(), FileGlobSearchTool(), GrepSearchTool(), ShellCommandTool(),
                                                  WriteFileTool(), EditFileTool(), RuntimeInfoTool()]

    /// No tools (the default).
    public init() { tools = [] }

    /// `--tools read_file,grep_search` or `--tools all`; an unknown name is an error naming it.
    public init(enabling names: [String]) throws {
        let known = Self.builtIn.map(\.name)
        if let unknown = names.first(where: { $0 != "all" && !known.contains($0) }) {
            throw ToolArgumentError("--tools: unknown tool \"\(unknown)\" (available: \(known.joined(separator: ", ")), or all)")
        }
        tools = names.contains("all") ? Self.builtIn : Self.builtIn.filter { names.contains($0.name) }
    }

    public var isEmpty: Bool { tools.isEmpty }

    public func tool(named name: String) -> (any AgentTool)? { tools.first { $0.name == name } }
}
