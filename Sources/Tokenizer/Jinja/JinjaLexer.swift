/// A template error: syntax, a failed `raise_exception`, a type error while rendering or a
/// limit reached. The message says which.
public struct JinjaError: Error, CustomStringConvertible, Sendable {
    public let message: String
    /// True for `raise_exception(...)` in the template: the template refused the input.
    public let raisedByTemplate: Bool
    public init(_ message: String, raisedByTemplate: Bool = false) {
        self.message = message
        self.raisedByTemplate = raisedByTemplate
    }
    public var description: String { message }
}

enum JinjaToken: Equatable {
    case text(String)
    case variableBegin, variableEnd, blockBegin, blockEnd
    case name(String)
    case string(String)
    case integer(Int)
    case float(Double)
    case op(String)
}

struct LexedToken {
    let token: JinjaToken
    let line: Int
}

/// jinja2's lexer with `trim_blocks` and `lstrip_blocks` on (as transformers renders chat
/// templates) and `keep_trailing_newline` off; `{%-`/`-%}` strip whitespace, `+` keeps it.
struct JinjaLexer {
    private let s: [Unicode.Scalar]
    private var pos = 0
    private var line = 1
    private var tokens: [LexedToken] = []
    private var lineStarting = true

    static let maxTokens = 2_000_000

    init(_ source: String) {
        // jinja2 normalises \r\n and \r to \n and drops one trailing newline.
        var text = source.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        if text.hasSuffix("\n") { text.removeLast() }
        s = Array(text.unicodeScalars)
    }

    static func tokenize(_ source: String) throws -> [LexedToken] {
        var lexer = JinjaLexer(source)
        try lexer.run()
        return lexer.tokens
    }

    private func at(_ i: Int, _ lit: String) -> Bool {
        var j = i
        for u in lit.unicodeScalars {
            guard j < s.count, s[j] == u else { return false }
            j += 1
        }
        return true
    }

    private mutating func emit(_ t: JinjaToken) throws {
        tokens.append(LexedToken(token: t, line: line))
        guard tokens.count <= Self.maxTokens else { throw JinjaError("template too large (over \(Self.maxTokens) tokens)") }
    }

    private func string(_ a: Int, _ b: Int) -> String {
        var v = String.UnicodeScalarView()
        v.append(contentsOf: s[a..<b])
        return String(v)
    }

    private mutating func run() throws {
        while pos < s.count {
            // Find the next tag opener.
            var i = pos
            var kind: Character = " "
            while i + 1 < s.count {
                if s[i] == "{", s[i + 1] == "{" || s[i + 1] == "%" || s[i + 1] == "#" {
                    kind = Character(s[i + 1])
                    break
                }
                i += 1
            }
            if kind == " " {
                try emitText(string(pos, s.count))
                pos = s.count
                break
            }
            let sign: Unicode.Scalar? = i + 2 < s.count && (s[i + 2] == "-" || s[i + 2] == "+") ? s[i + 2] : nil
            var text = string(pos, i)
            if sign == "-" {
                text = PythonString.strip(text, chars: nil, leading: false, trailing: true)
            } else if sign != "+" && kind != "{" {
                text = lstripped(text)
            }
            line += string(pos, i).filter { $0 == "\n" }.count
            try emitText(text)
            pos = i + 2 + (sign == nil ? 0 : 1)
            switch kind {
            case "#": try comment()
            case "%":
                if try rawBlock() { continue }
                try emit(.blockBegin)
                try expressionTokens(block: true)
            default:
                try emit(.variableBegin)
                try expressionTokens(block: false)
            }
        }
    }

    private mutating func emitText(_ text: String) throws {
        if !text.isEmpty { try emit(.text(text)) }
    }

