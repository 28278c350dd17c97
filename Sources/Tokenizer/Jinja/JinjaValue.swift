import Foundation

/// A value inside a Jinja template, with Python's semantics where templates rely on them
/// (truthiness, equality, `str()` and `repr()` output), since chat templates are written for
/// Python's jinja2.
public enum JinjaValue: @unchecked Sendable {
    /// jinja2's default Undefined: prints empty, is falsy, iterates as empty; the name is kept
    /// for error messages.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case list(JinjaList)
    case dict(JinjaDict)
    case namespace(JinjaDict)
    case callable(JinjaCallable)

    public static func array(_ items: [JinjaValue]) -> JinjaValue { .list(JinjaList(items)) }
    public static func object(_ pairs: [(String, JinjaValue)]) -> JinjaValue {
        let d = JinjaDict()
        for (k, v) in pairs { d[.string(k)] = v }
        return .dict(d)
    }

    public var isUndefined: Bool { if case .undefined = self { return true } else { return false } }
    public var isNone: Bool { if case .none = self { return true } else { return false } }

    var typeName: String {
        switch self {
        case .undefined: "undefined"
        case .none: "NoneType"
        case .bool: "bool"
        case .int: "int"
        case .float: "float"
        case .string: "str"
        case .list(let l): l.isTuple ? "tuple" : "list"
        case .dict: "dict"
        case .namespace: "Namespace"
        case .callable: "function"
        }
    }

    /// Python truthiness.
    public var truthy: Bool {
        switch self {
        case .undefined, .none: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .float(let d): d != 0
        case .string(let s): !s.isEmpty
        case .list(let l): !l.items.isEmpty
        case .dict(let d): d.count > 0
        case .namespace, .callable: true
        }
    }

    /// The value as a number for arithmetic (bool counts as int, as in Python).
    var number: Double? {
        switch self {
        case .int(let i): Double(i)
        case .float(let d): d
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    var integer: Int? {
        switch self {
        case .int(let i): i
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    /// Python's `str()`; Undefined prints as the empty string.
    public var text: String {
        switch self {
        case .undefined: ""
        case .string(let s): s
        default: repr
        }
    }

    /// Python's `repr()`, used when a container is printed.
    var repr: String {
        return switch self {
        case .undefined: ""
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): String(i)
        case .float(let d): PythonFloat.repr(d)
        case .string(let s): PythonString.repr(s)
        case .list(let l):
            l.isTuple ? (l.items.count == 1 ? "(\(l.items[0].repr),)" : "(\(Self.reprJoined(l.items)))") : "[\(Self.reprJoined(l.items))]"
        case .dict(let d):
            "{" + d.pairs.map { "\($0.key.value.repr): \($0.value.repr)" }.joined(separator: ", ") + "}"
        case .namespace(let d):
            "<Namespace {" + d.pairs.map { "\($0.key.value.repr): \($0.value.repr)" }.joined(separator: ", ") + "}>"
        case .callable(let c): "<function \(c.name)>"
        }
    }

    private static func reprJoined(_ items: [JinjaValue]) -> String { items.map(\.repr).joined(separator: ", ") }

    /// Python `==` (1 == 1.0 == True; containers compare element-wise; Undefined equals only Undefined).
    public static func equal(_ a: JinjaValue, _ b: JinjaValue) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let x), .string(let y)): return x == y
        case (.list(let x), .list(let y)):
            return x.items.count == y.items.count && zip(x.items, y.items).allSatisfy { equal($0, $1) }
        case (.dict(let x), .dict(let y)):
            guard x.count == y.count else { return false }
            return x.pairs.allSatisfy { p in y[p.key].map { equal($0, p.value) } ?? false }
        case (.namespace(let x), .namespace(let y)): return x === y
        case (.callable(let x), .callable(let y)): return x === y
        default:
            if let x = a.number, let y = b.number { return x == y }
            return false
        }
    }
}

/// A list (or tuple) with reference semantics, as in Python, so `append` is seen by every holder.
public final class JinjaList {
    public var items: [JinjaValue]
    public let isTuple: Bool
    public init(_ items: [JinjaValue], isTuple: Bool = false) {
        self.items = items
        self.isTuple = isTuple
    }
}

/// Hashable dictionary keys: Python's str, int (bool and integral floats hash as ints) and None.
public struct JinjaKey: Hashable {
    enum Raw: Hashable { case string(String), int(Int), none }
    let raw: Raw
    public let value: JinjaValue

    public init?(_ v: JinjaValue) {
        switch v {
        case .string(let s): raw = .string(s)
        case .int(let i): raw = .int(i)
        case .bool(let b): raw = .int(b ? 1 : 0)
        case .float(let d) where d == d.rounded() && abs(d) < 1e18: raw = .int(Int(d))
        case .none: raw = .none
        default: return nil
        }
        value = v
    }

    public static func string(_ s: String) -> JinjaKey { JinjaKey(.string(s))! }
    public static func == (a: JinjaKey, b: JinjaKey) -> Bool { a.raw == b.raw }
    public func hash(into h: inout Hasher) { h.combine(raw) }
}

/// An insertion-ordered dictionary with reference semantics (Python's dict).
public final class JinjaDict {
    public private(set) var keys: [JinjaKey] = []
    private var storage: [JinjaKey: JinjaValue] = [:]

