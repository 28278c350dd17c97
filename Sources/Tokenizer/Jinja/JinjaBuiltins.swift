import Foundation

/// The global functions, filters and tests that chat templates use, with jinja2's results.
public enum JinjaBuiltins {
    static func globals(_ interp: JinjaInterpreter) -> [String: JinjaValue] {
        var g: [String: JinjaValue] = [:]
        g["range"] = .callable(JinjaCallable("range") { args in
            let ints = try args.positional.map { v -> Int in
                guard let i = v.integer else { throw JinjaError("range() takes integers, not \(v.typeName)") }
                return i
            }
            let (start, stop, step): (Int, Int, Int)
            switch ints.count {
            case 1: (start, stop, step) = (0, ints[0], 1)
            case 2: (start, stop, step) = (ints[0], ints[1], 1)
            case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
            default: throw JinjaError("range() takes 1 to 3 arguments")
            }
            guard step != 0 else { throw JinjaError("range() step must not be zero") }
            let count = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
            guard count <= 1_000_000 else { throw JinjaError("range() of \(count) items is over the limit of 1000000") }
            return .array(stride(from: start, to: stop, by: step).map { .int($0) })
        })
        g["dict"] = .callable(JinjaCallable("dict") { args in
            let d = JinjaDict()
            if let first = args.positional.first, case .dict(let src) = first { for p in src.pairs { d[p.key] = p.value } }
            for (k, v) in args.keyword { d[k] = v }
            return .dict(d)
        })
        g["namespace"] = .callable(JinjaCallable("namespace") { args in
            let d = JinjaDict()
            if let first = args.positional.first, case .dict(let src) = first { for p in src.pairs { d[p.key] = p.value } }
            for (k, v) in args.keyword { d[k] = v }
            return .namespace(d)
        })
        g["raise_exception"] = .callable(JinjaCallable("raise_exception") { args in
            throw JinjaError(args.positional.first?.text ?? "raise_exception() called", raisedByTemplate: true)
        })
        let now = interp.now
        g["strftime_now"] = .callable(JinjaCallable("strftime_now") { args in
            guard case .string(let f)? = args.value(0, "format") else { throw JinjaError("strftime_now() takes a format string") }
            return .string(strftime(f, now))
        })
        return g
    }

    /// Python's `datetime.strftime` for the codes templates use, in UTC with the C locale.
    public static func strftime(_ format: String, _ date: Date) -> String {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        let (y, mo, d, h, mi, s, wd) = (c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!, c.weekday!)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        var out = ""
        var it = format.makeIterator()
        while let ch = it.next() {
            guard ch == "%", let code = it.next() else { out.append(ch); continue }
            switch code {
            case "Y": out += String(y)
            case "y": out += two(y % 100)
            case "m": out += two(mo)
            case "d": out += two(d)
            case "e": out += d < 10 ? " \(d)" : "\(d)"
            case "-": if let n = it.next() { out += n == "d" ? "\(d)" : n == "m" ? "\(mo)" : "%-\(n)" }
            case "B": out += months[mo - 1]
            case "b", "h": out += String(months[mo - 1].prefix(3))
            case "A": out += days[wd - 1]
            case "a": out += String(days[wd - 1].prefix(3))
            case "H": out += two(h)
            case "I": out += two(h % 12 == 0 ? 12 : h % 12)
            case "p": out += h < 12 ? "AM" : "PM"
            case "M": out += two(mi)
            case "S": out += two(s)
            case "j":
                let doy = cal.ordinality(of: .day, in: .year, for: date) ?? 1
                out += doy < 10 ? "00\(doy)" : doy < 100 ? "0\(doy)" : "\(doy)"
            case "%": out += "%"
            default: out += "%\(code)"
            }
        }
        return out
    }

    // MARK: filters

