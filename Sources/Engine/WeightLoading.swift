import GGUF
import Quant

/// Finds and checks the tensors of a model file: every shape against the config, every type
/// against what the kernels compute. The architecture files assemble blocks from these.
public struct TensorLoader {
    let file: GGUFFile
    let c: ModelConfig

    init(file: GGUFFile, config: ModelConfig) {
        self.file = file
        c = config
    }

    public func has(_ name: String) -> Bool { file.tensor(name) != nil }

    func tensor(_ name: String) throws -> GGUFTensorInfo {
        guard let t = file.tensor(name) else { throw GGUFError("\(file.path): missing tensor '\(name)'") }
        return t
    }

    func checkShape(_ t: GGUFTensorInfo, _ dims: [Int], _ why: String = "") throws {
        guard t.dims == dims else {
            throw GGUFError("\(file.path): tensor '\(t.name)' has shape \(t.dims), expected \(dims)\(why)")
        }
        guard t.type.isComputeSupported else {
            throw GGUFError("\(file.path): tensor '\(t.name)' has type \(t.type), which hotmoe cannot compute with (supported: \(GGMLType.computeSupportedNames))")
        }
    }

    public func matrix(_ name: String, cols: Int, rows: Int, _ why: String = "") throws -> WeightMatrix {
        let t = try tensor(name)
        // A one-row matrix may be stored as a vector (the shared expert's gate input).
        try checkShape(t, rows == 1 && t.dims.count == 1 ? [cols] : [cols, rows], why)
        return WeightMatrix(type: t.type, rows: rows, cols: cols,
                            rowBytes: t.type.byteCount(elements: cols)!, data: file.data(t))
    }

    /// An F32 tensor read as `count` floats; `dims` when it is not one-dimensional.
    public func vector(_ name: String, _ count: Int, dims: [Int]? = nil) throws -> UnsafePointer<Float> {
        let t = try tensor(name)
        guard t.type == .f32 else { throw GGUFError("\(file.path): tensor '\(name)' must be F32, is \(t.type)") }
        try checkShape(t, dims ?? [count])
        return file.data(t).assumingMemoryBound(to: Float.self)
    }

    /// `vector` when the tensor exists (an optional bias), else nil.
    public func optionalVector(_ name: String, _ count: Int) throws -> UnsafePointer<Float>? {
        has(name) ? try vector(name, count) : nil
    }

    func experts(_ name: String, cols: Int, rows: Int) throws -> ExpertStack {
        let t = try tensor(name)
        // The commonest disagreement gets its own message naming the metadata key.
        if t.dims.count == 3, t.dims[2] != c.expertCount {
            throw GGUFError("\(file.path): tensor '\(name)' holds \(t.dims[2]) experts (shape \(t.dims)) but \(c.architecture).expert_count is \(c.expertCount)")
        }
        try checkShape(t, [cols, rows, c.expertCount])
        return ExpertStack(name: name, type: t.type, rows: rows, cols: cols,
                           rowBytes: t.type.byteCount(elements: cols)!, expertCount: c.expertCount,
                           data: file.data(t))
    }

    /// q/k/v/o projections with the optional q/k norms the config names, in the layer's
    /// attention shape. `gated`: the query projection has twice the rows (query and output
    /// gate per head).
    /// Separate q/k/v projections (a fused attn_qkv is refused) with the q/k/v biases the file
    /// has, as GLM-4.x and gpt-oss carry them.
    public func attentionWithOptionalBiases(layer i: Int) throws -> AttentionWeights {
        let p = "blk.\(i).", s = c.attentionShape(i)
        if has(p + "attn_qkv.weight") {
            throw GGUFError("\(file.path): tensor '\(p)attn_qkv.weight': fused qkv projections are not supported")
        }
        var attention = try self.attention(layer: i, gated: false)
        attention.qBias = try optionalVector(p + "attn_q.bias", s.qDim)
        attention.kBias = try optionalVector(p + "attn_k.bias", s.kvDim)
        attention.vBias = try optionalVector(p + "attn_v.bias", s.vDim)
        return attention
    }

    public func attention(layer i: Int, gated: Bool) throws -> AttentionWeights {
        let p = "blk.\(i).", d = c.embeddingLength, s = c.attentionShape(i)
        let qNormSize = c.qkNorm == .perHead ? s.headDim : s.qDim
        let kNormSize = c.qkNorm == .perHead ? s.headDim : s.kvDim
        return AttentionWeights(
            wq: try matrix(p + "attn_q.weight", cols: d, rows: s.qDim * (gated ? 2 : 1),
                           " (rows = head_count \(s.heads) x key_length \(s.headDim)\(gated ? " x 2 (query and gate)" : ""))"),
            wk: try matrix(p + "attn_k.weight", cols: d, rows: s.kvDim),
            wv: try matrix(p + "attn_v.weight", cols: d, rows: s.vDim),
            wo: try matrix(p + "attn_output.weight", cols: s.outDim, rows: d),
            qNorm: c.qkNorm == .none ? nil : try vector(p + "attn_q_norm.weight", qNormSize),
            kNorm: c.qkNorm == .none ? nil : try vector(p + "attn_k_norm.weight", kNormSize),
            gated: gated)
    }

    /// Router and routed experts, and the shared expert when `shared`.
    public func moe(layer i: Int, shared: Bool) throws -> MoEWeights {
        let p = "blk.\(i).", d = c.embeddingLength, f = c.expertFFLength
        var sharedWeights: SharedExpertWeights?
        if shared {
            let sf = c.sharedExpertFFLength
            sharedWeights = SharedExpertWeights(
                gate: try matrix(p + "ffn_gate_shexp.weight", cols: d, rows: sf),
                up: try matrix(p + "ffn_up_shexp.weight", cols: d, rows: sf),
                down: try matrix(p + "ffn_down_shexp.weight", cols: sf, rows: d),
                gateInput: has(p + "ffn_gate_inp_shexp.weight") ? try matrix(p + "ffn_gate_inp_shexp.weight", cols: d, rows: 1) : nil)
        }
        return MoEWeights(
            router: try matrix(p + "ffn_gate_inp.weight", cols: d, rows: c.expertCount,
                               " (rows = \(c.architecture).expert_count \(c.expertCount))"),
            gateExperts: try experts(p + "ffn_gate_exps.weight", cols: d, rows: f),
            upExperts: try experts(p + "ffn_up_exps.weight", cols: d, rows: f),
            downExperts: try experts(p + "ffn_down_exps.weight", cols: f, rows: d),
            shared: sharedWeights)
    }
}
