import Foundation

/// gpt-oss (harmony) output split into thoughts, answer and calls as it streams. The output
/// is a run of messages, each a header, `<|message|>`, a body and `<|end|>` (or the end of the
/// output: `<|return|>` and `<|call|>` end generation and are not in the text):
///   `<|channel|>analysis<|message|>..` thoughts; `<|channel|>final<|message|>..` the answer;
///   `<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{..}` a call (the
///   recipient may also come first: ` to=functions.NAME<|channel|>commentary json<|message|>`);
///   later messages start with `<|start|>assistant`.
/// Text that could still be markup is held back, so none reaches content; any split of the
/// output gives the same events, concatenated, as the whole.
struct HarmonySplitter: Sendable {
    private enum Kind: Equatable {
        case reasoning, content
        /// An analysis message kept in the content with its markup (reasoning_format none).
        case rawAnalysis
        case call(String)
    }
    private enum Phase: Equatable {
        case header
        case body(Kind)
    }
    let parser: ToolCallBodyParser
    private var phase = Phase.header
    /// The header read so far, or body text not yet released (a call's whole body).
    private var pending = ""

    static let messageStart = "<|message|>"
    static let terminators = ["<|end|>", "<|start|>"]
    /// A header is short: text longer than this without `<|message|>` is plain content.
    static let maxHeaderCharacters = 256

    init(parser: ToolCallBodyParser) { self.parser = parser }

    mutating func push(_ text: String) -> [ToolCallEvent] {
        pending += text
        var events: [ToolCallEvent] = []
        while true {
            switch phase {
            case .header:
                let searchable = pending.prefix(Self.maxHeaderCharacters + Self.messageStart.count)
                if let r = searchable.range(of: Self.messageStart) {
                    let header = String(pending[..<r.lowerBound])
                    var kind = Self.kind(ofHeader: header)
                    if kind == .reasoning && parser.reasoningAsContent {
                        kind = .rawAnalysis
                        events.append(.content(header + Self.messageStart))
                    }
                    pending = String(pending[r.upperBound...])
                    phase = .body(kind)
                    continue
                }
                guard searchable.count == Self.maxHeaderCharacters + Self.messageStart.count else { return events }
                phase = .body(.content)  // not a header: the model wrote plain text
            case .body(let kind):
                if let (r, terminator) = Self.firstTerminator(in: pending) {
                    events += release(String(pending[..<r.lowerBound]), kind: kind)
                    if kind == .rawAnalysis && terminator == "<|end|>" { events.append(.content(terminator)) }
                    // `<|start|>` begins the next header and stays for it; `<|end|>` goes.
                    pending = String(pending[(terminator == "<|end|>" ? r.upperBound : r.lowerBound)...])
                    phase = .header
                    continue
                }
                if case .call = kind {
                    guard pending.count > ToolCallSplitter.maxBodyCharacters else { return events }
                    events.append(.content(pending))  // far too long to be arguments
                    pending = ""
                    phase = .body(.content)
                    return events
                }
                let keep = Self.heldBack(pending)
                events += release(String(pending.dropLast(keep)), kind: kind)
                pending = String(pending.suffix(keep))
                return events
            }
        }
    }

    /// End of output: a message still open ends here (a call's `<|call|>` is not in the text).
    mutating func finish() -> [ToolCallEvent] {
        defer { pending = ""; phase = .header }
        switch phase {
        case .header: return pending.isEmpty ? [] : [.content(pending)]
        case .body(let kind): return release(pending, kind: kind)
        }
    }

    private func release(_ text: String, kind: Kind) -> [ToolCallEvent] {
        switch kind {
        case .call(let name):
            if let arguments = parser.jsonArguments(text) { return [.call(ToolCall(name: name, arguments: arguments))] }
            return text.isEmpty ? [] : [.content(text)]
        case .reasoning: return text.isEmpty ? [] : [.reasoning(text)]
        case .content, .rawAnalysis: return text.isEmpty ? [] : [.content(text)]
        }
    }

    /// What a header announces: `to=functions.NAME` a call, channel analysis thoughts, any
    /// other message (final, a commentary preamble) content.
    private static func kind(ofHeader header: String) -> Kind {
        if let to = header.range(of: "to=") {
            let recipient = header[to.upperBound...].prefix { !$0.isWhitespace && $0 != "<" }
            let prefix = "functions."
            if recipient.hasPrefix(prefix), recipient.count > prefix.count { return .call(String(recipient.dropFirst(prefix.count))) }
            return .content
        }
        if let c = header.range(of: "<|channel|>") {
            let channel = header[c.upperBound...].prefix { $0.isLetter || $0 == "_" }
            if channel == "analysis" { return .reasoning }
        }
        return .content
    }

    private static func firstTerminator(in text: String) -> (Range<String.Index>, String)? {
        terminators.compactMap { t in text.range(of: t).map { ($0, t) } }.min { $0.0.lowerBound < $1.0.lowerBound }
    }

    /// The longest suffix of `text` that is a proper prefix of a terminator.
    private static func heldBack(_ text: String) -> Int {
        terminators.map { t in
            stride(from: min(t.count - 1, text.count), to: 0, by: -1).first { text.hasSuffix(String(t.prefix($0))) } ?? 0
        }.max() ?? 0
    }
}
