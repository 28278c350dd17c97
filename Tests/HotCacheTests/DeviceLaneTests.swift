import Engine
import ExpertCache
import Foundation
@testable import HotCache
import Logging
import Testing

/// The executor's side of the device seam, without a device: a test tier that computes its
/// experts on the CPU in `finish` (so the result is bitwise the CPU's) checks that the hot
/// items reach the lane, begin comes before the cold lane and finish after, results land in
/// the right arena rows, and hits are counted from the device tier. The CUDA lane itself runs
/// only on the device machine (gpu-check).
private final class CPUTestTier: DeviceExpertTier, @unchecked Sendable {
    let held: Set<Int>
    let model: MoEModel
    var begun = 0, finished = 0, rowsSeen = 0
    init(model: MoEModel, held: Set<Int>) { self.model = model; self.held = held }
    func holds(layer: Int, expert: Int) -> Bool { held.contains(expert) }
    func makeLane() -> DeviceExpertLane { Lane(tier: self) }
    var bytes: Int { 0 }
    var expertCount: Int { held.count * model.config.moeLayers.count }
    var applied: [HotCachePlan] = []
    func apply(_ plan: HotCachePlan, layout: ModelExpertLayout) throws -> Int {
        applied.append(plan)
        return 0
    }

    final class Lane: DeviceExpertLane {
        let tier: CPUTestTier
        let computer: ExpertComputer
        private var pending: (items: [ExpertWorkItem], grouping: ExpertGrouping, input: UnsafePointer<Float>)?
        init(tier: CPUTestTier) {
            self.tier = tier
            let c = tier.model.config
            computer = ExpertComputer(embedding: c.embeddingLength, expertFF: c.expertFFLength, k: c.expertsUsed,
                                      pool: WorkerPool(threads: 1), activation: c.ffnActivation)
        }
        func begin(layer: Int, items: [ExpertWorkItem], grouping: ExpertGrouping, input: UnsafePointer<Float>, tokens: Int) throws {
            #expect(items.allSatisfy { tier.holds(layer: layer, expert: $0.expert) })
            #expect(pending == nil, "begin twice without finish")
            tier.begun += 1
            tier.rowsSeen += items.reduce(0) { $0 + $1.count }
            pending = (items, grouping, input)
        }
        func finish(slotOutputs: UnsafeMutablePointer<Float>) throws -> UInt64 {
            guard let p = pending else { Issue.record("finish without begin"); return 0 }
            pending = nil
            tier.finished += 1
            let slots = p.grouping.items.reduce(0) { $0 + $1.count }
            computer.compute(items: p.items, grouping: p.grouping, input: p.input, tokenSlots: slots, slotOutputs: slotOutputs)
            return 1
        }
    }
}

private func model(seed: UInt64) throws -> MoEModel {
    var spec = SyntheticModelSpec.preset("small", architecture: "qwen3moe")!
    spec.layers = 3
    spec.weightType = "q8_0"
    spec.seed = seed
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("device-lane-tests-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent("m-\(seed).gguf").path
    if !FileManager.default.fileExists(atPath: path) { try SyntheticModel.write(spec, to: path) }
    return try MoEModel(path: path)
}

@Test func deviceLaneResultsMergeAsTheCPUs() throws {
    let m = try model(seed: UInt64.random(in: 1...1_000_000))
    let prompt: [Int32] = (0..<20).map { Int32(($0 * 31 + 5) % m.config.vocabSize) }
    func logits(_ configure: (InferenceSession) throws -> Void) throws -> [Float] {
        let s = InferenceSession(model: m, contextSize: 64, maxBatch: 32, threads: 2)
        try configure(s)
        var out = Array(try s.forward(prompt, logits: .all))
        for t in [Int32(3), 9, 27] { out += Array(try s.forward([t], logits: .last)) }
        return out
    }
    let cpu = try logits { _ in }
    let runtime = try MoERuntime(model: m, options: HotCacheOptions(), logger: Logger(label: "test"))
    let tier = CPUTestTier(model: m, held: Set(stride(from: 0, to: m.config.expertCount, by: 3)))
    let plan = HotCachePlan(slots: Dictionary(uniqueKeysWithValues: m.config.moeLayers.map { ($0, tier.held.sorted()) }))
    try runtime.attachDevice(tier, plan: plan)
    #expect(runtime.isActive && runtime.plan == plan)
    runtime.setPerfMode(.update)
    let withDevice = try logits { $0.executor = runtime.makeExecutor(pool: $0.pool) }
    #expect(withDevice.count == cpu.count)
    #expect(zip(withDevice, cpu).allSatisfy { $0.bitPattern == $1.bitPattern })
    #expect(tier.begun > 0 && tier.begun == tier.finished && tier.rowsSeen > 0)
    let hit = runtime.metrics.hitRate
    #expect(hit > 0.1 && hit < 0.6, "hit rate \(hit) for a third of the experts")
    // A manual apply goes to the device tier with the updated plan (same slot counts).
    _ = try runtime.applyHotCache(json: runtime.perfJSON())
    #expect(tier.applied.count == 1)
    #expect(tier.applied.first.map { p in m.config.moeLayers.allSatisfy { p.slotCount(layer: $0) == plan.slotCount(layer: $0) } } == true)
}
