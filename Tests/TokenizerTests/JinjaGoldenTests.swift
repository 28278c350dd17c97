import Foundation
import Testing
@testable import Tokenizer

/// Real chat templates rendered by hotmoe's Jinja interpreter against Python's jinja2 as
/// transformers configures it (Fixtures/chat_templates/golden.json, written by
/// tools/chat_template/make_golden.py): byte-equal output, or an error where jinja2 raised.
@Suite struct JinjaGoldenTests {
    struct Record {
        let template: String
        let caseName: String
        let context: [String: JinjaValue]
        let expected: String?
    }

    static let directory = Fixtures.directory.appendingPathComponent("chat_templates")

    static func records() throws -> (now: Date, records: [Record]) {
        let text = try String(contentsOf: directory.appendingPathComponent("golden.json"), encoding: .utf8)
        guard case .dict(let root) = try JinjaValue.parseJSON(text), case .list(let list)? = root["records"],
              case .string(let nowText)? = root["now"] else { throw JinjaError("golden.json: unexpected layout") }
        let formatter = ISO8601DateFormatter()
        guard let now = formatter.date(from: nowText) else { throw JinjaError("golden.json: bad 'now'") }
        let records = try list.items.map { item -> Record in
            guard case .dict(let r) = item, case .string(let t)? = r["template"], case .string(let c)? = r["case"],
                  case .dict(let ctx)? = r["context"] else { throw JinjaError("golden.json: bad record") }
            var context: [String: JinjaValue] = [:]
            for p in ctx.pairs { context[p.key.value.text] = p.value }
            var expected: String?
            if case .string(let e)? = r["expected"] { expected = e }
            return Record(template: t, caseName: c, context: context, expected: expected)
        }
        return (now, records)
    }

    @Test func everyTemplateMatchesJinja2() throws {
        let (now, records) = try Self.records()
        #expect(records.count >= 200)
        var templates: [String: JinjaTemplate] = [:]
        var matched = 0
        for r in records {
            if templates[r.template] == nil {
                let source = try String(contentsOf: Self.directory.appendingPathComponent(r.template + ".jinja"), encoding: .utf8)
                templates[r.template] = try JinjaTemplate(source)
            }
            let template = templates[r.template]!
            let result = Result { try template.render(r.context, now: now) }
            switch (result, r.expected) {
            case (.success(let got), let expected?):
                #expect(got == expected, "\(r.template) / \(r.caseName)")
                if got == expected { matched += 1 }
            case (.failure(let e), let expected?):
                Issue.record("\(r.template) / \(r.caseName): jinja2 rendered \(expected.utf8.count) bytes, hotmoe failed: \(e)")
            case (.success, nil):
                Issue.record("\(r.template) / \(r.caseName): jinja2 raised, hotmoe rendered")
            case (.failure, nil):
                matched += 1
            }
        }
        print("Jinja golden: \(matched)/\(records.count) cases over \(templates.count) templates match jinja2")
        #expect(matched == records.count)
    }
}

/// Operators, filters, tests, scoping and whitespace control, each against jinja2's output
/// (Fixtures/chat_templates/expressions.json from tools/chat_template/make_expression_golden.py).
@Suite struct JinjaSemanticsTests {
    @Test func expressionsMatchJinja2() throws {
        let text = try String(contentsOf: JinjaGoldenTests.directory.appendingPathComponent("expressions.json"), encoding: .utf8)
        guard case .list(let cases) = try JinjaValue.parseJSON(text) else { throw JinjaError("expressions.json: not a list") }
        #expect(cases.items.count >= 20)
        for item in cases.items {
            guard case .dict(let c) = item, case .string(let source)? = c["template"], case .string(let expected)? = c["expected"] else {
                throw JinjaError("expressions.json: bad case")
            }
            let got = Result { try JinjaTemplate(source).render([:]) }
            #expect((try? got.get()) == expected, "\(source): \(got)")
        }
    }

    @Test func undefinedAttributeIsAnErrorButMissingKeyIsUndefined() throws {
        #expect(try JinjaTemplate("[{{ m.missing }}]").render(["m": .object([("a", .int(1))])]) == "[]")
        #expect(throws: JinjaError.self) { try JinjaTemplate("{{ nope.attr }}").render([:]) }
        #expect(throws: JinjaError.self) { try JinjaTemplate("{{ nope + 1 }}").render([:]) }
    }

