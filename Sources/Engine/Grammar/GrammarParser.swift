/// GBNF text -> `Grammar`, with llama.cpp's syntax and rewrites (src/llama-grammar.cpp):
/// `name ::= alternatives`, literals with \n \t \r \\ \" \[ \] \- \xHH \uHHHH \UHHHHHHHH escapes,
/// classes `[a-z]` / `[^...]`, `.`, groups, `*` `+` `?` `{m}` `{m,}` `{m,n}`, `#` comments.
/// Token references (`<...>`, `!<...>`) are refused: hotmoe's grammars match text.
/// Every error names its line and column; sizes and nesting are bounded (`GrammarLimits`).
public extension Grammar {
    init(parsing source: String, root: String = "root") throws {
        var parser = GrammarParser(source)
        try parser.parseAll()
        self = try parser.finish(root: root)
    }
}

struct GrammarParser {
    typealias Element = Grammar.Element
    private let src: [UInt8]
    private var symbolIds: [String: Int] = [:]
    private var names: [String] = []
    private var rules: [[Element]?] = []
    /// Byte offset of each rule's definition (or of the group/repetition that generated it).
    private var origins: [Int] = []
    /// Byte offset of each symbol's first reference, for "undefined rule" errors.
    private var firstUse: [Int: Int] = [:]
    private var elementCount = 0
    private var depth = 0

    init(_ text: String) { src = Array(text.utf8) }

    /// The byte at `i`, 0 past the end (the parser mirrors llama.cpp's NUL-terminated scan).
    private func at(_ i: Int) -> UInt8 { i < src.count ? src[i] : 0 }

    func location(_ offset: Int) -> String {
        var line = 1, column = 1
        for b in src.prefix(min(offset, src.count)) {
            if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
        }
        let rest = String(decoding: src[min(offset, src.count)...].prefix(24), as: UTF8.self)
        return "line \(line), column \(column)" + (rest.isEmpty ? " (end of grammar)" : " near '\(rest.prefix { $0 != "\n" })'")
    }

    private func fail(_ message: String, at offset: Int) -> GrammarError {
        GrammarError("grammar: \(message) at \(location(offset))")
    }

    private static func isWordChar(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || c == 0x2D || (c >= 0x30 && c <= 0x39)
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    private func skipSpace(_ start: Int, newlines: Bool) -> Int {
        var p = start
        while true {
            let c = at(p)
            if c == 0x23 {  // '#': comment to end of line
                while at(p) != 0 && at(p) != 0x0A && at(p) != 0x0D { p += 1 }
            } else if c == 0x20 || c == 0x09 || (newlines && (c == 0x0A || c == 0x0D)) {
                p += 1
            } else {
                return p
            }
        }
    }

    private func parseName(_ start: Int) throws -> Int {
        var p = start
        while Self.isWordChar(at(p)) { p += 1 }
        guard p > start else { throw fail("expecting a rule name", at: start) }
        return p
    }

    private mutating func symbol(_ name: String) throws -> Int {
        if let id = symbolIds[name] { return id }
        return try newSymbol(name)
    }

    private mutating func newSymbol(_ name: String) throws -> Int {
        guard names.count < GrammarLimits.maxRules else {
            throw GrammarError("grammar: more than \(GrammarLimits.maxRules) rules (with those that repetitions and groups generate)")
        }
        let id = names.count
        symbolIds[name] = id
        names.append(name)
        rules.append(nil)
        origins.append(0)
        return id
    }

    /// A rule for a group or repetition, named `parent_N` as llama.cpp does.
    private mutating func generatedSymbol(_ parent: String, at offset: Int) throws -> Int {
        let id = try newSymbol("\(parent)_\(names.count)")
        origins[id] = offset
        return id
    }

    private mutating func define(_ id: Int, _ rule: [Element], at offset: Int) throws {
        elementCount += rule.count
        guard elementCount <= GrammarLimits.maxElements else {
            throw fail("the grammar expands to more than \(GrammarLimits.maxElements) elements", at: offset)
        }
        rules[id] = rule
    }

    private func hexValue(_ start: Int, digits: Int) throws -> (UInt32, Int) {
        var value: UInt32 = 0
        for i in 0..<digits {
            let c = at(start + i)
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            default: throw fail("expecting \(digits) hex digits", at: start)
            }
            value = value << 4 | d
        }
        return (value, start + digits)
    }