    static func filter(_ name: String, _ v: JinjaValue, _ args: JinjaArguments, _ interp: JinjaInterpreter) throws -> JinjaValue {
        switch name {
        case "default", "d":
            let useFalsy = args.value(1, "boolean")?.truthy ?? false
            if v.isUndefined || (useFalsy && !v.truthy) { return args.value(0, "default_value") ?? .string("") }
            return v
        case "trim":
            let chars: String? = if case .string(let c)? = args.value(0, "chars") { c } else { nil }
            return .string(PythonString.strip(v.text, chars: chars, leading: true, trailing: true))
        case "length", "count":
            switch v {
            case .string(let s): return .int(s.unicodeScalars.count)
            case .list(let l): return .int(l.items.count)
            case .dict(let d): return .int(d.count)
            case .undefined: return .int(0)
            default: throw JinjaError("object of type '\(v.typeName)' has no len()")
            }
        case "tojson":
            var indent: String?
            switch args.value(0, "indent") {
            case .int(let n)?: indent = String(repeating: " ", count: max(0, n))
            case .string(let s)?: indent = s
            default: indent = nil
            }
            var separators: (String, String)?
            if case .list(let l)? = args.value(-1, "separators"), l.items.count == 2 { separators = (l.items[0].text, l.items[1].text) }
            let sortKeys = args.value(-1, "sort_keys")?.truthy ?? false
            let s = try PythonJSON(indent: indent, separators: separators, sortKeys: sortKeys).dump(v)
            try interp.checkSize(s.utf8.count)
            return .string(s)
        case "upper": return .string(v.text.uppercased())
        case "lower": return .string(v.text.lowercased())
        case "capitalize": return .string(JinjaMethods.capitalize(v.text))
        case "title": return .string(jinjaTitle(v.text))
        case "replace":
            let count = args.value(2, "count")?.integer ?? -1
            return .string(JinjaMethods.replace(v.text, args.value(0, "old")?.text ?? "", args.value(1, "new")?.text ?? "", count: count))
        case "join":
            var items = try interp.iterate(v, what: "join")
            if let attr = args.value(1, "attribute") { items = try items.map { try attribute($0, attr) } }
            let s = items.map(\.text).joined(separator: args.value(0, "d")?.text ?? "")
            try interp.checkSize(s.utf8.count)
            return .string(s)
        case "first": return try interp.iterate(v, what: "first").first ?? .undefined("first")
        case "last": return try interp.iterate(v, what: "last").last ?? .undefined("last")
        case "items":
            if case .undefined = v { return .array([]) }
            guard case .dict(let d) = v else { throw JinjaError("items filter needs a mapping, got \(v.typeName)") }
            return .array(d.pairs.map { .list(JinjaList([$0.key.value, $0.value], isTuple: true)) })
        case "list": return .array(try interp.iterate(v, what: "list"))
        case "string": return .string(v.text)
        case "safe", "escape_off": return v
        case "escape", "e":
            return .string(v.text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&#34;").replacingOccurrences(of: "'", with: "&#39;"))
        case "int":
            let def = args.value(0, "default") ?? .int(0)
            switch v {
            case .int: return v
            case .bool(let b): return .int(b ? 1 : 0)
            case .float(let d): return d.isFinite && abs(d) < 9e18 ? .int(Int(d)) : def
            case .string(let s):
                let t = PythonString.strip(s, chars: nil, leading: true, trailing: true).replacingOccurrences(of: "_", with: "")
                if let i = Int(t) { return .int(i) }
                if let d = Double(t), d.isFinite, abs(d) < 9e18 { return .int(Int(d)) }
                return def
            default: return def
            }
        case "float":
            let def = args.value(0, "default") ?? .float(0)
            switch v {
            case .float: return v
            case .int(let i): return .float(Double(i))
            case .bool(let b): return .float(b ? 1 : 0)
            case .string(let s): return Double(PythonString.strip(s, chars: nil, leading: true, trailing: true)).map { .float($0) } ?? def
            default: return def
            }
        case "abs":
            switch v {
            case .int(let i): return i == .min ? .float(-Double(i)) : .int(abs(i))
            case .float(let d): return .float(abs(d))
            default: throw JinjaError("bad operand type for abs(): '\(v.typeName)'")
            }
        case "round":
            guard let x = v.number else { throw JinjaError("round needs a number") }
            let precision = args.value(0, "precision")?.integer ?? 0
            let method = args.value(1, "method")?.text ?? "common"
            let scale = pow(10.0, Double(precision))
            let rule: FloatingPointRoundingRule = method == "ceil" ? .up : method == "floor" ? .down : .toNearestOrAwayFromZero
            return .float((x * scale).rounded(rule) / scale)
        case "reverse":
            if case .string(let s) = v { return .string(String(s.unicodeScalars.reversed().map(Character.init))) }
            return .array(try interp.iterate(v, what: "reverse").reversed())
        case "sum":
            var total = args.value(1, "start") ?? .int(0)
            for item in try interp.iterate(v, what: "sum") {
                let x = try args.value(0, "attribute").map { try attribute(item, $0) } ?? item
                total = try JinjaOperators.binary("+", total, x, interp)
            }
            return total
        case "min", "max":
            let items = try interp.iterate(v, what: name)
            guard var best = items.first else { return .undefined(name) }
            for x in items.dropFirst() {
                guard let c = JinjaOrdering.compare(x, best) else { throw JinjaError("\(name): values do not compare") }
                if name == "min" ? c < 0 : c > 0 { best = x }
            }
            return best
        case "unique":
            var seen: [JinjaValue] = []
            let attr = args.value(1, "attribute")
            let caseSensitive = args.value(0, "case_sensitive")?.truthy ?? false
            for item in try interp.iterate(v, what: "unique") {
                let key = try sortKey(attr.map { try attribute(item, $0) } ?? item, caseSensitive)
                let isNew = try !seen.contains { earlier in
                    JinjaValue.equal(try sortKey(attr.map { a in try attribute(earlier, a) } ?? earlier, caseSensitive), key)
                }
                if isNew {
                    seen.append(item)
                }
            }
            return .array(seen)
        case "sort":
            let reverse = args.value(0, "reverse")?.truthy ?? false
            let caseSensitive = args.value(1, "case_sensitive")?.truthy ?? false
            let attr = args.value(2, "attribute")
            let items = try interp.iterate(v, what: "sort")
            let keys = try items.map { item in try sortKey(attr.map { a in try attribute(item, a) } ?? item, caseSensitive) }
            return .array(try stableSort(Array(zip(keys, items)), reverse: reverse).map(\.1))
        case "dictsort":
            guard case .dict(let d) = v else { throw JinjaError("dictsort needs a mapping") }
            let caseSensitive = args.value(0, "case_sensitive")?.truthy ?? false
            let byValue = args.value(1, "by")?.text == "value"
            let reverse = args.value(2, "reverse")?.truthy ?? false
            let pairs = try d.pairs.map { (try sortKey(byValue ? $0.value : $0.key.value, caseSensitive), JinjaValue.list(JinjaList([$0.key.value, $0.value], isTuple: true))) }
            return .array(try stableSort(pairs, reverse: reverse).map(\.1))
        case "selectattr", "rejectattr":
            guard let attr = args.positional.first else { throw JinjaError("\(name) needs an attribute name") }
            let testName = args.positional.count > 1 ? args.positional[1].text : nil
            let testArgs = Array(args.positional.dropFirst(2))
            return .array(try interp.iterate(v, what: name).filter { item in
                let a = try attribute(item, attr)
                let r = try testName.map { try test($0, a, testArgs, interp) } ?? a.truthy
                return name == "selectattr" ? r : !r
            })
        case "select", "reject":
            let testName = args.positional.first?.text
            let testArgs = Array(args.positional.dropFirst())
            return .array(try interp.iterate(v, what: name).filter { item in
                let r = try testName.map { try test($0, item, testArgs, interp) } ?? item.truthy
                return name == "select" ? r : !r
            })
        case "map":
            let items = try interp.iterate(v, what: "map")
            if let attr = args.keyword.first(where: { $0.0 == "attribute" })?.1 {
                let def = args.keyword.first(where: { $0.0 == "default" })?.1
                return .array(try items.map { item in
                    let a = try attribute(item, attr)
                    return a.isUndefined ? (def ?? a) : a
                })
            }
            guard let f = args.positional.first?.text else { throw JinjaError("map needs a filter name or attribute=") }
            let rest = JinjaArguments(Array(args.positional.dropFirst()), keyword: args.keyword)
            return .array(try items.map { try filter(f, $0, rest, interp) })
        case "indent":
            let width: String = switch args.value(0, "width") {
            case .string(let s)?: s
            case let w?: String(repeating: " ", count: max(0, w.integer ?? 4))
            case nil: "    "
            }
            let first = args.value(1, "first")?.truthy ?? false
            let blank = args.value(2, "blank")?.truthy ?? false
            var lines = v.text.components(separatedBy: "\n")
            for i in lines.indices where (i > 0 || first) && (blank || !lines[i].isEmpty) {
                lines[i] = width + lines[i]
            }
            return .string(lines.joined(separator: "\n"))
        case "wordcount":
            return .int(v.text.split { !($0.isLetter || $0.isNumber || $0 == "_") }.count)
        case "batch", "slice", "groupby", "format", "truncate", "center", "urlencode", "xmlattr", "striptags", "filesizeformat", "pprint", "random", "attr":
            throw JinjaError("filter '\(name)' is not supported")
        default:
            throw JinjaError("no filter named '\(name)'")
        }
    }

    /// jinja2's `title` filter: upper-cases the first letter after a space, dash or bracket.
    static func jinjaTitle(_ s: String) -> String {
        var out = ""
        var atWordStart = true
        for c in s {
            out += atWordStart ? c.uppercased() : c.lowercased()
            atWordStart = c.isWhitespace || "-({[<".contains(c)
        }
        return out
    }

    /// `attribute="a.b"` as jinja2 resolves it (dots walk attributes; digits index lists).
    static func attribute(_ item: JinjaValue, _ path: JinjaValue) throws -> JinjaValue {
        if let i = path.integer { return try JinjaMethods.item(item, .int(i)) }
        var v = item
        for part in path.text.split(separator: ".", omittingEmptySubsequences: false) {
            if v.isUndefined { return v }
            let key: JinjaValue = Int(part).map { .int($0) } ?? .string(String(part))
            v = try JinjaMethods.item(v, key)
        }
        return v
    }

    private static func sortKey(_ v: JinjaValue, _ caseSensitive: Bool) throws -> JinjaValue {
        if !caseSensitive, case .string(let s) = v { return .string(s.lowercased()) }
        return v
    }

    private static func stableSort(_ pairs: [(JinjaValue, JinjaValue)], reverse: Bool) throws -> [(JinjaValue, JinjaValue)] {
        var failed = false
        let indexed = pairs.enumerated().map { ($0.offset, $0.element) }
        let sorted = indexed.sorted { a, b in
            guard let c = JinjaOrdering.compare(a.1.0, b.1.0) else { failed = true; return false }
            if c == 0 { return a.0 < b.0 }
            return reverse ? c > 0 : c < 0
        }
        if failed { throw JinjaError("sort: values of different types do not compare") }
        return sorted.map(\.1)
    }

    // MARK: tests

    static func test(_ name: String, _ v: JinjaValue, _ args: [JinjaValue], _ interp: JinjaInterpreter) throws -> Bool {
        func arg() throws -> JinjaValue {
            guard let a = args.first else { throw JinjaError("test '\(name)' needs an argument") }
            return a
        }
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none": return v.isNone
        case "string": if case .string = v { return true } else { return false }
        case "mapping": if case .dict = v { return true } else { return false }
        case "iterable":
            switch v { case .string, .list, .dict, .undefined: return true; default: return false }
        case "sequence":
            switch v { case .string, .list, .dict: return true; default: return false }
        case "number": switch v { case .int, .float, .bool: return true; default: return false }
        case "integer": if case .int = v { return true } else { return false }
        case "float": if case .float = v { return true } else { return false }
        case "boolean": if case .bool = v { return true } else { return false }
        case "true": if case .bool(true) = v { return true } else { return false }
        case "false": if case .bool(false) = v { return true } else { return false }
        case "callable": if case .callable = v { return true } else { return false }
        case "eq", "equalto", "==": return JinjaValue.equal(v, try arg())
        case "ne", "!=": return !JinjaValue.equal(v, try arg())
        case "lt", "lessthan", "<", "gt", "greaterthan", ">", "le", "<=", "ge", ">=":
            let op = ["lt": "<", "lessthan": "<", "gt": ">", "greaterthan": ">", "le": "<=", "ge": ">="][name] ?? name
            return try JinjaOperators.binary(op, v, try arg(), interp).truthy
        case "in": return try JinjaOperators.contains(try arg(), v)
        case "odd", "even":
            guard let i = v.integer else { throw JinjaError("test '\(name)' needs an integer, got \(v.typeName)") }
            return (i % 2 != 0) == (name == "odd")
        case "divisibleby":
            guard let i = v.integer, let n = try arg().integer, n != 0 else { throw JinjaError("divisibleby needs non-zero integers") }
            return i % n == 0
        case "lower": return v.text == v.text.lowercased()
        case "upper": return v.text == v.text.uppercased()
        case "sameas":
            let a = try arg()
            switch (v, a) {
            case (.list(let x), .list(let y)): return x === y
            case (.dict(let x), .dict(let y)), (.namespace(let x), .namespace(let y)): return x === y
            case (.none, .none): return true
            case (.bool(let x), .bool(let y)): return x == y
            default: return false
            }
        case "escaped": return false
        default: throw JinjaError("no test named '\(name)'")
        }
    }
}
