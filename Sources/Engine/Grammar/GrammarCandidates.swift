/// Every token's piece decoded once per model, for grammar masking. Tokens with no text
/// (control tokens) or of absurd length are never allowed under a grammar.
public final class GrammarVocabulary: Sendable {
    /// Longest piece considered, in code points; it bounds the matcher's recursion per token.
    public static let maxPieceCodePoints = 512
    let pieces: [[UInt8]]
    let codePoints: [UInt32]
    let starts: [Int32]
    let ends: [Int32]
    /// The UTF-8 sequence a piece leaves open when decoded from a clean state.
    let trailing: [PartialUTF8]
    let usable: [Bool]
    public let endOfGeneration: Set<Int32>

    /// `pieces[id]`: the bytes token `id` adds to the text; `endOfGeneration`: EOS/EOT ids.
    public init(pieces: [[UInt8]], endOfGeneration: Set<Int32>) {
        self.pieces = pieces
        self.endOfGeneration = endOfGeneration
        var points: [UInt32] = []
        var starts: [Int32] = [], ends: [Int32] = [], trailing: [PartialUTF8] = [], usable: [Bool] = []
        for piece in pieces {
            let start = points.count
            let open = decodeUTF8(piece, after: PartialUTF8(), into: &points)
            let length = points.count - start
            starts.append(Int32(start))
            ends.append(Int32(points.count))
            trailing.append(open)
            // Invalid UTF-8 from a clean state stays a candidate: a continuation byte can finish
            // the sequence an earlier token left open (the matcher rejects it otherwise).
            usable.append(!piece.isEmpty && piece.first != 0 && length <= Self.maxPieceCodePoints)
        }
        codePoints = points
        self.starts = starts
        self.ends = ends
        self.trailing = trailing
        self.usable = usable
    }

    public var count: Int { pieces.count }
}

/// A token being matched: its code points `points[pos..<end]` still to match, then `partial`.
struct GrammarCandidate {
    var id: Int32
    var pos: Int32
    var end: Int32
    var partial: PartialUTF8
}

extension GrammarMatcher {
    /// The candidates that no stack can take (llama.cpp's reject_candidates): per stack, the
    /// tokens whose first code point fits the top class go on together to the stacks after it,
    /// so tokens sharing a prefix share the work.
    static func rejected(_ candidates: [GrammarCandidate], points: [UInt32], stacks: [Stack], _ g: Grammar) throws -> [GrammarCandidate] {
        guard !candidates.isEmpty else { return [] }
        guard let first = stacks.first else { return candidates }
        var rejects = try rejected(candidates, points: points, stack: first, g)
        for s in stacks.dropFirst() where !rejects.isEmpty { rejects = try rejected(rejects, points: points, stack: s, g) }
        return rejects
    }

    private static func rejected(_ candidates: [GrammarCandidate], points: [UInt32], stack: Stack, _ g: Grammar) throws -> [GrammarCandidate] {
        guard let top = stack.last else {
            // Grammar complete on this stack: only a token with nothing left fits.
            return candidates.filter { $0.pos < $0.end || $0.partial.remaining != 0 }
        }
        var rejects: [GrammarCandidate] = []
        var next: [GrammarCandidate] = []
        let elements = g.elements
        for var c in candidates {
            if c.pos == c.end {
                if c.partial.remaining != 0 && !matchesPartial(elements, at: Int(top), c.partial) { rejects.append(c) }
            } else if matchChar(elements, at: Int(top), points[Int(c.pos)]).0 {
                c.pos += 1
                next.append(c)
            } else {
                rejects.append(c)
            }
        }
        guard !next.isEmpty else { return rejects }
        var after = StackSet()
        try afterClass(stack, classEnd: matchChar(elements, at: Int(top), 0).1, g, into: &after)
        for var c in try rejected(next, points: points, stacks: after.stacks, g) {
            c.pos -= 1
            rejects.append(c)
        }
        return rejects
    }
}