    /// One character of a literal or class: an escape or a UTF-8 sequence.
    private func parseChar(_ p: Int) throws -> (UInt32, Int) {
        let c = at(p)
        if c == 0x5C {  // backslash
            switch at(p + 1) {
            case UInt8(ascii: "x"): return try hexValue(p + 2, digits: 2)
            case UInt8(ascii: "u"): return try hexValue(p + 2, digits: 4)
            case UInt8(ascii: "U"): return try hexValue(p + 2, digits: 8)
            case UInt8(ascii: "t"): return (0x09, p + 2)
            case UInt8(ascii: "r"): return (0x0D, p + 2)
            case UInt8(ascii: "n"): return (0x0A, p + 2)
            case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "-"):
                return (UInt32(at(p + 1)), p + 2)
            default: throw fail("unknown escape", at: p)
            }
        }
        guard c != 0 else { throw fail("unexpected end of grammar", at: p) }
        // The source came from a Swift String: it is valid UTF-8.
        let length = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4
        var value = UInt32(c) & (length == 1 ? 0x7F : UInt32(0xFF) >> (length + 1))
        for i in 1..<max(1, length) { value = value << 6 | UInt32(at(p + i) & 0x3F) }
        return (value, p + length)
    }

    mutating func parseAll() throws {
        guard src.count <= GrammarLimits.maxSourceBytes else {
            throw GrammarError("grammar: \(src.count) bytes is more than the \(GrammarLimits.maxSourceBytes) allowed")
        }
        if let nul = src.firstIndex(of: 0) { throw fail("NUL byte in grammar", at: nul) }
        var p = skipSpace(0, newlines: true)
        while at(p) != 0 { p = try parseRule(p) }
    }

    private mutating func parseRule(_ start: Int) throws -> Int {
        let nameEnd = try parseName(start)
        let name = String(decoding: src[start..<nameEnd], as: UTF8.self)
        var p = skipSpace(nameEnd, newlines: false)
        guard at(p) == UInt8(ascii: ":"), at(p + 1) == UInt8(ascii: ":"), at(p + 2) == UInt8(ascii: "=") else {
            throw fail("expecting '::='", at: p)
        }
        let id = try symbol(name)
        if rules[id] != nil { throw fail("rule '\(name)' is defined twice", at: start) }
        origins[id] = start
        p = skipSpace(p + 3, newlines: true)
        p = try parseAlternates(p, ruleName: name, id: id, nested: false)
        if at(p) == 0x0D {
            p += at(p + 1) == 0x0A ? 2 : 1
        } else if at(p) == 0x0A {
            p += 1
        } else if at(p) != 0 {
            throw fail("expecting newline or end of grammar", at: p)
        }
        return skipSpace(p, newlines: true)
    }

    private mutating func parseAlternates(_ start: Int, ruleName: String, id: Int, nested: Bool) throws -> Int {
        var rule: [Element] = []
        var p = try parseSequence(start, ruleName: ruleName, into: &rule, nested: nested)
        while at(p) == UInt8(ascii: "|") {
            rule.append(Element(.alt))
            p = skipSpace(p + 1, newlines: true)
            p = try parseSequence(p, ruleName: ruleName, into: &rule, nested: nested)
        }
        rule.append(Element(.end))
        try define(id, rule, at: start)
        return p
    }

    private mutating func parseInt(_ start: Int) throws -> (UInt64, Int) {
        var p = start
        var value: UInt64 = 0
        while Self.isDigit(at(p)) {
            // Saturate: anything this large is refused by the repetition bound anyway.
            value = value > UInt64.max / 20 ? UInt64.max / 2 : value * 10 + UInt64(at(p) - 0x30)
            p += 1
        }
        guard p > start else { throw fail("expecting an integer", at: start) }
        return (value, p)
    }

    // The sequence parser follows llama.cpp's parse_sequence; repetitions rewrite the last item.
    private mutating func parseSequence(_ start: Int, ruleName: String, into rule: inout [Element], nested: Bool) throws -> Int {
        var lastItemStart = rule.count
        var p = start
        var previousRules: UInt64 = 1

        func repeatLast(_ minTimes: UInt64, _ maxTimes: UInt64?, at offset: Int) throws {
            try applyRepetition(&rule, lastItemStart: lastItemStart, min: minTimes, max: maxTimes, ruleName: ruleName,
                                previousRules: &previousRules, at: offset)
        }

        while at(p) != 0 {
            let c = at(p)
            if c == UInt8(ascii: "\"") {
                p += 1
                lastItemStart = rule.count
                previousRules = 1
                while at(p) != UInt8(ascii: "\"") {
                    guard at(p) != 0 else { throw fail("unterminated string literal", at: p) }
                    let (ch, next) = try parseChar(p)
                    p = next
                    rule.append(Element(.char, ch))
                }
                p = skipSpace(p + 1, newlines: nested)
            } else if c == UInt8(ascii: "[") {
                let open = p
                p += 1
                var startKind = Grammar.Kind.char
                if at(p) == UInt8(ascii: "^") { p += 1; startKind = .charNot }
                lastItemStart = rule.count
                previousRules = 1
                while at(p) != UInt8(ascii: "]") {
                    guard at(p) != 0 else { throw fail("unterminated character class", at: open) }
                    let (ch, next) = try parseChar(p)
                    p = next
                    rule.append(Element(lastItemStart < rule.count ? .charAlt : startKind, ch))
                    if at(p) == UInt8(ascii: "-") && at(p + 1) != UInt8(ascii: "]") {
                        guard at(p + 1) != 0 else { throw fail("unterminated character class", at: open) }
                        let (upper, after) = try parseChar(p + 1)
                        p = after
                        rule.append(Element(.charRangeUpper, upper))
                    }
                }
                if rule.count == lastItemStart { throw fail("empty character class", at: open) }
                p = skipSpace(p + 1, newlines: nested)
            } else if c == UInt8(ascii: "<") || c == UInt8(ascii: "!") {
                throw fail("token references (<...>) are not supported by hotmoe", at: p)
            } else if Self.isWordChar(c) {
                let nameEnd = try parseName(p)
                let id = try symbol(String(decoding: src[p..<nameEnd], as: UTF8.self))
                if firstUse[id] == nil { firstUse[id] = p }
                p = skipSpace(nameEnd, newlines: nested)
                lastItemStart = rule.count
                previousRules = 1
                rule.append(Element(.ruleRef, UInt32(id)))
            } else if c == UInt8(ascii: "(") {
                let open = p
                depth += 1
                defer { depth -= 1 }
                guard depth <= GrammarLimits.maxGroupDepth else {
                    throw fail("groups nest deeper than \(GrammarLimits.maxGroupDepth)", at: open)
                }
                p = skipSpace(p + 1, newlines: true)
                let rulesBefore = names.count
                let sub = try generatedSymbol(ruleName, at: open)
                p = try parseAlternates(p, ruleName: ruleName, id: sub, nested: true)
                previousRules = UInt64(max(1, names.count - rulesBefore))
                lastItemStart = rule.count
                rule.append(Element(.ruleRef, UInt32(sub)))
                guard at(p) == UInt8(ascii: ")") else { throw fail("expecting ')' to close the group opened", at: open) }
                p = skipSpace(p + 1, newlines: nested)
            } else if c == UInt8(ascii: ".") {
                lastItemStart = rule.count
                previousRules = 1
                rule.append(Element(.charAny))
                p = skipSpace(p + 1, newlines: nested)
            } else if c == UInt8(ascii: "*") || c == UInt8(ascii: "+") || c == UInt8(ascii: "?") {
                let op = p
                p = skipSpace(p + 1, newlines: nested)
                try repeatLast(c == UInt8(ascii: "+") ? 1 : 0, c == UInt8(ascii: "?") ? 1 : nil, at: op)
            } else if c == UInt8(ascii: "{") {
                let op = p
                p = skipSpace(p + 1, newlines: nested)
                let (minTimes, intEnd) = try parseInt(p)
                p = skipSpace(intEnd, newlines: nested)
                var maxTimes: UInt64? = nil
                if at(p) == UInt8(ascii: "}") {
                    maxTimes = minTimes
                    p = skipSpace(p + 1, newlines: nested)
                } else if at(p) == UInt8(ascii: ",") {
                    p = skipSpace(p + 1, newlines: nested)
                    if Self.isDigit(at(p)) {
                        let (m, end) = try parseInt(p)
                        maxTimes = m
                        p = skipSpace(end, newlines: nested)
                    }
                    guard at(p) == UInt8(ascii: "}") else { throw fail("expecting '}'", at: p) }
                    p = skipSpace(p + 1, newlines: nested)
                } else {
                    throw fail("expecting ',' or '}'", at: p)
                }
                guard minTimes <= GrammarLimits.maxRepetition else {
                    throw fail("repetition count \(minTimes) is more than \(GrammarLimits.maxRepetition)", at: op)
                }
                if let m = maxTimes, m < minTimes { throw fail("repetition {\(minTimes),\(m)} has max < min", at: op) }
                // llama.cpp treats a max above the threshold as unbounded.
                if let m = maxTimes, m > GrammarLimits.maxRepetition { maxTimes = nil }
                try repeatLast(minTimes, maxTimes, at: op)
            } else {
                break
            }
        }
        return p
    }

    /// llama.cpp's rewrite: S{m,n} -> S (m times) S'(n-m) with S'(x) ::= S S'(x-1) | ;
    /// S{m,} -> S (m times) S' with S' ::= S S' | .
    private mutating func applyRepetition(_ rule: inout [Element], lastItemStart: Int, min minTimes: UInt64, max maxTimes: UInt64?,
                                          ruleName: String, previousRules: inout UInt64, at offset: Int) throws {
        guard lastItemStart < rule.count else { throw fail("expecting an item before the repetition operator", at: offset) }
        let item = Array(rule[lastItemStart...])
        var total: UInt64 = 1
        if let m = maxTimes, m > 0 { total = m } else if minTimes > 0 { total = minTimes }
        guard previousRules.multipliedReportingOverflow(by: total).partialValue <= GrammarLimits.maxRepetition,
              !previousRules.multipliedReportingOverflow(by: total).overflow else {
            throw fail("nested repetitions multiply to more than \(GrammarLimits.maxRepetition) rules", at: offset)
        }
        let copies = UInt64(item.count) * (minTimes == 0 ? 0 : minTimes - 1)
        guard UInt64(elementCount + rule.count) + copies <= UInt64(GrammarLimits.maxElements) else {
            throw fail("the grammar expands to more than \(GrammarLimits.maxElements) elements", at: offset)
        }
        if minTimes == 0 {
            rule.removeLast(rule.count - lastItemStart)
        } else {
            for _ in 1..<minTimes { rule.append(contentsOf: item) }
        }
        let optional = maxTimes.map { $0 - minTimes } ?? 1
        var lastGenerated = 0
        for i in 0..<optional {
            let id = try generatedSymbol(ruleName, at: offset)
            var body = item
            if i > 0 || maxTimes == nil { body.append(Element(.ruleRef, UInt32(maxTimes == nil ? id : lastGenerated))) }
            body.append(Element(.alt))
            body.append(Element(.end))
            try define(id, body, at: offset)
            lastGenerated = id
        }
        if optional > 0 { rule.append(Element(.ruleRef, UInt32(lastGenerated))) }
        previousRules *= total
    }

    /// Checks the rules (all defined, a root, no left recursion) and flattens them.
    mutating func finish(root: String) throws -> Grammar {
        for (id, rule) in rules.enumerated() where rule == nil {
            throw fail("undefined rule '\(names[id])'", at: firstUse[id] ?? 0)
        }
        guard let rootId = symbolIds[root] else { throw GrammarError("grammar: no '\(root)' rule (the start rule is required)") }
        let defined = rules.map { $0 ?? [] }
        if let bad = GrammarChecks.leftRecursiveRule(defined) {
            throw fail("rule '\(names[bad])' is left-recursive or repeats something that can match nothing (unsupported)",
                       at: origins[bad])
        }
        var elements: [Element] = []
        elements.reserveCapacity(elementCount)
        var starts: [Int32] = []
        for rule in defined {
            starts.append(Int32(elements.count))
            elements.append(contentsOf: rule)
        }
        return Grammar(elements: elements, ruleStarts: starts, ruleNames: names, rootRule: rootId)
    }
}
