import Foundation

/// JSON schema -> GBNF, following llama.cpp's json-schema-to-grammar (common/json-schema.cpp
/// and json-schema-to-grammar.cpp): the same rule shapes and names. Differences, all on the
/// side of refusing rather than weakening: a keyword that would constrain the output but is
/// not implemented (pattern, multipleOf, minimum on non-integers, an unknown format, sibling
/// keywords a branch would ignore, ...) is an error naming it and its path. Object properties
/// come in sorted key order (the request's JSON object carries no order).
public enum JSONSchemaGrammar {
    /// The GBNF text for `schema` (a value from JSONSerialization).
    public static func gbnf(for schema: Any) throws -> String {
        var converter = JSONSchemaConverter(root: schema)
        _ = try converter.visit(schema, name: "", path: "#", depth: 0)
        return converter.formatted()
    }

    /// The parsed grammar for `schema`.
    public static func grammar(for schema: Any) throws -> Grammar {
        try Grammar(parsing: gbnf(for: schema))
    }

    /// Several schemas in one grammar (a tool call's arguments, one schema per tool): each
    /// schema gets rules under its own name prefix (`$ref`s resolve within that schema), and
    /// `root` builds the root rule's body from the rule names the schemas produced.
    public static func gbnf(schemas: [(name: String, schema: Any)], root: ([String]) throws -> String) throws -> String {
        var converter = JSONSchemaConverter(root: [String: Any]())
        var names: [String] = []
        for (name, schema) in schemas {
            converter.beginDocument(schema)
            names.append(try converter.visit(schema, name: name, path: "#", depth: 0))
        }
        converter.setRule("root", try root(names))
        return converter.formatted()
    }

    /// `text` as a GBNF string literal, matched exactly.
    public static func literal(_ text: String) -> String { JSONSchemaRules.literal(text) }
}

/// JSON true/false (JSONSerialization also bridges numbers to Bool; the decoded type tells them apart).
func isJSONBool(_ v: Any) -> Bool { "\(type(of: v))".contains("Bool") }

