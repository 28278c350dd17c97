import Foundation

/// What the output of a tools request turns into: text for `content`, thoughts (harmony's
/// analysis channel), or a parsed call.
enum ToolCallEvent: Equatable, Sendable {
    case content(String)
    case reasoning(String)
    case call(ToolCall)
}

/// A whole output, sorted: thoughts and content (nil where empty) and the calls in order.
struct SplitOutput: Equatable {
    var reasoning: String?
    var content: String?
    var calls: [ToolCall]

    init(_ events: [ToolCallEvent]) {
        var reasoning = "", content = "", calls: [ToolCall] = []
        for e in events {
            switch e {
            case .content(let s): content += s
            case .reasoning(let s): reasoning += s
            case .call(let c): calls.append(c)
            }
        }
        self.reasoning = reasoning.isEmpty ? nil : reasoning
        self.content = content.isEmpty ? nil : content
        self.calls = calls
    }
}

/// The streaming splitter of a format: opener/closer markup, or harmony's channels.
enum OutputSplitter: Sendable {
    case markup(ToolCallSplitter)
    case harmony(HarmonySplitter)

    init(parser: ToolCallBodyParser) {
        self = parser.format == .harmony ? .harmony(HarmonySplitter(parser: parser)) : .markup(ToolCallSplitter(parser: parser))
    }

    mutating func push(_ text: String) -> [ToolCallEvent] {
        switch self {
        case .markup(var s): defer { self = .markup(s) }; return s.push(text)
        case .harmony(var s): defer { self = .harmony(s) }; return s.push(text)
        }
    }

    mutating func finish() -> [ToolCallEvent] {
        switch self {
        case .markup(var s): defer { self = .markup(s) }; return s.finish()
        case .harmony(var s): defer { self = .harmony(s) }; return s.finish()
        }
    }

    /// The whole output at once: the unstreamed response is the splitter run on the full text.
    static func split(_ text: String, parser: ToolCallBodyParser) -> SplitOutput {
        var splitter = OutputSplitter(parser: parser)
        return SplitOutput(splitter.push(text) + splitter.finish())
    }
}

/// Splits generated text into content and tool calls as it streams in. Text that could be the
/// start of a call opener (and whitespace that may turn out to sit next to a call) is held
/// back, as the StopFilter does for stop strings, so markup never reaches a content delta.
/// Fed the whole text at once or in any pieces, it gives the same events concatenated: the
/// unstreamed response is this splitter run on the full text.
struct ToolCallSplitter: Sendable {
    let parser: ToolCallBodyParser
    private var format: ToolCallFormat { parser.format }
    /// Outside a call: text not yet emitted.
    private var pending = ""
    /// Inside a call: the text after its opener.
    private var body: String?
    /// The whitespace before the current call's opener: content again if the call is malformed.
    private var leadIn = ""
    /// The opener of the current call ("" for a bare call at the start of the output).
    private var bodyOpener = ""
    /// Whitespace right after a call is not content.
    private var afterCall = false
    /// Nothing but whitespace seen yet: a bare call (`format.bareCallStart`) may still begin.
    private var atStart = true
    /// A call body longer than this is not a call (kept as content): bounds the held-back text.
    static let maxBodyCharacters = 1 << 20

    init(parser: ToolCallBodyParser) { self.parser = parser }

    mutating func push(_ text: String) -> [ToolCallEvent] {
        var events: [ToolCallEvent] = []
        var input = text
        while true {
            if var inner = body {
                inner += input
                input = ""
                if let closer = format.closer, let r = inner.range(of: closer, options: .literal) {
                    input = String(inner[r.upperBound...])
                    body = nil
                    events += finishCall(String(inner[..<r.lowerBound]), closed: true)
                    continue
                }
                if inner.count > Self.maxBodyCharacters {
                    body = nil
                    pending = ""
                    events.append(.content(leadIn + bodyOpener + inner))
                    return events
                }
                body = inner
                return events
            }
            pending += input
            input = ""
            if afterCall {
                pending = String(pending.drop(while: \.isWhitespace))
                if pending.isEmpty { return events }
                afterCall = false
            }
            if atStart, let bare = format.bareCallStart {
                let trimmed = pending.drop(while: \.isWhitespace)
                guard let first = trimmed.first else { return events }
                atStart = false
                if first == bare {
                    leadIn = String(pending[..<trimmed.startIndex])
                    input = String(trimmed)
                    pending = ""
                    bodyOpener = ""
                    body = ""
                    continue
                }
            }
            atStart = false
            if let r = pending.range(of: format.opener, options: .literal) {
                let before = String(pending[..<r.lowerBound])
                let text = Self.trimmingTrailingWhitespace(before)
                emit(text, into: &events)
                leadIn = String(before.dropFirst(text.count))
                input = String(pending[r.upperBound...])
                pending = ""
                bodyOpener = format.opener
                body = ""
                continue
            }
            let keep = heldBack(pending)
            emit(String(pending.dropLast(keep)), into: &events)
            pending = String(pending.suffix(keep))
            return events
        }
    }

    /// End of output: a call still open is read as far as it goes (Mistral's calls run to the
    /// end; a model may stop right before a closer); held-back text is content.
    mutating func finish() -> [ToolCallEvent] {
        var events: [ToolCallEvent] = []
        if let inner = body {
            body = nil
            events += finishCall(inner, closed: false)
        }
        if afterCall { pending = String(pending.drop(while: \.isWhitespace)) }
        emit(pending, into: &events)
        pending = ""
        return events
    }

    private mutating func finishCall(_ inner: String, closed: Bool) -> [ToolCallEvent] {
        if let calls = parser.parse(inner) {
            afterCall = true
            return calls.map { .call($0) }
        }
        return [.content(leadIn + bodyOpener + inner + (closed ? format.closer ?? "" : ""))]
    }

    private func emit(_ text: String, into events: inout [ToolCallEvent]) {
        if !text.isEmpty { events.append(.content(text)) }
    }

    /// Characters at the end of `text` that may belong to a call: the longest suffix that is
    /// a proper prefix of the opener, plus the whitespace before it.
    private func heldBack(_ text: String) -> Int {
        let opener = format.opener
        var keep = 0
        for n in stride(from: min(opener.count - 1, text.count), to: 0, by: -1) where text.hasSuffix(String(opener.prefix(n))) {
            keep = n
            break
        }
        let rest = text.dropLast(keep)
        return keep + rest.reversed().prefix(while: \.isWhitespace).count
    }

    static func trimmingTrailingWhitespace(_ s: String) -> String {
        var out = Substring(s)
        while let last = out.last, last.isWhitespace { out = out.dropLast() }
        return String(out)
    }
}
