import Foundation
import Tokenizer

/// Llama 3.x call bodies: what follows `<|python_tag|>`, or the whole output when it starts
/// with `{`. Either JSON calls `{"name": .., "parameters": {..}}` separated by `;` or
/// whitespace, or one builtin-tool call `NAME.call(K=V, ..)` with JSON values.
extension ToolCallBodyParser {
    func llama3(_ body: String) -> [ToolCall]? {
        let text = Substring(body).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("{") { return jsonCallSequence(text) }
        return builtinCall(text).map { [$0] }
    }

    /// `{..}` objects one after another, each a call; anything else between them fails.
    private func jsonCallSequence(_ text: String) -> [ToolCall]? {
        let chars = Array(text)
        var calls: [ToolCall] = [], i = 0
        while i < chars.count {
            guard chars[i] == "{", let end = Self.objectEnd(chars, from: i),
                  let v = json(String(chars[i..<end])), let c = call(from: v) else { return nil }
            calls.append(c)
            i = end
            while i < chars.count, chars[i].isWhitespace || chars[i] == ";" { i += 1 }
        }
        return calls.isEmpty ? nil : calls
    }

    /// The index after the `}` closing the object that opens at `start` (strings respected).
    static func objectEnd(_ chars: [Character], from start: Int) -> Int? {
        var depth = 0, inString = false, escaped = false
        for i in start..<chars.count {
            let c = chars[i]
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                continue
            }
            switch c {
            case "\"": inString = true
            case "{", "[": depth += 1
            case "}", "]":
                depth -= 1
                if depth == 0 { return i + 1 }
                if depth < 0 { return nil }
            default: break
            }
        }
        return nil
    }

    /// `brave_search.call(query="x", count=3)`: the tool name and keyword arguments whose
    /// values are JSON (Python-only literals such as 'single quotes' are not a call).
    private func builtinCall(_ text: String) -> ToolCall? {
        guard let open = text.range(of: ".call("), text.hasSuffix(")") else { return nil }
        let name = String(text[..<open.lowerBound]).trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.allSatisfy(Self.isIdentifier) else { return nil }
        let chars = Array(text[open.upperBound..<text.index(before: text.endIndex)])
        let args = JinjaDict()
        var i = 0
        func skipSpace() { while i < chars.count, chars[i].isWhitespace { i += 1 } }
        skipSpace()
        while i < chars.count {
            let keyStart = i
            while i < chars.count, Self.isIdentifier(chars[i]) { i += 1 }
            let key = String(chars[keyStart..<i])
            skipSpace()
            guard !key.isEmpty, args[key] == nil, i < chars.count, chars[i] == "=" else { return nil }
            i += 1
            skipSpace()
            let valueEnd = Self.valueEnd(chars, from: i)
            guard valueEnd > i, let value = json(String(chars[i..<valueEnd])) else { return nil }
            args[key] = value
            i = valueEnd
            skipSpace()
            if i < chars.count {
                guard chars[i] == "," else { return nil }
                i += 1
                skipSpace()
            }
        }
        guard let arguments = try? JinjaValue.dict(args).compactJSON() else { return nil }
        return ToolCall(name: name, arguments: arguments)
    }

    /// The end of a keyword argument's value: a string, a bracketed value, or up to the next comma.
    private static func valueEnd(_ chars: [Character], from start: Int) -> Int {
        guard start < chars.count else { return start }
        if chars[start] == "\"" {
            var i = start + 1, escaped = false
            while i < chars.count {
                if escaped { escaped = false } else if chars[i] == "\\" { escaped = true } else if chars[i] == "\"" { return i + 1 }
                i += 1
            }
            return chars.count
        }
        if chars[start] == "{" || chars[start] == "[" { return objectEnd(chars, from: start) ?? chars.count }
        var i = start
        while i < chars.count, chars[i] != "," { i += 1 }
        return i
    }

    private static func isIdentifier(_ c: Character) -> Bool { c == "_" || c.isLetter || c.isNumber }
}
