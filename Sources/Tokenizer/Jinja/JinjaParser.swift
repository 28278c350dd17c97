/// Recursive-descent parser with jinja2's operator precedence; nesting is bounded so a
/// hostile template gets an error instead of exhausting the stack.
struct JinjaParser {
    private let tokens: [LexedToken]
    private var pos = 0
    private var depth = 0
    static let maxDepth = 100

    init(tokens: [LexedToken]) { self.tokens = tokens }

    static func parse(_ source: String) throws -> [JinjaNode] {
        var p = JinjaParser(tokens: try JinjaLexer.tokenize(source))
        let (body, end) = try p.nodes(until: [])
        if let end { throw p.error("unexpected '{% \(end) %}'") }
        return body
    }

    // MARK: token helpers

    private var current: JinjaToken? { pos < tokens.count ? tokens[pos].token : nil }
    private var line: Int { pos < tokens.count ? tokens[pos].line : (tokens.last?.line ?? 1) }

    private func error(_ message: String) -> JinjaError { JinjaError("line \(line): \(message)") }

    private func isOp(_ o: String) -> Bool { current == .op(o) }
    private func isName(_ n: String) -> Bool { current == .name(n) }
    private func peekName(_ offset: Int) -> String? {
        guard pos + offset < tokens.count, case .name(let n) = tokens[pos + offset].token else { return nil }
        return n
    }

    private mutating func skipOp(_ o: String) -> Bool {
        if isOp(o) { pos += 1; return true }
        return false
    }

    private mutating func skipName(_ n: String) -> Bool {
        if isName(n) { pos += 1; return true }
        return false
    }

    private mutating func expectOp(_ o: String) throws {
        guard skipOp(o) else { throw error("expected '\(o)'\(describeCurrent)") }
    }

    private mutating func expect(_ t: JinjaToken, _ what: String) throws {
        guard current == t else { throw error("expected \(what)\(describeCurrent)") }
        pos += 1
    }

    private var describeCurrent: String {
        switch current {
        case nil: ", got end of template"
        case .name(let n)?: ", got '\(n)'"
        case .op(let o)?: ", got '\(o)'"
        case .blockEnd?: ", got '%}'"
        case .variableEnd?: ", got '}}'"
        default: ""
        }
    }

    private mutating func identifier() throws -> String {
        guard case .name(let n)? = current else { throw error("expected a name\(describeCurrent)") }
        pos += 1
        return n
    }

    private mutating func enter() throws {
        depth += 1
        guard depth <= Self.maxDepth else { throw error("template nested deeper than \(Self.maxDepth) levels") }
    }

    // MARK: statements

    /// Parses nodes until a block tag whose keyword is in `ends`; returns that keyword (the
    /// tag's remaining tokens are left for the caller) or nil at the end of the template.
    private mutating func nodes(until ends: Set<String>) throws -> ([JinjaNode], String?) {
        try enter()
        defer { depth -= 1 }
        var out: [JinjaNode] = []
        while let t = current {
            switch t {
            case .text(let s):
                pos += 1
                out.append(.text(s))
            case .variableBegin:
                pos += 1
                let e = try expression()
                try expect(.variableEnd, "'}}'")
                out.append(.output(e))
            case .blockBegin:
                if let kw = peekName(1), ends.contains(kw) {
                    pos += 2
                    return (out, kw)
                }
                pos += 1
                out.append(try statement())
            default:
                throw error("unexpected token\(describeCurrent)")
            }
        }
        if !ends.isEmpty { throw error("missing end tag: expected one of \(ends.sorted().joined(separator: ", "))") }
        return (out, nil)
    }

    private mutating func endTag() throws { try expect(.blockEnd, "'%}'") }

