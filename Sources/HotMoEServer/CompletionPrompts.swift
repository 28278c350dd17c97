import Foundation
import Tokenizer

/// The `prompt` of /completion and /v1/completions as llama-server reads it:
/// - `"text"`, `[12, 34]`, `[12, "text", 34]` (one prompt: text pieces and token ids in order),
/// - `{"prompt_string": "text"}`,
/// - an array of those without bare numbers: one prompt per element, answered one result each.
/// BOS is added by the vocabulary's rule only when the prompt starts with text; special-token
/// text is parsed (llama-server's add_special / parse_special).
struct CompletionPrompts {
    let tokenizer: Tokenizer
    let vocabSize: Int

    func parse(_ value: Any?) throws -> [[Int32]] {
        guard let value, !(value is NSNull) else { throw APIError(400, "'prompt' is required") }
        let prompts: [[Int32]]
        if let list = value as? [Any], !list.contains(where: JSONFields.isNumber) {
            guard !list.isEmpty else { throw APIError(400, "'prompt' must not be empty") }
            prompts = try list.enumerated().map { try subprompt($1, path: "prompt[\($0)]") }
        } else {
            prompts = [try subprompt(value, path: "prompt")]
        }
        for (i, p) in prompts.enumerated() where p.isEmpty {
            throw APIError(400, prompts.count == 1 ? "the prompt is empty" : "prompt[\(i)] is empty")
        }
        return prompts
    }

    private func subprompt(_ value: Any, path: String) throws -> [Int32] {
        if let s = value as? String { return tokenizer.encode(s, parseSpecial: true) }
        if let o = value as? [String: Any] {
            if o["multimodal_data"] != nil {
                throw APIError(400, "\(path).multimodal_data: this model has no multimodal projector (hotmoe serves text models)")
            }
            guard let s = o["prompt_string"] as? String else {
                throw APIError(400, "\(path) must be a string, token ids, mixed strings and ids, or {\"prompt_string\": string}")
            }
            if let extra = o.keys.sorted().first(where: { $0 != "prompt_string" }) {
                throw APIError(400, "\(path).\(extra) is not supported")
            }
            return tokenizer.encode(s, parseSpecial: true)
        }
        guard let list = value as? [Any] else {
            throw APIError(400, "\(path) must be a string, token ids, mixed strings and ids, or {\"prompt_string\": string}")
        }
        var ids: [Int32] = []
        for (i, item) in list.enumerated() {
            if let s = item as? String {
                ids += tokenizer.encode(s, addBOS: i == 0 ? nil : false, parseSpecial: true)
            } else if JSONFields.isNumber(item), let n = item as? NSNumber, n.doubleValue == n.doubleValue.rounded(),
                      n.intValue >= 0, n.intValue < vocabSize {
                ids.append(Int32(n.intValue))
            } else {
                throw APIError(400, "\(path)[\(i)] must be a string or a token id in 0..<\(vocabSize)")
            }
        }
        return ids
    }
}