    /// lstrip_blocks: spaces and tabs between a line start and a block or comment tag go.
    private func lstripped(_ text: String) -> String {
        let u = Array(text.unicodeScalars)
        let lastNewline = u.lastIndex(of: "\n")
        let lineStart = lastNewline.map { $0 + 1 } ?? 0
        guard lastNewline != nil || lineStarting, lineStart < u.count,
              u[lineStart...].allSatisfy({ PythonString.isSpace($0) }) else { return text }
        var v = String.UnicodeScalarView()
        v.append(contentsOf: u[..<lineStart])
        return String(v)
    }

    /// After a block or comment end: `-` strips all following whitespace, `+` none, plain
    /// strips one newline (trim_blocks).
    private mutating func afterBlockEnd(minus: Bool, plus: Bool) {
        let start = pos
        if minus {
            while pos < s.count, PythonString.isSpace(s[pos]) { pos += 1 }
        } else if !plus, pos < s.count, s[pos] == "\n" {
            pos += 1
        }
        line += s[start..<pos].filter { $0 == "\n" }.count
        lineStarting = pos > 0 && s[pos - 1] == "\n"
    }

    private mutating func comment() throws {
        var i = pos
        while i + 1 < s.count, !(s[i] == "#" && s[i + 1] == "}") { i += 1 }
        guard i + 1 < s.count else { throw JinjaError("line \(line): missing end of comment tag") }
        let minus = i > pos && s[i - 1] == "-"
        let plus = i > pos && s[i - 1] == "+"
        line += s[pos..<i].filter { $0 == "\n" }.count
        pos = i + 2
        afterBlockEnd(minus: minus, plus: plus)
    }

    /// `{% raw %}...{% endraw %}`: the body is text, untouched.
    private mutating func rawBlock() throws -> Bool {
        var i = pos
        while i < s.count, PythonString.isSpace(s[i]) { i += 1 }
        guard at(i, "raw") else { return false }
        i += 3
        while i < s.count, PythonString.isSpace(s[i]) { i += 1 }
        var minus = false
        if at(i, "-%}") { minus = true; i += 3 } else if at(i, "%}") { i += 2 } else { return false }
        pos = i
        afterBlockEnd(minus: minus, plus: false)
        var j = pos
        while j < s.count {
            if at(j, "{%") {
                var k = j + 2
                let sign: Unicode.Scalar? = k < s.count && (s[k] == "-" || s[k] == "+") ? s[k] : nil
                if sign != nil { k += 1 }
                while k < s.count, PythonString.isSpace(s[k]) { k += 1 }
                if at(k, "endraw") {
                    k += 6
                    while k < s.count, PythonString.isSpace(s[k]) { k += 1 }
                    var endMinus = false, endPlus = false
                    if at(k, "-%}") { endMinus = true; k += 3 } else if at(k, "+%}") { endPlus = true; k += 3 } else if at(k, "%}") { k += 2 } else { j += 1; continue }
                    var body = string(pos, j)
                    if sign == "-" { body = PythonString.strip(body, chars: nil, leading: false, trailing: true) } else if sign != "+" { body = lstripped(body) }
                    line += string(pos, j).filter { $0 == "\n" }.count
                    try emitText(body)
                    pos = k
                    afterBlockEnd(minus: endMinus, plus: endPlus)
                    return true
                }
            }
            j += 1
        }
        throw JinjaError("line \(line): missing end of raw directive")
    }