    private mutating func statement() throws -> JinjaNode {
        let kw = try identifier()
        switch kw {
        case "if": return try ifStatement()
        case "for": return try forStatement()
        case "set": return try setStatement()
        case "macro": return try macroStatement()
        case "call": return try callStatement()
        case "filter":
            let filters = try filterChain(first: true)
            try endTag()
            let (body, _) = try nodes(until: ["endfilter"])
            try endTag()
            return .filterBlock(filters, body: body)
        case "break", "continue":
            try endTag()
            return kw == "break" ? .breakLoop : .continueLoop
        case "generation":
            try endTag()
            let (body, _) = try nodes(until: ["endgeneration"])
            try endTag()
            return .group(body)
        default:
            throw error("unknown or unsupported tag '\(kw)'")
        }
    }

    private mutating func ifStatement() throws -> JinjaNode {
        var branches: [(JinjaExpr, [JinjaNode])] = []
        var condition = try expression()
        while true {
            try endTag()
            let (body, end) = try nodes(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            switch end {
            case "elif":
                condition = try expression()
            case "else":
                try endTag()
                let (otherwise, _) = try nodes(until: ["endif"])
                try endTag()
                return .ifBlock(branches, otherwise: otherwise)
            default:
                try endTag()
                return .ifBlock(branches, otherwise: [])
            }
        }
    }

    private mutating func assignTarget() throws -> JinjaTarget {
        let first = try identifier()
        if skipOp(".") { return .attribute(first, try identifier()) }
        if isOp(",") {
            var names = [first]
            while skipOp(",") {
                if case .name? = current { names.append(try identifier()) } else { break }
            }
            return .unpack(names)
        }
        return .name(first)
    }

    private mutating func forStatement() throws -> JinjaNode {
        let target = try assignTarget()
        if case .attribute = target { throw error("a for loop cannot assign to an attribute") }
        guard skipName("in") else { throw error("expected 'in'\(describeCurrent)") }
        let iterable = try expression(allowConditional: false)
        var condition: JinjaExpr?
        if skipName("if") { condition = try expression() }
        if isName("recursive") { throw error("recursive for loops are not supported") }
        try endTag()
        let (body, end) = try nodes(until: ["else", "endfor"])
        var otherwise: [JinjaNode] = []
        if end == "else" {
            try endTag()
            (otherwise, _) = try nodes(until: ["endfor"])
        }
        try endTag()
        return .forLoop(target, iterable, condition: condition, body: body, otherwise: otherwise)
    }

    private mutating func setStatement() throws -> JinjaNode {
        let target = try assignTarget()
        if skipOp("=") {
            var value = try expression()
            if case .unpack = target, isOp(",") {
                var items = [value]
                while skipOp(",") { items.append(try expression()) }
                value = .tuple(items)
            }
            try endTag()
            return .set(target, value)
        }
        let filters = isOp("|") ? try filterChain(first: false) : []
        try endTag()
        let (body, _) = try nodes(until: ["endset"])
        try endTag()
        return .setBlock(target, filters: filters, body: body)
    }

    private mutating func parameters() throws -> [(String, JinjaExpr?)] {
        var params: [(String, JinjaExpr?)] = []
        try expectOp("(")
        while !isOp(")") {
            if !params.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let name = try identifier()
            params.append((name, skipOp("=") ? try expression() : nil))
        }
        try expectOp(")")
        return params
    }

    private mutating func macroStatement() throws -> JinjaNode {
        let name = try identifier()
        let params = try parameters()
        try endTag()
        let (body, _) = try nodes(until: ["endmacro"])
        if case .name? = current { pos += 1 }  // {% endmacro name %}
        try endTag()
        return .macro(JinjaMacro(name: name, parameters: params, body: body))
    }

    private mutating func callStatement() throws -> JinjaNode {
        let callerParams = isOp("(") ? try parameters() : []
        let call = try expression()
        guard case .call = call else { throw error("{% call %} needs a macro call") }
        try endTag()
        let (body, _) = try nodes(until: ["endcall"])
        try endTag()
        return .callBlock(call, callerParameters: callerParams, body: body)
    }

    /// `name(args) | name2 ...` for filter blocks and `set x | f`.
    private mutating func filterChain(first: Bool) throws -> [(String, [JinjaExpr], [(String, JinjaExpr)])] {
        var out: [(String, [JinjaExpr], [(String, JinjaExpr)])] = []
        if !first { try expectOp("|") }
        repeat {
            let name = try dottedName()
            let (args, kwargs) = isOp("(") ? try callArguments() : ([], [])
            out.append((name, args, kwargs))
        } while skipOp("|")
        return out
    }

    private mutating func dottedName() throws -> String {
        var name = try identifier()
        while skipOp(".") { name += "." + (try identifier()) }
        return name
    }

    // MARK: expressions

    mutating func expression(allowConditional: Bool = true) throws -> JinjaExpr {
        try enter()
        defer { depth -= 1 }
        let e = try orExpr()
        guard allowConditional, skipName("if") else { return e }
        let condition = try orExpr()
        let otherwise = skipName("else") ? try expression() : nil
        return .conditional(condition, then: e, otherwise: otherwise)
    }

    private mutating func orExpr() throws -> JinjaExpr {
        var e = try andExpr()
        while skipName("or") { e = .or(e, try andExpr()) }
        return e
    }

    private mutating func andExpr() throws -> JinjaExpr {
        var e = try notExpr()
        while skipName("and") { e = .and(e, try notExpr()) }
        return e
    }

    private mutating func notExpr() throws -> JinjaExpr {
        if skipName("not") {
            try enter()
            defer { depth -= 1 }
            return .not(try notExpr())
        }
        return try compare()
    }

    private mutating func compare() throws -> JinjaExpr {
        var e = try math1()
        while true {
            if case .op(let o)? = current, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                pos += 1
                e = .binary(o, e, try math1())
            } else if skipName("in") {
                e = .binary("in", e, try math1())
            } else if isName("not"), peekName(1) == "in" {
                pos += 2
                e = .binary("not in", e, try math1())
            } else {
                return e
            }
        }
    }

