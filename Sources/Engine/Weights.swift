import GGUF
import Quant

/// A 2-D weight matrix used in place from the mapping: `rows` outputs, each a dot product
/// over `cols` inputs. GGUF's dims are [cols, rows] (fastest first).
/// Plain data only (no name or other reference fields): the decode path copies these per
/// routed expert, and a reference would cost a retain and a release each time.
public struct WeightMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let rowBytes: Int
    public let data: UnsafeRawPointer
    public var layout: WeightLayout = .ggml

    public init(type: GGMLType, rows: Int, cols: Int, rowBytes: Int, data: UnsafeRawPointer, layout: WeightLayout = .ggml) {
        self.type = type
        self.rows = rows
        self.cols = cols
        self.rowBytes = rowBytes
        self.data = data
        self.layout = layout
    }

    public var byteCount: Int { rows * rowBytes }

    /// The same matrix read from another copy of its bytes (a hot-tier slot).
    public func relocated(to data: UnsafeRawPointer) -> WeightMatrix {
        WeightMatrix(type: type, rows: rows, cols: cols, rowBytes: rowBytes, data: data, layout: layout)
    }
}

/// Experts of one layer stored as one 3-D tensor [cols, rows, experts]; expert e is a
/// `rows x cols` matrix at `e * expertStride`. The stride is the matrix's size, except in a
/// fused gate_up tensor [cols, 2 x rows, experts], which holds the gate and the up stack
/// interleaved expert by expert (each one's gate rows, then its up rows).
public struct ExpertStack: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let rowBytes: Int
    public let expertCount: Int
    public let data: UnsafeRawPointer
    public var layout: WeightLayout = .ggml
    /// Bytes from one expert's matrix to the next one's.
    public let expertStride: Int

    public init(name: String, type: GGMLType, rows: Int, cols: Int, rowBytes: Int, expertCount: Int,
                data: UnsafeRawPointer, layout: WeightLayout = .ggml, expertStride: Int? = nil) {
        self.name = name; self.type = type; self.rows = rows; self.cols = cols; self.rowBytes = rowBytes
        self.expertCount = expertCount; self.data = data; self.layout = layout
        self.expertStride = expertStride ?? rows * rowBytes
    }

    public var expertBytes: Int { rows * rowBytes }

    /// Where expert `e`'s matrix starts.
    public func expertData(_ e: Int) -> UnsafeRawPointer { data + e * expertStride }

    public func expert(_ e: Int) -> WeightMatrix {
        WeightMatrix(type: type, rows: rows, cols: cols, rowBytes: rowBytes, data: expertData(e), layout: layout)
    }
}

/// Softmax attention over the KV cache. `gated`: the query projection yields, per head, the
/// query and then an output gate of the same size (sigmoid, applied before `wo`).
public struct AttentionWeights: @unchecked Sendable {
    public var wq: WeightMatrix
    /// nil on a layer that reads another layer's KV rows (Gemma's shared-KV layers).
    public var wk: WeightMatrix?
    /// nil: the values are the key projection (Gemma 4's global layers without v_proj), or the
    /// layer has no keys and values of its own.
    public var wv: WeightMatrix?
    public var wo: WeightMatrix
    public let qNorm: UnsafePointer<Float>?
    public let kNorm: UnsafePointer<Float>?
    public let gated: Bool
    /// RMS-normalise each value head without a weight (Gemma 4).
    public var valueNorm = false
    /// RoPE frequency factors, one per rotary pair: theta is divided by them (rope_freqs).
    public var ropeFreqs: UnsafePointer<Float>? = nil
    /// Biases added to the q / k / v projections (attn_q.bias ...; GLM-4.5, gpt-oss) and to the
    /// output projection (attn_output.bias; gpt-oss), nil: none.
    public var qBias, kBias, vBias, outputBias: UnsafePointer<Float>?
    /// One attention-sink logit per head (attn_sinks; gpt-oss), nil: none.
    public var sinks: UnsafePointer<Float>? = nil
}

/// Gated DeltaNet (linear attention with a per-head recurrent state).
public struct DeltaNetWeights: @unchecked Sendable {
    /// How the input projections are stored: `separate` qkv (q | k | v) and z matrices, or one
    /// legacy `ssm_in` whose rows are grouped per key head as (q, k, v..., z...).
    public enum InputLayout: Sendable { case separate, groupedQKVZ }
    public let inputLayout: InputLayout
    public var qkv: WeightMatrix?
    public var z: WeightMatrix?
    /// Per value head: beta (sigmoid -> write strength) and alpha (-> decay), either separate
    /// or fused per key head as (betas, alphas).
    public var beta, alpha, betaAlpha: WeightMatrix?
    /// Depthwise causal conv taps, [channels][kernel].
    public let conv: UnsafePointer<Float>
    public let dtBias: UnsafePointer<Float>
    /// -exp(A_log) per value head.
    public let a: UnsafePointer<Float>
    /// RMSNorm weight over one value head, applied before the silu(z) gate.
    public let norm: UnsafePointer<Float>
    public var out: WeightMatrix
}

