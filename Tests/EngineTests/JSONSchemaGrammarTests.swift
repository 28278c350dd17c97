@testable import Engine
import Foundation
import Testing

/// JSON schema -> GBNF: per schema, strings that must match and must not (through the parsed
/// grammar), integer ranges against brute force, and refusals that name the keyword.
@Suite struct JSONSchemaGrammarTests {
    static func matcher(_ schema: String) throws -> GrammarMatcher {
        let value = try JSONSerialization.jsonObject(with: Data(schema.utf8), options: [.fragmentsAllowed])
        return try GrammarMatcher(JSONSchemaGrammar.grammar(for: value))
    }

    static let cases: [(String, [String], [String])] = [
        (#"{}"#, [#"{"a": [1, "x", null]}"#, "12", #""s""#, "true"], ["", "{", "tru"]),
        (#"{"type": "string", "minLength": 3}"#, [#""foo""#, #""foobar""#], [#""""#, #""fo""#]),
        (#"{"type": "string", "maxLength": 3}"#, [#""""#, #""foo""#, #""\n\"x""#], [#""foobar""#]),
        (#"{"type": "string", "minLength": 1, "maxLength": 4}"#, [#""f""#, #""barf""#], [#""""#, #""barfo""#]),
        (#"{"type": "boolean"}"#, ["true", "false"], [#""true""#, "True", "FALSE"]),
        (#"{"type": "integer"}"#, ["0", "12345", "-7", "1234567890123456"], ["", "01", "007", "1.5", "12345678901234567"]),
        (#"{"type": "number"}"#, ["0", "-1.5", "3e10", "2.25E-3"], ["1.", ".5", "+1", "01"]),
        (#"{"type": "null"}"#, ["null"], ["nul", "\"null\""]),
        (#"{"const": "foo"}"#, [#""foo""#], ["foo", #""bar""#]),
        (#"{"const": {"b": [1, 2], "a": null}}"#, [#"{"a":null,"b":[1,2]}"#], [#"{"b":[1,2],"a":null}"#]),
        (#"{"enum": ["red", "amber", 3, null, true]}"#, [#""red""#, #""amber""#, "3", "null", "true"], [#""blue""#, "4", "false"]),
        (#"{"type": ["string", "null"], "maxLength": 2}"#, [#""ab""#, "null"], [#""abc""#, "0"]),
        (#"{"anyOf": [{"type": "integer"}, {"type": "boolean"}]}"#, ["1", "false"], [#""1""#]),
        (#"{"oneOf": [{"const": 1}, {"const": 2}]}"#, ["1", "2"], ["3"]),
        (#"{"type": "string", "format": "date"}"#, [#""2024-02-29""#], [#""2024-13-01""#, #""24-01-01""#]),
        (#"{"type": "string", "format": "time"}"#, [#""12:34:56Z""#, #""23:59:59.123+01:00""#], [#""24:00:00Z""#, #""12:34:56""#]),
        (#"{"type": "string", "format": "date-time"}"#, [#""2024-01-02T03:04:05Z""#], [#""2024-01-02 03:04:05Z""#]),
        (#"{"type": "string", "format": "uuid"}"#, [#""123e4567-e89b-12d3-a456-426614174000""#], [#""123e4567e89b12d3a456426614174000""#]),
        (#"{"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3}"#, ["[1]", "[1, 2, 3]", "[ 1,2 ]"], ["[]", "[1, 2, 3, 4]", #"["1"]"#]),
        (#"{"type": "array", "items": {"type": "boolean"}}"#, ["[]", "[true, false]"], ["[1]"]),
        (#"{"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]}"#, [#"[1, "a"]"#], ["[1]", #"["a", 1]"#, #"[1, "a", 2]"#]),
        (#"{"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}, "required": ["a"]}"#,
         [#"{"a": 1}"#, #"{"a": 1, "b": "x"}"#], ["{}", #"{"b": "x"}"#, #"{"a": 1, "c": 2}"#, #"{"a": "1"}"#]),
        (#"{"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"type": "integer"}}}"#,
         ["{}", #"{"b": 2}"#, #"{"a": 1, "c": 3}"#, #"{"a": 1, "b": 2, "c": 3}"#], [#"{"c": 3, "a": 1}"#, #"{"d": 1}"#]),
        (#"{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": {"type": "boolean"}}"#,
         [#"{"a": 1}"#, #"{"a": 1, "x": true, "y": false}"#], [#"{"a": 1, "x": 2}"#, #"{"a": 1, "a": true}"#]),
        (#"{"type": "object", "properties": {"ab": {"const": 1}}, "additionalProperties": true}"#,
         ["{}", #"{"ab": 1}"#, #"{"a": "anything"}"#, #"{"abc": [1]}"#], [#"{"ab": 2}"#]),
        (#"{"type": "object", "additionalProperties": false}"#, ["{}", "{ }"], [#"{"a": 1}"#]),
        (#"{"type": "object"}"#, ["{}", #"{"k": [1, {"n": null}]}"#], ["[]"]),
        (##"{"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}, {"$ref": "#/$defs/b"}], "$defs": {"b": {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}}}"##,
         [#"{"a": 1, "b": true}"#], [#"{"a": 1}"#, #"{"b": true}"#]),
        (##"{"$ref": "#/definitions/pair", "definitions": {"pair": {"type": "array", "prefixItems": [{"$ref": "#/definitions/n"}, {"$ref": "#/definitions/n"}]}, "n": {"type": "integer", "minimum": 0, "maximum": 9}}}"##,
         ["[1, 9]", "[0,0]"], ["[10, 1]", "[1]"]),
        (##"{"$defs": {"node": {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}}, "required": ["next"]}}, "$ref": "#/$defs/node"}"##,
         [#"{"next": null}"#, #"{"next": {"next": {"next": null}}}"#], [#"{"next": {}}"#]),
    ]

    @Test func schemasMatchWhatTheyAllowAndNothingElse() throws {
        for (schema, passing, failing) in Self.cases {
            let m = try Self.matcher(schema)
            for s in passing { #expect(try m.matches(s), "\(schema)\nmust match: \(s)") }
            for s in failing { #expect(try !m.matches(s), "\(schema)\nmust not match: \(s)") }
        }
    }

    /// Integer bounds (inclusive, exclusive, one-sided, negative, fractional) against the plain
    /// comparison, for every integer in a window around the bounds.
    @Test(arguments: [
        (#"{"type": "integer", "minimum": 0, "maximum": 100}"#, Int64(0), Int64(100)),
        (#"{"type": "integer", "minimum": -37, "maximum": 512}"#, -37, 512),
        (#"{"type": "integer", "minimum": -1000, "maximum": -3}"#, -1000, -3),
        (#"{"type": "integer", "minimum": 17}"#, 17, Int64.max),
        (#"{"type": "integer", "maximum": 250}"#, Int64.min, 250),
        (#"{"type": "integer", "maximum": -12}"#, Int64.min, -12),
        (#"{"type": "integer", "minimum": -25}"#, -25, Int64.max),
        (#"{"type": "integer", "exclusiveMinimum": 9, "exclusiveMaximum": 1001}"#, 10, 1000),
        (#"{"type": "integer", "minimum": 1.5, "maximum": 99.9}"#, 2, 99),
        (#"{"type": "integer", "minimum": 123, "maximum": 123}"#, 123, 123),
        (#"{"type": "integer", "minimum": 190, "maximum": 2099}"#, 190, 2099),
    ])
    func integerRangesMatchExactlyTheirIntegers(_ schema: String, _ lo: Int64, _ hi: Int64) throws {
        let m = try Self.matcher(schema)
        for n in Int64(-1100)...2200 {
            #expect(try m.matches(String(n)) == (lo <= n && n <= hi), "\(schema): \(n)")
        }
        #expect(try !m.matches("-0"), "\(schema): -0")
        #expect(try !m.matches("0" + String(max(lo, 1))), "\(schema): leading zero")
    }

    @Test(arguments: [
        (#"{"type": "string", "pattern": "^a+$"}"#, "'pattern'"),
        (#"{"type": "number", "minimum": 0}"#, "'minimum'"),
        (#"{"type": "integer", "multipleOf": 2}"#, "'multipleOf'"),
        (#"{"type": "string", "format": "email"}"#, "format 'email'"),
        (#"{"type": "array", "uniqueItems": true}"#, "'uniqueItems'"),
        (#"{"type": "object", "patternProperties": {"^x": {}}}"#, "'patternProperties'"),
        (#"{"type": "object", "properties": {"a": {}}, "anyOf": [{"required": ["a"]}]}"#, "'properties'"),
        (#"{"not": {"type": "null"}}"#, "'not'"),
        (#"{"type": "object", "properties": {"a": {}}, "required": ["b"]}"#, "'b'"),
        (#"{"$ref": "https://example.com/s.json"}"#, "only"),
        (##"{"$ref": "#/$defs/missing"}"##, "'$defs' not found"),
        (#"{"type": "integer", "minimum": 5, "maximum": 1}"#, "no integer"),
        (#"{"type": "string", "maxLength": 100000}"#, "maxLength"),
        (#"{"type": "sometimes"}"#, "unrecognized type"),
        (#"{"allOf": [{"type": "string"}]}"#, "allOf supports only object"),
        ("false", "matches nothing"),
        (##"{"$ref": "#"}"##, "left-recursive"),
    ])
    func unsupportedOrBrokenSchemasAreRefusedByName(_ schema: String, _ message: String) throws {
        do {
            _ = try Self.matcher(schema)
            Issue.record("accepted: \(schema)")
        } catch {
            #expect("\(error)".contains(message), "\(schema): \(error)")
        }
    }

    @Test func deeplyNestedSchemaIsRefusedNotOverflowed() throws {
        var schema: Any = ["type": "integer"]
        for _ in 0..<500 { schema = ["type": "array", "items": schema] }
        #expect(throws: GrammarError.self) { try JSONSchemaGrammar.grammar(for: schema) }
    }
}