    private mutating func math1() throws -> JinjaExpr {
        var e = try concat()
        while case .op(let o)? = current, o == "+" || o == "-" {
            pos += 1
            e = .binary(o, e, try concat())
        }
        return e
    }

    private mutating func concat() throws -> JinjaExpr {
        var e = try math2()
        while skipOp("~") { e = .binary("~", e, try math2()) }
        return e
    }

    private mutating func math2() throws -> JinjaExpr {
        var e = try power()
        while case .op(let o)? = current, ["*", "/", "//", "%"].contains(o) {
            pos += 1
            e = .binary(o, e, try power())
        }
        return e
    }

    private mutating func power() throws -> JinjaExpr {
        var e = try unary()
        while skipOp("**") { e = .binary("**", e, try unary()) }
        return e
    }

    private mutating func unary() throws -> JinjaExpr {
        try enter()
        defer { depth -= 1 }
        if skipOp("-") { return try postfixAndFilters(.negate(try unary(withFilters: false))) }
        if skipOp("+") { return try postfixAndFilters(try unary(withFilters: false)) }
        return try postfixAndFilters(try postfix(try primary()))
    }

    private mutating func unary(withFilters: Bool) throws -> JinjaExpr {
        try enter()
        defer { depth -= 1 }
        if skipOp("-") { return .negate(try unary(withFilters: false)) }
        if skipOp("+") { return try unary(withFilters: false) }
        return try postfix(try primary())
    }

