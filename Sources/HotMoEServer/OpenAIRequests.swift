import Engine
import Foundation
import Tokenizer

/// A request error answered as OpenAI does: {"error": {"message", "type", "code"}}.
public struct APIError: Error, Sendable {
    public var status: Int
    public var message: String
    public var type = "invalid_request_error"
    /// Extra numeric fields of the error object (llama-server's n_prompt_tokens, n_ctx).
    public var details: [String: Int] = [:]

    public init(_ status: Int, _ message: String, type: String = "invalid_request_error", details: [String: Int] = [:]) {
        self.status = status
        self.message = message
        self.type = type
        self.details = details
    }

    var json: String {
        var error: [String: Any] = ["message": message, "type": type, "code": status]
        for (k, v) in details { error[k] = v }
        let body: [String: Any] = ["error": error]
        return String(decoding: try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]), as: UTF8.self)
    }
}

/// Field-by-field reading of a JSON body, with errors that name the field and the expected type.
struct JSONFields {
    let object: [String: Any]
    let ordered: JinjaDict

    init(_ data: Data) throws {
        guard !data.isEmpty else { throw APIError(400, "request body is empty; expected a JSON object") }
        let value: Any
        do { value = try JSONSerialization.jsonObject(with: data) } catch {
            throw APIError(400, "malformed JSON in request body")
        }
        guard let o = value as? [String: Any] else { throw APIError(400, "request body must be a JSON object") }
        object = o
        // Key order matters to templates (`tools|tojson`), and Foundation's dictionaries lose it.
        ordered = (try? JinjaValue.parseJSON(String(decoding: data, as: UTF8.self))).flatMap { v in
            if case .dict(let d) = v { return d } else { return nil }
        } ?? JinjaDict()
    }

    /// A JSON number (JSON booleans also bridge to NSNumber: tell them apart by the decoded type).
    static func isNumber(_ v: Any) -> Bool { v is NSNumber && !"\(type(of: v))".contains("Bool") }

    func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    func string(_ key: String) throws -> String? {
        guard has(key) else { return nil }
        guard let s = object[key] as? String else { throw APIError(400, "'\(key)' must be a string") }
        return s
    }

