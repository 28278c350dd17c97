import CUDA
import Engine
import ExpertCache
import HotCache
import Quant

/// The VRAM tier: per MoE layer one device buffer of fixed-size slots, each holding one
/// expert's gate, up and down matrices back to back in the model file's layout (GGUF blocks,
/// read by the kernels as they are). The slot layout is fixed when the tier is built;
/// `apply` replaces slot contents between requests.
public final class CUDAExpertTier: DeviceExpertTier, @unchecked Sendable {
    struct LayerSlots {
        let buffer: DeviceBuffer
        let gateBytes: Int
        let downBytes: Int
        let gateUp: GPUWeightFormat
        let down: GPUWeightFormat
        let gateRowBytes: Int
        let downRowBytes: Int
        var slotExpert: [Int?]
        /// Slot of each expert, or -1.
        var slotOf: [Int]
        var slotBytes: Int { 2 * gateBytes + downBytes }
    }

    public let library: KernelLibrary
    public var context: Context { library.context }
    let embedding: Int
    let expertFF: Int
    private let weights: ModelWeights
    private var layers: [LayerSlots?]
    public private(set) var bytes = 0
    public var expertCount: Int { layers.reduce(0) { $0 + ($1?.slotExpert.filter { $0 != nil }.count ?? 0) } }

    /// Why a model's experts cannot run on the GPU lane, or nil when they can.
    public static func unsupportedReason(_ model: MoEModel) -> String? {
        let c = model.config
        guard c.ffnActivation == .silu else { return "the GPU lane computes SwiGLU experts only (this model's activation is \(c.ffnActivation))" }
        for layer in c.moeLayers {
            guard let m = model.weights.layers[layer].moe else { continue }
            if m.expertBiases != nil { return "the GPU lane has no expert biases (layer \(layer))" }
            for s in [m.gateExperts, m.upExperts, m.downExperts] {
                if s.layout != .ggml { return "experts of layer \(layer) are repacked in RAM: load the model with --no-repack for the GPU lane" }
                if GPUWeightFormat(ggmlType: s.type.rawValue) == nil {
                    return "expert type \(s.type) (layer \(layer)) has no GPU kernel (supported: \(GPUWeightFormat.allCases.map(\.rawValue).joined(separator: ", ")))"
                }
            }
            if m.gateExperts.type != m.upExperts.type { return "layer \(layer): gate and up experts differ in type" }
        }
        return nil
    }

    /// Uploads the device tier of `placement` (one slot per device expert).
    public init(library: KernelLibrary, model: MoEModel, placement: TierPlacement) throws {
        if let why = CUDAExpertTier.unsupportedReason(model) { throw CUDAError.invalidArgument(why) }
        self.library = library
        weights = model.weights
        embedding = model.config.embeddingLength
        expertFF = model.config.expertFFLength
        let slots = DeviceSlots(placement: placement)
        var layers = [LayerSlots?](repeating: nil, count: model.weights.layers.count)
        for (layer, experts) in slots.slots where layer < layers.count {
            guard let m = model.weights.layers[layer].moe, !experts.isEmpty else { continue }
            let gateBytes = m.gateExperts.expertBytes, downBytes = m.downExperts.expertBytes
            let first = weights.expertMatrices(layer: layer, expert: experts.compactMap { $0 }.first ?? 0)
            var l = LayerSlots(buffer: try DeviceBuffer(context: library.context, byteCount: (2 * gateBytes + downBytes) * experts.count),
                               gateBytes: gateBytes, downBytes: downBytes,
                               gateUp: GPUWeightFormat(ggmlType: m.gateExperts.type.rawValue)!,
                               down: GPUWeightFormat(ggmlType: m.downExperts.type.rawValue)!,
                               gateRowBytes: first.gate.rowBytes, downRowBytes: first.down.rowBytes,
                               slotExpert: experts, slotOf: [Int](repeating: -1, count: model.config.expertCount))
            for (slot, e) in experts.enumerated() {
                guard let e else { continue }
                try CUDAExpertTier.upload(weights.expertMatrices(layer: layer, expert: e), into: l, slot: slot)
                l.slotOf[e] = slot
            }
            bytes += l.buffer.byteCount
            layers[layer] = l
        }
        self.layers = layers
    }

