import Foundation

/// A generated token's log-probability under the model (softmax of its raw logits, as
/// llama-server reports them) and the `top` most likely alternatives.
public struct TokenLogprob: Sendable, Equatable {
    public var id: Int32
    public var logprob: Float
    public var top: [(id: Int32, logprob: Float)]

    public static func == (a: TokenLogprob, b: TokenLogprob) -> Bool {
        a.id == b.id && a.logprob == b.logprob && a.top.map(\.id) == b.top.map(\.id) && a.top.map(\.logprob) == b.top.map(\.logprob)
    }

    /// From the distribution the sampler drew from (post_sampling_probs): the token's and the
    /// `top` first entries' probabilities, as logs; tokens outside it have probability 0.
    public init(id: Int32, distribution: [(id: Int32, prob: Float)], top n: Int) {
        self.id = id
        logprob = distribution.first { $0.id == id }.map { Foundation.log($0.prob) } ?? -.infinity
        top = distribution.prefix(n).filter { $0.prob > 0 }.map { ($0.id, Foundation.log($0.prob)) }
    }

    /// Log-softmax in double over `logits` (NaN as -inf); `top` by logit, ties to the lower id.
    public init(id: Int32, logits: UnsafeBufferPointer<Float>, top n: Int) {
        self.id = id
        var maxLogit = -Double.infinity
        for l in logits where !l.isNaN { maxLogit = max(maxLogit, Double(l)) }
        var sum = 0.0
        if maxLogit.isFinite { for l in logits where !l.isNaN { sum += Foundation.exp(Double(l) - maxLogit) } }
        let logZ = maxLogit.isFinite ? maxLogit + Foundation.log(sum) : 0
        func lp(_ i: Int) -> Float {
            let l = logits[i]
            return l.isNaN || !maxLogit.isFinite ? -.infinity : Float(Double(l) - logZ)
        }
        logprob = Int(id) < logits.count ? lp(Int(id)) : -.infinity
        var best: [(id: Int32, logprob: Float)] = []
        if n > 0 {
            // One pass keeping the n best in order (vocabularies are large, n is small).
            var kept: [(id: Int, logit: Float)] = []
            for i in 0..<logits.count {
                let l = logits[i].isNaN ? -Float.infinity : logits[i]
                if kept.count == n, let last = kept.last, !(l > last.logit) { continue }
                let at = kept.firstIndex { l > $0.logit } ?? kept.count
                kept.insert((i, l), at: at)
                if kept.count > n { kept.removeLast() }
            }
            best = kept.map { (Int32($0.id), lp($0.id)) }
        }
        top = best
    }
}
