import Foundation

/// Objects, arrays, strings and allOf for `JSONSchemaConverter`.
extension JSONSchemaConverter {
    /// What an object allows beyond its listed properties.
    enum Additional {
        case none
        case any
        case schema(Any)
    }

    mutating func object(_ o: [String: Any], ruleName: String, name: String, path: String, depth: Int, typed: Bool) throws -> String {
        try refuseUnused(o, used: ["type", "properties", "required", "additionalProperties"], type: "object", path: path)
        let properties = try propertyList(o, path: path)
        let required = try requiredNames(o, properties: properties, path: path)
        let additional: Additional
        switch o["additionalProperties"] {
        case nil: additional = properties.isEmpty ? .any : .none
        case let b? where isJSONBool(b): additional = (b as? Bool == true) ? .any : .none
        case let s? where s is [String: Any]: additional = .schema(s)
        default: throw fail(path, "additionalProperties must be a boolean or a schema")
        }
        if properties.isEmpty, case .any = additional { return addRule(ruleName, primitive("object")) }
        return addRule(ruleName, try buildObject(properties, required: required, name: name, additional: additional, path: path, depth: depth))
    }

    private func propertyList(_ o: [String: Any], path: String) throws -> [(String, Any)] {
        guard let raw = o["properties"] else { return [] }
        guard let props = raw as? [String: Any] else { throw fail(path, "properties must be an object") }
        return props.keys.sorted().map { ($0, props[$0]!) }
    }

    private func requiredNames(_ o: [String: Any], properties: [(String, Any)], path: String) throws -> Set<String> {
        guard let raw = o["required"] else { return [] }
        guard let names = raw as? [String] else { throw fail(path, "required must be an array of strings") }
        let listed = Set(properties.map(\.0))
        // A required key that the grammar does not list could never be generated on purpose.
        if let missing = names.first(where: { !listed.contains($0) }) {
            throw fail(path, "required property '\(missing)' is not in properties (not supported)")
        }
        return Set(names)
    }

