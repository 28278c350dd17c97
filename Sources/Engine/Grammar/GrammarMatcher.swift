/// A UTF-8 sequence cut short at a token boundary: the value so far and the bytes still to
/// come (-1: the bytes are not valid UTF-8).
public struct PartialUTF8: Sendable, Equatable {
    public var value: UInt32 = 0
    public var remaining: Int8 = 0

    public init(value: UInt32 = 0, remaining: Int8 = 0) {
        self.value = value
        self.remaining = remaining
    }

    var isInvalid: Bool { remaining < 0 }
}

/// Code points of `bytes` decoded after `partial` (a sequence a previous token left open),
/// and the sequence this one leaves open. Invalid UTF-8 comes back as `remaining == -1`.
func decodeUTF8(_ bytes: some Collection<UInt8>, after partial: PartialUTF8, into out: inout [UInt32]) -> PartialUTF8 {
    var value = partial.value
    var remaining = Int(partial.remaining)
    guard remaining >= 0 else { return PartialUTF8(remaining: -1) }
    for b in bytes {
        if remaining > 0 {
            guard b & 0xC0 == 0x80 else { return PartialUTF8(remaining: -1) }
            value = value << 6 | UInt32(b & 0x3F)
            remaining -= 1
            if remaining == 0 { out.append(value) }
            continue
        }
        switch b {
        case 0x00..<0x80: out.append(UInt32(b))
        case 0xC0..<0xE0: value = UInt32(b & 0x1F); remaining = 1
        case 0xE0..<0xF0: value = UInt32(b & 0x0F); remaining = 2
        case 0xF0..<0xF8: value = UInt32(b & 0x07); remaining = 3
        default: return PartialUTF8(remaining: -1)  // stray continuation byte or 0xF8...
        }
    }
    return remaining == 0 ? PartialUTF8() : PartialUTF8(value: value, remaining: Int8(remaining))
}

/// llama.cpp's grammar matching: a set of pushdown stacks of positions in the grammar's
/// elements, each with a character class on top, advanced one code point at a time. An empty
/// stack means the grammar is complete; no stacks at all means the input was rejected.
public struct GrammarMatcher: Sendable {
    public typealias Stack = [Int32]
    public let grammar: Grammar
    public private(set) var stacks: [Stack]
    public private(set) var partial = PartialUTF8()

    public init(_ grammar: Grammar) throws {
        self.grammar = grammar
        var initial = StackSet()
        try Self.expandAlternatives(of: grammar.rootRule, grammar, below: [], into: &initial)
        stacks = initial.stacks
    }

    /// Some stack is done and no character is half-read: the input so far is a whole match.
    public var isComplete: Bool { partial.remaining == 0 && stacks.contains { $0.isEmpty } }
    /// Some stack wants more characters.
    public var canContinue: Bool { stacks.contains { !$0.isEmpty } }

    /// Feeds `bytes` (a token's piece). Returns false, and changes nothing, if the grammar
    /// cannot continue with them.
    public mutating func accept(_ bytes: some Collection<UInt8>) throws -> Bool {
        var points: [UInt32] = []
        let after = decodeUTF8(bytes, after: partial, into: &points)
        if after.isInvalid { return false }
        var current = stacks
        for cp in points {
            current = try Self.accept(cp, grammar, stacks: current)
            if current.isEmpty { return false }
        }
        if after.remaining > 0 {
            let g = grammar
            guard current.contains(where: { s in s.last.map { Self.matchesPartial(g.elements, at: Int($0), after) } ?? false }) else {
                return false
            }
        }
        stacks = current
        partial = after
        return true
    }

    /// Whether the whole of `text` is a match (llama.cpp's test-grammar-integration check).
    public func matches(_ text: String) throws -> Bool {
        var m = self
        guard try m.accept(Array(text.utf8)) else { return false }
        return m.isComplete
    }

    // MARK: - Stack operations (llama.cpp's advance_stack, match_char, accept)

    /// Stacks without duplicates, in first-seen order, with the size bounds checked.
    struct StackSet {
        private(set) var stacks: [Stack] = []
        private var seen: Set<Stack> = []
        private var elements = 0

        mutating func insert(_ s: Stack) throws {
            guard seen.insert(s).inserted else { return }
            stacks.append(s)
            elements += s.count
            guard stacks.count <= GrammarLimits.maxStacks, elements <= GrammarLimits.maxStackElements else {
                throw GrammarError("grammar is too ambiguous: more than \(GrammarLimits.maxStacks) parse stacks at once")
            }
        }
    }

