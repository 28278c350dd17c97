public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Chat prompt formatting without a Jinja engine: the family is recognised from
/// `tokenizer.chat_template` by its marker tokens (the same cues llama.cpp uses) and rendered
/// in Swift. The output has no BOS text: encode it with `parseSpecial: true` and the
/// vocabulary's default BOS handling, as `Tokenizer.encodeChat` does.
public struct ChatTemplate: Sendable, Equatable {
    public enum Family: String, Sendable, Equatable {
        /// `<|im_start|>role\ncontent<|im_end|>\n` (Qwen and many others).
        case chatml
        /// `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>`.
        case llama3
        /// `[INST] user [/INST] assistant</s>` (Llama 2, Mixtral); `<<SYS>>` when supported.
        case llama2
        /// Mistral's official v1 (" [INST] "), v3 ("[INST] ") and v7 ("[SYSTEM_PROMPT]") formats.
        case mistralV1, mistralV3, mistralV7
        /// Cohere's Command R: `<|START_OF_TURN_TOKEN|><|USER_TOKEN|>content<|END_OF_TURN_TOKEN|>`.
        case commandR
    }

    public let family: Family
    /// True when the template was missing or not recognised and ChatML is used in its place;
    /// worth a warning in the log, since the model may not follow ChatML.
    public let isFallback: Bool
    /// System prompt the template inserts when a conversation has none (e.g. Qwen2's
    /// "You are a helpful assistant").
    public let defaultSystemPrompt: String?
    /// llama2 variants.
    let llama2SystemBlock: Bool
    let llama2Strip: Bool
    let llama2BOSInHistory: Bool

    public init(family: Family, defaultSystemPrompt: String? = nil) {
        self.family = family
        self.isFallback = false
        self.defaultSystemPrompt = defaultSystemPrompt
        llama2SystemBlock = true
        llama2Strip = false
        llama2BOSInHistory = false
    }

    public init(source: String?) {
        let t = source ?? ""
        func has(_ s: String) -> Bool { t.contains(s) }
        var family = Family.chatml
        var fallback = false
        if has("<|im_start|>") {
            family = .chatml
        } else if t.hasPrefix("mistral") || has("[INST]") {
            if has("[SYSTEM_PROMPT]") {
                family = .mistralV7
            } else if has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]") {
                family = has(" [INST]") ? .mistralV1 : .mistralV3
            } else {
                family = .llama2
            }
        } else if has("<|START_OF_TURN_TOKEN|>") && has("<|USER_TOKEN|>") {
            family = .commandR
        } else if has("<|start_header_id|>") && has("<|end_header_id|>") {
            family = .llama3
        } else {
            fallback = true
        }
        self.family = family
        self.isFallback = fallback
        self.defaultSystemPrompt = family == .chatml ? Self.literalSystemPrompt(in: t) : nil
        llama2SystemBlock = has("<<SYS>>")
        llama2Strip = has("content.strip()")
        llama2BOSInHistory = has("bos_token + '[INST]")
    }

    /// Finds a system message written out literally in the template, as in
    /// `'<|im_start|>system\nYou are a helpful assistant<|im_end|>\n'`.
    static func literalSystemPrompt(in t: String) -> String? {
        let opener = "<|im_start|>system"
        var rest = Substring(t)
        while let r = rest.firstRange(of: opener) {
            rest = rest[r.upperBound...]
            var body = rest
            if body.hasPrefix("\\n") { body = body.dropFirst(2) } else if body.hasPrefix("\n") { body = body.dropFirst() } else { continue }
            guard let end = body.firstRange(of: "<|im_end|>") else { return nil }
            let text = body[..<end.lowerBound]
            // Anything template-like in between means the content is computed, not literal.
            if text.isEmpty || text.contains("'") || text.contains("\"") || text.contains("{") || text.contains("}") { continue }
            return String(text)
        }
        return nil
    }

    /// Renders a conversation; `addGenerationPrompt` opens an assistant turn for the reply.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        var msgs = messages
        if let sys = defaultSystemPrompt, msgs.first?.role != "system" {
            msgs.insert(ChatMessage(role: "system", content: sys), at: 0)
        }
        var s = ""
        switch family {
        case .chatml:
            for m in msgs { s += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { s += "<|im_start|>assistant\n" }
        case .llama3:
            for m in msgs { s += "<|start_header_id|>\(m.role)<|end_header_id|>\n\n\(Self.trim(m.content))<|eot_id|>" }
            if addGenerationPrompt { s += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        case .llama2:
            var inTurn = true  // the opening [INST] is written up front
            s += "[INST] "
            for m in msgs {
                let content = llama2Strip ? Self.trim(m.content) : m.content
                if !inTurn {
                    inTurn = true
                    s += llama2BOSInHistory ? "<s>[INST] " : "[INST] "
                }
                switch m.role {
                case "system": s += llama2SystemBlock ? "<<SYS>>\n\(content)\n<</SYS>>\n\n" : "\(content)\n"
                case "user": s += "\(content) [/INST]"
                default:
                    s += "\(content)</s>"
                    inTurn = false
                }
            }
        case .mistralV1, .mistralV3:
            let lead = family == .mistralV1 ? " " : ""
            var inTurn = false
            for m in msgs {
                if !inTurn { s += "\(lead)[INST] "; inTurn = true }
                switch m.role {
                case "system": s += "\(m.content)\n\n"
                case "user": s += "\(m.content)\(lead)[/INST]"
                default:
                    s += " \(family == .mistralV3 ? Self.trim(m.content) : m.content)</s>"
                    inTurn = false
                }
            }
        case .commandR:
            let tags = ["system": "<|SYSTEM_TOKEN|>", "user": "<|USER_TOKEN|>", "assistant": "<|CHATBOT_TOKEN|>"]
            for m in msgs {
                guard let tag = tags[m.role] else { continue }  // llama.cpp writes only these roles
                s += "<|START_OF_TURN_TOKEN|>\(tag)\(Self.trim(m.content))<|END_OF_TURN_TOKEN|>"
            }
            if addGenerationPrompt { s += "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>" }
        case .mistralV7:
            for m in msgs {
                switch m.role {
                case "system": s += "[SYSTEM_PROMPT] \(m.content)[/SYSTEM_PROMPT]"
                case "user": s += "[INST] \(m.content)[/INST]"
                default: s += " \(m.content)</s>"
                }
            }
        }
        return s
    }

    static func trim(_ s: String) -> String {
        let scalars = s.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}

extension Tokenizer {
    /// Renders `messages` with the model's chat template and tokenizes the result, with the
    /// template's control tokens parsed and BOS added as the vocabulary asks.
    public func encodeChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> [Int32] {
        encode(chatTemplate.render(messages, addGenerationPrompt: addGenerationPrompt), parseSpecial: true)
    }
}
