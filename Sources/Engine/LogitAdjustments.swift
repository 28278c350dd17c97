/// Changes to the logits before sampling, as llama.cpp applies them ahead of its sampler
/// chain: the logit bias, then the penalties over the last `repeatLastN` tokens (the prompt's
/// tail included, as llama-server feeds it to the sampler):
/// a token seen c > 0 times gets logit / repeatPenalty (if positive) or logit * repeatPenalty,
/// then logit - c * frequencyPenalty - presencePenalty.
public struct LogitAdjustments: Sendable, Equatable {
    /// Token id -> bias added to its logit (-infinity bans it).
    public var bias: [Int32: Float] = [:]
    public var repeatPenalty: Float = 1
    public var frequencyPenalty: Float = 0
    public var presencePenalty: Float = 0
    /// Tokens of history the penalties look at (llama.cpp's penalty_last_n; -1: all of it).
    public var repeatLastN = 64

    public init(bias: [Int32: Float] = [:], repeatPenalty: Float = 1, frequencyPenalty: Float = 0, presencePenalty: Float = 0,
                repeatLastN: Int = 64) {
        self.bias = bias
        self.repeatPenalty = repeatPenalty
        self.frequencyPenalty = frequencyPenalty
        self.presencePenalty = presencePenalty
        self.repeatLastN = repeatLastN
    }

    /// Nothing to change: the sampler reads the model's logits as they are.
    public var isNeutral: Bool {
        bias.isEmpty && (!hasPenalties || repeatLastN == 0)
    }

    private var hasPenalties: Bool { repeatPenalty != 1 || frequencyPenalty != 0 || presencePenalty != 0 }

    public func validate(vocabSize: Int) throws {
        guard repeatPenalty.isFinite, repeatPenalty > 0 else { throw SamplingError("repeat_penalty must be > 0, got \(repeatPenalty)") }
        guard frequencyPenalty.isFinite, (-2...2).contains(frequencyPenalty) else {
            throw SamplingError("frequency_penalty must be in -2...2, got \(frequencyPenalty)")
        }
        guard presencePenalty.isFinite, (-2...2).contains(presencePenalty) else {
            throw SamplingError("presence_penalty must be in -2...2, got \(presencePenalty)")
        }
        guard repeatLastN >= -1 else { throw SamplingError("repeat_last_n must be >= -1, got \(repeatLastN)") }
        for (id, b) in bias {
            guard id >= 0, Int(id) < vocabSize else { throw SamplingError("logit_bias: token id \(id) is not in 0..<\(vocabSize)") }
            guard !b.isNaN, b.isFinite || b == -.infinity else { throw SamplingError("logit_bias: bias of token \(id) must be a number") }
        }
    }

    /// Applies the bias and penalties to `logits` in place; `history` is the sequence so far.
    public func apply(to logits: UnsafeMutableBufferPointer<Float>, history: ArraySlice<Int32>) {
        for (id, b) in bias where Int(id) < logits.count { logits[Int(id)] += b }
        guard hasPenalties, repeatLastN != 0 else { return }
        let window = repeatLastN < 0 ? history : history.suffix(repeatLastN)
        var counts: [Int32: Int] = [:]
        for t in window { counts[t, default: 0] += 1 }
        for (t, c) in counts where t >= 0 && Int(t) < logits.count {
            var l = logits[Int(t)]
            l = l <= 0 ? l * repeatPenalty : l / repeatPenalty
            logits[Int(t)] = l - Float(c) * frequencyPenalty - presencePenalty
        }
    }
}
