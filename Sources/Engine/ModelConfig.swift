import Foundation
import GGUF

/// How RoPE pairs dimensions: NORM rotates adjacent pairs (x0,x1),(x2,x3)...; NEOX rotates
/// (x_i, x_{i+d/2}). Each architecture uses one, as llama.cpp's `llama_model_rope_type` says.
public enum RopeStyle: Sendable { case norm, neox }

/// Where the q/k RMSNorm (if any) applies: per attention head (Qwen3) or across the whole
/// projection (OLMoE).
public enum QKNorm: Sendable { case none, perHead, wholeProjection }

/// What mixes tokens in a layer: softmax attention over the KV cache, or a gated DeltaNet
/// (linear attention with a recurrent state), as the hybrid Qwen3-Next / Qwen3.5 stacks alternate.
public enum MixerKind: Sendable, Equatable { case attention, deltaNet }

/// Which key head a DeltaNet value head reads when there are more value heads than key heads.
/// Qwen3-Next repeats each key head for consecutive value heads (h / ratio); Qwen3.5's
/// converter orders value heads so that key heads tile (h % keyHeads).
public enum KeyHeadMapping: Sendable, Equatable { case interleaved, tiled }

/// The activation of a gated feed-forward (routed experts and the dense / shared MLP beside them):
/// SwiGLU, silu(gate) * up, or GeGLU, gelu(gate) * up with ggml's CPU GELU (tanh approximation
/// looked up in an fp16 table, see `Ops.gelu`).
/// `swigluOAI`: gpt-oss's clamped SwiGLU as ggml_swiglu_oai computes it,
/// min(gate, 7) * sigmoid(1.702 min(gate, 7)) * (clamp(up, -7, 7) + 1).
public enum FFNActivation: Sendable, Equatable { case silu, gelu, swigluOAI }

/// How router logits become expert probabilities (llama.cpp's `expert_gating_func`): softmax
/// over all experts (Qwen3, Mixtral, OLMoE, Gemma 4) or an independent sigmoid per expert
/// (GLM-4.5, DeepSeek-V3 style, with an optional selection bias), or `softmaxWeight`: top-k on
/// the raw logits, then a softmax over the k chosen ones (gpt-oss; llama.cpp's
/// LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX_WEIGHT).
public enum ExpertGating: Sendable, Equatable { case softmax, sigmoid, softmaxWeight }

/// RoPE scaling as ggml's rope_yarn applies it. YaRN (`extFactor` 1): each rotary pair's angle
/// mixes the interpolated (`freqScale` x) and the original angle by a ramp between the
/// correction dims that `betaFast` / `betaSlow` give for `originalContext`; cos and sin are
/// scaled by `attnFactor` x (1 + 0.1 ln(1 / freqScale)). Linear (`extFactor` 0): every angle
/// times `freqScale`, cos and sin times `attnFactor`.
public struct RopeScaling: Sendable, Equatable {
    /// 1 / rope.scaling.factor.
    public var freqScale: Float
    /// rope.scaling.original_context_length (llama.cpp's n_ctx_orig_yarn).
    public var originalContext: Int
    /// llama.cpp's cparams.yarn_ext_factor (1 for YaRN) and yarn_attn_factor (after its
    /// get_mscale correction, times rope.scaling.attn_factor).
    public var extFactor: Float = 1
    public var attnFactor: Float = 1
    /// llama.cpp's defaults; the GGUF keys rope.scaling.yarn_beta_* are not read by it.
    public var betaFast: Float = 32
    public var betaSlow: Float = 1

    /// ggml_rope_yarn_corr_dims: the first and last rotary pair index of the ramp.
    public func correctionDims(ropeDim: Int, base: Float) -> (Float, Float) {
        func dim(_ rot: Float) -> Float {
            Float(ropeDim) * logf(Float(originalContext) / (rot * 2 * Float.pi)) / (2 * logf(base))
        }
        return (max(0, floorf(dim(betaFast))), min(Float(ropeDim - 1), ceilf(dim(betaSlow))))
    }
}

/// Attention geometry of one layer. Uniform stacks derive it from the global fields; Gemma 4
/// alternates sliding-window layers and global layers with their own head size, KV heads,
/// rotary dims and RoPE base.
public struct AttentionShape: Sendable, Equatable {
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var valueDim: Int
    public var ropeDim: Int
    public var ropeBase: Float
    /// A query sees the last `slidingWindow` positions, itself included (llama.cpp's standard
    /// SWA mask: masked when p1 - p0 >= n_swa); 0: every earlier position.
    public var slidingWindow = 0
    /// Reads the KV-cache rows of this earlier layer instead of projecting its own keys and
    /// values (Gemma's shared-KV layers); nil: own rows.
    public var kvSource: Int? = nil
    /// The values are the first `valueDim` elements of each key row, which the cache stores
    /// alone (multi-head latent attention: the normalised latent is both).
    public var valuesInKeys = false