/// The always-on expert beside the routed ones; `gateInput` (one row) gives the sigmoid gate
/// that scales its output per token. Also a dense layer's whole FFN (no gate input).
public struct SharedExpertWeights: @unchecked Sendable {
    public var gate, up, down: WeightMatrix
    public let gateInput: WeightMatrix?
}

/// Per-expert biases of the routed experts' projections (ffn_{gate,up,down}_exps.bias; gpt-oss):
/// `ff` floats per expert for gate and up, `d` for down, expert after expert.
public struct ExpertBiasStacks: @unchecked Sendable {
    public let gate, up, down: UnsafePointer<Float>
    public let ff, d: Int

    public func expert(_ e: Int) -> ExpertBiases {
        ExpertBiases(gate: gate + e * ff, up: up + e * ff, down: down + e * d)
    }
}

/// One expert's projection biases, added before the activation (gate, up) and before the
/// routing weight (down), as ggml_add_id does. They stay in the model's mapping wherever the
/// expert's matrices live (hot slot, streamed buffer).
public struct ExpertBiases: @unchecked Sendable {
    public let gate, up, down: UnsafePointer<Float>
}

public struct MoEWeights: @unchecked Sendable {
    public let router: WeightMatrix
    /// Added to the router logits before gating (ffn_gate_inp.bias; gpt-oss).
    public var routerBias: UnsafePointer<Float>? = nil
    public var expertBiases: ExpertBiasStacks? = nil
    public var gateExperts, upExperts, downExperts: ExpertStack
    public var shared: SharedExpertWeights?
    /// Added to the gating probabilities for the top-k choice only (exp_probs_b; GLM-4.5): the
    /// weights stay the unbiased probabilities.
    public var selectionBias: UnsafePointer<Float>? = nil
    // Gemma 4's routed branch beside its dense MLP (all nil elsewhere: router and experts read
    // the block input, outputs are summed as they are).
    /// The router reads rms_norm(residual) / sqrt(embedding) * this (ffn_gate_inp.scale).
    public var routerInputScale: UnsafePointer<Float>? = nil
    /// The routed experts read rms_norm(residual) * this (pre_ffw_norm_2) instead of the block input.
    public var expertInputNorm: UnsafePointer<Float>? = nil
    /// RMSNorm of the routed experts' sum (post_ffw_norm_2) and of the shared / dense MLP's
    /// output (post_ffw_norm_1), before they are added.
    public var expertOutputNorm: UnsafePointer<Float>? = nil
    public var sharedOutputNorm: UnsafePointer<Float>? = nil
    /// Per-expert scale of the down projection (ffn_down_exps.scale), folded into the routing
    /// weights after the route observer has seen them.
    public var expertScales: UnsafePointer<Float>? = nil
}

public enum MixerWeights: @unchecked Sendable {
    case attention(AttentionWeights)
    case deltaNet(DeltaNetWeights)
    /// Multi-head latent attention (deepseek2).
    case latentAttention(MLAWeights)
}

/// One layer: norm, token mixer, [post-norm], residual; norm, MoE (or a dense FFN in the
/// leading dense layers), [post-norm], residual, [output scale].
public struct LayerWeights: @unchecked Sendable {
    public let attnNorm: UnsafePointer<Float>
    public var mixer: MixerWeights
    public let ffnNorm: UnsafePointer<Float>
    /// Routed experts; nil in a dense layer, which has `denseFFN` instead.
    public var moe: MoEWeights?
    public var denseFFN: SharedExpertWeights? = nil
    /// RMSNorm of the mixer's output before the residual add (Gemma's post_attention_norm).
    public var mixerPostNorm: UnsafePointer<Float>? = nil
    /// RMSNorm of the MoE block's output before the residual add (Gemma's post_ffw_norm).
    public var moePostNorm: UnsafePointer<Float>? = nil
    /// One float multiplying the layer's output (Gemma 4's layer_output_scale).
    public var outputScale: UnsafePointer<Float>? = nil
    /// The block that adds this layer's per-token input (Gemma 4 E2B / E4B); nil: none.
    public var perLayerInput: PerLayerInputLayerWeights? = nil

    public init(attnNorm: UnsafePointer<Float>, mixer: MixerWeights, ffnNorm: UnsafePointer<Float>, moe: MoEWeights?,
                denseFFN: SharedExpertWeights? = nil, mixerPostNorm: UnsafePointer<Float>? = nil,
                moePostNorm: UnsafePointer<Float>? = nil, outputScale: UnsafePointer<Float>? = nil,
                perLayerInput: PerLayerInputLayerWeights? = nil) {
        precondition(moe != nil || denseFFN != nil, "a layer needs routed experts or a dense FFN")
        self.attnNorm = attnNorm; self.mixer = mixer; self.ffnNorm = ffnNorm; self.moe = moe; self.denseFFN = denseFFN
        self.mixerPostNorm = mixerPostNorm; self.moePostNorm = moePostNorm; self.outputScale = outputScale
        self.perLayerInput = perLayerInput
    }

