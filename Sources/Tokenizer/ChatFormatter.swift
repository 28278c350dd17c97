import Foundation

/// Formats a conversation into a prompt: the model's `tokenizer.chat_template` run by the
/// Jinja interpreter (what llama.cpp does with --jinja), or the family renderer
/// (`ChatTemplate`) when there is no template, it does not parse, or Jinja is turned off.
public struct ChatFormatter: Sendable {
    public enum Engine: Sendable {
        case jinja(JinjaTemplate)
        case family(ChatTemplate)
    }

    public let engine: Engine
    /// Why the family renderer is used although a template was given (worth a log warning).
    public let warning: String?
    let bosText: String
    let eosText: String
    let stripsLeadingBOS: Bool
    /// Whether the template wants tool-call arguments as objects rather than JSON strings
    /// (it iterates, indexes or `tojson`s them); llama.cpp probes templates for the same.
    public let wantsObjectArguments: Bool

    /// `source` overrides the GGUF's template (`--chat-template-file`); `useJinja: false`
    /// selects the family renderer (`--no-jinja`).
    public init(tokenizer: Tokenizer, source: String? = nil, useJinja: Bool = true) {
        let text = source ?? tokenizer.vocabularyChatTemplate
        bosText = tokenizer.bosToken.flatMap { tokenizer.tokenText($0) } ?? ""
        eosText = tokenizer.eosToken.flatMap { tokenizer.tokenText($0) } ?? ""
        stripsLeadingBOS = tokenizer.addBOSByDefault
        var warning: String?
        var engine = Engine.family(ChatTemplate(source: text))
        if useJinja, let text, !text.isEmpty {
            do { engine = .jinja(try JinjaTemplate(text)) } catch {
                warning = "the chat template does not parse (\(error)); using the built-in \(ChatTemplate(source: text).family.rawValue) format"
            }
        }
        self.engine = engine
        self.warning = warning
        wantsObjectArguments = text.map { $0.range(of: #"arguments\s*(\||\.items|\[|is\s)"#, options: .regularExpression) != nil } ?? false
    }

    /// A built-in format by llama.cpp's name (`--chat-template NAME`): chatml, llama3,
    /// llama2, mistral-v1, mistral-v3, mistral-v7, command-r.
    public init(tokenizer: Tokenizer, builtin name: String) throws {
        guard let family = Self.builtinFamilies[name] else {
            throw JinjaError("unknown built-in chat template '\(name)' (known: \(Self.builtinNames.joined(separator: ", ")))")
        }
        engine = .family(ChatTemplate(family: family))
        warning = nil
        bosText = ""
        eosText = ""
        stripsLeadingBOS = false
        wantsObjectArguments = false
    }

    /// The Jinja source in use (nil with the family renderer).
    public var templateSource: String? {
        if case .jinja(let t) = engine { return t.source }
        return nil
    }

    static let builtinFamilies: [String: ChatTemplate.Family] = [
        "chatml": .chatml, "llama3": .llama3, "llama2": .llama2, "mistral-v1": .mistralV1,
        "mistral-v3": .mistralV3, "mistral-v7": .mistralV7, "command-r": .commandR,
    ]
    /// The names `init(tokenizer:builtin:)` takes.
    public static var builtinNames: [String] { builtinFamilies.keys.sorted() }

    /// Renders messages (objects with role, content, and optionally tool_calls, tool_call_id,
    /// name, reasoning_content). `extra` holds chat_template_kwargs such as enable_thinking.
    public func render(messages: [JinjaValue], tools: [JinjaValue]? = nil, addGenerationPrompt: Bool,
                       extra: [String: JinjaValue] = [:], now: Date = Date()) throws -> String {
        switch engine {
        case .jinja(let template):
            var context: [String: JinjaValue] = [
                "messages": .array(messages.map(prepared)),
                "bos_token": .string(bosText),
                "eos_token": .string(eosText),
                "enable_thinking": .bool(true),
            ]
            if let tools, !tools.isEmpty { context["tools"] = .array(tools) }
            for (k, v) in extra { context[k] = v }
            // As llama.cpp: add_generation_prompt is only defined when true.
            if addGenerationPrompt { context["add_generation_prompt"] = .bool(true) }
            var text = try template.render(context, now: now)
            // The tokenizer adds BOS itself; a template that writes it would double it.
            if stripsLeadingBOS, !bosText.isEmpty, text.hasPrefix(bosText) { text.removeFirst(bosText.count) }
            return text
        case .family(let family):
            if let tools, !tools.isEmpty { throw JinjaError("tools need a Jinja chat template (this model's format is rendered without one)") }
            let plain = try messages.map { m -> ChatMessage in
                guard case .dict(let d) = m, case .string(let role)? = d["role"] else { throw JinjaError("a message needs a role") }
                if d["tool_calls"] != nil || role == "tool" {
                    throw JinjaError("tool messages need a Jinja chat template (this model's format is rendered without one)")
                }
                return ChatMessage(role: role, content: d["content"]?.text ?? "")
            }
            return family.render(plain, addGenerationPrompt: addGenerationPrompt)
        }
    }

    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
        try render(messages: messages.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) },
                   addGenerationPrompt: addGenerationPrompt)
    }

    /// llama.cpp's message fix-ups: a null content next to tool calls becomes "", and
    /// arguments sent as a JSON string become an object for templates that want objects.
    private func prepared(_ message: JinjaValue) -> JinjaValue {
        guard case .dict(let d) = message, case .list(let calls)? = d["tool_calls"] else { return message }
        let m = d.copy()
        if m["content"] == nil || m["content"]!.isNone { m["content"] = .string("") }
        guard wantsObjectArguments else { return .dict(m) }
        m["tool_calls"] = .array(calls.items.map { call in
            guard case .dict(let c) = call, case .dict(let f)? = c["function"], case .string(let args)? = f["arguments"],
                  let parsed = try? JinjaValue.parseJSON(args) else { return call }
            let fn = f.copy()
            fn["arguments"] = parsed
            let copy = c.copy()
            copy["function"] = .dict(fn)
            return .dict(copy)
        })
        return .dict(m)
    }
}
