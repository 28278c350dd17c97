import GGUF

extension GGUFFile {
    /// An optional integer that, when present, must be an integer.
    func optionalInt(_ key: String) throws -> Int? {
        guard metadata[key] != nil else { return nil }
        return try requireInt(key)
    }

    /// A per-layer integer stored either once (every layer) or as an array of `layers` entries;
    /// nil when absent. `layers` nil: any array length (at least one entry).
    func intPerLayer(_ key: String, layers: Int?) throws -> [Int]? {
        guard let v = metadata[key] else { return nil }
        if case .array = v {
            guard let values = v.intArray, !values.isEmpty else {
                throw GGUFError("\(path): metadata '\(key)' must be an integer or a non-empty array of integers")
            }
            if let layers, values.count != layers {
                throw GGUFError("\(path): metadata '\(key)' has \(values.count) entries for \(layers) layers")
            }
            return values
        }
        let one = try requireInt(key)
        return Array(repeating: one, count: layers ?? 1)
    }

    /// An optional boolean that, when present, must be a bool (or an integer 0 / 1).
    func optionalBool(_ key: String) throws -> Bool? {
        guard let v = metadata[key] else { return nil }
        if let b = v.bool { return b }
        if let i = v.int, i == 0 || i == 1 { return i == 1 }
        throw GGUFError("\(path): metadata '\(key)' is \(v.type), expected a bool")
    }

    /// block_count and nextn_predict_layers: the trunk's layer count (MTP blocks come after
    /// the trunk and are skipped) and the MTP block count.
    func trunkLayers(prefix p: String) throws -> (trunk: Int, nextN: Int) {
        let blocks = try requireInt(p + "block_count")
        let nextN = try optionalInt(p + "nextn_predict_layers") ?? 0
        guard nextN >= 0, nextN < blocks else {
            throw GGUFError("\(path): \(p)nextn_predict_layers \(nextN) must be below block_count \(blocks)")
        }
        return (blocks - nextN, nextN)
    }

    func optionalDouble(_ key: String) throws -> Double? {
        guard metadata[key] != nil else { return nil }
        return try requireDouble(key)
    }
}

/// Reads the keys every supported architecture shares; the architecture files add their
/// own variants on top.
func readCommonConfig(_ file: GGUFFile, arch: String, ropeStyle: RopeStyle, qkNorm: QKNorm,
                      normalizeTopK: Bool, expertFFKey: String, layerCount: Int? = nil,
                      perLayerKVHeads: Bool = false, denseModelAllowed: Bool = false) throws -> ModelConfig {
    let p = arch + "."
    let embd = try file.requireInt(p + "embedding_length")
    let heads = try file.requireInt(p + "attention.head_count")
    // Bounded before any product is formed (head_count x key_length and friends), so no shape
    // computation below can overflow and a zero never reaches a division.
    guard (1...ModelConfig.maxEmbedding).contains(embd) else {
        throw GGUFError("\(file.path): \(p)embedding_length \(embd) outside 1...\(ModelConfig.maxEmbedding)")
    }
    guard (1...ModelConfig.maxHeads).contains(heads) else {
        throw GGUFError("\(file.path): \(p)attention.head_count \(heads) outside 1...\(ModelConfig.maxHeads)")
    }
    // perLayerKVHeads: the architecture reads a per-layer array itself (Gemma 4); the config-wide
    // count is then its first entry.
    let kvKey = p + "attention.head_count_kv"
    let kvHeads = try perLayerKVHeads ? file.intPerLayer(kvKey, layers: nil)?.first ?? heads : file.optionalInt(kvKey) ?? heads
    let explicitHeadDim = try file.optionalInt(p + "attention.key_length")
    if explicitHeadDim == nil, embd % heads != 0 {
        throw GGUFError("\(file.path): \(p)embedding_length \(embd) is not a multiple of attention.head_count \(heads) and no attention.key_length gives the head size")
    }
    let headDim = explicitHeadDim ?? embd / heads
    let valueDim = try file.optionalInt(p + "attention.value_length") ?? headDim
    let vocab: Int
    if let tokens = file.metadata["tokenizer.ggml.tokens"] {
        // The vocabulary size comes from this array, so its element type is checked here too
        // (an array of ints would otherwise size the model and fail only in the tokenizer).
        guard case .array(let elementType, let values) = tokens, elementType == .string else {
            let found = if case .array(let t, _) = tokens { "an array of \(t)" } else { "\(tokens.type)" }
            throw GGUFError("\(file.path): metadata 'tokenizer.ggml.tokens' is \(found), expected an array of strings")
        }
        vocab = values.count
    } else if let emb = file.tensor("token_embd.weight"), emb.dims.count == 2 {
        vocab = emb.dims[1]
    } else {
        throw GGUFError("\(file.path): no tokenizer.ggml.tokens and no token_embd.weight to size the vocabulary")
    }
    // A dense model (no expert_count, or 0) runs every layer's FFN as a dense one.
    let dense = try denseModelAllowed && (file.optionalInt(p + "expert_count") ?? 0) == 0
    let experts = try dense ? 0 : file.requireInt(p + "expert_count")
    let used = try dense ? 0 : file.requireInt(p + "expert_used_count")
    let layers = try layerCount ?? file.requireInt(p + "block_count")
    var config = ModelConfig(
        architecture: arch,
        layerCount: layers,
        contextLength: try file.optionalInt(p + "context_length") ?? 4096,
        embeddingLength: embd,
        headCount: heads,
        kvHeadCount: kvHeads,
        headDim: headDim,
        valueDim: valueDim,
        ropeDim: try file.optionalInt(p + "rope.dimension_count") ?? headDim,
        ropeBase: Float(try file.optionalDouble(p + "rope.freq_base") ?? 10000),
        normEpsilon: Float(try file.optionalDouble(p + "attention.layer_norm_rms_epsilon") ?? 1e-6),
        expertCount: experts,
        expertsUsed: used,
        expertFFLength: try dense ? 0 : file.optionalInt(p + expertFFKey) ?? file.requireInt(p + "feed_forward_length"),
        vocabSize: vocab,
        ropeStyle: ropeStyle, qkNorm: qkNorm, normalizeTopK: normalizeTopK,
        expertWeightsScale: Float(try file.optionalDouble(p + "expert_weights_scale") ?? 0))
    if dense {
        config.leadingDenseLayers = layers
        guard let widest = try file.intPerLayer(p + "feed_forward_length", layers: layers)?.max() else {
            throw GGUFError("\(file.path): missing metadata key '\(p)feed_forward_length' (a model without experts needs it)")
        }
        config.denseFFLength = widest
    }
    try config.validate(path: file.path)
    return config
}

