import Foundation
import Synchronization

/// How a reasoning model's thoughts come back (llama-server's --reasoning-format, and the
/// request's `reasoning_format`): left in the content, moved to `reasoning_content`, or both.
public enum ReasoningFormat: String, Sendable, CaseIterable {
    /// Thoughts stay in `content` as generated.
    case none
    /// Thoughts go to `reasoning_content`, without their tags.
    case deepseek
    /// Thoughts go to `reasoning_content` and also stay, with tags, in `content`.
    case deepseekLegacy = "deepseek-legacy"
    /// llama-server's default: `deepseek` where the template has thought tags.
    case auto
}

/// The tags around a model's thoughts, found in its chat template.
struct ReasoningTags: Sendable, Equatable {
    let start: String
    let end: String

    static let known = [ReasoningTags(start: "<think>", end: "</think>"),
                        ReasoningTags(start: "<|START_THINKING|>", end: "<|END_THINKING|>")]

    /// The tags this template writes or expects, if any.
    static func detect(template: String?) -> ReasoningTags? {
        guard let template else { return nil }
        return known.first { template.contains($0.start) || template.contains($0.end) }
    }

    /// A generation prompt that ends inside an opened thought (DeepSeek-R1, QwQ): the output
    /// starts with reasoning and carries no start tag.
    func opens(_ prompt: String) -> Bool {
        prompt.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix(start)
    }
}

/// A piece of output sorted by the splitter.
enum ReasoningPiece: Equatable {
    case reasoning(String)
    case content(String)
}

/// Splits generated text into thoughts and answer as it streams: text that could be the
/// start of a tag is held back until it is decided, so a split tag never leaks out. The whole
/// text pushed at once gives the same pieces, joined, as any split of it.
struct ReasoningSplitter {
    private enum Phase { case before, inside, after }
    let tags: ReasoningTags
    /// deepseek-legacy: the content also keeps the thoughts with their tags.
    let keepInContent: Bool
    private var phase: Phase
    private var pending = ""
    /// Whitespace right after the end tag is dropped, as llama-server does.
    private var trimLeading = false

    init(tags: ReasoningTags, startsInside: Bool, keepInContent: Bool) {
        self.tags = tags
        self.keepInContent = keepInContent
        phase = startsInside ? .inside : .before
    }

    mutating func push(_ text: String) -> [ReasoningPiece] {
        pending += text
        var out: [ReasoningPiece] = []
        while true {
            switch phase {
            case .before:
                let trimmed = pending.drop { $0.isWhitespace }
                if trimmed.hasPrefix(tags.start) {
                    if keepInContent { out.append(.content(String(pending[..<trimmed.startIndex]) + tags.start)) }
                    pending = String(trimmed.dropFirst(tags.start.count))
                    phase = .inside
                    continue
                }
                if tags.start.hasPrefix(trimmed) { return out }  // undecided: could still be the tag
                phase = .after
                continue
            case .inside:
                if let r = pending.range(of: tags.end) {
                    let thought = String(pending[..<r.lowerBound])
                    if !thought.isEmpty { out.append(.reasoning(thought)) }
                    if keepInContent { out.append(.content(thought + tags.end)) }
                    pending = String(pending[r.upperBound...])
                    phase = .after
                    trimLeading = !keepInContent
                    continue
                }
                let keep = Self.heldBack(pending, prefixOf: tags.end)
                let thought = String(pending.dropLast(keep))
                if !thought.isEmpty {
                    out.append(.reasoning(thought))
                    if keepInContent { out.append(.content(thought)) }
                }
                pending = String(pending.suffix(keep))
                return out
            case .after:
                if trimLeading {
                    pending = String(pending.drop { $0.isWhitespace })
                    if pending.isEmpty { return out }
                    trimLeading = false
                }
                if !pending.isEmpty { out.append(.content(pending)) }
                pending = ""
                return out
            }
        }
    }

    /// The end of generation: what was held back goes out as what it was (unfinished thoughts
    /// stay thoughts).
    mutating func finish() -> [ReasoningPiece] {
        defer { pending = "" }
        guard !pending.isEmpty else { return [] }
        switch phase {
        case .inside: return keepInContent ? [.reasoning(pending), .content(pending)] : [.reasoning(pending)]
        case .before, .after: return trimLeading ? [] : [.content(pending)]
        }
    }

    /// The whole output at once: (reasoning, content), nil where empty.
    static func split(_ text: String, tags: ReasoningTags, startsInside: Bool, keepInContent: Bool) -> (reasoning: String?, content: String) {
        var s = ReasoningSplitter(tags: tags, startsInside: startsInside, keepInContent: keepInContent)
        let pieces = s.push(text) + s.finish()
        var reasoning = "", content = ""
        for p in pieces {
            switch p {
            case .reasoning(let t): reasoning += t
            case .content(let t): content += t
            }
        }
        return (reasoning.isEmpty ? nil : reasoning, content)
    }

    /// Length of the longest suffix of `text` that is a proper prefix of `tag`.
    private static func heldBack(_ text: String, prefixOf tag: String) -> Int {
        for n in stride(from: min(tag.count - 1, text.count), to: 0, by: -1) where text.hasSuffix(String(tag.prefix(n))) {
            return n
        }
        return 0
    }
}

/// A chat request's reasoning handling: the tags, whether the output starts inside a thought,
/// and whether the content keeps the thoughts too.
struct ReasoningSetup: Sendable {
    let tags: ReasoningTags
    let startsInside: Bool
    let keepInContent: Bool

    func split(_ text: String) -> (reasoning: String?, content: String) {
        ReasoningSplitter.split(text, tags: tags, startsInside: startsInside, keepInContent: keepInContent)
    }
}

/// The splitter of one streamed response (pieces arrive one after another).
final class ReasoningStream: Sendable {
    private let splitter: Mutex<ReasoningSplitter>
    init(_ setup: ReasoningSetup) {
        splitter = Mutex(ReasoningSplitter(tags: setup.tags, startsInside: setup.startsInside, keepInContent: setup.keepInContent))
    }
    func push(_ text: String) -> [ReasoningPiece] { splitter.withLock { $0.push(text) } }
    func finish() -> [ReasoningPiece] { splitter.withLock { $0.finish() } }
}
