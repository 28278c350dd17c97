import FuzzDriver
import Foundation
import Tokenizer

/// Jinja chat templates on arbitrary text: parsing fails with an error or gives a template
/// that renders a tool conversation within small step and output bounds (a hostile template
/// must end with an error, never a trap, a hang or unbounded recursion).
let limits: JinjaTemplate.Limits = {
    var l = JinjaTemplate.Limits()
    l.maxSteps = 200_000
    l.maxOutputBytes = 1 << 20
    return l
}()

let context: [String: JinjaValue] = {
    let call = JinjaValue.object([("id", .string("a1b2c3d4e")), ("type", .string("function")),
                                  ("function", .object([("name", .string("f")), ("arguments", .object([("x", .int(1))]))]))])
    let messages: [JinjaValue] = [
        .object([("role", .string("system")), ("content", .string("sys"))]),
        .object([("role", .string("user")), ("content", .string("hi"))]),
        .object([("role", .string("assistant")), ("content", .string("")), ("tool_calls", .array([call]))]),
        .object([("role", .string("tool")), ("tool_call_id", .string("a1b2c3d4e")), ("content", .string("ok"))]),
    ]
    let tool = JinjaValue.object([("type", .string("function")), ("function", .object([("name", .string("f")),
                                  ("parameters", .object([("type", .string("object"))]))]))])
    return ["messages": .array(messages), "tools": .array([tool]), "bos_token": .string("<s>"), "eos_token": .string("</s>"),
            "add_generation_prompt": .bool(true)]
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTemplate(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let source = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let template = try? JinjaTemplate(source) else { return 0 }
    _ = try? template.render(context, now: Date(timeIntervalSince1970: 0), limits: limits)
    return 0
}

runFuzzDriver { fuzzTemplate($0, $1) }