    private static let operators = ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")",
                                    "{", "}", "<", ">", "=", ".", ":", "|", ",", ";"]

    private mutating func expressionTokens(block: Bool) throws {
        var balance: [Unicode.Scalar] = []
        while true {
            guard pos < s.count else { throw JinjaError("line \(line): unexpected end of template, expected '\(block ? "%}" : "}}")'") }
            if balance.isEmpty {
                if block {
                    if at(pos, "-%}") { pos += 3; try emit(.blockEnd); afterBlockEnd(minus: true, plus: false); return }
                    if at(pos, "+%}") { pos += 3; try emit(.blockEnd); afterBlockEnd(minus: false, plus: true); return }
                    if at(pos, "%}") { pos += 2; try emit(.blockEnd); afterBlockEnd(minus: false, plus: false); return }
                } else {
                    if at(pos, "-}}") {
                        pos += 3
                        try emit(.variableEnd)
                        afterBlockEnd(minus: true, plus: false)
                        return
                    }
                    if at(pos, "}}") { pos += 2; try emit(.variableEnd); lineStarting = false; return }
                }
            }
            let c = s[pos]
            if PythonString.isSpace(c) {
                if c == "\n" { line += 1 }
                pos += 1
                continue
            }
            if c == "_" || c.properties.isAlphabetic && c.isASCII {
                let start = pos
                while pos < s.count, s[pos] == "_" || (s[pos].isASCII && (s[pos].properties.isAlphabetic || s[pos].properties.numericType != nil)) { pos += 1 }
                try emit(.name(string(start, pos)))
                continue
            }
            if c.isASCII, c.properties.numericType != nil {
                try number()
                continue
            }
            if c == "'" || c == "\"" {
                try stringLiteral(quote: c)
                continue
            }
            guard let op = Self.operators.first(where: { at(pos, $0) }) else {
                throw JinjaError("line \(line): unexpected character '\(Character(c))'")
            }
            pos += op.unicodeScalars.count
            switch op {
            case "(": balance.append(")")
            case "[": balance.append("]")
            case "{": balance.append("}")
            case ")", "]", "}":
                guard let expected = balance.popLast(), String(expected) == op else {
                    throw JinjaError("line \(line): unexpected '\(op)'")
                }
            default: break
            }
            try emit(.op(op))
        }
    }

    private func isDigit(_ i: Int) -> Bool { i < s.count && s[i].isASCII && s[i].properties.numericType != nil }

    private mutating func digits() -> String {
        var out = ""
        while pos < s.count, isDigit(pos) || (s[pos] == "_" && isDigit(pos + 1)) {
            if s[pos] != "_" { out.unicodeScalars.append(s[pos]) }
            pos += 1
        }
        return out
    }

    private mutating func number() throws {
        var text = digits()
        var isFloat = false
        if pos < s.count, s[pos] == ".", isDigit(pos + 1) {
            pos += 1
            text += "." + digits()
            isFloat = true
        }
        if pos < s.count, s[pos] == "e" || s[pos] == "E" {
            var j = pos + 1
            if j < s.count, s[j] == "+" || s[j] == "-" { j += 1 }
            if isDigit(j) {
                let sign = s[pos + 1] == "-" ? "-" : ""
                pos = j
                text += "e" + sign + digits()
                isFloat = true
            }
        }
        if isFloat {
            guard let d = Double(text) else { throw JinjaError("line \(line): invalid number \(text)") }
            try emit(.float(d))
        } else {
            guard let i = Int(text) else { throw JinjaError("line \(line): integer literal \(text) too large") }
            try emit(.integer(i))
        }
    }

    /// A quoted literal with Python's escapes (jinja2 decodes them with "unicode-escape").
    private mutating func stringLiteral(quote: Unicode.Scalar) throws {
        let startLine = line
        pos += 1
        var out = String.UnicodeScalarView()
        while pos < s.count {
            let c = s[pos]
            pos += 1
            if c == quote { try emit(.string(String(out))); return }
            if c == "\n" { line += 1 }
            guard c == "\\", pos < s.count else { out.append(c); continue }
            let e = s[pos]
            pos += 1
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "0": out.append("\u{00}")
            case "\n": line += 1
            case "x", "u", "U":
                let n = e == "x" ? 2 : e == "u" ? 4 : 8
                guard pos + n <= s.count, let v = UInt32(string(pos, pos + n), radix: 16), let u = Unicode.Scalar(v) else {
                    throw JinjaError("line \(line): invalid \\\(e) escape in string")
                }
                out.append(u)
                pos += n
            default:
                out.append("\\")
                out.append(e)
            }
        }
        throw JinjaError("line \(startLine): unterminated string")
    }
}
