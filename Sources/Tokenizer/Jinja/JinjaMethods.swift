import Foundation

/// Attribute, item and slice access and the str/dict/list methods templates call, with
/// Python's results (missing keys and attributes are Undefined, as jinja2 makes them).
enum JinjaMethods {
    static let dictMethods: Set<String> = ["items", "keys", "values", "get", "copy"]
    static let stringMethods: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower",
        "title", "capitalize", "replace", "find", "rfind", "count", "join", "isdigit", "isalpha", "isalnum",
        "isspace", "isupper", "islower", "removeprefix", "removesuffix",
    ]
    static let listMethods: Set<String> = ["append", "index", "count"]

    static func attribute(_ obj: JinjaValue, _ name: String) throws -> JinjaValue {
        switch obj {
        case .undefined(let n): throw JinjaError("'\(n)' is undefined (reading attribute '\(name)')")
        case .dict(let d):
            if dictMethods.contains(name) { return bound(obj, name) }
            return d[name] ?? .undefined("\(name)")
        case .namespace(let d): return d[name] ?? .undefined(name)
        case .string where stringMethods.contains(name): return bound(obj, name)
        case .list where listMethods.contains(name): return bound(obj, name)
        default: return .undefined(name)
        }
    }

    /// A method as a value, for `x.strip` passed around without calling it at once.
    private static func bound(_ obj: JinjaValue, _ name: String) -> JinjaValue {
        .callable(JinjaCallable(name) { args in
            guard let r = try call(obj, name, args, nil) else { throw JinjaError("'\(obj.typeName)' has no method '\(name)'") }
            return r
        })
    }

    static func item(_ obj: JinjaValue, _ index: JinjaValue) throws -> JinjaValue {
        switch obj {
        case .undefined(let n): throw JinjaError("'\(n)' is undefined (reading an item)")
        case .dict(let d), .namespace(let d):
            if let k = JinjaKey(index), let v = d[k] { return v }
            if case .string(let s) = index, case .dict = obj, dictMethods.contains(s) { return bound(obj, s) }
            return .undefined(index.text)
        case .list(let l):
            guard let i = index.integer else {
                if case .string(let s) = index, listMethods.contains(s) { return bound(obj, s) }
                return .undefined(index.text)
            }
            let j = i < 0 ? i + l.items.count : i
            return l.items.indices.contains(j) ? l.items[j] : .undefined("[\(i)]")
        case .string(let s):
            guard let i = index.integer else { return .undefined(index.text) }
            let u = Array(s.unicodeScalars)
            let j = i < 0 ? i + u.count : i
            return u.indices.contains(j) ? .string(String(u[j])) : .undefined("[\(i)]")
        default: return .undefined(index.text)
        }
    }

    static func slice(_ obj: JinjaValue, _ start: JinjaValue?, _ stop: JinjaValue?, _ step: JinjaValue?) throws -> JinjaValue {
        func bound(_ v: JinjaValue?) throws -> Int? {
            guard let v, !v.isNone, !v.isUndefined else { return nil }
            guard let i = v.integer else { throw JinjaError("slice indices must be integers or None") }
            return i
        }
        let st = try bound(step) ?? 1
        guard st != 0 else { throw JinjaError("slice step cannot be zero") }
        func indices(_ n: Int) throws -> [Int] {
            func clamp(_ i: Int?, _ def: Int, lo: Int, hi: Int) -> Int {
                guard var i else { return def }
                if i < 0 { i += n }
                return min(max(i, lo), hi)
            }
            if st > 0 {
                let a = clamp(try bound(start), 0, lo: 0, hi: n), b = clamp(try bound(stop), n, lo: 0, hi: n)
                return a < b ? Array(stride(from: a, to: b, by: st)) : []
            }
            let a = clamp(try bound(start), n - 1, lo: -1, hi: n - 1), b = clamp(try bound(stop), -1, lo: -1, hi: n - 1)
            return a > b ? Array(stride(from: a, to: b, by: st)) : []
        }
        switch obj {
        case .list(let l): return .list(JinjaList(try indices(l.items.count).map { l.items[$0] }, isTuple: l.isTuple))
        case .string(let s):
            let u = Array(s.unicodeScalars)
            var v = String.UnicodeScalarView()
            for i in try indices(u.count) { v.append(u[i]) }
            return .string(String(v))
        case .undefined(let n): throw JinjaError("'\(n)' is undefined (slicing)")
        default: throw JinjaError("'\(obj.typeName)' object is not subscriptable")
        }
    }

    /// Calls a built-in method; nil when `obj` has no such method (the caller then tries
    /// an attribute holding a callable).
    static func call(_ obj: JinjaValue, _ name: String, _ args: JinjaArguments, _ interp: JinjaInterpreter?) throws -> JinjaValue? {
        switch obj {
        case .string(let s): return try stringMethod(s, name, args)
        case .dict(let d):
            switch name {
            case "items": return .array(d.pairs.map { .list(JinjaList([$0.key.value, $0.value], isTuple: true)) })
            case "keys": return .array(d.keys.map(\.value))
            case "values": return .array(d.pairs.map(\.value))
            case "get":
                guard let key = args.value(0, "key") else { throw JinjaError("get() needs a key") }
                return JinjaKey(key).flatMap { d[$0] } ?? args.value(1, "default") ?? JinjaValue.none
            case "copy": return .dict(d.copy())
            default: return nil
            }
        case .list(let l):
            switch name {
            case "append":
                guard let v = args.value(0, "item") else { throw JinjaError("append() takes one argument") }
                guard l.items.count < 10_000_000 else { throw JinjaError("list too long") }
                guard !v.reaches(l) else { throw JinjaError("append(): a list cannot contain itself") }
                l.items.append(v)
                return JinjaValue.none
            case "index":
                guard let v = args.value(0, "item"), let i = l.items.firstIndex(where: { JinjaValue.equal($0, v) }) else {
                    throw JinjaError("list.index(x): x not in list")
                }
                return .int(i)
            case "count":
                guard let v = args.value(0, "item") else { throw JinjaError("count() takes one argument") }
                return .int(l.items.filter { JinjaValue.equal($0, v) }.count)
            default: return nil
            }
        default: return nil
        }
    }

    private static func stringArg(_ args: JinjaArguments, _ i: Int, _ name: String) throws -> String? {
        guard let v = args.value(i, name), !v.isNone else { return nil }
        guard case .string(let s) = v else { throw JinjaError("\(name) must be a string, not \(v.typeName)") }
        return s
    }

    private static func stringMethod(_ s: String, _ name: String, _ args: JinjaArguments) throws -> JinjaValue? {
        switch name {
        case "strip": return .string(PythonString.strip(s, chars: try stringArg(args, 0, "chars"), leading: true, trailing: true))
        case "lstrip": return .string(PythonString.strip(s, chars: try stringArg(args, 0, "chars"), leading: true, trailing: false))
        case "rstrip": return .string(PythonString.strip(s, chars: try stringArg(args, 0, "chars"), leading: false, trailing: true))
        case "split", "rsplit":
            let sep = try stringArg(args, 0, "sep")
            let maxSplit = args.value(1, "maxsplit")?.integer ?? -1
            return .array(split(s, sep, maxSplit: maxSplit, fromRight: name == "rsplit").map { .string($0) })
        case "splitlines": return .array(s.split(omittingEmptySubsequences: false) { $0.isNewline }.map { .string(String($0)) }.dropLastIfEmpty(s))
        case "startswith", "endswith":
            guard let p = args.value(0, "prefix") else { throw JinjaError("\(name)() takes one argument") }
            let candidates: [JinjaValue] = if case .list(let l) = p { l.items } else { [p] }
            for c in candidates {
                guard case .string(let t) = c else { throw JinjaError("\(name) arg must be str or a tuple of str") }
                if name == "startswith" ? s.unicodeScalars.starts(with: t.unicodeScalars) : s.unicodeScalars.reversed().starts(with: t.unicodeScalars.reversed()) { return .bool(true) }
            }
            return .bool(false)
        case "upper": return .string(s.uppercased())
        case "lower": return .string(s.lowercased())
        case "title": return .string(pythonTitle(s))
        case "capitalize": return .string(capitalize(s))
        case "replace":
            guard let old = try stringArg(args, 0, "old"), let new = try stringArg(args, 1, "new") else {
                throw JinjaError("replace() takes two strings")
            }
            return .string(replace(s, old, new, count: args.value(2, "count")?.integer ?? -1))
        case "find", "rfind":
            guard let sub = try stringArg(args, 0, "sub") else { throw JinjaError("\(name)() takes a string") }
            let u = Array(s.unicodeScalars), v = Array(sub.unicodeScalars)
            let range = name == "find" ? Array(0...max(0, u.count - v.count)) : Array((0...max(0, u.count - v.count)).reversed())
            for i in range where i + v.count <= u.count && Array(u[i..<i + v.count]) == v { return .int(i) }
            return .int(-1)
        case "count":
            guard let sub = try stringArg(args, 0, "sub") else { throw JinjaError("count() takes a string") }
            return .int(sub.isEmpty ? s.unicodeScalars.count + 1 : s.components(separatedBy: sub).count - 1)
        case "join":
            guard let v = args.value(0, "iterable") else { throw JinjaError("join() takes one argument") }
            let items: [JinjaValue] = if case .list(let l) = v { l.items } else { [] }
            return .string(try items.map { item -> String in
                guard case .string(let t) = item else { throw JinjaError("join: expected str, found \(item.typeName)") }
                return t
            }.joined(separator: s))
        case "isdigit": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType == .decimal })
        case "isalpha": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic })
        case "isalnum": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil })
        case "isspace": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(PythonString.isSpace))
        case "isupper": return .bool(s.contains { $0.isUppercase } && !s.contains { $0.isLowercase })
        case "islower": return .bool(s.contains { $0.isLowercase } && !s.contains { $0.isUppercase })
        case "removeprefix":
            let p = try stringArg(args, 0, "prefix") ?? ""
            return .string(s.hasPrefix(p) ? String(s.dropFirst(p.count)) : s)
        case "removesuffix":
            let p = try stringArg(args, 0, "suffix") ?? ""
            return .string(!p.isEmpty && s.hasSuffix(p) ? String(s.dropLast(p.count)) : s)
        default: return nil
        }
    }

    /// Python's str.split: no separator splits on whitespace runs and drops empty parts.
    static func split(_ s: String, _ sep: String?, maxSplit: Int, fromRight: Bool = false) -> [String] {
        let u = Array(s.unicodeScalars)
        func str(_ r: ArraySlice<Unicode.Scalar>) -> String { var v = String.UnicodeScalarView(); v.append(contentsOf: r); return String(v) }
        if let sep {
            let p = Array(sep.unicodeScalars)
            guard !p.isEmpty else { return [s] }
            var parts: [String] = []
            if fromRight {
                var end = u.count, i = u.count - p.count
                while i >= 0 {
                    if maxSplit >= 0 && parts.count >= maxSplit { break }
                    if Array(u[i..<i + p.count]) == p { parts.insert(str(u[(i + p.count)..<end]), at: 0); end = i; i -= p.count } else { i -= 1 }
                }
                parts.insert(str(u[0..<end]), at: 0)
                return parts
            }
            var start = 0, i = 0
            while i + p.count <= u.count {
                if maxSplit >= 0 && parts.count >= maxSplit { break }
                if Array(u[i..<i + p.count]) == p { parts.append(str(u[start..<i])); i += p.count; start = i } else { i += 1 }
            }
            parts.append(str(u[start...]))
            return parts
        }
        var parts: [String] = []
        var i = 0
        while i < u.count {
            while i < u.count, PythonString.isSpace(u[i]) { i += 1 }
            guard i < u.count else { break }
            if maxSplit >= 0 && parts.count >= maxSplit {
                var end = u.count
                while end > i, PythonString.isSpace(u[end - 1]) { end -= 1 }
                parts.append(str(u[i..<end]))
                break
            }
            let start = i
            while i < u.count, !PythonString.isSpace(u[i]) { i += 1 }
            parts.append(str(u[start..<i]))
        }
        return parts
    }

    static func replace(_ s: String, _ old: String, _ new: String, count: Int) -> String {
        guard count != 0 else { return s }
        if old.isEmpty {
            var out = new
            for (i, u) in s.unicodeScalars.enumerated() {
                out.unicodeScalars.append(u)
                if count < 0 || i + 1 < count { out += new }
            }
            return out
        }
        let parts = split(s, old, maxSplit: count)
        return parts.joined(separator: new)
    }

    static func capitalize(_ s: String) -> String {
        guard let first = s.first else { return s }
        return String(first).uppercased() + s.dropFirst().lowercased()
    }

    /// Python's str.title: upper-case a letter after a non-letter, lower-case the rest.
    static func pythonTitle(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s {
            let cased = c.isLetter
            out += cased ? (previousCased ? c.lowercased() : c.uppercased()) : String(c)
            previousCased = cased
        }
        return out
    }
}

private extension Array where Element == JinjaValue {
    /// splitlines drops the empty piece after a final newline.
    func dropLastIfEmpty(_ s: String) -> [JinjaValue] {
        if let last, case .string(let t) = last, t.isEmpty { return Array(dropLast()) }
        return self
    }
}
