import Engine
import Foundation

/// A request error answered as OpenAI does: {"error": {"message", "type", "code"}}.
public struct APIError: Error, Sendable {
    public var status: Int
    public var message: String
    public var type = "invalid_request_error"

    public init(_ status: Int, _ message: String, type: String = "invalid_request_error") {
        self.status = status
        self.message = message
        self.type = type
    }

    var json: String {
        let body: [String: Any] = ["error": ["message": message, "type": type, "code": status]]
        return String(decoding: try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]), as: UTF8.self)
    }
}

/// Field-by-field reading of a JSON body, with errors that name the field and the expected type.
struct JSONFields {
    let object: [String: Any]

    init(_ data: Data) throws {
        guard !data.isEmpty else { throw APIError(400, "request body is empty; expected a JSON object") }
        let value: Any
        do { value = try JSONSerialization.jsonObject(with: data) } catch {
            throw APIError(400, "malformed JSON in request body")
        }
        guard let o = value as? [String: Any] else { throw APIError(400, "request body must be a JSON object") }
        object = o
    }

    func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    func string(_ key: String) throws -> String? {
        guard has(key) else { return nil }
        guard let s = object[key] as? String else { throw APIError(400, "'\(key)' must be a string") }
        return s
    }

    func number(_ key: String) throws -> Double? {
        guard has(key) else { return nil }
        let value = object[key]!
        // JSON true/false also bridge to NSNumber: tell them apart by the decoded Swift type.
        guard let n = value as? NSNumber, !"\(type(of: value))".contains("Bool") else {
            throw APIError(400, "'\(key)' must be a number")
        }
        return n.doubleValue
    }

    func int(_ key: String) throws -> Int? {
        guard let d = try number(key) else { return nil }
        guard d == d.rounded(), abs(d) < 1e12 else { throw APIError(400, "'\(key)' must be an integer") }
        return Int(d)
    }

    func bool(_ key: String) throws -> Bool? {
        guard has(key) else { return nil }
        guard let b = object[key] as? Bool else { throw APIError(400, "'\(key)' must be a boolean") }
        return b
    }

    /// `stop`: a string or an array of at most 4 strings.
    func stop() throws -> [String] {
        guard has("stop") else { return [] }
        if let s = object["stop"] as? String { return [s] }
        guard let a = object["stop"] as? [Any], a.count <= 4, let strings = a as? [String] else {
            throw APIError(400, "'stop' must be a string or an array of up to 4 strings")
        }
        return strings
    }

    /// The sampling and length fields shared by both endpoints, with llama-server's defaults.
    func generationParameters(defaultMaxTokens: Int) throws -> (SamplingParams, Int, Bool) {
        if let n = try int("n"), n != 1 { throw APIError(400, "'n' must be 1 (one choice per request)") }
        var p = SamplingParams()
        if let t = try number("temperature") { p.temperature = Float(t) }
        if let v = try number("top_p") { p.topP = Float(v) }
        if let v = try int("top_k") { p.topK = v }
        if let v = try number("min_p") { p.minP = Float(v) }
        if let v = try int("seed") {
            guard v >= 0 else { throw APIError(400, "'seed' must be >= 0") }
            p.seed = UInt64(v)
        }
        do { try p.validate() } catch { throw APIError(400, "\(error)") }
        let maxTokens = try int("max_completion_tokens") ?? int("max_tokens") ?? int("n_predict") ?? defaultMaxTokens
        guard maxTokens >= 0 else { throw APIError(400, "'max_tokens' must be >= 0, got \(maxTokens)") }
        return (p, maxTokens, try bool("ignore_eos") ?? false)
    }

    /// Chat messages: [{"role": "system|user|assistant", "content": string or [{"type":"text","text":...}]}].
    func messages() throws -> [(String, String)] {
        guard let raw = object["messages"] else { throw APIError(400, "'messages' is required") }
        guard let list = raw as? [Any], !list.isEmpty else { throw APIError(400, "'messages' must be a non-empty array") }
        return try list.enumerated().map { i, m in
            guard let o = m as? [String: Any] else { throw APIError(400, "messages[\(i)] must be an object") }
            guard let role = o["role"] as? String, ["system", "user", "assistant", "developer"].contains(role) else {
                throw APIError(400, "messages[\(i)].role must be system, user, assistant or developer")
            }
            if let c = o["content"] as? String { return (role == "developer" ? "system" : role, c) }
            if let parts = o["content"] as? [Any] {
                let texts = try parts.enumerated().map { j, part -> String in
                    guard let p = part as? [String: Any], p["type"] as? String == "text", let t = p["text"] as? String else {
                        throw APIError(400, "messages[\(i)].content[\(j)] must be {\"type\": \"text\", \"text\": string}")
                    }
                    return t
                }
                return (role, texts.joined())
            }
            throw APIError(400, "messages[\(i)].content must be a string or an array of text parts")
        }
    }
}