    private static func upload(_ m: ExpertMatrices, into l: LayerSlots, slot: Int, stream: Stream? = nil) throws {
        let base = slot * l.slotBytes
        let parts: [(UnsafeRawPointer, Int, Int)] = [(m.gate.data, l.gateBytes, base), (m.up.data, l.gateBytes, base + l.gateBytes),
                                                     (m.down.data, l.downBytes, base + 2 * l.gateBytes)]
        for (p, n, at) in parts {
            if let stream { try l.buffer.uploadAsync(p, count: n, at: at, stream: stream) } else { try l.buffer.upload(p, count: n, at: at) }
        }
    }

    public func holds(layer: Int, expert: Int) -> Bool {
        guard layer >= 0, layer < layers.count, let l = layers[layer], expert >= 0, expert < l.slotOf.count else { return false }
        return l.slotOf[expert] >= 0
    }

    /// Device addresses of an expert's gate, up and down matrices (it must be held).
    func addresses(layer: Int, expert: Int) -> (gate: UInt64, up: UInt64, down: UInt64) {
        let l = layers[layer]!
        let base = l.buffer.address + UInt64(l.slotOf[expert] * l.slotBytes)
        return (base, base + UInt64(l.gateBytes), base + UInt64(2 * l.gateBytes))
    }

    func formats(layer: Int) -> LayerSlots? { layers[layer] }

    /// The current slot table (for the copy plan to the next placement).
    public var slotTable: DeviceSlots {
        var s: [Int: [Int?]] = [:]
        for (layer, l) in layers.enumerated() { if let l { s[layer] = l.slotExpert } }
        return DeviceSlots(slots: s)
    }

    /// Copies `plan`'s uploads on `stream` (a side stream, between requests: no lane may be
    /// computing), then updates the slot table. Returns the bytes copied.
    @discardableResult
    public func apply(_ plan: DeviceCopyPlan, on stream: Stream) throws -> Int {
        var copied = 0
        for u in plan.uploads {
            guard u.layer < layers.count, let l = layers[u.layer], u.slot < l.slotExpert.count,
                  l.slotExpert[u.slot] == u.replaced, u.expert >= 0, u.expert < l.slotOf.count, l.slotOf[u.expert] < 0 else {
                throw CUDAError.invalidArgument("copy plan does not match the device slots (layer \(u.layer) slot \(u.slot))")
            }
            try CUDAExpertTier.upload(weights.expertMatrices(layer: u.layer, expert: u.expert), into: l, slot: u.slot, stream: stream)
            copied += l.slotBytes
        }
        try stream.synchronize()
        for u in plan.uploads {
            if let old = u.replaced { layers[u.layer]!.slotOf[old] = -1 }
            layers[u.layer]!.slotOf[u.expert] = u.slot
            layers[u.layer]!.slotExpert[u.slot] = u.expert
        }
        for f in plan.freed {
            guard let old = layers[f.layer]?.slotExpert[f.slot] else { continue }
            layers[f.layer]!.slotOf[old] = -1
            layers[f.layer]!.slotExpert[f.slot] = nil
        }
        return copied
    }

    public func makeLane() -> DeviceExpertLane { CUDAExpertLane(tier: self) }

    private var sideStream: Stream?

    public func apply(_ plan: HotCachePlan, layout: ModelExpertLayout) throws -> Int {
        let copies = slotTable.copies(to: TierPlacement(layout: layout, device: plan, resident: nil))
        if sideStream == nil { sideStream = try Stream(context: context) }
        try apply(copies, on: sideStream!)
        return copies.uploads.count
    }
}