    /// Pushes one stack per alternative of `rule` on top of `below` and expands each.
    static func expandAlternatives(of rule: Int, _ g: Grammar, below: Stack, into out: inout StackSet) throws {
        var alt = Int(g.start(of: rule))
        while true {
            var s = below
            if !g.elements[alt].isEndOfSequence { s.append(Int32(alt)) }
            try advance(s, g, into: &out)
            while !g.elements[alt].isEndOfSequence { alt += 1 }
            guard g.elements[alt].kind == .alt else { return }
            alt += 1
        }
    }

    /// Expands rule references on top of `stack` until every resulting stack has a character
    /// class on top (or is empty). Terminates: the parser refused left recursion.
    static func advance(_ stack: Stack, _ g: Grammar, into out: inout StackSet) throws {
        var todo: [Stack] = [stack]
        var seen: Set<Stack> = []
        while let current = todo.popLast() {
            guard seen.insert(current).inserted else { continue }
            guard let top = current.last else {
                try out.insert(current)
                continue
            }
            let e = g.elements[Int(top)]
            guard e.kind == .ruleRef else {
                try out.insert(current)  // a character class: this stack is ready
                continue
            }
            var alt = Int(g.start(of: Int(e.value)))
            while true {
                var next = Stack(current.dropLast())
                if !g.elements[Int(top) + 1].isEndOfSequence { next.append(top + 1) }
                if !g.elements[alt].isEndOfSequence { next.append(Int32(alt)) }
                todo.append(next)
                guard todo.count + seen.count <= 16 * GrammarLimits.maxStacks else {
                    throw GrammarError("grammar is too ambiguous: more than \(GrammarLimits.maxStacks) parse stacks at once")
                }
                while !g.elements[alt].isEndOfSequence { alt += 1 }
                guard g.elements[alt].kind == .alt else { break }
                alt += 1
            }
        }
    }

    /// Whether `cp` is in the class at `pos`, and the position after the class.
    @inline(__always)
    static func matchChar(_ elements: [Grammar.Element], at start: Int, _ cp: UInt32) -> (Bool, Int) {
        var pos = start
        let positive = elements[pos].kind != .charNot
        var found = false
        repeat {
            if elements[pos + 1].kind == .charRangeUpper {
                found = found || (elements[pos].value <= cp && cp <= elements[pos + 1].value)
                pos += 2
            } else if elements[pos].kind == .charAny {
                found = true
                pos += 1
            } else {
                found = found || elements[pos].value == cp
                pos += 1
            }
        } while elements[pos].kind == .charAlt
        return (found == positive, pos)
    }

    /// Whether some completion of the open UTF-8 sequence `partial` could be in the class at `pos`.
    static func matchesPartial(_ elements: [Grammar.Element], at start: Int, _ partial: PartialUTF8) -> Bool {
        let remaining = Int(partial.remaining)
        // Invalid, or a 7-bit character spread over two bytes (overlong).
        if remaining < 0 || (remaining == 1 && partial.value < 2) { return false }
        var low = partial.value << (remaining * 6)
        let high = low | ((1 << (remaining * 6)) - 1)
        if low == 0 { low = remaining == 2 ? 1 << 11 : remaining == 3 ? 1 << 16 : low }
        var pos = start
        let positive = elements[pos].kind != .charNot
        repeat {
            if elements[pos + 1].kind == .charRangeUpper {
                if elements[pos].value <= high && low <= elements[pos + 1].value { return positive }
                pos += 2
            } else if elements[pos].kind == .charAny {
                return true
            } else {
                if low <= elements[pos].value && elements[pos].value <= high { return positive }
                pos += 1
            }
        } while elements[pos].kind == .charAlt
        return !positive
    }

    /// The stack after its top class consumed a character, expanded.
    static func afterClass(_ stack: Stack, classEnd: Int, _ g: Grammar, into out: inout StackSet) throws {
        var next = Stack(stack.dropLast())
        if !g.elements[classEnd].isEndOfSequence { next.append(Int32(classEnd)) }
        try advance(next, g, into: &out)
    }

    static func accept(_ cp: UInt32, _ g: Grammar, stacks: [Stack]) throws -> [Stack] {
        var out = StackSet()
        for s in stacks {
            guard let top = s.last else { continue }
            let (ok, end) = matchChar(g.elements, at: Int(top), cp)
            if ok { try afterClass(s, classEnd: end, g, into: &out) }
        }
        return out.stacks
    }
}
