import Foundation

/// Perplexity as llama.cpp's `llama-perplexity` computes it: the tokens are cut into chunks of
/// `context`; each chunk is evaluated from an empty state (its first token replaced by BOS when
/// the vocabulary adds one), and only the second half of each chunk is scored (so every scored
/// token has at least context/2 tokens before it): nll += -log softmax(logits[i])[token[i+1]].
public struct PerplexityResult: Sendable {
    public var perplexity: Double
    /// llama.cpp's "+/-": the standard error of the mean negative log-likelihood, times PPL.
    public var uncertainty: Double
    /// Running perplexity after each chunk (llama.cpp prints these as [1]x,[2]y,...).
    public var afterChunk: [Double]
    public var scoredTokens: Int
}

public enum Perplexity {
    public enum Failure: Error, CustomStringConvertible {
        case tooFewTokens(have: Int, need: Int, context: Int)
        public var description: String {
            switch self {
            case .tooFewTokens(let have, let need, let context):
                "the text tokenizes to \(have) tokens; perplexity with a context of \(context) needs at least \(need) (2 x context)"
            }
        }
    }

    /// `chunks`: at most this many chunks (nil: all that fit).
    public static func evaluate(session: InferenceSession, tokens: [Int32], context: Int, bos: Int32?,
                                chunks: Int? = nil, progress: (Int, Int, Double) -> Void = { _, _, _ in }) throws -> PerplexityResult {
        guard tokens.count >= 2 * context else { throw Failure.tooFewTokens(have: tokens.count, need: 2 * context, context: context) }
        let total = min(tokens.count / context, chunks ?? .max)
        let first = context / 2, vocab = session.model.config.vocabSize
        var nll = 0.0, nll2 = 0.0, count = 0
        var running = [Double]()
        for chunk in 0..<total {
            var input = Array(tokens[(chunk * context)..<((chunk + 1) * context)])
            let next = input  // targets: the original tokens, BOS substitution only changes the input
            if let bos { input[0] = bos }
            session.reset()
            let logits = try session.forward(input, logits: .all)
            for i in first..<(context - 1) {
                let v = -logSoftmax(UnsafeBufferPointer(rebasing: logits[(i * vocab)..<((i + 1) * vocab)]), Int(next[i + 1]))
                nll += v
                nll2 += v * v
            }
            count += context - 1 - first
            running.append(exp(nll / Double(count)))
            progress(chunk + 1, total, running.last!)
        }
        let mean = nll / Double(count)
        var variance = nll2 / Double(count) - mean * mean
        variance = variance > 0 ? (variance / Double(count - 1)).squareRoot() : 0
        return PerplexityResult(perplexity: exp(mean), uncertainty: variance * exp(mean), afterChunk: running, scoredTokens: count)
    }

    /// log softmax(logits)[token], with llama.cpp's arithmetic (float differences, double sum).
    static func logSoftmax(_ logits: UnsafeBufferPointer<Float>, _ token: Int) -> Double {
        var maxLogit = logits[0]
        for v in logits { maxLogit = max(maxLogit, v) }
        var sum = 0.0
        for v in logits { sum += Double(expf(v - maxLogit)) }
        return Double(logits[token] - maxLogit) - log(sum)
    }
}
