import Foundation
@testable import HotMoEServer
import Testing

/// Constrained output end to end on a random-weight model: whatever the model prefers, the
/// text follows the grammar or schema; bad grammars and schemas are 400s that say why.
@Suite(.serialized) struct GrammarServerTests {
    static let schema = #"""
    {"type": "object", "properties": {"color": {"enum": ["red", "green", "blue"]}, "ok": {"type": "boolean"},
     "n": {"type": "integer", "minimum": 0, "maximum": 20}}, "required": ["color", "ok", "n"], "additionalProperties": false}
    """#

    /// Checks `text` against `schema` by hand (an independent validator for this one schema).
    static func validates(_ text: String) -> Bool {
        guard let o = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return false }
        guard Set(o.keys) == ["color", "ok", "n"], let color = o["color"] as? String, ["red", "green", "blue"].contains(color) else { return false }
        guard let ok = o["ok"], "\(type(of: ok))".contains("Bool") else { return false }
        guard let n = o["n"] as? NSNumber, !"\(type(of: o["n"]!))".contains("Bool"), n.doubleValue == n.doubleValue.rounded(),
              (0...20).contains(n.intValue) else { return false }
        return true
    }

    static func chatContent(_ s: String) -> String? {
        ((object(s)["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
    }

    static func finishReason(_ s: String) -> String? { (object(s)["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }

    @Test func responseFormatJSONSchemaYieldsValidJSONForEverySeed() async throws {
        try await withServer { base, _ in
            for seed in 1...4 {
                let body = #"{"messages": [{"role": "user", "content": "Describe a thing."}], "max_tokens": 400, "temperature": 1.2, "seed": \#(seed), "#
                    + #""response_format": {"type": "json_schema", "json_schema": {"name": "thing", "strict": true, "schema": \#(Self.schema)}}}"#
                let (status, text, _) = try await request(base, "/v1/chat/completions", method: "POST", json: body)
                #expect(status == 200, "\(text)")
                let content = try #require(Self.chatContent(text))
                #expect(Self.validates(content), "seed \(seed): \(content)")
                #expect(Self.finishReason(text) == "stop", "seed \(seed): the grammar completes the object")
            }
            // json_schema on the native endpoint, and json_object, act the same way.
            let native = #"{"prompt": "x", "n_predict": 400, "temperature": 1, "seed": 9, "json_schema": \#(Self.schema)}"#
            let (s1, t1, _) = try await request(base, "/completion", method: "POST", json: native)
            #expect(s1 == 200 && Self.validates(object(t1)["content"] as? String ?? ""), "\(t1)")
            let object = #"{"messages": [{"role": "user", "content": "x"}], "max_tokens": 300, "temperature": 1, "seed": 3, "response_format": {"type": "json_object"}}"#
            let (s2, t2, _) = try await request(base, "/v1/chat/completions", method: "POST", json: object)
            let content = Self.chatContent(t2) ?? ""
            #expect(s2 == 200, "\(t2)")
            if Self.finishReason(t2) == "stop" {
                #expect((try? JSONSerialization.jsonObject(with: Data(content.utf8))) is [String: Any], "\(content)")
            } else {
                #expect(content.hasPrefix("{"), "\(content)")
            }
        }
    }

    @Test func yesNoGrammarYieldsExactlyOneOfThemStreamedOrNot() async throws {
        try await withServer { base, _ in
            for seed in 1...6 {
                let body = #"{"prompt": "Answer:", "max_tokens": 20, "temperature": 1.5, "seed": \#(seed), "grammar": "root ::= \"yes\" | \"no\""}"#
                for path in ["/v1/completions", "/completion"] {
                    let (status, text, _) = try await request(base, path, method: "POST", json: body)
                    #expect(status == 200, "\(text)")
                    // /completion answers in llama-server's native shape.
                    let answer = path == "/completion" ? object(text)["content"] as? String ?? "<none>" : completionText(text)
                    #expect(["yes", "no"].contains(answer), "\(path) seed \(seed): \(text)")
                }
                let stream = body.replacingOccurrences(of: #""seed""#, with: #""stream": true, "seed""#)
                let (status, sse, _) = try await request(base, "/v1/completions", method: "POST", json: stream)
                #expect(status == 200)
                let pieces = sse.split(separator: "\n").compactMap { line -> String? in
                    guard line.hasPrefix("data: {") else { return nil }
                    return (object(String(line.dropFirst(6)))["choices"] as? [[String: Any]])?.first?["text"] as? String
                }
                #expect(["yes", "no"].contains(pieces.joined()), "stream seed \(seed): \(sse)")
            }
        }
    }

    @Test func badGrammarsAndSchemasAre400sNamingTheProblem() async throws {
        try await withServer { base, _ in
            let bad: [(String, String)] = [
                (#""grammar": "root ::= foo""#, "undefined rule 'foo'"),
                (#""grammar": "root ::= \"a\" |""#, "200"),
                (#""grammar": "start ::= \"a\"""#, "no 'root' rule"),
                (#""grammar": 5"#, "'grammar' must be a string"),
                (#""json_schema": {"type": "string", "pattern": "^a$"}"#, "'pattern'"),
                (#""response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "number", "maximum": 3}}}"#, "'maximum'"),
                (#""response_format": {"type": "json_schema", "json_schema": {"schema": {}, "extra": 1}}"#, "'response_format.json_schema.extra'"),
                (#""response_format": {"type": "xml"}"#, "'response_format.type'"),
                (#""grammar": "root ::= \"a\"", "json_schema": {}"#, "cannot be used together"),
                (#""grammar": "root ::= \"a\"", "response_format": {"type": "json_object"}"#, "cannot be used together"),
            ]
            for (field, message) in bad {
                let (status, text, _) = try await request(base, "/v1/completions", method: "POST",
                                                          json: #"{"prompt": "x", "max_tokens": 4, \#(field)}"#)
                if message == "200" {
                    #expect(status == 200, "\(field): an empty last alternative is valid GBNF: \(text)")
                } else {
                    #expect(status == 400, "\(field): \(text)")
                    #expect(text.contains(message), "\(field): \(text)")
                }
            }
            // text format and an empty grammar mean no constraint.
            let plain = #"{"prompt": "x", "max_tokens": 2, "grammar": "", "response_format": {"type": "text"}}"#
            let (status, text, _) = try await request(base, "/v1/completions", method: "POST", json: plain)
            #expect(status == 200, "\(text)")
        }
    }
}
