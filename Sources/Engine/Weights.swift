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

    public var byteCount: Int { rows * rowBytes }

    /// The same matrix read from another copy of its bytes (a hot-tier slot).
    public func relocated(to data: UnsafeRawPointer) -> WeightMatrix {
        WeightMatrix(type: type, rows: rows, cols: cols, rowBytes: rowBytes, data: data, layout: layout)
    }
}

/// Experts of one layer stored as one 3-D tensor [cols, rows, experts]; expert e is a
/// `rows x cols` matrix at `e * expertBytes`.
public struct ExpertStack: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let rowBytes: Int
    public let expertCount: Int
    public let data: UnsafeRawPointer
    public var layout: WeightLayout = .ggml

    public var expertBytes: Int { rows * rowBytes }

    public func expert(_ e: Int) -> WeightMatrix {
        WeightMatrix(type: type, rows: rows, cols: cols, rowBytes: rowBytes,
                     data: data + e * expertBytes, layout: layout)
    }
}

public struct LayerWeights: @unchecked Sendable {
    public let attnNorm: UnsafePointer<Float>
    public let wq, wk, wv, wo: WeightMatrix
    public let qNorm: UnsafePointer<Float>?
    public let kNorm: UnsafePointer<Float>?
    public let ffnNorm: UnsafePointer<Float>
    public let router: WeightMatrix
    public let gateExperts, upExperts, downExperts: ExpertStack
}

/// All weights of a model, checked against its config: every shape, every type.
public struct ModelWeights: @unchecked Sendable {
    public let tokenEmbedding: WeightMatrix
    public let outputNorm: UnsafePointer<Float>
    public let output: WeightMatrix
    public let layers: [LayerWeights]
    /// Keeps repacked expert stacks alive (see `repackingForDecode`); nil for file-layout weights.
    let repackedMemory: RepackedMemory?

    init(tokenEmbedding: WeightMatrix, outputNorm: UnsafePointer<Float>, output: WeightMatrix, layers: [LayerWeights],
         repackedMemory: RepackedMemory?) {
        self.tokenEmbedding = tokenEmbedding
        self.outputNorm = outputNorm
        self.output = output
        self.layers = layers
        self.repackedMemory = repackedMemory
    }

    /// True when some expert stack is not in the file's layout (it cannot be streamed from the file).
    public var hasRepackedExperts: Bool {
        layers.contains { [$0.gateExperts, $0.upExperts, $0.downExperts].contains { $0.layout != .ggml } }
    }

    public init(file: GGUFFile, config c: ModelConfig) throws {
        repackedMemory = nil
        func tensor(_ name: String) throws -> GGUFTensorInfo {
            guard let t = file.tensor(name) else { throw GGUFError("\(file.path): missing tensor '\(name)'") }
            return t
        }
        func checkShape(_ t: GGUFTensorInfo, _ dims: [Int], _ why: String = "") throws {
            guard t.dims == dims else {
                throw GGUFError("\(file.path): tensor '\(t.name)' has shape \(t.dims), expected \(dims)\(why)")
            }
            guard t.type.isComputeSupported else {
                throw GGUFError("\(file.path): tensor '\(t.name)' has type \(t.type), which hotmoe cannot compute with (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)")
            }
        }
        func matrix(_ name: String, cols: Int, rows: Int, _ why: String = "") throws -> WeightMatrix {
            let t = try tensor(name)
            try checkShape(t, [cols, rows], why)
            return WeightMatrix(type: t.type, rows: rows, cols: cols,
                                rowBytes: t.type.byteCount(elements: cols)!, data: file.data(t))
        }
        func vector(_ name: String, _ n: Int) throws -> UnsafePointer<Float> {
            let t = try tensor(name)
            guard t.type == .f32 else { throw GGUFError("\(file.path): norm tensor '\(name)' must be F32, is \(t.type)") }
            try checkShape(t, [n])
            return file.data(t).assumingMemoryBound(to: Float.self)
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

        let d = c.embeddingLength
        let vocabWhy = " (rows = vocabulary size \(c.vocabSize), columns = \(c.architecture).embedding_length \(d))"
        tokenEmbedding = try matrix("token_embd.weight", cols: d, rows: c.vocabSize, vocabWhy)
        outputNorm = try vector("output_norm.weight", d)
        output = file.tensor("output.weight") == nil
            ? tokenEmbedding : try matrix("output.weight", cols: d, rows: c.vocabSize, vocabWhy)
        layers = try (0..<c.layerCount).map { i in
            let p = "blk.\(i)."
            let qNormSize = c.qkNorm == .perHead ? c.headDim : c.qDim
            let kNormSize = c.qkNorm == .perHead ? c.headDim : c.kvDim
            return LayerWeights(
                attnNorm: try vector(p + "attn_norm.weight", d),
                wq: try matrix(p + "attn_q.weight", cols: d, rows: c.qDim,
                               " (rows = head_count \(c.headCount) x key_length \(c.headDim))"),
                wk: try matrix(p + "attn_k.weight", cols: d, rows: c.kvDim),
                wv: try matrix(p + "attn_v.weight", cols: d, rows: c.vDim),
                wo: try matrix(p + "attn_output.weight", cols: c.headCount * c.valueDim, rows: d),
                qNorm: c.qkNorm == .none ? nil : try vector(p + "attn_q_norm.weight", qNormSize),
                kNorm: c.qkNorm == .none ? nil : try vector(p + "attn_k_norm.weight", kNormSize),
                ffnNorm: try vector(p + "ffn_norm.weight", d),
                router: try matrix(p + "ffn_gate_inp.weight", cols: d, rows: c.expertCount,
                                   " (rows = \(c.architecture).expert_count \(c.expertCount))"),
                gateExperts: try experts(p + "ffn_gate_exps.weight", cols: d, rows: c.expertFFLength),
                upExperts: try experts(p + "ffn_up_exps.weight", cols: d, rows: c.expertFFLength),
                downExperts: try experts(p + "ffn_down_exps.weight", cols: c.expertFFLength, rows: d))
        }
    }

    /// Where expert `e` of `layer` lives in the model file.
    public func expertMatrices(layer: Int, expert e: Int) -> ExpertMatrices {
        let l = layers[layer]
        return ExpertMatrices(gate: l.gateExperts.expert(e), up: l.upExperts.expert(e), down: l.downExperts.expert(e))
    }

    /// Bytes of one expert of a layer (gate + up + down), as the cache planner needs.
    public func expertBytes(layer: Int) -> Int {
        let l = layers[layer]
        return l.gateExperts.expertBytes + l.upExperts.expertBytes + l.downExperts.expertBytes
    }
}
