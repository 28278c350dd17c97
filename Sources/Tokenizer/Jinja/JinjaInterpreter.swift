import Foundation

/// Variables of one scope. `for` bodies and macro calls get their own (jinja2 does not let
/// a `set` inside a loop leak out); `if` bodies share the enclosing one.
final class JinjaScope {
    var vars: [String: JinjaValue] = [:]
    let parent: JinjaScope?
    init(parent: JinjaScope?) { self.parent = parent }

    func lookup(_ name: String) -> JinjaValue? {
        var s: JinjaScope? = self
        while let scope = s {
            if let v = scope.vars[name] { return v }
            s = scope.parent
        }
        return nil
    }
}

enum JinjaFlow { case normal, breakLoop, continueLoop }

final class JinjaInterpreter {
    let limits: JinjaTemplate.Limits
    let now: Date
    private var steps = 0
    private var callDepth = 0
    private var outputBytes = 0
    /// Scopes captured by macros. A macro is stored in the scope it captures (a reference
    /// cycle), so every render would leak its scopes and the values in them; render clears
    /// these scopes and their ancestors when it ends.
    private var macroScopes: [JinjaScope] = []

    init(limits: JinjaTemplate.Limits, now: Date) {
        self.limits = limits
        self.now = now
    }

    func render(_ nodes: [JinjaNode], context: [String: JinjaValue]) throws -> String {
        let globals = JinjaScope(parent: nil)
        globals.vars = JinjaBuiltins.globals(self)
        let root = JinjaScope(parent: globals)
        for (k, v) in context { root.vars[k] = v }
        defer { releaseMacroScopes() }
        var out = ""
        _ = try run(nodes, root, &out)
        return out
    }

    private func releaseMacroScopes() {
        // A cleared scope had its ancestors cleared in the same walk.
        var cleared = Set<ObjectIdentifier>()
        for scope in macroScopes {
            var s: JinjaScope? = scope
            while let current = s, cleared.insert(ObjectIdentifier(current)).inserted {
                current.vars.removeAll()
                s = current.parent
            }
        }
        macroScopes.removeAll()
    }

    func step() throws {
        steps += 1
        if steps > limits.maxSteps { throw JinjaError("template render exceeded \(limits.maxSteps) steps") }
    }

    func checkSize(_ bytes: Int) throws {
        if bytes > limits.maxOutputBytes { throw JinjaError("template output exceeds \(limits.maxOutputBytes) bytes") }
    }

    private func append(_ s: String, to out: inout String) throws {
        outputBytes += s.utf8.count
        try checkSize(outputBytes)
        out += s
    }

    // MARK: statements

    private func run(_ nodes: [JinjaNode], _ scope: JinjaScope, _ out: inout String) throws -> JinjaFlow {
        for node in nodes {
            try step()
            switch node {
            case .text(let s): try append(s, to: &out)
            case .output(let e): try append(try eval(e, scope).text, to: &out)
            case .ifBlock(let branches, let otherwise):
                var taken: [JinjaNode] = otherwise
                for (cond, body) in branches where try eval(cond, scope).truthy {
                    taken = body
                    break
                }
                let flow = try run(taken, scope, &out)
                if flow != .normal { return flow }
            case .forLoop(let target, let iterExpr, let condition, let body, let otherwise):
                try forLoop(target, iterExpr, condition, body, otherwise, scope, &out)
            case .set(let target, let e):
                try assign(target, try eval(e, scope), scope)
            case .setBlock(let target, let filters, let body):
                var captured = ""
                _ = try run(body, JinjaScope(parent: scope), &captured)
                outputBytes -= captured.utf8.count
                var v = JinjaValue.string(captured)
                for (name, args, kwargs) in filters { v = try applyFilter(name, v, args, kwargs, scope) }
                try assign(target, v, scope)
            case .filterBlock(let filters, let body):
                var captured = ""
                _ = try run(body, JinjaScope(parent: scope), &captured)
                outputBytes -= captured.utf8.count
                var v = JinjaValue.string(captured)
                for (name, args, kwargs) in filters { v = try applyFilter(name, v, args, kwargs, scope) }
                try append(v.text, to: &out)
            case .macro(let m):
                scope.vars[m.name] = .callable(makeMacro(m, scope, caller: nil))
            case .callBlock(let callExpr, let callerParams, let body):
                guard case .call(let fnExpr, let args, let kwargs) = callExpr else { break }
                let caller = makeMacro(JinjaMacro(name: "caller", parameters: callerParams, body: body), scope, caller: nil)
                let fn = try eval(fnExpr, scope)
                var arguments = try evalArguments(args, kwargs, scope)
                arguments.keyword.append(("caller", .callable(caller)))
                try append(try call(fn, arguments, name: "macro").text, to: &out)
            case .breakLoop: return .breakLoop
            case .continueLoop: return .continueLoop
            case .group(let body):
                let flow = try run(body, scope, &out)
                if flow != .normal { return flow }
            }
        }
        return .normal
    }