    public init(heads: Int, kvHeads: Int, headDim: Int, valueDim: Int, ropeDim: Int, ropeBase: Float,
                slidingWindow: Int = 0, kvSource: Int? = nil, valuesInKeys: Bool = false) {
        self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim; self.valueDim = valueDim
        self.ropeDim = ropeDim; self.ropeBase = ropeBase; self.slidingWindow = slidingWindow; self.kvSource = kvSource
        self.valuesInKeys = valuesInKeys
    }

    public var qDim: Int { heads * headDim }
    public var kvDim: Int { kvHeads * headDim }
    public var vDim: Int { kvHeads * valueDim }
    /// Width of the attention output (the input of `wo`).
    public var outDim: Int { heads * valueDim }
}

/// Multi-head latent attention (DeepSeek-V2/V3): per token, keys and values come from one
/// compressed latent of `kvLoraRank` floats plus one shared rotary key of `ropeDim`; queries
/// are `nopeDim` + `ropeDim` per head (directly or through a `qLoraRank` bottleneck); each
/// head's attention output over the latent is expanded to `valueHeadDim` by attn_v_b.
public struct MLAConfig: Sendable, Equatable {
    /// attention.q_lora_rank; 0: a direct attn_q projection.
    public var qLoraRank: Int
    public var kvLoraRank: Int
    public var nopeDim: Int
    public var ropeDim: Int
    public var valueHeadDim: Int
    /// attn_k_b / attn_v_b per head (key_length_mla in the file); false: one legacy attn_kv_b.
    public var splitKV: Bool

    /// The per-head query / key size llama.cpp scales scores by (key_length_mla).
    public var qHeadDim: Int { nopeDim + ropeDim }
    /// Floats per token the cache keeps: the latent then the rotary key.
    public var cacheRowWidth: Int { kvLoraRank + ropeDim }
}

/// Gated DeltaNet hyper-parameters (llama.cpp's `ssm.*` keys).
public struct DeltaNetConfig: Sendable, Equatable {
    /// ssm.conv_kernel: taps of the causal depthwise conv1d.
    public var convKernel: Int
    /// ssm.state_size: head size of keys and values (the state per head is stateSize^2).
    public var stateSize: Int
    /// ssm.group_count: key (and query) heads.
    public var keyHeads: Int
    /// ssm.time_step_rank: value heads.
    public var valueHeads: Int
    public var keyHeadMapping: KeyHeadMapping

    public var keyDim: Int { keyHeads * stateSize }
    public var valueDim: Int { valueHeads * stateSize }
    /// Channels of the conv: q, k and v concatenated.
    public var convChannels: Int { 2 * keyDim + valueDim }
    /// Floats of recurrent state per layer: the conv window and the delta-rule state.
    public var convStateFloats: Int { (convKernel - 1) * convChannels }
    public var ssmStateFloats: Int { valueHeads * stateSize * stateSize }

    @inline(__always) public func keyHead(ofValueHead h: Int) -> Int {
        keyHeadMapping == .tiled ? h % keyHeads : h / (valueHeads / keyHeads)
    }
}

