import Foundation
import Tokenizer

/// One function call the model wrote: the name and its arguments as JSON text.
struct ToolCall: Equatable, Sendable {
    var name: String
    var arguments: String
}

/// How a template family marks tool calls in the model's output. Detected from the chat
/// template's source, by markers llama.cpp's common/chat.cpp also looks for.
enum ToolCallFormat: String, Sendable, CaseIterable {
    /// Qwen2.5 / Qwen3 / QwQ / Hermes: `<tool_call>\n{"name": .., "arguments": {..}}\n</tool_call>`.
    case hermes
    /// Qwen3.5 / Qwen3-Coder: `<tool_call>\n<function=NAME>\n<parameter=K>\nV\n</parameter>\n</function>\n</tool_call>`.
    case qwenXML
    /// GLM-4.5 / 4.6 / 4.7: `<tool_call>NAME\n<arg_key>K</arg_key>\n<arg_value>V</arg_value>\n</tool_call>`.
    case glm
    /// Mistral: `[TOOL_CALLS][{"name": .., "arguments": {..}}, ..]` (Nemo) or
    /// `[TOOL_CALLS]NAME[ARGS]{..}` (Small 3.2), to the end of the output.
    case mistral
    /// Llama 3.x: bare `{"name": .., "parameters": {..}}` objects (separated by `;` or newlines) as
    /// the whole output, or after `<|python_tag|>`, where builtin tools also write `NAME.call(K=V)`.
    case llama3
    /// gpt-oss (harmony): `<|channel|>analysis|final|commentary` messages; calls are commentary
    /// messages addressed `to=functions.NAME`. Split by HarmonySplitter, not by opener/closer.
    case harmony

    static func detect(template source: String) -> ToolCallFormat? {
        if source.contains("<arg_key>") && source.contains("<tool_call>") { return .glm }
        if source.contains("<tool_call>") && source.contains("<function=") && source.contains("<parameter=") { return .qwenXML }
        if source.contains("<tool_call>") { return .hermes }
        if source.contains("[TOOL_CALLS]") { return .mistral }
        if source.contains("<|channel|>") && source.contains("<|call|>") { return .harmony }
        if source.contains("<|start_header_id|>") && source.contains("ipython") { return .llama3 }
        return nil
    }

    /// Families the detection knows, for error messages.
    static let supportedDescription = "Hermes/Qwen <tool_call> JSON, Qwen3.5/Qwen3-Coder <function=..> XML, GLM-4.5 <arg_key>, Mistral [TOOL_CALLS], Llama 3.x JSON/<|python_tag|>, gpt-oss harmony"

    var opener: String {
        switch self {
        case .hermes, .qwenXML, .glm: "<tool_call>"
        case .mistral: "[TOOL_CALLS]"
        case .llama3: "<|python_tag|>"
        case .harmony: "<|channel|>"
        }
    }

    /// The end of one call; nil when the calls run to the end of the output.
    var closer: String? {
        switch self {
        case .hermes, .qwenXML, .glm: "</tool_call>"
        case .mistral, .llama3, .harmony: nil
        }
    }

    /// A call may also start the output without any opener (Llama 3.x writes bare JSON).
    var bareCallStart: Character? { self == .llama3 ? "{" : nil }

    /// Control tokens the output of this family must keep as text for the parser (hidden by
    /// the decoder otherwise), as llama.cpp's `preserved_tokens`.
    var preservedTokens: [String] {
        switch self {
        case .llama3: ["<|python_tag|>"]
        case .harmony: ["<|channel|>", "<|constrain|>", "<|message|>", "<|start|>", "<|end|>"]
        case .hermes, .qwenXML, .glm, .mistral: []
        }
    }
}

/// Reads the text between a call's opener and closer. Pure: the same body always gives the
/// same calls; a body that is not a well-formed call gives nil (and is kept as content).
struct ToolCallBodyParser: Sendable {
    let format: ToolCallFormat
    /// Per tool, the parameters whose schema type is "string": XML-style values of those stay
    /// text; other values are read as JSON when they parse (numbers, booleans, objects).
    var stringParameters: [String: Set<String>] = [:]
    /// Harmony with reasoning_format none: analysis messages stay in the content as written.
    var reasoningAsContent = false

    /// JSON nesting allowed in arguments (hostile output must not recurse without bound).
    static let maxDepth = 64

    func parse(_ body: String) -> [ToolCall]? {
        switch format {
        case .hermes: return jsonCall(body).map { [$0] }
        case .qwenXML: return qwenXML(body).map { [$0] }
        case .glm: return glm(body).map { [$0] }
        case .mistral: return mistral(body)
        case .llama3: return llama3(body)
        case .harmony: return nil  // HarmonySplitter reads harmony messages itself
        }
    }

    func json(_ text: String) -> JinjaValue? {
        try? JinjaValue.parseJSON(text.trimmingCharacters(in: .whitespacesAndNewlines), maxDepth: Self.maxDepth)
    }

    /// {"name": string, "arguments" (or Llama's "parameters"): object or JSON string}.
    private func jsonCall(_ text: String) -> ToolCall? {
        guard let v = json(text) else { return nil }
        return call(from: v)
    }

    /// A JSON object of arguments, compacted; nil when the text is not one.
    func jsonArguments(_ text: String) -> String? {
        guard let v = json(text), case .dict = v else { return nil }
        return try? v.compactJSON()
    }