    /// llama.cpp's _build_object_rule: required properties in order, then the optional ones,
    /// each optional tail a shared "-rest" rule.
    mutating func buildObject(_ properties: [(String, Any)], required: Set<String>, name: String, additional: Additional,
                              path: String, depth: Int) throws -> String {
        let sub = name.isEmpty ? "" : name + "-"
        var requiredRules: [String] = []
        var optional: [(key: String, rule: String, isAdditional: Bool)] = []
        for (prop, schema) in properties {
            let valueRule = try visit(schema, name: sub + prop, path: path + "/properties/" + prop, depth: depth + 1)
            let kv = addRule(sub + prop + "-kv", JSONSchemaRules.literal(jsonString(prop)) + #" space ":" space "# + valueRule)
            if required.contains(prop) { requiredRules.append(kv) } else { optional.append((prop, kv, false)) }
        }
        if case .none = additional {} else {
            let subName = sub + "additional"
            let valueRule: String
            if case .schema(let s) = additional {
                valueRule = try visit(s, name: subName + "-value", path: path + "/additionalProperties", depth: depth + 1)
            } else {
                valueRule = primitive("value")
            }
            // The key rule nests one group per character of the longest name; past the
            // grammar's nesting bound it could not be parsed, so such a schema is refused here.
            if let long = properties.first(where: { $0.0.unicodeScalars.count >= GrammarLimits.maxGroupDepth - 8 }) {
                throw fail(path, "property name of \(long.0.unicodeScalars.count) characters is too long next to additionalProperties (at most \(GrammarLimits.maxGroupDepth - 9))")
            }
            let keyRule = properties.isEmpty ? primitive("string") : addRule(subName + "-k", notStrings(properties.map(\.0)))
            optional.append(("additional", addRule(subName + "-kv", keyRule + #" ":" space "# + valueRule), true))
        }
        if requiredRules.isEmpty && optional.isEmpty { return #""{" space "}""# }
        var rule = #""{" space "# + requiredRules.joined(separator: #" "," space "#)
        if !optional.isEmpty {
            func piece(_ i: Int, first: Bool) -> String {
                let o = optional[i]
                let comma = #"( "," space "# + o.rule + " )"
                if first { return o.rule + (o.isAdditional ? " " + comma + "*" : "") }
                return comma + (o.isAdditional ? "*" : "?")
            }
            // rest[j]: optional properties j... after an earlier one, as a rule of its own.
            var rest = [String](repeating: "", count: optional.count + 1)
            for j in stride(from: optional.count - 1, through: 1, by: -1) {
                let body = piece(j, first: false) + (rest[j + 1].isEmpty ? "" : " " + rest[j + 1])
                rest[j] = addRule(sub + optional[j - 1].key + "-rest", body)
            }
            let alternatives = optional.indices.map { i in piece(i, first: true) + (rest[i + 1].isEmpty ? "" : " " + rest[i + 1]) }
            rule += " ("
            if !requiredRules.isEmpty { rule += #" "," space ( "# }
            rule += alternatives.joined(separator: " | ")
            if !requiredRules.isEmpty { rule += " )" }
            rule += " )?"
        }
        return rule + #" space "}""#
    }

    private func jsonString(_ s: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: s, options: [.fragmentsAllowed, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// A JSON string that is none of `strings` (llama.cpp's _not_strings), over a trie of them.
    private mutating func notStrings(_ strings: [String]) -> String {
        final class Node {
            var children: [(UnicodeScalar, Node)] = []
            var isEnd = false
            func child(_ c: UnicodeScalar) -> Node {
                if let n = children.first(where: { $0.0 == c }) { return n.1 }
                let n = Node()
                children.append((c, n))
                return n
            }
        }
        let root = Node()
        for s in strings {
            var node = root
            for c in s.unicodeScalars { node = node.child(c) }
            node.isEnd = true
        }
        let char = primitive("char")
        func escapeClass(_ c: UnicodeScalar) -> String {
            switch c {
            case "\\", "]", "-", "\"", "[": return "\\" + String(c)
            // A leading '^' would negate the class ("[^]" for a key starting with '^').
            case "^": return "\\x5E"
            case "\n": return "\\n"
            case "\r": return "\\r"
            default: return c.value < 0x20 ? String(format: "\\x%02X", c.value) : String(c)
            }
        }
        // Iterative over the trie: names are short, but a hostile schema can make them long.
        func visit(_ top: Node) -> String {
            var out = ""
            var stack: [(Node, Int)] = [(top, 0)]
            while let (node, i) = stack.popLast() {
                if i == -1 {
                    out += ")" + (node.isEnd ? "" : "?")
                } else if i < node.children.count {
                    let (c, child) = node.children[i]
                    if i > 0 { out += " | " }
                    out += "[" + escapeClass(c) + "]"
                    stack.append((node, i + 1))
                    if child.children.isEmpty {
                        out += " " + char + "+"
                    } else {
                        out += " ("
                        stack.append((child, -1))  // marker: close the group after the child
                        stack.append((child, 0))
                    }
                } else if !node.children.isEmpty {
                    out += #" | [^""# + node.children.map { escapeClass($0.0) }.joined() + "] " + char + "*"
                }
            }
            return out
        }
        return #"["] ( "# + visit(root) + " )" + (root.isEnd ? "" : "?") + #" ["]"#
    }

    mutating func array(_ o: [String: Any], ruleName: String, sub: String, path: String, depth: Int, typed: Bool) throws -> String {
        try refuseUnused(o, used: ["type", "items", "prefixItems", "minItems", "maxItems"], type: "array", path: path)
        let minItems = try count(o, "minItems", path: path) ?? 0
        let maxItems = try count(o, "maxItems", path: path)
        if let maxItems, maxItems < minItems { throw fail(path, "minItems \(minItems) is above maxItems \(maxItems)") }
        var tuple: [Any]? = o["prefixItems"].map { $0 as? [Any] ?? [] }
        if o["prefixItems"] != nil {
            guard o["prefixItems"] is [Any] else { throw fail(path, "prefixItems must be an array of schemas") }
            if o["items"] != nil { throw fail(path, "prefixItems together with items is not supported") }
        } else if let list = o["items"] as? [Any] {
            tuple = list  // draft-4 style tuple
        }
        if let tuple {
            guard minItems <= tuple.count, maxItems.map({ $0 >= tuple.count }) ?? true else {
                throw fail(path, "minItems/maxItems that exclude the \(tuple.count) prefixItems are not supported")
            }
            var items: [String] = []
            for (i, item) in tuple.enumerated() {
                items.append(try visit(item, name: sub + "tuple-" + String(i), path: path + "/prefixItems/\(i)", depth: depth + 1))
            }
            return addRule(ruleName, #""[" space "# + items.joined(separator: #" "," space "#) + #" space "]""#)
        }
        let items = o["items"] ?? [String: Any]()
        if (items as? [String: Any])?.isEmpty == true && minItems == 0 && maxItems == nil {
            return primitive("array", as: ruleName == "root" ? "root" : "array")
        }
        let itemRule = try visit(items, name: sub + "item", path: path + "/items", depth: depth + 1)
        return addRule(ruleName, #""[" space "# + JSONSchemaRules.repetition(itemRule, min: minItems, max: maxItems, separator: #""," space"#) + #" space "]""#)
    }

    mutating func string(_ o: [String: Any], ruleName: String, path: String, typed: Bool) throws -> String {
        try refuseUnused(o, used: ["type", "minLength", "maxLength", "format"], type: "string", path: path)
        let minLength = try count(o, "minLength", path: path) ?? 0
        let maxLength = try count(o, "maxLength", path: path)
        if let format = o["format"] {
            guard let f = format as? String else { throw fail(path, "format must be a string") }
            guard o["minLength"] == nil && o["maxLength"] == nil else { throw fail(path, "minLength/maxLength with format is not supported") }
            switch f {
            case "date", "time", "date-time": return addRule(ruleName, primitive(f + "-string"))
            case "uuid": return primitive("uuid", as: ruleName == "root" ? "root" : "uuid")
            default: throw fail(path, "format '\(f)' is not supported (date, time, date-time, uuid are)")
            }
        }
        if let maxLength, maxLength < minLength { throw fail(path, "minLength \(minLength) is above maxLength \(maxLength)") }
        if minLength > 0 || maxLength != nil {
            let char = primitive("char")
            return addRule(ruleName, #""\"" "# + JSONSchemaRules.repetition(char, min: minLength, max: maxLength) + #" "\"""#)
        }
        return primitive("string", as: ruleName == "root" ? "root" : "string")
    }

    /// allOf of object schemas (through $ref, and anyOf of objects whose properties become
    /// optional), merged into one object that allows no other properties.
    mutating func allOf(_ o: [String: Any], ruleName: String, name: String, path: String, depth: Int) throws -> String {
        try refuseUnused(o, used: ["type", "allOf"], type: "object", path: path)
        var properties: [(String, Any)] = []
        var required: Set<String> = []
        func add(_ component: Any, required isRequired: Bool, path: String, hops: Int) throws {
            guard hops <= Self.maxDepth, let c = component as? [String: Any] else { throw fail(path, "allOf supports only object schemas") }
            if let ref = c["$ref"] as? String {
                try refuseUnused(c, used: ["$ref"], type: nil, path: path)
                return try add(try target(of: ref, path: path), required: isRequired, path: ref, hops: hops + 1)
            }
            if let alts = c["anyOf"] ?? c["oneOf"], isRequired {
                try refuseUnused(c, used: ["anyOf", "oneOf"], type: nil, path: path)
                for (i, alt) in try schemas(alts, path: path).enumerated() { try add(alt, required: false, path: path + "/anyOf/\(i)", hops: hops + 1) }
                return
            }
            guard c["type"] as? String == "object" || c["properties"] != nil else { throw fail(path, "allOf supports only object schemas") }
            try refuseUnused(c, used: ["type", "properties", "required", "additionalProperties"], type: "object", path: path)
            if let a = c["additionalProperties"], !(isJSONBool(a) && a as? Bool == false) {
                throw fail(path, "additionalProperties in an allOf component is not supported")
            }
            let props = try propertyList(c, path: path)
            let req = try requiredNames(c, properties: props, path: path)
            for (k, v) in props {
                if properties.contains(where: { $0.0 == k }) { throw fail(path, "property '\(k)' in two allOf components is not supported") }
                properties.append((k, v))
                if isRequired && req.contains(k) { required.insert(k) }
            }
        }
        for (i, c) in try schemas(o["allOf"]!, path: path + "/allOf").enumerated() {
            try add(c, required: true, path: path + "/allOf/\(i)", hops: 0)
        }
        return addRule(ruleName, try buildObject(properties, required: required, name: name, additional: .none, path: path, depth: depth))
    }

    /// The schema a `#/...` reference points to.
    func target(of ref: String, path: String) throws -> Any {
        guard ref == "#" || ref.hasPrefix("#/") else { throw fail(path, "$ref '\(ref)' is not supported: only #/... references") }
        var target: Any = root
        for raw in ref.dropFirst().split(separator: "/") {
            let key = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            if let o = target as? [String: Any], let next = o[key] {
                target = next
            } else if let a = target as? [Any], let i = Int(key), a.indices.contains(i) {
                target = a[i]
            } else {
                throw fail(path, "cannot resolve $ref '\(ref)': '\(key)' not found")
            }
        }
        return target
    }
}
