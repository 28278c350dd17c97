import Foundation
import Synchronization

extension ToolCall {
    /// OpenAI's `message.tool_calls[i]`.
    func json(id: String) -> [String: Any] {
        ["id": id, "type": "function", "function": ["name": name, "arguments": arguments]]
    }

    static func newID() -> String {
        "call_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24).lowercased()
    }
}

/// OpenAI's finish_reason for output that held `calls` calls: "tool_calls" unless the token
/// limit cut it (as llama-server does).
func chatFinishReason(_ result: GenerationResult, calls: Int) -> String {
    calls > 0 && result.stopType != .limit ? "tool_calls" : result.finishReason
}

/// The assistant message of a finished chat generation: the thoughts (`reasoning_content`, when
/// the request separates them), content outside the calls (null if there is none) and the calls.
func chatMessage(_ result: GenerationResult, tools: ToolSetup, reasoning: ReasoningSetup?) -> (message: [String: Any], finishReason: String) {
    let (thoughts, text) = reasoning?.split(result.text) ?? (nil, result.text)
    guard let parser = tools.parser else {
        var message: [String: Any] = ["role": "assistant", "content": text]
        if let thoughts { message["reasoning_content"] = thoughts }
        return (message, result.finishReason)
    }
    let output = OutputSplitter.split(text, parser: parser)
    var message: [String: Any] = ["role": "assistant", "content": output.content ?? NSNull()]
    if let reasoning = thoughts ?? output.reasoning { message["reasoning_content"] = reasoning }
    if !output.calls.isEmpty { message["tool_calls"] = output.calls.map { $0.json(id: ToolCall.newID()) } }
    return (message, chatFinishReason(result, calls: output.calls.count))
}

/// Streaming chat deltas of a tools request (or any harmony output): content and thoughts as
/// they become safe to show, each call as an opening delta (index, id, type, name) and its
/// arguments.
final class ToolCallDeltas: Sendable {
    private struct State {
        var splitter: OutputSplitter
        var calls = 0
    }
    private let state: Mutex<State>

    init(parser: ToolCallBodyParser) { state = Mutex(State(splitter: OutputSplitter(parser: parser))) }

    var callCount: Int { state.withLock { $0.calls } }

    func push(_ text: String) -> [[String: Any]] {
        state.withLock { s in Self.deltas(s.splitter.push(text), calls: &s.calls) }
    }

    func finish() -> [[String: Any]] {
        state.withLock { s in Self.deltas(s.splitter.finish(), calls: &s.calls) }
    }

    private static func deltas(_ events: [ToolCallEvent], calls: inout Int) -> [[String: Any]] {
        events.flatMap { e -> [[String: Any]] in
            switch e {
            case .content(let text): return [["content": text]]
            case .reasoning(let text): return [["reasoning_content": text]]
            case .call(let call):
                defer { calls += 1 }
                let opening: [String: Any] = ["index": calls, "id": ToolCall.newID(), "type": "function",
                                              "function": ["name": call.name, "arguments": ""]]
                let arguments: [String: Any] = ["index": calls, "function": ["arguments": call.arguments]]
                return [["tool_calls": [opening]], ["tool_calls": [arguments]]]
            }
        }
    }
}