extension ModelConfig {
    /// Upper bounds far above any released MoE model, low enough that products of them
    /// (q/kv dims, KV-cache rows) stay far from overflow.
    static let maxEmbedding = 1 << 16, maxHeads = 1024, maxFF = 1 << 18, maxVocab = 1 << 22, maxContext = 1 << 24

    func validate(path: String) throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw GGUFError("\(path): \(message)") } }
        try check((1...4096).contains(layerCount), "block_count \(layerCount) outside 1...4096")
        try check(contextLength > 0 && contextLength <= Self.maxContext, "context_length \(contextLength) outside 1...\(Self.maxContext)")
        try check(headCount > 0 && headCount <= Self.maxHeads, "head_count \(headCount) outside 1...\(Self.maxHeads)")
        try check(kvHeadCount > 0 && headCount % kvHeadCount == 0, "head_count \(headCount) is not a multiple of head_count_kv \(kvHeadCount)")
        try check(headDim > 0 && headDim % 2 == 0 && headDim <= 1024, "key_length \(headDim) must be even and in 2...1024")
        try check(valueDim > 0 && valueDim <= 1024, "value_length \(valueDim) outside 1...1024")
        try check(ropeDim > 0 && ropeDim <= headDim && ropeDim % 2 == 0, "rope.dimension_count \(ropeDim) must be even and <= key_length \(headDim)")
        if expertCount == 0 {
            try check(leadingDenseLayers == layerCount, "expert_count 0, but \(layerCount - leadingDenseLayers) of \(layerCount) layers are MoE layers")
        } else {
            try check(expertCount >= 1 && expertCount <= 4096, "expert_count \(expertCount) outside 1...4096")
            try check(expertsUsed >= 1 && expertsUsed <= expertCount, "expert_used_count \(expertsUsed) outside 1...expert_count (\(expertCount))")
            try check(expertFFLength > 0 && expertFFLength <= Self.maxFF, "expert feed-forward length \(expertFFLength) outside 1...\(Self.maxFF)")
            try check(leadingDenseLayers >= 0 && leadingDenseLayers < layerCount, "leading_dense_block_count \(leadingDenseLayers) must leave at least one MoE layer of \(layerCount)")
        }
        try check(perLayerInputLength >= 0 && perLayerInputLength <= Self.maxEmbedding, "embedding_length_per_layer_input \(perLayerInputLength) outside 0...\(Self.maxEmbedding)")
        try check(vocabSize > 0, "vocabulary is empty")
        try check(vocabSize <= Self.maxVocab, "vocabulary of \(vocabSize) tokens exceeds \(Self.maxVocab)")
        try check(ropeBase > 0 && ropeBase.isFinite, "rope.freq_base \(ropeBase) must be positive")
        try check(normEpsilon > 0 && normEpsilon < 1, "layer_norm_rms_epsilon \(normEpsilon) outside (0, 1)")
        try check(mixers.isEmpty || mixers.count == layerCount, "\(mixers.count) layer kinds for \(layerCount) layers")
        try check(layerAttention.isEmpty || layerAttention.count == layerCount, "\(layerAttention.count) attention shapes for \(layerCount) layers")
        try check(finalLogitSoftcap >= 0 && finalLogitSoftcap.isFinite, "final_logit_softcapping \(finalLogitSoftcap) must be >= 0")
        for (l, a) in layerAttention.enumerated() {
            try check(a.heads > 0 && a.heads <= Self.maxHeads, "layer \(l): head_count \(a.heads) outside 1...\(Self.maxHeads)")
            try check(a.kvHeads > 0 && a.heads % a.kvHeads == 0, "layer \(l): head_count \(a.heads) is not a multiple of head_count_kv \(a.kvHeads)")
            try check(a.headDim > 0 && a.headDim % 2 == 0 && a.headDim <= 1024, "layer \(l): key length \(a.headDim) must be even and in 2...1024")
            try check(a.valueDim > 0 && a.valueDim <= 1024, "layer \(l): value length \(a.valueDim) outside 1...1024")
            try check(a.ropeDim > 0 && a.ropeDim <= a.headDim && a.ropeDim % 2 == 0, "layer \(l): rotary dims \(a.ropeDim) must be even and <= key length \(a.headDim)")
            try check(a.ropeBase > 0 && a.ropeBase.isFinite, "layer \(l): rope base \(a.ropeBase) must be positive")
            try check(a.slidingWindow >= 0, "layer \(l): sliding window \(a.slidingWindow) must be >= 0")
            if let src = a.kvSource {
                try check(src >= 0 && src < l && layerAttention[src].kvSource == nil, "layer \(l): shares the KV rows of layer \(src), which is not an earlier layer with its own rows")
                let o = layerAttention[src]
                try check(o.kvHeads == a.kvHeads && o.headDim == a.headDim && o.valueDim == a.valueDim,
                          "layer \(l): shares the KV rows of layer \(src), whose KV shape differs")
            }
        }
        try check(leadingDenseLayers == 0 || (denseFFLength > 0 && denseFFLength <= Self.maxFF), "feed_forward_length \(denseFFLength) of the dense layers outside 1...\(Self.maxFF)")
        try check(expertGroups >= 1 && expertCount % expertGroups == 0 && (expertGroups == 1 || expertCount / expertGroups >= 2),
                  "expert_group_count \(expertGroups) must divide expert_count \(expertCount) into groups of at least 2")
        try check(expertGroupsUsed >= 1 && expertGroupsUsed <= expertGroups && expertGroupsUsed * (expertCount / expertGroups) >= expertsUsed,
                  "expert_group_used_count \(expertGroupsUsed) must be in 1...expert_group_count (\(expertGroups)) and its groups hold at least expert_used_count (\(expertsUsed)) experts")
        try check(sharedExpertFFLength >= 0 && sharedExpertFFLength <= Self.maxFF, "expert_shared_feed_forward_length \(sharedExpertFFLength) outside 0...\(Self.maxFF)")
        if hasRecurrentLayers {
            guard let n = deltaNet else { throw GGUFError("\(path): recurrent layers but no ssm.* hyper-parameters") }
            try check((2...16).contains(n.convKernel), "ssm.conv_kernel \(n.convKernel) outside 2...16")
            try check((1...1024).contains(n.stateSize), "ssm.state_size \(n.stateSize) outside 1...1024")
            try check((1...Self.maxHeads).contains(n.keyHeads), "ssm.group_count \(n.keyHeads) outside 1...\(Self.maxHeads)")
            try check((1...Self.maxHeads).contains(n.valueHeads) && n.valueHeads % n.keyHeads == 0,
                      "ssm.time_step_rank \(n.valueHeads) must be a multiple of ssm.group_count \(n.keyHeads) and at most \(Self.maxHeads)")
        }
    }
}
