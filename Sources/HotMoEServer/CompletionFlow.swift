import Engine
import Foundation
import Hummingbird
import NIOCore
import Tokenizer

/// A validated completion request of any endpoint: one generation per prompt.
struct CompletionPlan: Sendable {
    var requests: [GenerationRequest]
    var stream: Bool
    var includeUsage: Bool
    /// llama-server's id_slot (nil: any slot, preferring the longest cached prefix).
    var slot: Int?
    var topLogprobs: Int?
    /// llama-server's timings_per_token: timings in every streamed event.
    var timingsPerToken = false
    /// Chat requests with tools: how to read calls out of the output.
    var tools = ToolSetup()
    /// Chat requests of a reasoning model: how thoughts are split from the answer.
    var reasoning: ReasoningSetup?
}

extension HotMoEServer {
    /// Fields, prompts and limits shared by the chat, completions and native endpoints.
    func completionPlan(_ f: JSONFields, chat: Bool, traceDomain: String? = nil) throws -> CompletionPlan {
        let (sampling, maxTokens, ignoreEOS) = try f.generationParameters(defaultMaxTokens: options.defaultMaxTokens,
                                                                          defaults: options.defaultSampling,
                                                                          defaultIgnoreEOS: options.defaultIgnoreEOS)
        let stream = try f.bool("stream") ?? false
        let includeUsage = ((f.object["stream_options"] as? [String: Any])?["include_usage"] as? Bool) ?? false
        let prompts: [[Int32]]
        var tools = ToolSetup()
        var reasoning: ReasoningSetup?
        if chat {
            let roles = (f.object["messages"] as? [Any])?.map { ($0 as? [String: Any])?["role"] as? String } ?? []
            if roles.count >= 2, roles.suffix(2).allSatisfy({ $0 == "assistant" }) {
                throw APIError(400, "cannot have 2 or more assistant messages at the end of the list")
            }
            tools = try toolSetup(f)
            let text = try renderChat(f, tools: tools.templateTools)
            reasoning = try reasoningSetup(f, prompt: text)
            prompts = [tokenizer.encode(text, parseSpecial: true)]
        } else {
            // Tool calls are a chat feature: on a text completion they would be ignored.
            let toolsOff = (f.object["tools"] as? [Any])?.isEmpty ?? !f.has("tools")
            let choiceOff = !f.has("tool_choice") || f.object["tool_choice"] as? String == "none"
            if !toolsOff || !choiceOff {
                throw APIError(400, "'\(toolsOff ? "tool_choice" : "tools")' is a chat field (POST /v1/chat/completions)")
            }
            prompts = try CompletionPrompts(tokenizer: tokenizer, vocabSize: model.config.vocabSize).parse(f.object["prompt"])
        }
        let choices = try f.int("n") ?? 1
        guard (1...16).contains(choices) else { throw APIError(400, "'n' must be in 1...16, got \(choices)") }
        if stream && prompts.count * choices > 1 {
            throw APIError(400, "'stream': true takes one prompt and one choice ('n': 1), got \(prompts.count) x \(choices)")
        }
        let ctxSize = slotContext
        for p in prompts {
            guard !p.isEmpty else { throw APIError(400, "the prompt is empty") }
            guard p.count < ctxSize else {
                throw APIError(400, "the request (\(p.count) prompt tokens) exceeds the available context size (\(ctxSize) tokens per slot; raise --ctx-size)",
                               type: "exceed_context_size_error", details: ["n_prompt_tokens": p.count, "n_ctx": ctxSize])
            }
        }
        let adjustments = try f.adjustments(defaults: options.defaultAdjustments, vocabSize: model.config.vocabSize,
                                            tokenize: { [tokenizer] in tokenizer.encode($0, addBOS: false, parseSpecial: false) })
        let topLogprobs = try f.topLogprobs(chat: chat)
        let stop = try f.stop()
        let reuse = try f.bool("cache_prompt") ?? true
        let returnProgress = try f.bool("return_progress") ?? false
        if returnProgress && !stream { throw APIError(400, "'return_progress' reports while streaming: it needs 'stream': true") }
        var grammar = try f.outputGrammar()
        if let forced = tools.grammar {
            guard grammar == nil else { throw APIError(400, "'tool_choice' forcing a call cannot be combined with 'grammar', 'json_schema' or 'response_format'") }
            grammar = forced
        }
        let constraint = try grammar.map { g in
            do { return try GrammarConstraint(grammar: g, vocabulary: grammarVocabulary) } catch { throw APIError(400, "\(error)") }
        }
        let shift = try contextShift(f)
        let preserved = Set(tools.preservedTokens.compactMap(tokenizer.tokenId))
        var slot: Int?
        if let s = try f.int("id_slot"), s >= 0 { slot = s }
        let requests = prompts.flatMap { p in [[Int32]](repeating: p, count: choices) }.map { p in
            // With a context shift the context never ends generation; without, what it has left caps it.
            let room = shift == nil ? ctxSize - p.count : Int.max
            return GenerationRequest(prompt: p, maxTokens: min(maxTokens, room), sampling: sampling, stop: stop,
                                     ignoreEOS: ignoreEOS, adjustments: adjustments, topLogprobs: topLogprobs, grammar: constraint,
                                     traceDomain: traceDomain ?? (chat ? "chat" : "completion"), reusePrefix: reuse,
                                     limitedByContext: maxTokens > room, returnProgress: returnProgress, preservedTokens: preserved,
                                     contextShift: shift.map { ContextShift(keep: ($0.keep < 0 ? p.count : $0.keep) + (tokenizer.addBOSByDefault ? 1 : 0),
                                                                            discard: $0.discard) })
        }
        return CompletionPlan(requests: requests, stream: stream, includeUsage: includeUsage, slot: slot, topLogprobs: topLogprobs,
                              timingsPerToken: try f.bool("timings_per_token") ?? false, tools: tools, reasoning: reasoning)
    }

