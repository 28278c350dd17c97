import Engine
import Foundation

/// Constrained output as llama-server takes it: `grammar` (GBNF), `json_schema`, and OpenAI's
/// `response_format` ({"type": "json_object"[, "schema"]} or {"type": "json_schema",
/// "json_schema": {"name", "schema", "strict"}}). At most one of them per request.
extension JSONFields {
    func outputGrammar() throws -> Grammar? {
        var asked: [(field: String, make: () throws -> Grammar)] = []
        if has("grammar") {
            guard let text = object["grammar"] as? String else { throw APIError(400, "'grammar' must be a string (GBNF)") }
            if !text.isEmpty { asked.append(("grammar", { try Grammar(parsing: text) })) }
        }
        if has("json_schema") {
            let schema = object["json_schema"]!
            asked.append(("json_schema", { try JSONSchemaGrammar.grammar(for: schema) }))
        }
        if has("response_format"), let schema = try responseFormatSchema() {
            asked.append(("response_format", { try JSONSchemaGrammar.grammar(for: schema) }))
        }
        guard asked.count <= 1 else {
            throw APIError(400, "'\(asked[0].field)' and '\(asked[1].field)' cannot be used together (one grammar per request)")
        }
        guard let (field, make) = asked.first else { return nil }
        do { return try make() } catch let e as GrammarError {
            throw APIError(400, "'\(field)': \(e.description)")
        }
    }

    /// The schema `response_format` asks for, nil for plain text.
    private func responseFormatSchema() throws -> Any? {
        guard let format = object["response_format"] as? [String: Any], let type = format["type"] as? String else {
            throw APIError(400, "'response_format' must be an object with a 'type' (text, json_object or json_schema)")
        }
        func refuseOther(_ o: [String: Any], known: Set<String>, in field: String) throws {
            if let key = o.keys.sorted().first(where: { !known.contains($0) && !(o[$0] is NSNull) }) {
                throw APIError(400, "'\(field).\(key)' is not supported by hotmoe")
            }
        }
        switch type {
        case "text":
            try refuseOther(format, known: ["type"], in: "response_format")
            return nil
        case "json_object":
            try refuseOther(format, known: ["type", "schema"], in: "response_format")
            return format["schema"] ?? ["type": "object"]
        case "json_schema":
            try refuseOther(format, known: ["type", "json_schema"], in: "response_format")
            guard let spec = format["json_schema"] as? [String: Any] else {
                throw APIError(400, "'response_format.json_schema' must be an object {\"name\", \"schema\", \"strict\"}")
            }
            // Output under a grammar always matches the schema, so "strict" holds either way.
            try refuseOther(spec, known: ["name", "description", "schema", "strict"], in: "response_format.json_schema")
            return spec["schema"] ?? [String: Any]()
        default:
            throw APIError(400, "'response_format.type' must be text, json_object or json_schema, got '\(type)'")
        }
    }
}