/// A grammar applied to sampling: tokens that cannot continue it are masked, end of
/// generation is allowed only where the grammar is complete.
public struct GrammarConstraint: Sendable {
    public private(set) var matcher: GrammarMatcher
    public let vocabulary: GrammarVocabulary

    public init(grammar: Grammar, vocabulary: GrammarVocabulary) throws {
        matcher = try GrammarMatcher(grammar)
        self.vocabulary = vocabulary
    }

    /// Complete and unable to take another character: generation is over.
    public var isFinished: Bool { !matcher.canContinue }

    /// The candidates for `ids` (usable, non-EOG tokens) with their code points, decoded
    /// after the sequence the last token left open, if any.
    private func candidates(_ ids: [Int32]) -> ([GrammarCandidate], [UInt32]) {
        let v = vocabulary
        let open = matcher.partial
        if open.remaining == 0 {
            return (ids.map { GrammarCandidate(id: $0, pos: v.starts[Int($0)], end: v.ends[Int($0)], partial: v.trailing[Int($0)]) },
                    v.codePoints)
        }
        var points: [UInt32] = []
        var out: [GrammarCandidate] = []
        for id in ids {
            let start = points.count
            let after = decodeUTF8(v.pieces[Int(id)], after: open, into: &points)
            out.append(GrammarCandidate(id: id, pos: Int32(start), end: Int32(points.count), partial: after))
        }
        return (out, points)
    }

    private func isMatchable(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < vocabulary.count && vocabulary.usable[Int(id)] && !vocabulary.endOfGeneration.contains(id)
    }

    /// Whether `token` may come next.
    public func allows(_ token: Int32) throws -> Bool {
        if vocabulary.endOfGeneration.contains(token) { return matcher.isComplete }
        guard isMatchable(token) else { return false }
        let (c, points) = candidates([token])
        return try GrammarMatcher.rejected(c, points: points, stacks: matcher.stacks, matcher.grammar).isEmpty
    }

    /// Sets every token the grammar does not allow to -inf. Throws if no token is left.
    public func mask(_ logits: UnsafeMutableBufferPointer<Float>) throws {
        var ids: [Int32] = []
        ids.reserveCapacity(logits.count)
        let eogAllowed = matcher.isComplete
        for i in 0..<logits.count where logits[i] > -.infinity {  // NaN and -inf are out already
            let id = Int32(i)
            if vocabulary.endOfGeneration.contains(id) {
                if !eogAllowed { logits[i] = -.infinity }
            } else if isMatchable(id) {
                ids.append(id)
            } else {
                logits[i] = -.infinity
            }
        }
        let (c, points) = candidates(ids)
        for r in try GrammarMatcher.rejected(c, points: points, stacks: matcher.stacks, matcher.grammar) { logits[Int(r.id)] = -.infinity }
        guard logits.contains(where: { $0 > -.infinity }) else {
            throw GrammarError("the grammar allows no token of the vocabulary here (after \(matcher.stacks.count) parse stacks)")
        }
    }

    /// Advances past `token` (which `allows` accepted); end-of-generation tokens change nothing.
    public mutating func accept(_ token: Int32) throws {
        if vocabulary.endOfGeneration.contains(token) { return }
        guard isMatchable(token), try matcher.accept(vocabulary.pieces[Int(token)]) else {
            throw GrammarError("token \(token) does not continue the grammar")
        }
    }

    /// llama.cpp's common sampler: sample with the normal chain, check only the chosen token,
    /// and only if the grammar rejects it mask the whole row and sample again.
    public func sample(_ logits: UnsafeBufferPointer<Float>, sampler: inout Sampler, scratch: inout [Float]) throws -> Int32 {
        let token = sampler.sample(logits)
        if try allows(token) { return token }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: logits)
        return try scratch.withUnsafeMutableBufferPointer { buffer in
            try mask(buffer)
            return sampler.sample(UnsafeBufferPointer(buffer))
        }
    }
}
