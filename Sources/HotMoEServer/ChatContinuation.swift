import Foundation
import Tokenizer

/// Whether a chat request continues its last message instead of starting a new answer, as
/// llama-server decides: `continue_final_message` (vLLM's and transformers' name) asks for it,
/// and a conversation ending in an assistant message is continued anyway (assistant prefill)
/// unless the server runs with --no-prefill-assistant. The prompt is then the conversation
/// without that message, with the template's generation prompt, followed by its text.
struct ChatContinuation {
    /// The continued message's answer text (text parts joined by blank lines, as llama.cpp
    /// renders them) and its thought text.
    let content: String
    let reasoning: String

    /// nil: an ordinary request (the template's generation prompt per `addGenerationPrompt`).
    static func resolve(_ f: JSONFields, messages: [JinjaValue], prefillAssistant: Bool,
                        addGenerationPrompt: inout Bool) throws -> ChatContinuation? {
        let explicitGenerationPrompt = try f.bool("add_generation_prompt")
        addGenerationPrompt = explicitGenerationPrompt ?? true
        var continues: Bool
        switch f.ordered["continue_final_message"] {
        case nil, .none?, .bool(false)?: continues = false
        case .bool(true)?, .string("content")?: continues = true
        case .string("reasoning_content")?:
            throw APIError(400, "'continue_final_message': \"reasoning_content\" (continuing a thought) is not supported; use true or \"content\"")
        default: throw APIError(400, "'continue_final_message' must be true, false or \"content\"")
        }
        if !continues, prefillAssistant, Self.role(messages.last) == "assistant" {
            if messages.count >= 2, Self.role(messages[messages.count - 2]) == "assistant" {
                throw APIError(400, "Cannot have 2 or more assistant messages at the end of the list.")
            }
            continues = true
            addGenerationPrompt = false
        }
        guard continues else { return nil }
        if addGenerationPrompt {
            throw APIError(400, "Cannot set both add_generation_prompt and continue_final_message to true.")
        }
        guard case .dict(let last)? = messages.last else { return nil }
        if case .list(let calls)? = last["tool_calls"], !calls.items.isEmpty {
            throw APIError(400, "Cannot continue an assistant message that contains tool calls.")
        }
        var reasoning = ""
        if case .string(let r)? = last["reasoning_content"] { reasoning = r }
        return ChatContinuation(content: try rawContent(f, index: messages.count - 1), reasoning: reasoning)
    }

    /// The prompt's tail after the rendered conversation (which ends with the generation
    /// prompt): inside an opened thought, the thought text, then the answer text after its
    /// end tag; a message with thought text only stays inside the thought.
    func tail(afterPrompt prompt: String, tags: ReasoningTags?) -> String {
        guard let tags, tags.opens(prompt) else { return content }
        if content.isEmpty && !reasoning.isEmpty { return reasoning }
        return reasoning + tags.end + content
    }

    private static func role(_ message: JinjaValue?) -> String? {
        guard case .dict(let m)? = message, case .string(let role)? = m["role"] else { return nil }
        return role
    }

    /// The message's content as sent: a string, or text parts joined by "\n\n" (`messages()`
    /// has checked the parts already).
    private static func rawContent(_ f: JSONFields, index: Int) throws -> String {
        guard case .list(let list)? = f.ordered["messages"], index < list.items.count,
              case .dict(let m) = list.items[index] else { return "" }
        switch m["content"] {
        case .string(let s)?: return s
        case .list(let parts)?:
            return parts.items.compactMap { part -> String? in
                guard case .dict(let p) = part, case .string(let t)? = p["text"] else { return nil }
                return t
            }.joined(separator: "\n\n")
        default: return ""
        }
    }
}