    func number(_ key: String) throws -> Double? {
        guard has(key) else { return nil }
        let value = object[key]!
        guard Self.isNumber(value), let n = value as? NSNumber else {
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

    /// The sampling and length fields shared by both endpoints; fields a request leaves out
    /// take the server's defaults (`--temp`, `--top-k`, ... on the command line).
    func generationParameters(defaultMaxTokens: Int, defaults: SamplingParams = SamplingParams(),
                              defaultIgnoreEOS: Bool = false) throws -> (SamplingParams, Int, Bool) {
        var p = defaults
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
        // -1 is llama-server's "until the context is full".
        guard maxTokens >= -1 else { throw APIError(400, "'max_tokens' must be >= 0 (or -1: until the context is full), got \(maxTokens)") }
        return (p, maxTokens == -1 ? Int.max / 2 : maxTokens, try bool("ignore_eos") ?? defaultIgnoreEOS)
    }

    /// Logit bias and penalties; fields left out take the server's defaults. `logit_bias` is
    /// OpenAI's {"id": bias} or llama.cpp's [[id, bias | false], ...]; a key that is text (not an
    /// id) applies to every token of that text, as llama-server does.
    func adjustments(defaults: LogitAdjustments, vocabSize: Int, tokenize: (String) -> [Int32] = { _ in [] }) throws -> LogitAdjustments {
        var a = defaults
        if let v = try number("frequency_penalty") { a.frequencyPenalty = Float(v) }
        if let v = try number("presence_penalty") { a.presencePenalty = Float(v) }
        if let v = try number("repeat_penalty") { a.repeatPenalty = Float(v) }
        if let v = try int("repeat_last_n") { a.repeatLastN = v }
        if has("logit_bias") {
            var bias: [Int32: Float] = [:]
            func entry(_ key: Any, _ value: Any) throws {
                let ids: [Int32]
                if let s = key as? String, let n = Int32(s) {
                    ids = [n]
                } else if Self.isNumber(key), let n = key as? NSNumber {
                    ids = [n.int32Value]
                } else if let s = key as? String {
                    ids = tokenize(s)
                    guard !ids.isEmpty else { throw APIError(400, "'logit_bias' key \"\(s)\" has no tokens") }
                } else {
                    throw APIError(400, "'logit_bias' keys must be token ids or text")
                }
                // JSON booleans also bridge to NSNumber: tell them apart by the decoded type.
                if "\(type(of: value))".contains("Bool") {
                    guard value as? Bool == false else { throw APIError(400, "'logit_bias': true is not a bias (false bans the token)") }
                    for id in ids { bias[id] = -.infinity }
                } else if let n = value as? NSNumber {
                    for id in ids { bias[id] = n.floatValue }
                } else {
                    throw APIError(400, "'logit_bias' values must be numbers (or false)")
                }
            }
            if let o = object["logit_bias"] as? [String: Any] {
                for (k, v) in o { try entry(k, v) }
            } else if let list = object["logit_bias"] as? [Any] {
                for item in list {
                    guard let pair = item as? [Any], pair.count == 2 else { throw APIError(400, "'logit_bias' entries must be [token id, bias]") }
                    try entry(pair[0], pair[1])
                }
            } else {
                throw APIError(400, "'logit_bias' must be an object {\"id\": bias} or a list of [id, bias]")
            }
            a.bias = bias
        }
        do { try a.validate(vocabSize: vocabSize) } catch { throw APIError(400, "\(error)") }
        return a
    }

    /// How many alternatives to report per generated token, nil for no logprobs: chat's
    /// `logprobs: true` + `top_logprobs` (0...20), completions' `logprobs: N`, llama.cpp's `n_probs`.
    func topLogprobs(chat: Bool) throws -> Int? {
        var n: Int?
        if chat {
            if try bool("logprobs") == true { n = try int("top_logprobs") ?? 0 } else if has("top_logprobs") {
                throw APIError(400, "'top_logprobs' needs 'logprobs': true")
            }
        } else {
            if has("top_logprobs") { throw APIError(400, "'top_logprobs' is a chat field; completions take 'logprobs': N") }
            if has("logprobs") && !(object["logprobs"] is Bool && object["logprobs"] as? Bool == false) { n = try int("logprobs") }
        }
        if let p = try int("n_probs"), p > 0 { n = max(n ?? 0, p) }
        if let n, !(0...20).contains(n) { throw APIError(400, "the number of logprobs per token must be in 0...20, got \(n)") }
        return n
    }

    /// Fields the endpoints act on.
    static let implemented: Set<String> = [
        "model", "prompt", "messages", "temperature", "top_p", "top_k", "min_p", "seed", "max_tokens",
        "max_completion_tokens", "n_predict", "n", "stop", "stream", "stream_options", "ignore_eos",
        "frequency_penalty", "presence_penalty", "repeat_penalty", "repeat_last_n", "logit_bias",
        "logprobs", "top_logprobs", "n_probs", "cache_prompt", "id_slot", "grammar", "json_schema", "response_format",
        "chat_template_kwargs", "verbose", "timings_per_token", "reasoning_format", "add_generation_prompt", "continue_final_message", "return_progress", "tools", "tool_choice", "parallel_tool_calls",
        "n_keep", "n_discard",
    ]
    /// Fields that never change a result: accepted as they are. `backend_sampling` asks to
    /// sample on the backend that holds the logits: in hotmoe that is always the CPU sampler,
    /// so true and false give the same tokens and probabilities (llama.cpp's contract).
    static let inert: Set<String> = ["user", "backend_sampling"]
    /// Fields hotmoe does not implement, with the value that means "off" (accepted), if any.
    static let neutral: [String: @Sendable (Any) -> Bool] = [
        "echo": { ($0 as? Bool) == false },
        "typical_p": { ($0 as? NSNumber)?.doubleValue == 1 },
        "mirostat": { ($0 as? NSNumber)?.intValue == 0 },
        "dry_multiplier": { ($0 as? NSNumber)?.doubleValue == 0 },
        "xtc_probability": { ($0 as? NSNumber)?.doubleValue == 0 },
    ]

    /// Refuses, with a 400 naming it, any field that would change the result but is not
    /// implemented: a field accepted and ignored would make the client believe it worked.
    /// `extra` / `extraNeutral`: an endpoint's own fields (the native /completion's).
    func refuseUnimplemented(extra: Set<String> = [], extraNeutral: [String: @Sendable (Any) -> Bool] = [:]) throws {
        _ = try bool("backend_sampling")
        try refuse(except: Self.implemented.union(Self.inert).union(extra), neutral: Self.neutral.merging(extraNeutral) { a, _ in a })
    }

    /// A 400 naming the first field outside `known` whose value is not null or, for a field in
    /// `neutral`, not its "off" value.
    func refuse(except known: Set<String>, neutral: [String: @Sendable (Any) -> Bool] = [:]) throws {
        for key in object.keys.sorted() where !known.contains(key) {
            let value = object[key]!
            if value is NSNull { continue }
            if let isOff = neutral[key] {
                if isOff(value) { continue }
                throw APIError(400, "'\(key)' is not supported by hotmoe (only its neutral value is accepted)")
            }
            throw APIError(400, "unknown or unsupported field '\(key)'")
        }
    }

    /// Chat messages as template objects, in the client's key order: role system, user,
    /// assistant, developer (passed as system) or tool; content a string, text parts or (for
    /// an assistant with tool_calls) null; tool_calls, tool_call_id, name, reasoning_content.
    func messages() throws -> [JinjaValue] {
        guard let raw = ordered["messages"] else { throw APIError(400, "'messages' is required") }
        guard case .list(let list) = raw, !list.items.isEmpty else { throw APIError(400, "'messages' must be a non-empty array") }
        return try list.items.enumerated().map { i, m in try Self.message(m, at: i) }
    }

    private static let messageFields: Set<String> = ["role", "content", "tool_calls", "tool_call_id", "name", "reasoning_content"]

    private static func message(_ m: JinjaValue, at i: Int) throws -> JinjaValue {
        guard case .dict(let o) = m else { throw APIError(400, "messages[\(i)] must be an object") }
        guard case .string(var role)? = o["role"], ["system", "user", "assistant", "developer", "tool"].contains(role) else {
            throw APIError(400, "messages[\(i)].role must be system, user, assistant, developer or tool")
        }
        if role == "developer" { role = "system" }
        let out = JinjaDict()
        for p in o.pairs {
            guard case .string(let key) = p.key.value, messageFields.contains(key) else {
                throw APIError(400, "messages[\(i)]: unsupported field '\(p.key.value.text)'")
            }
            out[key] = p.value
        }
        out["role"] = .string(role)
        switch o["content"] {
        case .string?: break
        case .list(let parts)?:
            let texts = try parts.items.enumerated().map { j, part -> String in
                if case .dict(let p) = part, case .string(let type)? = p["type"], ["image_url", "input_audio", "image", "audio", "file"].contains(type) {
                    throw APIError(400, "messages[\(i)].content[\(j)]: \(type) input is not supported: hotmoe serves text-only models (no multimodal projector)")
                }
                guard case .dict(let p) = part, case .string("text")? = p["type"], case .string(let t)? = p["text"] else {
                    throw APIError(400, "messages[\(i)].content[\(j)] must be {\"type\": \"text\", \"text\": string}")
                }
                return t
            }
            out["content"] = .string(texts.joined())
        case nil, .none?:
            guard role == "assistant", o["tool_calls"] != nil else {
                throw APIError(400, "messages[\(i)].content must be a string or an array of text parts")
            }
            out["content"] = JinjaValue.none
        default: throw APIError(400, "messages[\(i)].content must be a string or an array of text parts")
        }
        for key in ["tool_call_id", "name", "reasoning_content"] {
            if let v = o[key], !v.isNone { guard case .string = v else { throw APIError(400, "messages[\(i)].\(key) must be a string") } }
        }
        if let calls = o["tool_calls"], !calls.isNone {
            guard role == "assistant", case .list(let list) = calls else {
                throw APIError(400, "messages[\(i)].tool_calls must be an array (on an assistant message)")
            }
            for (j, call) in list.items.enumerated() {
                guard case .dict(let c) = call, case .dict(let f)? = c["function"], case .string? = f["name"] else {
                    throw APIError(400, "messages[\(i)].tool_calls[\(j)] must be {\"type\": \"function\", \"function\": {\"name\", \"arguments\"}}")
                }
                switch f["arguments"] {
                case .string?, .dict?, nil: break
                default: throw APIError(400, "messages[\(i)].tool_calls[\(j)].function.arguments must be a JSON string or an object")
                }
            }
        }
        return .dict(out)
    }

    /// `tools`: [{"type": "function", "function": {"name", "description", "parameters"}}].
    func tools() throws -> [JinjaValue] {
        guard let raw = ordered["tools"], !raw.isNone else { return [] }
        guard case .list(let list) = raw else { throw APIError(400, "'tools' must be an array") }
        for (i, t) in list.items.enumerated() {
            guard case .dict(let d) = t, case .string("function")? = d["type"], case .dict(let f)? = d["function"], case .string? = f["name"] else {
                throw APIError(400, "tools[\(i)] must be {\"type\": \"function\", \"function\": {\"name\": string, ...}}")
            }
        }
        return list.items
    }

    /// `chat_template_kwargs`: extra template variables, e.g. {"enable_thinking": false}.
    func chatTemplateKwargs() throws -> [String: JinjaValue] {
        guard let raw = ordered["chat_template_kwargs"], !raw.isNone else { return [:] }
        guard case .dict(let d) = raw else { throw APIError(400, "'chat_template_kwargs' must be an object") }
        var out: [String: JinjaValue] = [:]
        for p in d.pairs { out[p.key.value.text] = p.value }
        return out
    }
}
