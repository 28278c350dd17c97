import CKernels
import Quant

/// For `tokenCount` tokens, the `k` experts each was routed to and their weights, slot by slot.
public struct ExpertRoutes {
    public let tokenCount: Int
    public let k: Int
    public let experts: UnsafePointer<Int32>
    public let weights: UnsafePointer<Float>
    /// Per token-slot factors on the slot's expert output before its weight, (y * scale) *
    /// weight as ggml rounds it (Gemma 4's per-expert down scale); nil: none.
    public var outputScales: UnsafePointer<Float>? = nil
}

/// The one seam between the model and wherever experts live: "for layer L, these tokens,
/// these routed (expert, weight) pairs -> the summed output". The model never knows tiers.
public protocol ExpertExecutor: AnyObject {
    /// output[t*d..<(t+1)*d] = sum over slots s of weight[t,s] * expert[t,s](input[t]).
    func computeExperts(layer: Int, input: UnsafePointer<Float>, routes: ExpertRoutes,
                        output: UnsafeMutablePointer<Float>)

    /// The error that made computations since the last call invalid (a streamed expert
    /// could not be read), cleared by the call; the session ends its forward pass with it.
    func takeFailure() -> Error?
}

extension ExpertExecutor {
    public func takeFailure() -> Error? { nil }
}

/// The three matrices of one expert.
public struct ExpertMatrices: @unchecked Sendable {
    public let gate: WeightMatrix
    public let up: WeightMatrix
    public let down: WeightMatrix
    public let biases: ExpertBiases?

    public init(gate: WeightMatrix, up: WeightMatrix, down: WeightMatrix, biases: ExpertBiases? = nil) {
        self.gate = gate
        self.up = up
        self.down = down
        self.biases = biases
    }
}

/// The `k` largest of `count` values (k <= count), ties to the lower index. NaN ranks below
/// every number, as -inf: any row, even an all-NaN one, yields k distinct valid indices, since
/// the first unselected index is the default and only a strictly larger value replaces it.
enum TopK {
    static func select(_ values: UnsafePointer<Float>, count n: Int, k: Int, into out: UnsafeMutablePointer<Int32>) {
        for s in 0..<k {
            var best = -1
            var bestValue = -Float.infinity
            for i in 0..<n where best < 0 || values[i] > bestValue {
                var taken = false
                for j in 0..<s where out[j] == Int32(i) { taken = true; break }
                if !taken { best = i; bestValue = values[i].isNaN ? -.infinity : values[i] }
            }
            out[s] = Int32(best)
        }
    }
}

/// Group-limited expert selection (DeepSeek-V3's n_group / topk_group) as llama.cpp's
/// build_moe_ffn computes it: the experts split into `groups` consecutive groups, each scored by
/// the sum of its two largest selection values; the experts outside the `used` best groups are
/// set to -inf so that the top-k cannot pick them. Ties and NaN follow `TopK`.
enum GroupLimit {
    static func mask(_ values: UnsafeMutablePointer<Float>, count e: Int, groups: Int, used: Int) {
        let per = e / groups
        withUnsafeTemporaryAllocation(of: Float.self, capacity: groups) { scores in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(2, groups)) { picked in
                let picked = picked.baseAddress!
                for g in 0..<groups {
                    let group = values + g * per
                    TopK.select(group, count: per, k: 2, into: picked)
                    // ggml_sum_rows adds in double and rounds once.
                    scores[g] = Float(Double(group[Int(picked[0])]) + Double(group[Int(picked[1])]))
                }
                TopK.select(scores.baseAddress!, count: groups, k: used, into: picked)
                for g in 0..<groups where !(0..<used).contains(where: { picked[$0] == Int32(g) }) {
                    (values + g * per).update(repeating: -.infinity, count: per)
                }
            }
        }
    }
}

enum Router {
    /// Gating probabilities over all experts (softmax, or a sigmoid per expert), top-k by
    /// probability plus the optional selection bias (`TopK`: ties and NaN, from a NaN or
    /// infinite router logit, go to the lower ids; `selection`: `e` floats of scratch for the
    /// biased values; `groups` > 1: limited to the best `groupsUsed` groups, see `GroupLimit`),
    /// optionally renormalised to sum to one, then scaled — ggml's
    /// build_moe_ffn. The weights are the unbiased probabilities: NaN stays NaN, so the output
    /// shows the corruption instead of hiding it.
    static func route(logits: UnsafeMutablePointer<Float>, expertCount e: Int, k: Int, gating: ExpertGating = .softmax,
                      selectionBias: UnsafePointer<Float>? = nil, selection: UnsafeMutablePointer<Float>? = nil,
                      normalize: Bool, scale: Float = 0, groups: Int = 1, groupsUsed: Int = 1,
                      experts: UnsafeMutablePointer<Int32>, weights: UnsafeMutablePointer<Float>) {
        switch gating {
        case .softmax: hm_ggml_softmax_f32(logits, Int64(e))
        case .sigmoid: for i in 0..<e { logits[i] = Ops.sigmoid(logits[i]) }
        case .softmaxWeight: break
        }
        if let selection, selectionBias != nil || groups > 1 {
            if let bias = selectionBias {
                for i in 0..<e { selection[i] = logits[i] + bias[i] }
            } else {
                selection.update(from: logits, count: e)
            }
            if groups > 1 { GroupLimit.mask(selection, count: e, groups: groups, used: groupsUsed) }
            TopK.select(selection, count: e, k: k, into: experts)
        } else {
            TopK.select(logits, count: e, k: k, into: experts)
        }
        for s in 0..<k { weights[s] = logits[Int(experts[s])] }
        if gating == .softmaxWeight { hm_ggml_softmax_f32(weights, Int64(k)) }
        if normalize {
            // ggml_sum_rows adds in double and rounds once.
            var total: Double = 0
            for s in 0..<k { total += Double(weights[s]) }
            let sum = max(Float(total), 6.103515625e-5)
            for s in 0..<k { weights[s] /= sum }
        }
        if scale != 0, scale != 1 {
            for s in 0..<k { weights[s] *= scale }
        }
    }
}