    private func forLoop(_ target: JinjaTarget, _ iterExpr: JinjaExpr, _ condition: JinjaExpr?, _ body: [JinjaNode],
                         _ otherwise: [JinjaNode], _ scope: JinjaScope, _ out: inout String) throws {
        var items = try iterate(try eval(iterExpr, scope), what: "for loop")
        if let condition {
            items = try items.filter { item in
                let s = JinjaScope(parent: scope)
                try bind(target, item, s)
                return try eval(condition, s).truthy
            }
        }
        if items.isEmpty {
            _ = try run(otherwise, scope, &out)
            return
        }
        let n = items.count
        for (i, item) in items.enumerated() {
            try step()
            let s = JinjaScope(parent: scope)
            let loop = JinjaDict()
            loop["index"] = .int(i + 1)
            loop["index0"] = .int(i)
            loop["revindex"] = .int(n - i)
            loop["revindex0"] = .int(n - i - 1)
            loop["first"] = .bool(i == 0)
            loop["last"] = .bool(i == n - 1)
            loop["length"] = .int(n)
            loop["depth"] = .int(1)
            loop["depth0"] = .int(0)
            loop["previtem"] = i > 0 ? items[i - 1] : .undefined("loop.previtem")
            loop["nextitem"] = i + 1 < n ? items[i + 1] : .undefined("loop.nextitem")
            loop["cycle"] = .callable(JinjaCallable("loop.cycle") { args in
                guard !args.positional.isEmpty else { throw JinjaError("loop.cycle needs at least one value") }
                return args.positional[i % args.positional.count]
            })
            s.vars["loop"] = .dict(loop)
            try bind(target, item, s)
            if try run(body, s, &out) == .breakLoop { break }
        }
    }

    /// Values a `for` walks: list items, dict keys, string characters; Undefined is empty.
    func iterate(_ v: JinjaValue, what: String) throws -> [JinjaValue] {
        switch v {
        case .list(let l): return l.items
        case .dict(let d): return d.keys.map(\.value)
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw JinjaError("\(what): '\(v.typeName)' object is not iterable")
        }
    }

    private func bind(_ target: JinjaTarget, _ value: JinjaValue, _ scope: JinjaScope) throws {
        switch target {
        case .name(let n): scope.vars[n] = value
        case .unpack(let names):
            let parts = try iterate(value, what: "unpacking")
            guard parts.count == names.count else {
                throw JinjaError("cannot unpack \(parts.count) values into \(names.count) names")
            }
            for (n, p) in zip(names, parts) { scope.vars[n] = p }
        case .attribute(let obj, _): throw JinjaError("cannot loop into attribute of '\(obj)'")
        }
    }

    private func assign(_ target: JinjaTarget, _ value: JinjaValue, _ scope: JinjaScope) throws {
        if case .attribute(let obj, let attr) = target {
            guard case .namespace(let ns)? = scope.lookup(obj) else {
                throw JinjaError("cannot assign attribute on non-namespace object '\(obj)'")
            }
            guard !value.reaches(ns) else { throw JinjaError("cannot store namespace '\(obj)' inside itself ('\(obj).\(attr)')") }
            ns[attr] = value
            return
        }
        try bind(target, value, scope)
    }

    private func makeMacro(_ m: JinjaMacro, _ definingScope: JinjaScope, caller: JinjaCallable?) -> JinjaCallable {
        macroScopes.append(definingScope)
        return JinjaCallable(m.name) { [unowned self] args in
            self.callDepth += 1
            defer { self.callDepth -= 1 }
            guard self.callDepth <= self.limits.maxCallDepth else {
                throw JinjaError("macro calls nested deeper than \(self.limits.maxCallDepth) (recursion?)")
            }
            let s = JinjaScope(parent: definingScope)
            var extra: [JinjaValue] = []
            for (i, v) in args.positional.enumerated() {
                if i < m.parameters.count { s.vars[m.parameters[i].0] = v } else { extra.append(v) }
            }
            let kwargs = JinjaDict()
            for (k, v) in args.keyword {
                if m.parameters.contains(where: { $0.0 == k }) { s.vars[k] = v } else if k == "caller" { s.vars[k] = v } else { kwargs[k] = v }
            }
            for (name, def) in m.parameters where s.vars[name] == nil {
                s.vars[name] = try def.map { try self.eval($0, s) } ?? .undefined(name)
            }
            s.vars["varargs"] = .array(extra)
            s.vars["kwargs"] = .dict(kwargs)
            var out = ""
            _ = try self.run(m.body, s, &out)
            return .string(out)
        }
    }

