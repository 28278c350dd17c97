import Foundation

/// Python's ordering for `<`, `sort` and `dictsort`: numbers with numbers, strings by code
/// point, lists element-wise; nil when the types do not compare.
enum JinjaOrdering {
    static func compare(_ a: JinjaValue, _ b: JinjaValue) -> Int? {
        if let x = a.number, let y = b.number { return x < y ? -1 : (x > y ? 1 : 0) }
        switch (a, b) {
        case (.string(let x), .string(let y)):
            let xs = Array(x.unicodeScalars), ys = Array(y.unicodeScalars)
            for (p, q) in zip(xs, ys) where p != q { return p.value < q.value ? -1 : 1 }
            return xs.count < ys.count ? -1 : (xs.count > ys.count ? 1 : 0)
        case (.list(let x), .list(let y)):
            for (p, q) in zip(x.items, y.items) where !JinjaValue.equal(p, q) { return compare(p, q) }
            return x.items.count < y.items.count ? -1 : (x.items.count > y.items.count ? 1 : 0)
        default: return nil
        }
    }

    static func less(_ a: JinjaValue, _ b: JinjaValue) -> Bool? { compare(a, b).map { $0 < 0 } }
}

enum JinjaOperators {
    static func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue, _ interp: JinjaInterpreter) throws -> JinjaValue {
        switch op {
        case "==": return .bool(JinjaValue.equal(a, b))
        case "!=": return .bool(!JinjaValue.equal(a, b))
        case "<", ">", "<=", ">=":
            guard let c = JinjaOrdering.compare(a, b) else {
                throw JinjaError("'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
            }
            switch op {
            case "<": return .bool(c < 0)
            case ">": return .bool(c > 0)
            case "<=": return .bool(c <= 0)
            default: return .bool(c >= 0)
            }
        case "in": return .bool(try contains(b, a))
        case "not in": return .bool(!(try contains(b, a)))
        case "~":
            let s = a.text + b.text
            try interp.checkSize(s.utf8.count)
            return .string(s)
        default: return try arithmetic(op, a, b, interp)
        }
    }

    static func contains(_ container: JinjaValue, _ item: JinjaValue) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let sub) = item else {
                throw JinjaError("'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return sub.isEmpty || s.contains(sub)
        case .list(let l): return l.items.contains { JinjaValue.equal($0, item) }
        case .dict(let d):
            guard let k = JinjaKey(item) else { return false }
            return d[k] != nil
        case .undefined: return false
        default: throw JinjaError("argument of type '\(container.typeName)' is not iterable")
        }
    }

    private static func arithmetic(_ op: String, _ a: JinjaValue, _ b: JinjaValue, _ interp: JinjaInterpreter) throws -> JinjaValue {
        func fail() -> JinjaError {
            if case .undefined(let n) = a { return JinjaError("'\(n)' is undefined") }
            if case .undefined(let n) = b { return JinjaError("'\(n)' is undefined") }
            return JinjaError("unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
        }
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)):
            try interp.checkSize(x.utf8.count + y.utf8.count)
            return .string(x + y)
        // llama.cpp's engine (common/jinja/runtime.cpp) joins a string with an undefined or
        // none operand as if it were empty; jinja2 raises. Templates written against
        // llama-server rely on it (FireFunction v2 adds its undefined `functions`).
        case ("+", .string(let x), .undefined), ("+", .string(let x), .none),
             ("+", .undefined, .string(let x)), ("+", .none, .string(let x)):
            return .string(x)
        case ("+", .list(let x), .list(let y)):
            return .list(JinjaList(x.items + y.items, isTuple: x.isTuple && y.isTuple))
        case ("*", .string(let s), _), ("*", _, .string(let s)):
            guard let n = (a.integer ?? b.integer) else { throw fail() }
            try interp.checkSize(max(0, n) * s.utf8.count)
            return .string(n > 0 ? String(repeating: s, count: n) : "")
        case ("*", .list(let l), _), ("*", _, .list(let l)):
            guard let n = (a.integer ?? b.integer) else { throw fail() }
            try interp.checkSize(max(0, n) * l.items.count)
            var items: [JinjaValue] = []
            for _ in 0..<max(0, n) { items += l.items }
            return .array(items)
        default: break
        }
        if let x = a.integer, let y = b.integer {
            switch op {
            case "+": return try checked(x.addingReportingOverflow(y))
            case "-": return try checked(x.subtractingReportingOverflow(y))
            case "*": return try checked(x.multipliedReportingOverflow(by: y))
            case "/":
                guard y != 0 else { throw JinjaError("division by zero") }
                return .float(Double(x) / Double(y))
            case "//":
                guard y != 0 else { throw JinjaError("integer division or modulo by zero") }
                if x == .min && y == -1 { throw JinjaError("integer overflow") }
                let q = x / y
                return .int((x % y != 0 && (x < 0) != (y < 0)) ? q - 1 : q)
            case "%":
                guard y != 0 else { throw JinjaError("integer division or modulo by zero") }
                if y == -1 { return .int(0) }
                let r = x % y
                return .int(r != 0 && (r < 0) != (y < 0) ? r + y : r)
            case "**":
                if y < 0 { return .float(pow(Double(x), Double(y))) }
                var result = 1
                for _ in 0..<min(y, 64) {
                    let (r, o) = result.multipliedReportingOverflow(by: x)
                    guard !o else { throw JinjaError("integer overflow in **") }
                    result = r
                }
                if y > 64 && abs(x) > 1 { throw JinjaError("integer overflow in **") }
                return .int(y > 64 ? (x == -1 && y % 2 == 1 ? -1 : (x == 0 ? 0 : 1)) : result)
            default: throw fail()
            }
        }
        guard let x = a.number, let y = b.number else { throw fail() }
        switch op {
        case "+": return .float(x + y)
        case "-": return .float(x - y)
        case "*": return .float(x * y)
        case "/":
            guard y != 0 else { throw JinjaError("float division by zero") }
            return .float(x / y)
        case "//":
            guard y != 0 else { throw JinjaError("float floor division by zero") }
            return .float((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw JinjaError("float modulo") }
            let r = fmod(x, y)
            return .float(r != 0 && (r < 0) != (y < 0) ? r + y : r)
        case "**": return .float(pow(x, y))
        default: throw fail()
        }
    }

    private static func checked(_ r: (partialValue: Int, overflow: Bool)) throws -> JinjaValue {
        guard !r.overflow else { throw JinjaError("integer overflow") }
        return .int(r.partialValue)
    }
}