    public init() {}

    public var count: Int { keys.count }
    public var pairs: [(key: JinjaKey, value: JinjaValue)] { keys.map { ($0, storage[$0]!) } }

    public subscript(key: JinjaKey) -> JinjaValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public subscript(name: String) -> JinjaValue? {
        get { self[JinjaKey.string(name)] }
        set { self[JinjaKey.string(name)] = newValue }
    }

    func copy() -> JinjaDict {
        let d = JinjaDict()
        d.keys = keys
        d.storage = storage
        return d
    }
}

extension JinjaValue {
    /// Whether `container` is reachable from this value through lists, dicts and namespaces.
    /// Stores that would make a container hold itself are refused: with reference counting the
    /// cycle would outlive the render (a hostile template could leak memory per request).
    func reaches(_ container: AnyObject) -> Bool {
        var stack = [self]
        var seen = Set<ObjectIdentifier>()
        while let v = stack.popLast() {
            let object: AnyObject
            switch v {
            case .list(let l):
                object = l
                if object !== container, seen.insert(ObjectIdentifier(l)).inserted { stack += l.items }
            case .dict(let d), .namespace(let d):
                object = d
                if object !== container, seen.insert(ObjectIdentifier(d)).inserted { stack += d.pairs.map(\.value) }
            default: continue
            }
            if object === container { return true }
        }
        return false
    }
}

/// A global function, filter-like builtin or macro.
public final class JinjaCallable {
    public let name: String
    let body: (JinjaArguments) throws -> JinjaValue
    public init(_ name: String, _ body: @escaping (JinjaArguments) throws -> JinjaValue) {
        self.name = name
        self.body = body
    }
}

/// Call arguments: positional then keyword, as written.
public struct JinjaArguments {
    public var positional: [JinjaValue]
    public var keyword: [(String, JinjaValue)]

    public init(_ positional: [JinjaValue] = [], keyword: [(String, JinjaValue)] = []) {
        self.positional = positional
        self.keyword = keyword
    }

    /// The argument at `index` or named `name`, nil when not passed.
    func value(_ index: Int, _ name: String) -> JinjaValue? {
        if let kw = keyword.first(where: { $0.0 == name }) { return kw.1 }
        return index >= 0 && index < positional.count ? positional[index] : nil
    }
}

/// Python's float repr: the shortest round-trip digits, scientific when the exponent is
/// below -4 or at least 16.
enum PythonFloat {
    static func repr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description is also shortest round-trip; take its digits and exponent.
        var s = "\(abs(d))"
        var exp = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exp = Int(s[s.index(after: e)...]) ?? 0
            s = String(s[..<e])
        }
        var intPart = s, frac = ""
        if let dot = s.firstIndex(of: ".") {
            intPart = String(s[..<dot])
            frac = String(s[s.index(after: dot)...])
        }
        var digits = intPart + frac
        var pointPos = intPart.count + exp  // decimal point after this many digits
        let lead = digits.prefix { $0 == "0" }.count
        digits.removeFirst(lead)
        pointPos -= lead
        while digits.hasSuffix("0") { digits.removeLast() }
        if digits.isEmpty { digits = "0" }
        let decExp = pointPos - 1
        let sign = d < 0 ? "-" : ""
        if decExp < -4 || decExp >= 16 {
            let mant = digits.count > 1 ? "\(digits.first!).\(digits.dropFirst())" : digits
            let e = abs(decExp) < 10 ? "0\(abs(decExp))" : "\(abs(decExp))"
            return "\(sign)\(mant)e\(decExp < 0 ? "-" : "+")\(e)"
        }
        if pointPos <= 0 { return "\(sign)0.\(String(repeating: "0", count: -pointPos))\(digits)" }
        if pointPos >= digits.count { return "\(sign)\(digits)\(String(repeating: "0", count: pointPos - digits.count)).0" }
        let i = digits.index(digits.startIndex, offsetBy: pointPos)
        return "\(sign)\(digits[..<i]).\(digits[i...])"
    }
}

enum PythonString {
    /// Python's repr of a str: single quotes unless the text has ' and no ".
    static func repr(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(u) == quote { out += "\\\(quote)"; continue }
                if u.value < 0x20 || u.value == 0x7f { out += String(format: "\\x%02x", u.value); continue }
                out.unicodeScalars.append(u)
            }
        }
        out.append(quote)
        return out
    }

    /// Python's str.isspace characters (used by strip/split without arguments).
    static func isSpace(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x09...0x0d, 0x1c...0x20, 0x85, 0xa0, 0x1680, 0x2000...0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000: true
        default: false
        }
    }

    static func strip(_ s: String, chars: String?, leading: Bool, trailing: Bool) -> String {
        let set = chars.map { Set($0.unicodeScalars) }
        func strippable(_ u: Unicode.Scalar) -> Bool { set.map { $0.contains(u) } ?? isSpace(u) }
        let scalars = Array(s.unicodeScalars)
        var lo = 0, hi = scalars.count
        if leading { while lo < hi && strippable(scalars[lo]) { lo += 1 } }
        if trailing { while hi > lo && strippable(scalars[hi - 1]) { hi -= 1 } }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[lo..<hi])
        return String(out)
    }
}
