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

    /// The gate and up expert stacks of layer `i`: ffn_gate_exps and ffn_up_exps, or the two
    /// halves of each expert in a fused ffn_gate_up_exps (gate rows first, as llama.cpp's
    /// build_moe_ffn views it), read in place.
    func gateUpExperts(layer i: Int, cols: Int, rows: Int) throws -> (gate: ExpertStack, up: ExpertStack) {
        let p = "blk.\(i)."
        guard has(p + "ffn_gate_up_exps.weight") else {
            return (try experts(p + "ffn_gate_exps.weight", cols: cols, rows: rows),
                    try experts(p + "ffn_up_exps.weight", cols: cols, rows: rows))
        }
        let fused = try experts(p + "ffn_gate_up_exps.weight", cols: cols, rows: 2 * rows)
        func half(_ h: Int, _ name: String) -> ExpertStack {
            ExpertStack(name: p + name, type: fused.type, rows: rows, cols: cols, rowBytes: fused.rowBytes,
                        expertCount: fused.expertCount, data: fused.data + h * rows * fused.rowBytes,
                        expertStride: fused.expertBytes)
        }
        return (half(0, "ffn_gate_exps.weight"), half(1, "ffn_up_exps.weight"))
    }

    /// The q, k and v projections of layer `i`: attn_q/k/v, or the row blocks of a fused
    /// attn_qkv (q rows, then k, then v). nil for k or v where its `rows` is 0.
    func qkvProjections(layer i: Int, qRows: Int, kRows: Int, vRows: Int,
                        _ why: String = "") throws -> (q: WeightMatrix, k: WeightMatrix?, v: WeightMatrix?) {
        let p = "blk.\(i).", d = c.embeddingLength
        guard has(p + "attn_qkv.weight") else {
            return (try matrix(p + "attn_q.weight", cols: d, rows: qRows, why),
                    kRows > 0 ? try matrix(p + "attn_k.weight", cols: d, rows: kRows) : nil,
                    vRows > 0 ? try matrix(p + "attn_v.weight", cols: d, rows: vRows) : nil)
        }
        let fused = try matrix(p + "attn_qkv.weight", cols: d, rows: qRows + kRows + vRows,
                               " (rows = q \(qRows) + k \(kRows) + v \(vRows))")
        func rows(_ first: Int, _ count: Int) -> WeightMatrix? {
            count == 0 ? nil : WeightMatrix(type: fused.type, rows: count, cols: d, rowBytes: fused.rowBytes,
                                            data: fused.data + first * fused.rowBytes)
        }
        return (rows(0, qRows)!, rows(qRows, kRows), rows(qRows + kRows, vRows))
    }

    /// q/k/v/o projections (separate or one fused attn_qkv) with the optional q/k norms the
    /// config names, in the layer's attention shape. `gated`: the query projection has twice
    /// the rows (query and output gate per head).
    public func attention(layer i: Int, gated: Bool) throws -> AttentionWeights {
        let p = "blk.\(i).", s = c.attentionShape(i)
        let qNormSize = c.qkNorm == .perHead ? s.headDim : s.qDim
        let kNormSize = c.qkNorm == .perHead ? s.headDim : s.kvDim
        let qkv = try qkvProjections(layer: i, qRows: s.qDim * (gated ? 2 : 1), kRows: s.kvDim, vRows: s.vDim,
                                     " (rows = head_count \(s.heads) x key_length \(s.headDim)\(gated ? " x 2 (query and gate)" : ""))")
        return AttentionWeights(
            wq: qkv.q, wk: qkv.k, wv: qkv.v,
            wo: try matrix(p + "attn_output.weight", cols: s.outDim, rows: c.embeddingLength),
            qNorm: c.qkNorm == .none ? nil : try vector(p + "attn_q_norm.weight", qNormSize),
            kNorm: c.qkNorm == .none ? nil : try vector(p + "attn_k_norm.weight", kNormSize),
            gated: gated)
    }

    /// `attention` with the q/k/v biases the file has (GLM-4.x and gpt-oss carry them): one
    /// fused attn_qkv.bias, split as the weight is, or separate ones.
    public func attentionWithOptionalBiases(layer i: Int) throws -> AttentionWeights {
        let p = "blk.\(i).", s = c.attentionShape(i)
        var attention = try self.attention(layer: i, gated: false)
        if has(p + "attn_qkv.bias") {
            let b = try vector(p + "attn_qkv.bias", s.qDim + s.kvDim + s.vDim)
            attention.qBias = b; attention.kBias = b + s.qDim; attention.vBias = b + s.qDim + s.kvDim
        } else {
            attention.qBias = try optionalVector(p + "attn_q.bias", s.qDim)
            attention.kBias = try optionalVector(p + "attn_k.bias", s.kvDim)
            attention.vBias = try optionalVector(p + "attn_v.bias", s.vDim)
        }
        return attention
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
        let gateUp = try gateUpExperts(layer: i, cols: d, rows: f)
        return MoEWeights(
            router: try matrix(p + "ffn_gate_inp.weight", cols: d, rows: c.expertCount,
                               " (rows = \(c.architecture).expert_count \(c.expertCount))"),
            gateExperts: gateUp.gate,
            upExperts: gateUp.up,
            downExperts: try experts(p + "ffn_down_exps.weight", cols: f, rows: d),
            shared: sharedWeights)
    }
}
