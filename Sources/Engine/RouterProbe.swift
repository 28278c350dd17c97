/// Applies a layer's router to a hidden state outside the forward pass: the expert cache uses
/// it to guess layer L+1's experts from layer L's input and start reading them early.
/// The guess never changes the output (the real routing still decides what is computed).
public final class RouterProbe {
    private let weights: ModelWeights
    private let pool: WorkerPool
    private let acts = ActivationBuffers()
    private let logits: UnsafeMutablePointer<Float>
    private let expertCount: Int

    public init(model: MoEModel, pool: WorkerPool) {
        weights = model.weights
        self.pool = pool
        expertCount = model.config.expertCount
        logits = .allocate(capacity: max(1, expertCount))
    }

    deinit { logits.deallocate() }

    /// The `count` experts with the largest router logits for one token's `input` at `layer`
    /// (ties and NaN: the lower id first; NaN ranks below every number). False for a dense layer.
    @discardableResult
    public func topExperts(layer: Int, input: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Int32>) -> Bool {
        guard let moe = weights.layers[layer].moe else { return false }
        let router = moe.router
        acts.setInput(input, cols: router.cols, tokens: 1)
        Linear.apply(router, acts, tokens: 1, out: logits, pool: pool)
        // A selection bias ranks sigmoid(logit) + bias, as the real routing does.
        if let bias = moe.selectionBias { for e in 0..<expertCount { logits[e] = Ops.sigmoid(logits[e]) + bias[e] } }
        TopK.select(logits, count: expertCount, k: min(count, expertCount), into: out)
        return true
    }
}
