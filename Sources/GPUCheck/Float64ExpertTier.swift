import Dispatch
import Engine
import ExpertCache
import Foundation
import HotCache
import Quant

/// The model check's reference for the GPU lane: a device tier behind the same seam that
/// computes its experts in float64 from the file's exact dequantized weights and the f32 input.
/// The CPU lane quantises activations (Q8_K, as ggml does), the GPU does not, so on a random
/// model their logits drift apart by a few percent; this tier tells a wrong GPU lane (far from
/// it) from a right one (close to it, closer than the CPU).
///
/// `singlePrecision` sums in Float instead: the same arithmetic rounded as a GPU rounds, so the
/// logits it gives show how far rounding alone moves this model's logits.
final class Float64ExpertTier: DeviceExpertTier, @unchecked Sendable {
    let weights: ModelWeights
    let plan: HotCachePlan
    let d: Int
    let ff: Int
    let singlePrecision: Bool

    init(model: MoEModel, plan: HotCachePlan, singlePrecision: Bool = false) {
        weights = model.weights
        self.plan = plan
        self.singlePrecision = singlePrecision
        d = model.config.embeddingLength
        ff = model.config.expertFFLength
    }

    func holds(layer: Int, expert: Int) -> Bool { plan.slots[layer]?.contains(expert) ?? false }
    func makeLane() -> DeviceExpertLane { Lane(tier: self) }
    var bytes: Int { 0 }
    var expertCount: Int { plan.hotCount }
    func apply(_ plan: HotCachePlan, layout: ModelExpertLayout) throws -> Int {
        throw HotCacheError("the float64 reference tier is fixed")
    }

    final class Lane: DeviceExpertLane {
        let tier: Float64ExpertTier
        /// Per routed row: arena row, expert matrices and the row's input.
        private var work: [(row: Int, matrices: ExpertMatrices, x: [Double])] = []
        init(tier: Float64ExpertTier) { self.tier = tier }

        func begin(layer: Int, items: [ExpertWorkItem], grouping: ExpertGrouping, input: UnsafePointer<Float>, tokens: Int) throws {
            let d = tier.d
            work.removeAll()
            for item in items {
                let m = tier.weights.expertMatrices(layer: layer, expert: item.expert)
                for j in 0..<item.count {
                    let t = Int(grouping.rowToken[item.arenaOffset + j])
                    work.append((item.arenaOffset + j, m, (0..<d).map { Double(input[t * d + $0]) }))
                }
            }
        }

        func finish(slotOutputs: UnsafeMutablePointer<Float>) throws -> UInt64 {
            let d = tier.d, ff = tier.ff
            let out = UnsafeMutableSendablePointer(slotOutputs)
            let work = self.work, single = tier.singlePrecision
            DispatchQueue.concurrentPerform(iterations: work.count) { i in
                let w = work[i]
                let g = Float64ExpertTier.multiply(w.matrices.gate, w.x, single: single)
                let u = Float64ExpertTier.multiply(w.matrices.up, w.x, single: single)
                let h = (0..<ff).map { g[$0] / (1 + exp(-g[$0])) * u[$0] }.map { single ? Double(Float($0)) : $0 }
                let y = Float64ExpertTier.multiply(w.matrices.down, h, single: single)
                for r in 0..<d { out.pointer[w.row * d + r] = Float(y[r]) }
            }
            self.work.removeAll()
            return 0
        }
    }

    /// W . x over W's dequantized rows, summed in float64 (or in Float, `single`).
    static func multiply(_ w: WeightMatrix, _ x: [Double], single: Bool = false) -> [Double] {
        var row = [Float](repeating: 0, count: w.cols)
        var y = [Double](repeating: 0, count: w.rows)
        let xf = x.map { Float($0) }
        row.withUnsafeMutableBufferPointer { r in
            for i in 0..<w.rows {
                Kernels.dequantizeRow(type: w.type, w.data + i * w.rowBytes, r.baseAddress!, count: w.cols)
                if single {
                    var s: Float = 0
                    for c in 0..<w.cols { s += r[c] * xf[c] }
                    y[i] = Double(s)
                } else {
                    var s = 0.0
                    for c in 0..<w.cols { s += Double(r[c]) * x[c] }
                    y[i] = s
                }
            }
        }
        return y
    }
}