    // MARK: expressions

    func eval(_ e: JinjaExpr, _ scope: JinjaScope) throws -> JinjaValue {
        try step()
        switch e {
        case .literal(let v): return v
        case .name(let n): return scope.lookup(n) ?? .undefined(n)
        case .list(let items): return .array(try items.map { try eval($0, scope) })
        case .tuple(let items): return .list(JinjaList(try items.map { try eval($0, scope) }, isTuple: true))
        case .dict(let pairs):
            let d = JinjaDict()
            for (k, v) in pairs {
                let key = try eval(k, scope)
                guard let hk = JinjaKey(key) else { throw JinjaError("unhashable dict key of type '\(key.typeName)'") }
                d[hk] = try eval(v, scope)
            }
            return .dict(d)
        case .attribute(let base, let name):
            return try JinjaMethods.attribute(try eval(base, scope), name)
        case .item(let base, let index):
            return try JinjaMethods.item(try eval(base, scope), try eval(index, scope))
        case .slice(let base, let a, let b, let c):
            return try JinjaMethods.slice(try eval(base, scope), try a.map { try eval($0, scope) },
                                          try b.map { try eval($0, scope) }, try c.map { try eval($0, scope) })
        case .call(let fnExpr, let args, let kwargs):
            let arguments = try evalArguments(args, kwargs, scope)
            if case .attribute(let objExpr, let method) = fnExpr {
                let obj = try eval(objExpr, scope)
                if let result = try JinjaMethods.call(obj, method, arguments, self) { return result }
                return try call(try JinjaMethods.attribute(obj, method), arguments, name: method)
            }
            let name: String = if case .name(let n) = fnExpr { n } else { "expression" }
            return try call(try eval(fnExpr, scope), arguments, name: name)
        case .filter(let base, let name, let args, let kwargs):
            // `default` must see an Undefined value without tripping over it.
            return try applyFilter(name, try eval(base, scope), args, kwargs, scope)
        case .test(let base, let name, let args, let negated):
            let v = try eval(base, scope)
            let r = try JinjaBuiltins.test(name, v, try args.map { try eval($0, scope) }, self)
            return .bool(negated ? !r : r)
        case .not(let x): return .bool(!(try eval(x, scope).truthy))
        case .negate(let x):
            switch try eval(x, scope) {
            case .int(let i): return .int(-i)
            case .float(let d): return .float(-d)
            case .bool(let b): return .int(b ? -1 : 0)
            case let v: throw JinjaError("bad operand type for unary -: '\(v.typeName)'")
            }
        case .and(let a, let b):
            let l = try eval(a, scope)
            return l.truthy ? try eval(b, scope) : l
        case .or(let a, let b):
            let l = try eval(a, scope)
            return l.truthy ? l : try eval(b, scope)
        case .conditional(let cond, let then, let otherwise):
            if try eval(cond, scope).truthy { return try eval(then, scope) }
            return try otherwise.map { try eval($0, scope) } ?? .undefined("conditional")
        case .binary(let op, let a, let b):
            return try JinjaOperators.binary(op, try eval(a, scope), try eval(b, scope), self)
        }
    }

    func evalArguments(_ args: [JinjaExpr], _ kwargs: [(String, JinjaExpr)], _ scope: JinjaScope) throws -> JinjaArguments {
        JinjaArguments(try args.map { try eval($0, scope) }, keyword: try kwargs.map { ($0.0, try eval($0.1, scope)) })
    }

    func call(_ fn: JinjaValue, _ args: JinjaArguments, name: String) throws -> JinjaValue {
        guard case .callable(let c) = fn else {
            if case .undefined(let n) = fn { throw JinjaError("'\(n)' is undefined") }
            throw JinjaError("'\(name)' (\(fn.typeName)) is not callable")
        }
        return try c.body(args)
    }

    func applyFilter(_ name: String, _ value: JinjaValue, _ args: [JinjaExpr], _ kwargs: [(String, JinjaExpr)],
                     _ scope: JinjaScope) throws -> JinjaValue {
        try JinjaBuiltins.filter(name, value, try evalArguments(args, kwargs, scope), self)
    }
}
