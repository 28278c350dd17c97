import Foundation

extension JinjaValue {
    /// Converts a value from `JSONSerialization` (objects keep the key order given in `order`
    /// when known; Foundation dictionaries are unordered, so keys are sorted otherwise).
    public init(json: Any) {
        switch json {
        case is NSNull: self = .none
        case let s as String: self = .string(s)
        case let n as NSNumber:
            // JSON booleans and numbers both bridge to NSNumber: tell them apart by type.
            if "\(type(of: json))".contains("Bool") {
                self = .bool(n.boolValue)
            } else if let i = json as? Int, !String(cString: n.objCType).contains("d"), !String(cString: n.objCType).contains("f") {
                self = .int(i)
            } else {
                self = .float(n.doubleValue)
            }
        case let a as [Any]: self = .array(a.map { JinjaValue(json: $0) })
        case let o as [String: Any]:
            let d = JinjaDict()
            for k in o.keys.sorted() { d[k] = JinjaValue(json: o[k]!) }
            self = .dict(d)
        default: self = .string("\(json)")
        }
    }

    /// Parses JSON text keeping object key order, as Python's json.loads does; templates
    /// that print `tools|tojson` must see the keys in the order the client sent them.
    public static func parseJSON(_ text: String, maxDepth: Int = 128) throws -> JinjaValue {
        var p = OrderedJSONParser(Array(text.utf8), maxDepth: maxDepth)
        return try p.parseDocument()
    }

    /// Compact JSON text (`json.dumps(x, separators=(",", ":"), ensure_ascii=False)`), keys in order.
    public func compactJSON() throws -> String {
        try PythonJSON(indent: nil, separators: (",", ":")).dump(self)
    }
}

/// Python's `json.dumps(x, ensure_ascii=False, indent=..., separators=..., sort_keys=...)`,
/// the `tojson` that transformers and llama.cpp give chat templates.
struct PythonJSON {
    var indent: String?
    var itemSeparator: String
    var keySeparator: String
    var sortKeys = false

    init(indent: String?, separators: (String, String)? = nil, sortKeys: Bool = false) {
        self.indent = indent
        itemSeparator = separators?.0 ?? (indent == nil ? ", " : ",")
        keySeparator = separators?.1 ?? ": "
        self.sortKeys = sortKeys
    }

    func dump(_ v: JinjaValue) throws -> String {
        var out = ""
        try write(v, level: 0, into: &out)
        return out
    }

    private func write(_ v: JinjaValue, level: Int, into out: inout String) throws {
        guard level < 256 else { throw JinjaError("tojson: value nested too deeply") }
        switch v {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .float(let d):
            if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" } else { out += PythonFloat.repr(d) }
        case .string(let s): Self.quote(s, into: &out)
        case .list(let l):
            try container(l.items.map { ($0, nil) }, open: "[", close: "]", level: level, into: &out)
        case .dict(let d), .namespace(let d):
            var pairs = d.pairs
            if sortKeys { pairs.sort { JinjaOrdering.less($0.key.value, $1.key.value) ?? false } }
            try container(pairs.map { ($0.value, $0.key.value) }, open: "{", close: "}", level: level, into: &out)
        case .undefined: throw JinjaError("tojson: Object of type Undefined is not JSON serializable")
        case .callable(let c): throw JinjaError("tojson: Object of type function (\(c.name)) is not JSON serializable")
        }
    }

    private func container(_ items: [(JinjaValue, JinjaValue?)], open: String, close: String, level: Int, into out: inout String) throws {
        if items.isEmpty { out += open + close; return }
        out += open
        let nl = indent.map { "\n" + String(repeating: $0, count: level + 1) }
        for (i, (value, key)) in items.enumerated() {
            if i > 0 { out += itemSeparator }
            if let nl { out += nl }
            if let key {
                switch key {
                case .string(let s): Self.quote(s, into: &out)
                case .none: out += "\"null\""
                case .bool(let b): out += b ? "\"true\"" : "\"false\""
                default: out += "\"\(key.text)\""
                }
                out += keySeparator
            }
            try write(value, level: level + 1, into: &out)
        }
        if let indent { out += "\n" + String(repeating: indent, count: level) }
        out += close
    }

    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        out += "\""
    }
}

/// A small JSON parser that keeps object key order and tells ints from floats, with a depth bound.
struct OrderedJSONParser {
    let bytes: [UInt8]
    var pos = 0
    let maxDepth: Int

    init(_ bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws -> JinjaValue {
        let v = try value(depth: 0)
        skipSpace()
        guard pos == bytes.count else { throw JinjaError("JSON: trailing characters at offset \(pos)") }
        return v
    }

    mutating func skipSpace() {
        while pos < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[pos]) { pos += 1 }
    }

    mutating func value(depth: Int) throws -> JinjaValue {
        guard depth < maxDepth else { throw JinjaError("JSON: nested deeper than \(maxDepth)") }
        skipSpace()
        guard pos < bytes.count else { throw JinjaError("JSON: unexpected end of input") }
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            pos += 1
            let d = JinjaDict()
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .dict(d) }
            while true {
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw JinjaError("JSON: expected a key at offset \(pos)") }
                let key = try string()
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw JinjaError("JSON: expected ':' at offset \(pos)") }
                pos += 1
                d[key] = try value(depth: depth + 1)
                skipSpace()
                guard pos < bytes.count else { throw JinjaError("JSON: unexpected end of input") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .dict(d) }
                throw JinjaError("JSON: expected ',' or '}' at offset \(pos)")
            }
        case UInt8(ascii: "["):
            pos += 1
            var items: [JinjaValue] = []
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard pos < bytes.count else { throw JinjaError("JSON: unexpected end of input") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                throw JinjaError("JSON: expected ',' or ']' at offset \(pos)")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .none
        default: return try number()
        }
    }

    mutating func literal(_ word: String) throws {
        let w = Array(word.utf8)
        guard pos + w.count <= bytes.count, Array(bytes[pos..<pos + w.count]) == w else {
            throw JinjaError("JSON: invalid literal at offset \(pos)")
        }
        pos += w.count
    }

    mutating func number() throws -> JinjaValue {
        let start = pos
        var isFloat = false
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        while pos < bytes.count {
            let c = bytes[pos]
            if c >= 0x30 && c <= 0x39 { pos += 1 } else if [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-")].contains(c) {
                isFloat = true
                pos += 1
            } else { break }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if !isFloat, let i = Int(text) { return .int(i) }
        guard !text.isEmpty, text != "-", let d = Double(text) else { throw JinjaError("JSON: invalid value at offset \(start)") }
        return .float(d)
    }

    mutating func string() throws -> String {
        pos += 1  // opening quote
        var out = [UInt8]()
        while pos < bytes.count {
            let c = bytes[pos]
            pos += 1
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            if c != UInt8(ascii: "\\") { out.append(c); continue }
            guard pos < bytes.count else { break }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") {
                    pos += 2
                    let low = try hex4()
                    if (0xDC00..<0xE000).contains(low) { code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00) }
                }
                out.append(contentsOf: Array(String(Unicode.Scalar(code).map { Character($0) } ?? "\u{FFFD}").utf8))
            default: out.append(e)
            }
        }
        throw JinjaError("JSON: unterminated string")
    }

    mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[pos..<pos + 4], as: UTF8.self), radix: 16) else {
            throw JinjaError("JSON: invalid \\u escape at offset \(pos)")
        }
        pos += 4
        return v
    }
}