    /// The three expert stacks of a MoE layer (empty for a dense layer).
    public var expertStacks: [ExpertStack] { moe.map { [$0.gateExperts, $0.upExperts, $0.downExperts] } ?? [] }
}

/// All weights of a model, checked against its config: every shape, every type.
public struct ModelWeights: @unchecked Sendable {
    public let tokenEmbedding: WeightMatrix
    public let outputNorm: UnsafePointer<Float>
    public let output: WeightMatrix
    public let layers: [LayerWeights]
    /// The per-layer token inputs' embedding and projection (Gemma 4 E2B / E4B); nil: none.
    public let perLayerInputs: PerLayerInputWeights?
    /// Keeps repacked expert stacks alive (see `repackingForDecode`); nil for file-layout weights.
    let repackedMemory: RepackedMemory?

    init(tokenEmbedding: WeightMatrix, outputNorm: UnsafePointer<Float>, output: WeightMatrix, layers: [LayerWeights],
         perLayerInputs: PerLayerInputWeights?, repackedMemory: RepackedMemory?) {
        self.tokenEmbedding = tokenEmbedding
        self.outputNorm = outputNorm
        self.output = output
        self.layers = layers
        self.perLayerInputs = perLayerInputs
        self.repackedMemory = repackedMemory
    }

    /// True when some expert stack is not in the file's layout (it cannot be streamed from the file).
    public var hasRepackedExperts: Bool {
        layers.contains { $0.expertStacks.contains { $0.layout != .ggml } }
    }

    public init(file: GGUFFile, config c: ModelConfig) throws {
        repackedMemory = nil
        let t = TensorLoader(file: file, config: c)
        let d = c.embeddingLength
        let vocabWhy = " (rows = vocabulary size \(c.vocabSize), columns = \(c.architecture).embedding_length \(d))"
        tokenEmbedding = try t.matrix("token_embd.weight", cols: d, rows: c.vocabSize, vocabWhy)
        outputNorm = try t.vector("output_norm.weight", d)
        output = file.tensor("output.weight") == nil
            ? tokenEmbedding : try t.matrix("output.weight", cols: d, rows: c.vocabSize, vocabWhy)
        let arch = try Architectures.definition(for: file)
        perLayerInputs = try arch.perLayerInputs(t, c)
        layers = try (0..<c.layerCount).map { try arch.layer($0, t, c) }
    }

    /// Where expert `e` of MoE layer `layer` lives in the model file.
    public func expertMatrices(layer: Int, expert e: Int) -> ExpertMatrices {
        guard let m = layers[layer].moe else { preconditionFailure("layer \(layer) is dense: it has no routed experts") }
        return ExpertMatrices(gate: m.gateExperts.expert(e), up: m.upExperts.expert(e), down: m.downExperts.expert(e),
                              biases: m.expertBiases?.expert(e))
    }

    /// Bytes of one expert of a layer (gate + up + down), as the cache planner needs; 0 for a
    /// dense layer.
    public func expertBytes(layer: Int) -> Int {
        layers[layer].expertStacks.reduce(0) { $0 + $1.expertBytes }
    }
}

extension LayerWeights {
    /// The dense matrices a decode step reads in this layer besides the routed experts: the
    /// mixer's projections, the router and the shared expert (or the dense FFN).
    public var denseMatrices: [WeightMatrix] {
        var m: [WeightMatrix] = moe.map { [$0.router] } ?? []
        switch mixer {
        case .attention(let a): m += [a.wq, a.wk, a.wv, a.wo].compactMap { $0 }
        case .deltaNet(let d): m += [d.qkv, d.z, d.beta, d.alpha, d.betaAlpha, d.out].compactMap { $0 }
        case .latentAttention(let a): m += [a.queryDown, a.query, a.latent, a.output].compactMap { $0 } + a.keyUp + a.valueUp
        }
        return m + sharedExpertMatrices + denseFFNMatrices + (perLayerInput.map { [$0.gate, $0.projection] } ?? [])
    }

    /// The shared expert's matrices: always resident, never hot or cold.
    public var sharedExpertMatrices: [WeightMatrix] { moe?.shared.map(Self.matrices) ?? [] }

    /// A leading dense layer's FFN: always resident, never hot or cold.
    public var denseFFNMatrices: [WeightMatrix] { denseFFN.map(Self.matrices) ?? [] }

    private static func matrices(_ s: SharedExpertWeights) -> [WeightMatrix] {
        [s.gate, s.up, s.down] + (s.gateInput.map { [$0] } ?? [])
    }
}
