import Foundation

/// Timings of one generation, in llama.cpp's terms (prompt processing / token generation).
public struct GenerationStats: Sendable, Codable, Equatable {
    public var promptTokens = 0
    public var generatedTokens = 0
    public var promptSeconds = 0.0
    public var generationSeconds = 0.0
    public var stoppedBy: StopReason = .length

    /// `nonFiniteLogits`: the model computed no finite logit (see `NonFiniteLogitsError`).
    public enum StopReason: String, Sendable, Codable { case length, eos, stop, cancelled, contextFull, nonFiniteLogits }

    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    public var generationTokensPerSecond: Double {
        // The first generated token comes from the prompt's logits; the rate counts decode steps.
        let steps = max(0, generatedTokens - 1)
        return generationSeconds > 0 ? Double(steps) / generationSeconds : 0
    }
}

/// Drives a session: prefill the prompt, then sample and decode one token at a time.
public enum Generator {
    /// `onToken` receives each new token; returning false stops generation (cancellation).
    /// Logits without a finite value stop generation before sampling (`.nonFiniteLogits`).
    public static func generate(session: InferenceSession, prompt: [Int32], maxTokens: Int,
                                sampler: inout Sampler, stopTokens: Set<Int32>,
                                onToken: (Int32) -> Bool) throws -> GenerationStats {
        var stats = GenerationStats()
        stats.promptTokens = prompt.count
        let clock = ContinuousClock()
        let t0 = clock.now
        var logits = try session.forward(prompt, logits: .last)
        stats.promptSeconds = (clock.now - t0).seconds
        let t1 = clock.now
        defer { stats.generationSeconds = (clock.now - t1).seconds }
        while stats.generatedTokens < maxTokens {
            guard Sampler.hasFiniteValue(logits) else {
                stats.stoppedBy = .nonFiniteLogits
                break
            }
            let token = sampler.sample(logits)
            stats.generatedTokens += 1
            if stopTokens.contains(token) {
                stats.stoppedBy = .eos
                stats.generationSeconds = (clock.now - t1).seconds
                return stats
            }
            guard onToken(token) else {
                stats.stoppedBy = .cancelled
                stats.generationSeconds = (clock.now - t1).seconds
                return stats
            }
            if stats.generatedTokens == maxTokens { break }
            if session.position >= session.cache.capacity {
                stats.stoppedBy = .contextFull
                break
            }
            logits = try session.forward(token: token, logits: .last)
        }
        stats.generationSeconds = (clock.now - t1).seconds
        return stats
    }
}

extension Duration {
    public var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}
