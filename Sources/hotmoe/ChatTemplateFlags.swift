import ArgumentParser
import Foundation
import Logging
import HotMoEServer
import Tokenizer

/// llama.cpp's chat-template flags, shared by `serve` and `run --chat`: --jinja / --no-jinja,
/// --chat-template NAME (a built-in format), --chat-template-file F (Jinja source),
/// --chat-template-kwargs JSON (template variables; the server's default, under the request's).
struct ChatTemplateFlags: ParsableArguments {
    @Flag(name: .customLong("jinja"), inversion: .prefixedNo,
          help: "Render chat prompts with the Jinja template (the model's or --chat-template-file); --no-jinja uses the built-in family formats.")
    var jinja = true
    @Option(name: .customLong("chat-template"), help: "Built-in chat format instead of the model's template (LLAMA_ARG_CHAT_TEMPLATE): \(ChatFormatter.builtinNames.joined(separator: ", ")).")
    var name: String?
    @Option(name: .customLong("chat-template-file"), help: "Jinja chat template file replacing the model's (LLAMA_ARG_CHAT_TEMPLATE_FILE).")
    var file: String?
    @Option(name: .customLong("chat-template-kwargs"), help: "JSON object of extra template variables, e.g. '{\"enable_thinking\": false}' (LLAMA_CHAT_TEMPLATE_KWARGS).")
    var kwargs: String?

    func validate() throws { _ = try resolved() }

    /// The flags (or their environment variables) checked: a known name, a readable file, a JSON object.
    func resolved(env: [String: String] = ProcessInfo.processInfo.environment) throws -> (builtin: String?, source: String?, kwargs: [String: JinjaValue]) {
        let name = name ?? env["LLAMA_ARG_CHAT_TEMPLATE"].flatMap { $0.isEmpty ? nil : $0 }
        let file = file ?? env["LLAMA_ARG_CHAT_TEMPLATE_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let kwargs = kwargs ?? env["LLAMA_CHAT_TEMPLATE_KWARGS"].flatMap { $0.isEmpty ? nil : $0 }
        if name != nil && file != nil { throw ValidationError("give --chat-template or --chat-template-file, not both") }
        if let name, !ChatFormatter.builtinNames.contains(name) {
            throw ValidationError("--chat-template \(name): unknown built-in template (known: \(ChatFormatter.builtinNames.joined(separator: ", ")))")
        }
        var source: String?
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ValidationError("--chat-template-file \(file): cannot read the file as UTF-8 text")
            }
            if jinja {
                do { _ = try JinjaTemplate(text) } catch { throw ValidationError("--chat-template-file \(file): \(error)") }
            }
            source = text
        }
        var values: [String: JinjaValue] = [:]
        if let kwargs {
            guard case .dict(let d)? = try? JinjaValue.parseJSON(kwargs) else {
                throw ValidationError("--chat-template-kwargs must be a JSON object, got \(kwargs)")
            }
            for p in d.pairs { values[p.key.value.text] = p.value }
        }
        return (name, source, values)
    }

    /// What `run --chat` and `trace --chat` wrap prompts with: messages -> prompt text (with
    /// the generation prompt and --chat-template-kwargs).
    func renderer(tokenizer: Tokenizer, logger: Logger) throws -> @Sendable ([ChatMessage]) throws -> String {
        let r = try resolved()
        let formatter = try r.builtin.map { try ChatFormatter(tokenizer: tokenizer, builtin: $0) }
            ?? ChatFormatter(tokenizer: tokenizer, source: r.source, useJinja: jinja)
        if let warning = formatter.warning { logger.warning("\(warning)") }
        let extra = r.kwargs
        return { messages in
            try formatter.render(messages: messages.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) },
                                 addGenerationPrompt: true, extra: extra)
        }
    }

    /// The server's settings for these flags.
    func apply(to o: inout ServerOptions) throws {
        let r = try resolved()
        o.chatTemplateBuiltin = r.builtin
        o.chatTemplateSource = r.source
        o.useJinja = jinja
        o.defaultChatTemplateKwargs = r.kwargs
    }
}