    func call(from v: JinjaValue) -> ToolCall? {
        guard case .dict(let d) = v, case .string(let name)? = d["name"], !name.isEmpty else { return nil }
        switch d["arguments"] ?? d["parameters"] {
        case nil: return ToolCall(name: name, arguments: "{}")
        case .string(let s)?:
            guard let parsed = json(s), case .dict = parsed, let text = try? parsed.compactJSON() else { return nil }
            return ToolCall(name: name, arguments: text)
        case .dict(let args)?:
            guard let text = try? JinjaValue.dict(args).compactJSON() else { return nil }
            return ToolCall(name: name, arguments: text)
        default: return nil
        }
    }

    /// An XML-style value: text for string parameters, else JSON when it parses.
    private func value(_ raw: String, tool: String, parameter: String) -> JinjaValue {
        if stringParameters[tool]?.contains(parameter) != true, let v = json(raw) { return v }
        return .string(raw)
    }

    private func arguments(_ pairs: [(String, String)], tool: String) -> String? {
        let d = JinjaDict()
        for (k, v) in pairs {
            guard d[k] == nil else { return nil }  // a parameter given twice is not a call
            d[k] = value(v, tool: tool, parameter: k)
        }
        return try? JinjaValue.dict(d).compactJSON()
    }

    /// `<function=NAME>` then `<parameter=K>\nV\n</parameter>` blocks, then `</function>`.
    private func qwenXML(_ body: String) -> ToolCall? {
        var s = Scanner(body)
        s.skipSpace()
        guard s.take("<function="), let name = s.until(">"), !name.isEmpty, !name.contains("<") else { return nil }
        var pairs: [(String, String)] = []
        while true {
            s.skipSpace()
            if s.take("</function>") { break }
            guard s.take("<parameter="), let key = s.until(">"), !key.isEmpty, let raw = s.until("</parameter>") else { return nil }
            pairs.append((key, Self.strippingOneNewline(raw)))
        }
        s.skipSpace()
        guard s.atEnd, let args = arguments(pairs, tool: name) else { return nil }
        return ToolCall(name: name, arguments: args)
    }

    /// `NAME` then `<arg_key>K</arg_key>` `<arg_value>V</arg_value>` pairs.
    private func glm(_ body: String) -> ToolCall? {
        var s = Scanner(body)
        guard let rawName = s.untilOrEnd("<arg_key>") else { return nil }
        let name = rawName.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, !name.contains("<"), !name.contains("\n") else { return nil }
        var pairs: [(String, String)] = []
        while !s.atEnd {
            guard let key = s.until("</arg_key>") else { return nil }
            s.skipSpace()
            guard s.take("<arg_value>"), let raw = s.until("</arg_value>") else { return nil }
            pairs.append((key.trimmingCharacters(in: .whitespacesAndNewlines), raw))
            s.skipSpace()
            if s.atEnd { break }
            guard s.take("<arg_key>") else { return nil }
        }
        guard let args = arguments(pairs, tool: name) else { return nil }
        return ToolCall(name: name, arguments: args)
    }

    /// A JSON array of calls, or `NAME[ARGS]{..}` segments separated by further openers.
    private func mistral(_ body: String) -> [ToolCall]? {
        let trimmed = body.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("[") {
            guard case .list(let list)? = json(trimmed), !list.items.isEmpty else { return nil }
            var calls: [ToolCall] = []
            for item in list.items {
                guard let c = call(from: item) else { return nil }
                calls.append(c)
            }
            return calls
        }
        var calls: [ToolCall] = []
        for segment in trimmed.components(separatedBy: format.opener) {
            guard let args = segment.range(of: "[ARGS]") else { return nil }
            let name = segment[..<args.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.isEmpty, let v = json(String(segment[args.upperBound...])), case .dict = v,
                  let text = try? v.compactJSON() else { return nil }
            calls.append(ToolCall(name: name, arguments: text))
        }
        return calls.isEmpty ? nil : calls
    }

    /// The templates write a newline after the opening tag and before the closing one.
    static func strippingOneNewline(_ s: String) -> String {
        var out = Substring(s)
        if out.hasPrefix("\n") { out = out.dropFirst() }
        if out.hasSuffix("\n") { out = out.dropLast() }
        return String(out)
    }
}

/// A cursor over a call body.
private struct Scanner {
    let text: String
    var index: String.Index

    init(_ text: String) {
        self.text = text
        index = text.startIndex
    }

    var atEnd: Bool { index == text.endIndex }

    mutating func skipSpace() {
        while index < text.endIndex, text[index].isWhitespace { index = text.index(after: index) }
    }

    mutating func take(_ literal: String) -> Bool {
        guard text[index...].hasPrefix(literal) else { return false }
        index = text.index(index, offsetBy: literal.count)
        return true
    }

    /// The text up to `terminator`, consuming both; nil when it never comes.
    mutating func until(_ terminator: String) -> String? {
        guard let r = text.range(of: terminator, options: .literal, range: index..<text.endIndex) else { return nil }
        defer { index = r.upperBound }
        return String(text[index..<r.lowerBound])
    }

    /// The text up to `terminator` (consumed) or to the end.
    mutating func untilOrEnd(_ terminator: String) -> String? {
        if let s = until(terminator) { return s }
        defer { index = text.endIndex }
        return String(text[index...])
    }
}