    /// `n_keep` / `n_discard` under --context-shift (defaults 0: the BOS kept, half the rest
    /// dropped per shift); without it they have nothing to act on, so only 0 is accepted.
    func contextShift(_ f: JSONFields) throws -> (keep: Int, discard: Int)? {
        let keep = try f.int("n_keep") ?? 0, discard = try f.int("n_discard") ?? 0
        guard keep >= -1 else { throw APIError(400, "'n_keep' must be -1 (the whole prompt) or at least 0, got \(keep)") }
        guard discard >= 0 else { throw APIError(400, "'n_discard' must be at least 0, got \(discard)") }
        guard options.contextShift else {
            if keep != 0 || discard != 0 { throw APIError(400, "'\(keep != 0 ? "n_keep" : "n_discard")' applies to a context shift: start the server with --context-shift") }
            return nil
        }
        return (keep, discard)
    }

    /// Positions one slot holds (llama-server's n_ctx_seq).
    var slotContext: Int { options.contextSize }

    /// Runs every prompt of a plan to the end, each on its own slot (in parallel when slots are
    /// free); a prompt stops early once `connected` says the client has gone.
    func generateAll(_ plan: CompletionPlan, connected: @escaping @Sendable () -> Bool = { true }) async throws -> [GenerationResult] {
        let tokenizer = tokenizer
        let results = try await withThrowingTaskGroup(of: (Int, GenerationResult).self) { group in
            for (i, r) in plan.requests.enumerated() {
                group.addTask {
                    let slot = try await self.scheduler.acquire(slot: plan.slot, prompt: r.prompt)
                    do {
                        let result = try await slot.generate(r, tokenizer: tokenizer) { _ in connected() }
                        await self.scheduler.release(slot)
                        return (i, result)
                    } catch {
                        await self.scheduler.release(slot)
                        throw error
                    }
                }
            }
            var out = [GenerationResult?](repeating: nil, count: plan.requests.count)
            for try await (i, r) in group { out[i] = r }
            return out.compactMap { $0 }
        }
        results.forEach(metrics.record)
        afterRequest()
        return results
    }

    /// A server-sent-events response for one generation: `opening` events, one or more per
    /// piece of text, the `final` events, then `data: [DONE]` when `done` (the OpenAI endpoints;
    /// llama-server's native stream ends without it). A failure after the 200 is an error event.
    func streamResponse(_ gen: GenerationRequest, slot id: Int?, opening: @escaping @Sendable () -> [[String: Any]], done: Bool,
                        piece: @escaping @Sendable (GeneratedPiece) -> [[String: Any]],
                        final: @escaping @Sendable (GenerationResult) -> [[String: Any]]) async throws -> Response {
        let slot = try await scheduler.acquire(slot: id, prompt: gen.prompt)
        // Generation runs on the slot's thread; pieces cross over through an AsyncStream.
        let (pieces, continuation) = AsyncStream<GeneratedPiece>.makeStream()
        let cancelFlag = CancelFlag()
        let tokenizer = tokenizer
        let generation = Task {
            defer { continuation.finish() }
            return try await slot.generate(gen, tokenizer: tokenizer) { p in
                continuation.yield(p)
                return !cancelFlag.isSet
            }
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: ResponseBody { writer in
            func send(_ object: [String: Any]) async throws { try await writer.write(try HotMoEServer.sseEvent(object)) }
            var clientGone = false
            do {
                for event in opening() { try await send(event) }
                for await p in pieces { for event in piece(p) { try await send(event) } }
            } catch {
                clientGone = true
                cancelFlag.set()
            }
            let outcome = await generation.result
            await self.scheduler.release(slot)
            switch outcome {
            case .failure(let error):
                self.metrics.recordError()
                // The stream has already said 200: the failure goes to the client as an error event.
                if !clientGone { try? await send(["error": ["code": 500, "message": "\(error)", "type": "server_error"]]) }
            case .success(let result):
                self.metrics.record(result)
                if !clientGone {
                    for event in final(result) { try? await send(event) }
                    if done { try? await writer.write(ByteBuffer(string: "data: [DONE]\n\n")) }
                }
            }
            self.afterRequest()
            try? await writer.finish(nil)
        })
    }
}
