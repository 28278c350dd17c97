import GGUF

/// What Qwen3-Next and Qwen3.5-MoE share: a hybrid stack of gated-DeltaNet and gated
/// full-attention layers, each followed by routed experts plus a sigmoid-gated shared expert,
/// RMSNorm after attention (`post_attention_norm`) feeding the MoE.
enum QwenHybrid {
    static func config(from file: GGUFFile, arch: String, keyHeadMapping: KeyHeadMapping) throws -> ModelConfig {
        let p = arch + "."
        let (trunk, nextN) = try file.trunkLayers(prefix: p)
        let blocks = trunk + nextN
        var c = try readCommonConfig(file, arch: arch, ropeStyle: .neox, qkNorm: .perHead, normalizeTopK: true,
                                     expertFFKey: "expert_feed_forward_length", layerCount: trunk)
        c.nextNLayers = nextN
        c.attentionOutputGate = true
        c.sharedExpertFFLength = try file.optionalInt(p + "expert_shared_feed_forward_length") ?? 0
        c.deltaNet = DeltaNetConfig(
            convKernel: try file.requireInt(p + "ssm.conv_kernel"),
            stateSize: try file.requireInt(p + "ssm.state_size"),
            keyHeads: try file.requireInt(p + "ssm.group_count"),
            valueHeads: try file.requireInt(p + "ssm.time_step_rank"),
            keyHeadMapping: keyHeadMapping)
        let inner = try file.requireInt(p + "ssm.inner_size")
        if let n = c.deltaNet, inner != n.valueDim {
            throw GGUFError("\(file.path): \(p)ssm.inner_size \(inner) is not ssm.time_step_rank \(n.valueHeads) x ssm.state_size \(n.stateSize) = \(n.valueDim)")
        }
        c.mixers = try layerPattern(file, prefix: p, trunk: c.layerCount, all: blocks)
        // Qwen3.5's rope.dimension_sections are read with its attention layers (textRopeFactors).
        try c.validate(path: file.path)
        return c
    }

    /// `attention.recurrent_layers` (a flag per block) when present, else every
    /// `full_attention_interval`-th layer (default 4) is full attention, as llama.cpp reads it.
    static func layerPattern(_ file: GGUFFile, prefix p: String, trunk: Int, all: Int) throws -> [MixerKind] {
        let key = p + "attention.recurrent_layers"
        if let value = file.metadata[key] {
            guard case .array(_, let flags) = value else {
                throw GGUFError("\(file.path): metadata '\(key)' is \(value.type), expected an array of flags per layer")
            }
            guard flags.count == all || flags.count == trunk else {
                throw GGUFError("\(file.path): metadata '\(key)' has \(flags.count) entries for \(all) blocks")
            }
            return try (0..<trunk).map { i in
                guard let f = flags[i].bool ?? flags[i].int.map({ $0 != 0 }) else {
                    throw GGUFError("\(file.path): metadata '\(key)'[\(i)] is \(flags[i].type), expected a bool")
                }
                return f ? .deltaNet : .attention
            }
        }
        let interval = try file.optionalInt(p + "full_attention_interval") ?? 4
        guard interval >= 1 else { throw GGUFError("\(file.path): \(p)full_attention_interval \(interval) must be at least 1") }
        return (0..<trunk).map { (($0 + 1) % interval != 0) ? .deltaNet : .attention }
    }

    /// One trunk layer: the mixer its kind says, then routed + shared experts.
    static func layer(_ i: Int, _ t: TensorLoader, _ c: ModelConfig, deltaNet: (Int) throws -> DeltaNetWeights) throws -> LayerWeights {
        let p = "blk.\(i)."
        let mixer: MixerWeights
        if c.mixer(i) == .attention {
            var a = try t.attention(layer: i, gated: true)
            a.ropeFreqs = try textRopeFactors(t.file, c)
            mixer = .attention(a)
        } else {
            mixer = .deltaNet(try deltaNet(i))
        }
        return LayerWeights(attnNorm: try t.vector(p + "attn_norm.weight", c.embeddingLength), mixer: mixer,
                            ffnNorm: try t.vector(p + "post_attention_norm.weight", c.embeddingLength),
                            moe: try t.moe(layer: i, shared: c.sharedExpertFFLength > 0))
    }

    /// Qwen3.5's interleaved M-RoPE for text: frequency factors that leave the pairs outside its
    /// t/h/w sections unrotated (InterleavedMRope); nil for Qwen3-Next and where every pair rotates.
    static func textRopeFactors(_ file: GGUFFile, _ c: ModelConfig) throws -> UnsafePointer<Float>? {
        guard c.architecture == Qwen35MoE.name,
              let rotated = try InterleavedMRope.rotatedPairs(file, key: c.architecture + ".rope.dimension_sections", pairs: c.ropeDim / 2)
        else { return nil }
        return InterleavedMRope.frequencyFactors(rotated: rotated)
    }

    /// The DeltaNet tensors both architectures name alike: conv, dt bias, A, norm, output,
    /// and the fused qkv + gate (z) projections.
    static func deltaNetCommon(_ i: Int, _ t: TensorLoader, _ c: ModelConfig, qkv: WeightMatrix?, z: WeightMatrix?,
                               inputLayout: DeltaNetWeights.InputLayout, beta: WeightMatrix?, alpha: WeightMatrix?,
                               betaAlpha: WeightMatrix?) throws -> DeltaNetWeights {
        let p = "blk.\(i).", n = c.deltaNet!
        return DeltaNetWeights(
            inputLayout: inputLayout, qkv: qkv, z: z, beta: beta, alpha: alpha, betaAlpha: betaAlpha,
            conv: try t.vector(p + "ssm_conv1d.weight", n.convChannels * n.convKernel, dims: [n.convKernel, n.convChannels]),
            dtBias: try t.vector(p + "ssm_dt.bias", n.valueHeads),
            a: try t.vector(p + "ssm_a", n.valueHeads),
            norm: try t.vector(p + "ssm_norm.weight", n.stateSize),
            out: try t.matrix(p + "ssm_out.weight", cols: n.valueDim, rows: c.embeddingLength))
    }
}
