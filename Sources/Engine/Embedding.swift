/// How one embedding is made from a sequence's final hidden states (after the output norm,
/// where llama.cpp takes them): llama-server's `--pooling`.
public enum EmbeddingPooling: String, Sendable, CaseIterable {
    /// The average over the tokens.
    case mean
    /// The first token's state.
    case cls
    /// The last token's state (the usual choice for decoder-only embedding models).
    case last
    /// Every token's state, unpooled.
    case none
}

extension InferenceSession {
    /// The final hidden states of `tokens` computed from an empty context (the session's cache
    /// is reset), pooled: one row for mean / cls / last, one per token for `.none`.
    /// `normalize` scales each row to unit Euclidean length (llama.cpp's --embd-normalize 2).
    public func embeddings(_ tokens: [Int32], pooling: EmbeddingPooling, normalize: Bool) throws -> [[Float]] {
        guard !tokens.isEmpty else { return [] }
        guard tokens.count <= cache.capacity else {
            throw EngineError.contextFull(needed: tokens.count, capacity: cache.capacity)
        }
        for t in tokens where t < 0 || Int(t) >= c.vocabSize { throw EngineError.badToken(t, vocabSize: c.vocabSize) }
        _ = rewind(to: 0)
        defer { _ = rewind(to: 0) }  // the cache holds no generation state afterwards
        let d = c.embeddingLength
        var rows: [[Float]] = []
        var sum = [Double](repeating: 0, count: d)
        var row = [Float](repeating: 0, count: d)
        var start = 0
        try tokens.withUnsafeBufferPointer { all in
            while start < all.count {
                let n = min(maxBatch, all.count - start)
                runBatch(UnsafeBufferPointer(rebasing: all[start..<(start + n)]), logits: .none, logitsOut: xn)
                if let failure = executor.takeFailure() { throw failure }
                for i in 0..<n {
                    let position = start + i
                    let wanted: Bool
                    switch pooling {
                    case .mean, .none: wanted = true
                    case .cls: wanted = position == 0
                    case .last: wanted = position == all.count - 1
                    }
                    guard wanted else { continue }
                    row.withUnsafeMutableBufferPointer { out in
                        Ops.rmsNorm(x + i * d, model.weights.outputNorm, out.baseAddress!, count: d, eps: c.normEpsilon)
                    }
                    if pooling == .mean {
                        for j in 0..<d { sum[j] += Double(row[j]) }
                    } else {
                        rows.append(row)
                    }
                }
                start += n
            }
        }
        if pooling == .mean { rows = [sum.map { Float($0 / Double(tokens.count)) }] }
        guard normalize else { return rows }
        return rows.map { r in
            let norm = r.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            return norm > 0 ? r.map { Float(Double($0) / norm) } : r
        }
    }
}