    private mutating func primary() throws -> JinjaExpr {
        guard let t = current else { throw error("unexpected end of template in an expression") }
        pos += 1
        switch t {
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .string(var s):
            // Adjacent string literals concatenate, as in Python.
            while case .string(let more)? = current { s += more; pos += 1 }
            return .literal(.string(s))
        case .integer(let i): return .literal(.int(i))
        case .float(let d): return .literal(.float(d))
        case .op("("):
            if skipOp(")") { return .tuple([]) }
            let e = try expression()
            if isOp(",") {
                var items = [e]
                while skipOp(",") {
                    if isOp(")") { break }
                    items.append(try expression())
                }
                try expectOp(")")
                return .tuple(items)
            }
            try expectOp(")")
            return e
        case .op("["):
            var items: [JinjaExpr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try expression())
            }
            try expectOp("]")
            return .list(items)
        case .op("{"):
            var pairs: [(JinjaExpr, JinjaExpr)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let k = try expression()
                try expectOp(":")
                pairs.append((k, try expression()))
            }
            try expectOp("}")
            return .dict(pairs)
        default:
            pos -= 1
            throw error("unexpected token in an expression\(describeCurrent)")
        }
    }

    private mutating func postfix(_ base: JinjaExpr) throws -> JinjaExpr {
        var e = base
        var steps = 0
        while true {
            steps += 1
            guard steps <= 10_000 else { throw error("expression too long") }
            if skipOp(".") {
                if case .integer(let i)? = current { pos += 1; e = .item(e, .literal(.int(i))); continue }
                e = .attribute(e, try identifier())
            } else if skipOp("[") {
                e = try subscriptOrSlice(e)
            } else if isOp("(") {
                let (args, kwargs) = try callArguments()
                e = .call(e, args, kwargs)
            } else {
                return e
            }
        }
    }

    private mutating func subscriptOrSlice(_ base: JinjaExpr) throws -> JinjaExpr {
        var parts: [JinjaExpr?] = []
        var current: JinjaExpr? = nil
        var isSlice = false
        while !isOp("]") {
            if skipOp(":") {
                isSlice = true
                parts.append(current)
                current = nil
                continue
            }
            guard current == nil else { throw error("expected ':' or ']'\(describeCurrent)") }
            current = try expression()
        }
        try expectOp("]")
        parts.append(current)
        if !isSlice {
            guard let index = parts[0] else { throw error("empty subscript") }
            return .item(base, index)
        }
        guard parts.count <= 3 else { throw error("a slice takes at most start:stop:step") }
        while parts.count < 3 { parts.append(nil) }
        return .slice(base, parts[0], parts[1], parts[2])
    }

    private mutating func callArguments() throws -> ([JinjaExpr], [(String, JinjaExpr)]) {
        try expectOp("(")
        var args: [JinjaExpr] = []
        var kwargs: [(String, JinjaExpr)] = []
        while !isOp(")") {
            if !args.isEmpty || !kwargs.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            if case .name(let n)? = current, pos + 1 < tokens.count, tokens[pos + 1].token == .op("=") {
                pos += 2
                kwargs.append((n, try expression()))
            } else {
                guard kwargs.isEmpty else { throw error("positional argument after a keyword argument") }
                args.append(try expression())
            }
        }
        try expectOp(")")
        return (args, kwargs)
    }

    private mutating func postfixAndFilters(_ base: JinjaExpr) throws -> JinjaExpr {
        var e = base
        var steps = 0
        while true {
            steps += 1
            guard steps <= 10_000 else { throw error("expression too long") }
            if skipOp("|") {
                let name = try dottedName()
                let (args, kwargs) = isOp("(") ? try callArguments() : ([], [])
                e = try postfix(.filter(e, name, args, kwargs))
            } else if skipName("is") {
                let negated = skipName("not")
                let name = try dottedName()
                var args: [JinjaExpr] = []
                if isOp("(") {
                    let (a, kw) = try callArguments()
                    args = a + kw.map(\.1)
                } else if let t = current, startsTestArgument(t) {
                    args = [try postfix(try primary())]
                }
                e = .test(e, name, args, negated: negated)
            } else {
                return e
            }
        }
    }

    /// jinja2 lets a test take one argument without parentheses: `x is divisibleby 3`.
    private func startsTestArgument(_ t: JinjaToken) -> Bool {
        switch t {
        case .name(let n): return !["else", "or", "and", "if", "in", "not", "is"].contains(n)
        case .string, .integer, .float: return true
        case .op(let o): return o == "[" || o == "{"
        default: return false
        }
    }
}