/// Hyper-parameters of a decoder-only MoE transformer, all read from GGUF metadata.
public struct ModelConfig: Sendable, Equatable {
    public var architecture: String
    public var layerCount: Int
    public var contextLength: Int
    public var embeddingLength: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var valueDim: Int
    public var ropeDim: Int
    public var ropeBase: Float
    public var normEpsilon: Float
    public var expertCount: Int
    public var expertsUsed: Int
    public var expertFFLength: Int
    public var vocabSize: Int
    public var ropeStyle: RopeStyle
    public var qkNorm: QKNorm
    /// Renormalise the top-k router probabilities to sum to one (Qwen3-MoE, Mixtral) or not (OLMoE).
    public var normalizeTopK: Bool
    /// expert_weights_scale: multiplies the routing weights after top-k (0 or 1: unscaled).
    public var expertWeightsScale: Float = 0
    public var gating: ExpertGating = .softmax
    /// The first layers have a dense FFN instead of routed experts (leading_dense_block_count);
    /// all of them in a model without routed experts (expert_count 0: Gemma 4 E2B / E4B / 31B).
    public var leadingDenseLayers = 0
    /// Hidden size of those dense FFNs (feed_forward_length; the widest where it varies per
    /// layer); 0 without dense layers.
    public var denseFFLength = 0
    /// Floats per layer of the per-layer token inputs (Gemma 4 E2B / E4B:
    /// embedding_length_per_layer_input); 0: none.
    public var perLayerInputLength = 0
    /// Mixer of each layer; all attention for the classic MoE transformers.
    public var mixers: [MixerKind] = []
    public var deltaNet: DeltaNetConfig? = nil
    /// The query projection also yields a per-head output gate (sigmoid), interleaved with
    /// the query head by head (Qwen3-Next, Qwen3.5).
    public var attentionOutputGate = false
    /// Hidden size of the always-on shared expert, 0 when there is none.
    public var sharedExpertFFLength = 0
    /// MTP / next-token-prediction blocks stored after the trunk (skipped).
    public var nextNLayers = 0
    /// Activation of the gated FFNs (routed experts, shared / dense MLP).
    public var ffnActivation: FFNActivation = .silu
    /// Multiplies the token embeddings (Gemma: sqrt(embedding_length)); 0: unscaled.
    public var embeddingScale: Float = 0
    /// final_logit_softcapping: logits = cap * tanh(logits / cap); 0: none.
    public var finalLogitSoftcap: Float = 0
    /// Attention score scale; 0: 1/sqrt(head size). Gemma 4 uses 1 (its q/k norms set the scale).
    public var attentionScale: Float = 0
    /// Per-layer attention geometry; empty: every layer has the shape of the global fields.
    public var layerAttention: [AttentionShape] = []
    /// RoPE scaling of every attention layer (gpt-oss's YaRN); nil: plain RoPE.
    public var ropeScaling: RopeScaling? = nil
    /// Multi-head latent attention (deepseek2); nil: q/k/v attention.
    public var mla: MLAConfig? = nil
    /// Group-limited routing (expert_group_count / expert_group_used_count): only experts of
    /// the `expertGroupsUsed` groups with the largest top-2 sums are eligible; 1: no groups.
    public var expertGroups = 1
    public var expertGroupsUsed = 1

    /// Attention geometry of `layer`.
    public func attentionShape(_ layer: Int) -> AttentionShape {
        layerAttention.isEmpty
            ? AttentionShape(heads: headCount, kvHeads: kvHeadCount, headDim: headDim, valueDim: valueDim,
                             ropeDim: ropeDim, ropeBase: ropeBase)
            : layerAttention[layer]
    }
    /// Score scale of a layer's attention.
    public func attentionScale(_ layer: Int) -> Float {
        attentionScale != 0 ? attentionScale : 1 / Float(attentionShape(layer).headDim).squareRoot()
    }
    /// The widest shapes over the layers (scratch buffers are sized by them).
    var maxQDim: Int { widestOverLayers(\.qDim) ?? qDim }
    var maxKVDim: Int { widestOverLayers(\.kvDim) ?? kvDim }
    var maxVDim: Int { widestOverLayers(\.vDim) ?? vDim }
    var maxValueDim: Int { widestOverLayers(\.valueDim) ?? valueDim }
    var maxAttentionOutDim: Int { widestOverLayers(\.outDim) ?? headCount * valueDim }
    /// The largest `dim` over the layers' attention shapes; no array, since attention asks
    /// every layer of every decoded token.
    private func widestOverLayers(_ dim: (AttentionShape) -> Int) -> Int? {
        var widest: Int?
        for layer in 0..<layerCount { widest = max(widest ?? .min, dim(attentionShape(layer))) }
        return widest
    }
    /// Attention layers that own KV-cache rows (not recurrent, not reading another layer's).
    public func ownsKVRows(_ layer: Int) -> Bool { mixer(layer) == .attention && attentionShape(layer).kvSource == nil }

    /// Layers with routed experts (every layer after the leading dense ones; none in a dense model).
    public func isMoELayer(_ layer: Int) -> Bool { layer >= leadingDenseLayers }
    public var moeLayers: [Int] { Array(leadingDenseLayers..<layerCount) }

    public func mixer(_ layer: Int) -> MixerKind { mixers.isEmpty ? .attention : mixers[layer] }
    public var hasRecurrentLayers: Bool { mixers.contains(.deltaNet) }

    public var qDim: Int { headCount * headDim }
    public var kvDim: Int { kvHeadCount * headDim }
    public var vDim: Int { kvHeadCount * valueDim }
}
