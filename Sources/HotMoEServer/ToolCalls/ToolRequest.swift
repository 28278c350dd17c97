import Engine
import Foundation
import Tokenizer

/// OpenAI's `tool_choice`.
enum ToolChoice: Equatable, Sendable {
    case auto, none, required
    case function(String)
}

/// What a chat request's `tools` / `tool_choice` / `parallel_tool_calls` ask for.
struct ToolSetup: Sendable {
    /// Tools for the template (none with tool_choice "none").
    var templateTools: [JinjaValue] = []
    /// Reads calls out of the output; nil when the output is plain content.
    var parser: ToolCallBodyParser?
    /// Forces a call ("required" or a named function).
    var grammar: Grammar?
    /// Control tokens the decoder must render as text for the parser (see ToolCallFormat).
    var preservedTokens: [String] { parser?.format.preservedTokens ?? [] }
}

extension JSONFields {
    func toolChoice(toolNames: [String]) throws -> ToolChoice {
        guard has("tool_choice") else { return .auto }
        let raw = object["tool_choice"]!
        if let s = raw as? String {
            switch s {
            case "auto": return .auto
            case "none": return .none
            case "required": return .required
            default: throw APIError(400, "'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ..}}, got \"\(s)\"")
            }
        }
        guard let o = raw as? [String: Any], o["type"] as? String == "function", let fn = o["function"] as? [String: Any],
              let name = fn["name"] as? String else {
            throw APIError(400, "'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ..}}")
        }
        guard toolNames.contains(name) else {
            throw APIError(400, "'tool_choice' names the function '\(name)', which is not in 'tools'")
        }
        return .function(name)
    }

    /// `tools[i].function.parameters` as JSONSerialization values ({"type": "object"} when absent).
    func toolParameters() -> [(name: String, schema: Any)] {
        ((object["tools"] as? [Any]) ?? []).compactMap { t in
            guard let fn = (t as? [String: Any])?["function"] as? [String: Any], let name = fn["name"] as? String else { return nil }
            return (name, fn["parameters"] ?? ["type": "object"])
        }
    }
}

extension HotMoEServer {
    func toolSetup(_ f: JSONFields) throws -> ToolSetup {
        let tools = try f.tools()
        let parameters = f.toolParameters()
        let choice = try f.toolChoice(toolNames: parameters.map(\.name))
        let parallel = try f.bool("parallel_tool_calls") ?? false
        // Harmony output is channels whether or not there are tools: always split it.
        let harmony = chat.templateSource.map { ToolCallFormat.detect(template: $0) == .harmony } ?? false
        let reasoningAsContent = try requestedReasoningFormat(f) == .none
        let channelsOnly = harmony ? ToolSetup(parser: ToolCallBodyParser(format: .harmony, reasoningAsContent: reasoningAsContent)) : ToolSetup()
        if tools.isEmpty {
            guard choice == .auto || choice == .none else { throw APIError(400, "'tool_choice' needs 'tools'") }
            return channelsOnly
        }
        if choice == .none { return channelsOnly }
        guard let source = chat.templateSource else {
            throw APIError(400, "'tools' need a Jinja chat template (the server runs with --no-jinja or the model has none)")
        }
        guard let format = ToolCallFormat.detect(template: source) else {
            throw APIError(400, "'tools': this chat template's tool-call format is not one hotmoe parses (\(ToolCallFormat.supportedDescription))")
        }
        let parser = ToolCallBodyParser(format: format, stringParameters: Self.stringParameters(parameters), reasoningAsContent: reasoningAsContent)
        var setup = ToolSetup(templateTools: tools, parser: parser)
        let forced: [(name: String, schema: Any)]
        switch choice {
        case .auto, .none: return setup
        case .required: forced = parameters
        case .function(let name): forced = parameters.filter { $0.name == name }
        }
        let gbnf: String
        do { gbnf = try ToolCallGrammar.gbnf(format: format, template: source, tools: forced, parallel: parallel) } catch let e as GrammarError {
            throw APIError(400, "'tool_choice': \(e.description)")
        }
        do { setup.grammar = try Grammar(parsing: gbnf) } catch let e as GrammarError {
            throw APIError(400, "'tool_choice': \(e.description)")
        }
        return setup
    }

    /// Parameters typed "string" in each tool's schema (XML-style values of these stay text).
    static func stringParameters(_ tools: [(name: String, schema: Any)]) -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        for (name, schema) in tools {
            let properties = (schema as? [String: Any])?["properties"] as? [String: Any] ?? [:]
            out[name] = Set(properties.compactMap { k, v in ((v as? [String: Any])?["type"] as? String) == "string" ? k : nil })
        }
        return out
    }
}

/// A GBNF that admits exactly a tool call in the family's format, arguments following each
/// tool's JSON schema (Sources/Engine/Grammar/JSONSchemaGrammar.swift).
enum ToolCallGrammar {
    static func gbnf(format: ToolCallFormat, template: String, tools: [(name: String, schema: Any)], parallel: Bool) throws -> String {
        let lit = JSONSchemaGrammar.literal
        let schemas = tools.enumerated().map { i, t in (name: "tool\(i)-arguments", schema: t.schema) }
        return try JSONSchemaGrammar.gbnf(schemas: schemas) { argumentRules in
            let calls: [String]
            let separator: String, prefix: String, suffix: String
            switch format {
            case .hermes:
                calls = zip(tools, argumentRules).map { t, rule in
                    lit("<tool_call>\n{\"name\": \(jsonString(t.name)), \"arguments\": ") + " " + rule + " " + lit("}\n</tool_call>")
                }
                (prefix, separator, suffix) = ("", lit("\n"), "")
            case .mistral where template.contains("[ARGS]"):
                calls = zip(tools, argumentRules).map { t, rule in lit("[TOOL_CALLS]" + t.name + "[ARGS]") + " " + rule }
                (prefix, separator, suffix) = ("", "", "")
            case .mistral:
                calls = zip(tools, argumentRules).map { t, rule in
                    lit("{\"name\": \(jsonString(t.name)), \"arguments\": ") + " " + rule + " " + lit("}")
                }
                (prefix, separator, suffix) = (lit("[TOOL_CALLS]["), lit(", "), lit("]"))
            case .llama3:
                calls = zip(tools, argumentRules).map { t, rule in
                    lit("{\"name\": \(jsonString(t.name)), \"parameters\": ") + " " + rule + " " + lit("}")
                }
                (prefix, separator, suffix) = ("", lit(";"), "")
            case .qwenXML, .glm, .harmony:
                throw GrammarError("forcing a call (\"required\" or a named function) is implemented for the Hermes/Qwen JSON, Mistral and Llama 3.x formats, not \(format.rawValue)")
            }
            let call = "(" + calls.joined(separator: " | ") + ")"
            let body = parallel ? call + " (" + (separator.isEmpty ? "" : separator + " ") + call + ")*" : call
            return [prefix, body, suffix].filter { !$0.isEmpty }.joined(separator: " ")
        }
    }

    private static func jsonString(_ s: String) -> String {
        (try? JinjaValue.string(s).compactJSON()) ?? "\"\""
    }
}
