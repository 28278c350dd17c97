import Engine
import Foundation
import Hummingbird

/// /v1/embeddings (OpenAI's shape) and /embedding (llama-server's native one), served when the
/// server runs with --embedding: the final hidden state after the output norm, pooled by
/// --pooling (default mean) and scaled to unit length, as llama-server computes them.
extension HotMoEServer {
    func addEmbeddingRoutes(_ router: Router<ServerContext>) {
        for path in ["/v1/embeddings", "/embeddings"] {
            router.post(RouterPath(path)) { req, ctx in await self.guarded { try await self.embeddings(req, ctx, openAI: true) } }
        }
        router.post("/embedding") { req, ctx in await self.guarded { try await self.embeddings(req, ctx, openAI: false) } }
    }

    private func embeddings(_ req: Request, _ ctx: ServerContext, openAI: Bool) async throws -> Response {
        guard options.embeddings else {
            throw APIError(501, "embeddings are off: start the server with --embedding", type: "not_supported_error")
        }
        let f = try JSONFields(try await body(req, ctx))
        try f.refuse(except: ["input", "content", "model", "encoding_format", "user", "embd_normalize"],
                     neutral: ["dimensions": { _ in false }])
        let input = f.object["input"] ?? f.object["content"]
        let prompts = try CompletionPrompts(tokenizer: tokenizer, vocabSize: model.config.vocabSize).parse(input)
        for (i, p) in prompts.enumerated() where p.count > slotContext {
            throw APIError(400, "input \(i) has \(p.count) tokens, a slot's context holds \(slotContext) (raise --ctx-size)")
        }
        let format = try f.string("encoding_format") ?? "float"
        guard ["float", "base64"].contains(format) else { throw APIError(400, "'encoding_format' must be \"float\" or \"base64\"") }
        var normalize = true
        if let n = try f.int("embd_normalize") {
            guard n == 2 || n == -1 else { throw APIError(400, "'embd_normalize' must be 2 (Euclidean) or -1 (none)") }
            normalize = n == 2
        }
        if openAI && options.pooling == .none {
            throw APIError(400, "--pooling none gives one vector per token, which OpenAI's /v1/embeddings cannot carry: use /embedding")
        }
        let slot = try await scheduler.acquire(prompt: [])
        let vectors: [[[Float]]]
        do { vectors = try await slot.embed(prompts, pooling: options.pooling, normalize: normalize && options.pooling != .none) } catch {
            await scheduler.release(slot)
            throw error
        }
        await scheduler.release(slot)
        let tokens = prompts.map(\.count).reduce(0, +)
        metrics.recordEmbedding(promptTokens: tokens, decodeCalls: prompts.map { ($0.count + options.batchSize - 1) / options.batchSize }.reduce(0, +))
        guard openAI else {
            return HotMoEServer.json(vectors.enumerated().map { i, v in ["index": i, "embedding": v.map { $0.map(Double.init) }] })
        }
        let data = vectors.enumerated().map { i, v -> [String: Any] in
            let vector = v[0]
            let encoded: Any = format == "base64"
                ? vector.withUnsafeBufferPointer { Data(buffer: $0).base64EncodedString() } as Any
                : vector.map(Double.init) as Any
            return ["object": "embedding", "index": i, "embedding": encoded]
        }
        return HotMoEServer.json(["object": "list", "data": data, "model": modelName,
                                  "usage": ["prompt_tokens": tokens, "total_tokens": tokens]])
    }
}