    /// llama.cpp's engine joins a string with an undefined or none operand of `+` as if it were
    /// empty (jinja2 raises); FireFunction v2's template relies on it. Numbers still refuse.
    @Test func stringPlusUndefinedOrNoneIsTheStringAsInLlamaCpp() throws {
        #expect(try JinjaTemplate("{{ 'a' + nope + 'b' }}|{{ nope + 'c' }}|{{ 'd' + none }}").render([:]) == "ab|c|d")
        #expect(throws: JinjaError.self) { try JinjaTemplate("{{ none + 1 }}").render([:]) }
        #expect(throws: JinjaError.self) { try JinjaTemplate("{{ [1] + nope }}").render([:]) }
    }

    @Test func raiseExceptionIsMarkedAsTheTemplates() throws {
        do {
            _ = try JinjaTemplate("{{ raise_exception('no system role') }}").render([:])
            Issue.record("expected an error")
        } catch let e as JinjaError {
            #expect(e.raisedByTemplate && e.message == "no system role")
        }
    }

    @Test func hostileTemplatesEndWithAnError() throws {
        let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        #expect(throws: JinjaError.self) { try JinjaTemplate("{{ \(deep) }}") }
        let nestedIf = String(repeating: "{% if true %}", count: 500) + String(repeating: "{% endif %}", count: 500)
        #expect(throws: JinjaError.self) { try JinjaTemplate(nestedIf) }
        var limits = JinjaTemplate.Limits()
        limits.maxSteps = 100_000
        #expect(throws: JinjaError.self) {
            try JinjaTemplate("{% for i in range(1000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}").render([:], limits: limits)
        }
        #expect(throws: JinjaError.self) { try JinjaTemplate("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}").render([:]) }
        #expect(throws: JinjaError.self) { try JinjaTemplate("{{ 'x' * 1000000000 }}").render([:]) }
        #expect(throws: JinjaError.self) { try JinjaTemplate("{% if %}").render([:]) }
        #expect(throws: JinjaError.self) { try JinjaTemplate("{{ 'unterminated }}").render([:]) }
        #expect(throws: JinjaError.self) { try JinjaTemplate("{% for x in y %}").render([:]) }
        #expect(throws: JinjaError.self) { try JinjaTemplate("{% set ns = namespace(a=1) %}{% set ns.me = ns %}").render([:]) }
        #expect(throws: JinjaError.self) { try JinjaTemplate("{% set l = [] %}{{ l.append(l) }}").render([:]) }
        // Sharing a container is not a cycle: the same list twice in another one is fine.
        #expect(try JinjaTemplate("{% set a = [1] %}{% set b = [] %}{% set _ = b.append(a) %}{% set _ = b.append(a) %}{{ b }}").render([:]) == "[[1], [1]]")
    }
}

/// A template that defines macros used to keep its scopes alive after rendering (the macro
/// is stored in the scope it captures), leaking every context value on every render:
/// found by the template fuzzer's leak check on the seed Fuzz/corpus/template/recursive-macro.jinja.
@Suite struct JinjaMemoryTests {
    @Test func renderingMacrosReleasesTheContext() throws {
        let templates = [
            "{% macro f(n) %}{{ obj }}{{ n }}{% endmacro %}{{ f(0) }}",
            // recursion ending on the depth limit (an error path)
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            // a macro defined in a loop, kept in a namespace of the outer scope, a call block
            "{% set ns = namespace(g=none) %}{% for i in [1, 2] %}{% macro g() %}{{ i }}{{ caller() }}{% endmacro %}{% set ns.g = g %}{% endfor %}{% call ns.g() %}x{% endcall %}",
            // containers made to hold themselves (refused: the cycle would outlive the render)
            "{% set ns = namespace(o=obj) %}{% set ns.me = ns %}",
            "{% set l = [obj] %}{{ l.append(l) }}",
            "{% set ns = namespace(l=[obj]) %}{{ ns.l.append(ns) }}",
            "{% set ns = namespace(o=obj) %}{% set d = {'n': [ns]} %}{% set ns.d = d %}",
        ]
        for source in templates {
            weak var watched: JinjaDict?
            try {
                let obj = JinjaDict()
                watched = obj
                _ = try? JinjaTemplate(source).render(["obj": .dict(obj)])
            }()
            #expect(watched == nil, "the context outlived the render of \(source)")
        }
    }
}