/// A pointer handed to concurrentPerform's workers, each writing its own rows.
private struct UnsafeMutableSendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ p: UnsafeMutablePointer<Float>) { pointer = p }
}

/// The GPU lane checked call by call: every MoE call's hot slots are computed by `device` (whose
/// outputs the model uses) and by the float64 reference on the same inputs, and the slot
/// outputs compared. This isolates the lane from the amplification of the forward pass: a random
/// model turns any difference, even a rounding, into percents of its logits within a few steps.
final class ComparingExpertTier: DeviceExpertTier, @unchecked Sendable {
    let device: DeviceExpertTier
    let reference: Float64ExpertTier
    /// Over all calls: sum of squared differences and of squared reference values; worst call.
    private(set) var squaredDiff = 0.0, squaredNorm = 0.0, worstCall = 0.0
    private(set) var calls = 0, rows = 0

    init(device: DeviceExpertTier, reference: Float64ExpertTier) {
        self.device = device
        self.reference = reference
    }

    var relativeL2: Double { squaredNorm > 0 ? (squaredDiff / squaredNorm).squareRoot() : .infinity }
    func holds(layer: Int, expert: Int) -> Bool { device.holds(layer: layer, expert: expert) }
    func makeLane() -> DeviceExpertLane { Lane(tier: self, device: device.makeLane(), reference: reference.makeLane()) }
    var bytes: Int { device.bytes }
    var expertCount: Int { device.expertCount }
    func apply(_ plan: HotCachePlan, layout: ModelExpertLayout) throws -> Int { throw HotCacheError("the comparing tier is fixed") }

    fileprivate func record(diff: Double, norm: Double, rows n: Int) {
        squaredDiff += diff
        squaredNorm += norm
        worstCall = max(worstCall, norm > 0 ? (diff / norm).squareRoot() : .infinity)
        calls += 1
        rows += n
    }

    final class Lane: DeviceExpertLane {
        let tier: ComparingExpertTier
        let device: DeviceExpertLane
        let reference: DeviceExpertLane
        private var arenaRows: [Int] = []
        init(tier: ComparingExpertTier, device: DeviceExpertLane, reference: DeviceExpertLane) {
            self.tier = tier
            self.device = device
            self.reference = reference
        }

        func begin(layer: Int, items: [ExpertWorkItem], grouping: ExpertGrouping, input: UnsafePointer<Float>, tokens: Int) throws {
            arenaRows = items.flatMap { item in (0..<item.count).map { item.arenaOffset + $0 } }
            try reference.begin(layer: layer, items: items, grouping: grouping, input: input, tokens: tokens)
            try device.begin(layer: layer, items: items, grouping: grouping, input: input, tokens: tokens)
        }

        func finish(slotOutputs: UnsafeMutablePointer<Float>) throws -> UInt64 {
            let nanos = try device.finish(slotOutputs: slotOutputs)
            guard let last = arenaRows.max() else { return nanos }
            let d = tier.reference.d
            var want = [Float](repeating: 0, count: (last + 1) * d)
            _ = try want.withUnsafeMutableBufferPointer { try reference.finish(slotOutputs: $0.baseAddress!) }
            var diff = 0.0, norm = 0.0
            for row in arenaRows {
                for i in row * d..<(row + 1) * d {
                    let g = Double(slotOutputs[i]), w = Double(want[i])
                    diff += g.isFinite ? (g - w) * (g - w) : .infinity
                    norm += w * w
                }
            }
            tier.record(diff: diff, norm: norm, rows: arenaRows.count)
            return nanos
        }
    }
}
