/// The fixed GBNF pieces of llama.cpp's json-schema-to-grammar: whitespace, primitives, string
/// formats, and the helpers that build literals, repetitions and integer ranges.
enum JSONSchemaRules {
    static let space = #"| " " | "\n"{1,2} [ \t]{0,20}"#

    /// name -> (body, rules it uses).
    static let primitives: [String: (String, [String])] = [
        "boolean": (#"("true" | "false")"#, []),
        "decimal-part": ("[0-9]{1,16}", []),
        "integral-part": ("[0] | [1-9] [0-9]{0,15}", []),
        "number": (#"("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)?"#, ["integral-part", "decimal-part"]),
        "integer": (#"("-"? integral-part)"#, ["integral-part"]),
        "value": ("object | array | string | number | boolean | null", ["object", "array", "string", "number", "boolean", "null"]),
        "object": (#""{" space ( string ":" space value ("," space string ":" space value)* )? space "}""#, ["string", "value"]),
        "array": (#""[" space ( value ("," space value)* )? space "]""#, ["value"]),
        "uuid": (#""\"" [0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12} "\"""#, []),
        "char": (#"[^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4})"#, []),
        "string": (#""\"" char* "\"""#, ["char"]),
        "null": (#""null""#, []),
        "date": (#"[0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | [1-2] [0-9] | "3" [0-1] )"#, []),
        "time": (#"([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{3} )? ( "Z" | ( "+" | "-" ) ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )"#, []),
        "date-time": (#"date "T" time"#, ["date", "time"]),
        "date-string": (#""\"" date "\"""#, ["date"]),
        "time-string": (#""\"" time "\"""#, ["time"]),
        "date-time-string": (#""\"" date-time "\"""#, ["date-time"]),
    ]

    static let reservedNames: Set<String> = Set(primitives.keys).union(["root", "space"])

    /// A GBNF string literal for `text`.
    static func literal(_ text: String) -> String {
        var out = "\""
        for ch in text.unicodeScalars {
            switch ch {
            case "\r": out += "\\r"
            case "\n": out += "\\n"
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }

    /// llama.cpp's build_repetition: `item` min...max times (nil: unbounded), with `separator`.
    static func repetition(_ item: String, min: Int, max: Int?, separator: String = "") -> String {
        if max == 0 { return "" }
        if min == 0 && max == 1 { return item + "?" }
        guard !separator.isEmpty else {
            if max == nil && min == 1 { return item + "+" }
            if max == nil && min == 0 { return item + "*" }
            return item + "{\(min)," + (max.map(String.init) ?? "") + "}"
        }
        let rest = repetition("(" + separator + " " + item + ")", min: min == 0 ? 0 : min - 1, max: max.map { $0 - 1 })
        let result = item + " " + rest
        return min == 0 ? "(" + result + ")?" : result
    }

    // MARK: Integer ranges

    /// Most digits an unbounded integer may have, as llama.cpp's integral-part allows.
    static let maxDigits = 16

    /// Integers in min...max (either may be open), as a GBNF alternation without leading zeros.
    static func integerRange(min: Int64?, max: Int64?) -> String {
        switch (min, max) {
        case let (lo?, hi?) where hi < 0:
            return #""-" ("# + naturals(UInt64(-(hi + 1)) + 1, UInt64(-(lo + 1)) + 1) + ")"
        case let (lo?, hi?) where lo < 0:
            return #""-" ("# + naturals(1, UInt64(-(lo + 1)) + 1) + ") | " + naturals(0, UInt64(hi))
        case let (lo?, hi?):
            return naturals(UInt64(lo), UInt64(hi))
        case let (lo?, nil) where lo < 0:
            return #""-" ("# + naturals(1, UInt64(-(lo + 1)) + 1) + ") | " + naturals(0, nil)
        case let (lo?, nil):
            return naturals(UInt64(lo), nil)
        case let (nil, hi?) where hi < 0:
            return #""-" ("# + naturals(UInt64(-(hi + 1)) + 1, nil) + ")"
        case let (nil, hi?):
            return #""-" ("# + naturals(1, nil) + ") | " + naturals(0, UInt64(hi))
        case (nil, nil):
            return #""-"? ("# + naturals(0, nil) + ")"
        }
    }

    /// Naturals in lo...hi (hi nil: up to `maxDigits` digits), split by digit count.
    static func naturals(_ lo: UInt64, _ hi: UInt64?) -> String {
        let loDigits = String(lo).count
        let hiDigits = hi.map { String($0).count } ?? Swift.max(loDigits, maxDigits)
        var parts: [String] = []
        guard loDigits <= hiDigits else { return #""""# }
        for d in loDigits...hiDigits {
            let first = d == loDigits ? String(lo) : "1" + String(repeating: "0", count: d - 1)
            let last = d == hiDigits && hi != nil ? String(hi!) : String(repeating: "9", count: d)
            if first.count == last.count && first <= last { parts.append(sameLength(Array(first.utf8), Array(last.utf8))) }
        }
        return parts.isEmpty ? #""""# : parts.joined(separator: " | ")
    }

    /// Digit strings of one length between `a` and `b` inclusive (a <= b, inner zeros allowed).
    private static func sameLength(_ a: [UInt8], _ b: [UInt8]) -> String {
        var i = 0
        while i < a.count && a[i] == b[i] { i += 1 }
        let prefix = i > 0 ? "\"" + String(decoding: a[..<i], as: UTF8.self) + "\"" : ""
        if i == a.count { return prefix }
        func join(_ parts: [String]) -> String { parts.filter { !$0.isEmpty }.joined(separator: " ") }
        func digits(_ from: UInt8, _ to: UInt8) -> String { from == to ? "[\(Character(UnicodeScalar(from)))]" : "[\(Character(UnicodeScalar(from)))-\(Character(UnicodeScalar(to)))]" }
        let rest = a.count - i - 1
        let any = rest == 0 ? "" : rest == 1 ? "[0-9]" : "[0-9]{\(rest)}"
        let aRest = Array(a[(i + 1)...]), bRest = Array(b[(i + 1)...])
        let aZeros = aRest.allSatisfy { $0 == 0x30 }, bNines = bRest.allSatisfy { $0 == 0x39 }
        var alts: [String] = []
        var low = a[i], high = b[i]
        if !aZeros {
            alts.append(join([digits(a[i], a[i]), "(" + sameLength(aRest, [UInt8](repeating: 0x39, count: rest)) + ")"]))
            low += 1
        }
        var highAlt: String?
        if !bNines {
            highAlt = join([digits(b[i], b[i]), "(" + sameLength([UInt8](repeating: 0x30, count: rest), bRest) + ")"])
            high -= 1
        }
        if low <= high { alts.append(join([digits(low, high), any])) }
        if let highAlt { alts.append(highAlt) }
        return join([prefix, "(" + alts.joined(separator: " | ") + ")"])
    }
}