struct JSONSchemaConverter {
    static let maxDepth = 64
    /// Keywords that never constrain a value.
    static let annotations: Set<String> = ["title", "description", "$schema", "$id", "$comment", "examples", "default",
                                           "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "$anchor"]
    /// Keywords by the type they apply to; on a value of another type they are vacuous.
    static let families: [String: Set<String>] = [
        "string": ["minLength", "maxLength", "pattern", "format", "contentEncoding", "contentMediaType"],
        "number": ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"],
        "object": ["properties", "required", "additionalProperties", "patternProperties", "minProperties", "maxProperties",
                   "propertyNames", "dependentRequired", "dependentSchemas", "dependencies", "unevaluatedProperties"],
        "array": ["items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains", "minContains", "maxContains",
                  "additionalItems", "unevaluatedItems"],
    ]

    private(set) var root: Any
    private var rules: [String: String] = ["space": JSONSchemaRules.space]
    /// $ref -> the rule that matches its target.
    private var refRules: [String: String] = [:]

    init(root: Any) { self.root = root }

    /// Starts another schema in the same grammar: its `$ref`s point into it.
    mutating func beginDocument(_ schema: Any) {
        root = schema
        refRules = [:]
    }

    mutating func setRule(_ name: String, _ body: String) { rules[name] = body }

    func formatted() -> String { rules.keys.sorted().map { "\($0) ::= \(rules[$0]!)\n" }.joined() }

    func fail(_ path: String, _ message: String) -> GrammarError { GrammarError("json schema at \(path): \(message)") }

    /// Adds a rule under `name` (made GBNF-safe), or under name + N when the name is taken.
    mutating func addRule(_ name: String, _ body: String) -> String {
        var safe = name.replacingOccurrences(of: "[^a-zA-Z0-9-]+", with: "-", options: .regularExpression)
        if safe.isEmpty { safe = "r" }
        if rules[safe] == nil || rules[safe] == body {
            rules[safe] = body
            return safe
        }
        var i = 0
        while let existing = rules[safe + String(i)], existing != body { i += 1 }
        rules[safe + String(i)] = body
        return safe + String(i)
    }

    mutating func primitive(_ name: String, as ruleName: String? = nil) -> String {
        let (body, deps) = JSONSchemaRules.primitives[name]!  // names come from the fixed table
        let n = addRule(ruleName ?? name, body)
        for d in deps where rules[d] == nil { _ = primitive(d) }
        return n
    }

    /// Fails on any keyword of `o` outside `used`, annotations, and the families of other types.
    func refuseUnused(_ o: [String: Any], used: Set<String>, type: String?, path: String) throws {
        var vacuous: Set<String> = []
        if let type {
            let family = type == "integer" ? "number" : type
            for (f, keys) in Self.families where f != family { vacuous.formUnion(keys) }
        }
        for key in o.keys.sorted() where !used.contains(key) && !Self.annotations.contains(key) && !vacuous.contains(key) {
            throw fail(path, "keyword '\(key)' is not supported by hotmoe here")
        }
    }

    func count(_ o: [String: Any], _ key: String, path: String) throws -> Int? {
        guard let v = o[key] else { return nil }
        guard let n = v as? NSNumber, !isJSONBool(v), n.doubleValue == n.doubleValue.rounded(), n.doubleValue >= 0 else {
            throw fail(path, "\(key) must be a non-negative integer")
        }
        guard n.doubleValue <= Double(GrammarLimits.maxRepetition) else {
            throw fail(path, "\(key) above \(GrammarLimits.maxRepetition) is not supported")
        }
        return n.intValue
    }

    mutating func visit(_ schema: Any, name: String, path: String, depth: Int) throws -> String {
        guard depth <= Self.maxDepth else { throw fail(path, "schema nests deeper than \(Self.maxDepth)") }
        let ruleName = JSONSchemaRules.reservedNames.contains(name) ? name + "-" : name.isEmpty ? "root" : name
        if isJSONBool(schema), let b = schema as? Bool {
            guard b else { throw fail(path, "the schema false matches nothing") }
            return addRule(ruleName, primitive("value"))
        }
        guard let o = schema as? [String: Any] else { throw fail(path, "a schema must be an object") }
        let sub = name.isEmpty ? "" : name + "-"

        if let ref = o["$ref"] {
            try refuseUnused(o, used: ["$ref"], type: nil, path: path)
            return addRule(ruleName, try resolve(ref, path: path, depth: depth))
        }
        for key in ["oneOf", "anyOf"] where o[key] != nil {
            // oneOf is treated as anyOf, as llama.cpp does (a grammar cannot check exclusivity).
            try refuseUnused(o, used: [key], type: nil, path: path)
            let alts = try schemas(o[key]!, path: path + "/" + key)
            var names: [String] = []
            for (i, alt) in alts.enumerated() {
                names.append(try visit(alt, name: name + (name.isEmpty ? "alternative-" : "-") + String(i), path: path + "/\(key)/\(i)", depth: depth + 1))
            }
            return addRule(ruleName, names.joined(separator: " | "))
        }
        if let types = o["type"] as? [Any] {
            guard !types.isEmpty else { throw fail(path, "type must not be empty") }
            var names: [String] = []
            for (i, t) in types.enumerated() {
                var alt = o
                alt["type"] = t
                names.append(try visit(alt, name: name + (name.isEmpty ? "alternative-" : "-") + String(i), path: path + "/type/\(i)", depth: depth + 1))
            }
            return addRule(ruleName, names.joined(separator: " | "))
        }
        let type = o["type"]
        if type != nil && !(type is String) { throw fail(path, "type must be a string or an array of strings") }
        let typeName = type as? String
        if let value = o["const"] {
            try refuseUnused(o, used: ["const", "type"], type: nil, path: path)
            return addRule(ruleName, try constant(value, path: path))
        }
        if let values = o["enum"] {
            try refuseUnused(o, used: ["enum", "type"], type: nil, path: path)
            guard let list = values as? [Any], !list.isEmpty else { throw fail(path, "enum must be a non-empty array") }
            return addRule(ruleName, "(" + (try list.map { try constant($0, path: path) }).joined(separator: " | ") + ")")
        }
        let hasProperties = o["properties"] != nil || (o["additionalProperties"].map { !(isJSONBool($0) && $0 as? Bool == true) } ?? false)
        switch typeName {
        case nil:
            if hasProperties { return try object(o, ruleName: ruleName, name: name, path: path, depth: depth, typed: false) }
            if o["allOf"] != nil { return try allOf(o, ruleName: ruleName, name: name, path: path, depth: depth) }
            if o["items"] != nil || o["prefixItems"] != nil { return try array(o, ruleName: ruleName, sub: sub, path: path, depth: depth, typed: false) }
            if o["minLength"] != nil || o["maxLength"] != nil || o["format"] != nil || o["pattern"] != nil {
                return try string(o, ruleName: ruleName, path: path, typed: false)
            }
            try refuseUnused(o, used: ["additionalProperties"], type: nil, path: path)
            return addRule(ruleName, primitive("value"))
        case "object":
            if !hasProperties && o["allOf"] != nil { return try allOf(o, ruleName: ruleName, name: name, path: path, depth: depth) }
            return try object(o, ruleName: ruleName, name: name, path: path, depth: depth, typed: true)
        case "array": return try array(o, ruleName: ruleName, sub: sub, path: path, depth: depth, typed: true)
        case "string": return try string(o, ruleName: ruleName, path: path, typed: true)
        case "integer":
            try refuseUnused(o, used: ["type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"], type: "integer", path: path)
            let lo = try bound(o, "minimum", path: path, roundUp: true) ?? bound(o, "exclusiveMinimum", path: path, roundUp: false).map { $0 + 1 }
            let hi = try bound(o, "maximum", path: path, roundUp: false) ?? bound(o, "exclusiveMaximum", path: path, roundUp: true).map { $0 - 1 }
            if lo == nil && hi == nil { return primitive("integer", as: ruleName == "root" ? "root" : "integer") }
            if let lo, let hi, lo > hi { throw fail(path, "minimum \(lo) is above maximum \(hi): no integer fits") }
            return addRule(ruleName, "(" + JSONSchemaRules.integerRange(min: lo, max: hi) + ")")
        case "number", "boolean", "null":
            try refuseUnused(o, used: ["type"], type: typeName, path: path)
            return primitive(typeName!, as: ruleName == "root" ? "root" : typeName!)
        default:
            throw fail(path, "unrecognized type '\(typeName!)'")
        }
    }

    func schemas(_ value: Any, path: String) throws -> [Any] {
        guard let list = value as? [Any], !list.isEmpty else { throw fail(path, "must be a non-empty array of schemas") }
        return list
    }

    /// A value as compact JSON, matched literally.
    private func constant(_ value: Any, path: String) throws -> String {
        let data: Data
        do { data = try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]) } catch {
            throw fail(path, "const/enum value is not JSON")
        }
        return JSONSchemaRules.literal(String(decoding: data, as: UTF8.self))
    }

    /// An integer bound, a fractional one rounded inwards.
    private func bound(_ o: [String: Any], _ key: String, path: String, roundUp: Bool) throws -> Int64? {
        guard let v = o[key] else { return nil }
        guard let n = v as? NSNumber, !isJSONBool(v), n.doubleValue.isFinite, abs(n.doubleValue) < 9e15 else {
            throw fail(path, "\(key) must be a number of magnitude below 9e15")
        }
        return Int64(roundUp ? n.doubleValue.rounded(.up) : n.doubleValue.rounded(.down))
    }

    // MARK: $ref

    /// The rule for a `#/...` reference; one seen before (or being resolved: recursion) is
    /// just named.
    private mutating func resolve(_ value: Any, path: String, depth: Int) throws -> String {
        guard let ref = value as? String else { throw fail(path, "$ref must be a string") }
        if let known = refRules[ref] { return known }
        let target = try target(of: ref, path: path)
        let base = "ref" + ref.dropFirst().replacingOccurrences(of: "[^a-zA-Z0-9-]+", with: "-", options: .regularExpression)
        var ruleName = base
        var i = 0
        while rules[ruleName] != nil || refRules.values.contains(ruleName) { ruleName = base + String(i); i += 1 }
        // Named before visiting: a reference back to it from inside (recursion) uses the name.
        refRules[ref] = ruleName
        let produced = try visit(target, name: ruleName, path: ref, depth: depth + 1)
        if produced != ruleName { rules[ruleName] = produced }  // a primitive's shared rule: alias it
        return ruleName
    }
}
