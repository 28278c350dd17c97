import Engine
import ExpertCache
import Foundation
@testable import GPUCheck
import HotCache
import Logging
import Testing

/// A fresh random 2-layer qwen3moe model of `type` (deleted by the caller's `cleanup`).
private func freshModel(_ type: String) throws -> (model: MoEModel, seed: UInt64, cleanup: () -> Void) {
    var spec = SyntheticModelSpec.preset("small", architecture: "qwen3moe")!
    spec.layers = 2
    spec.weightType = type
    spec.seed = UInt64.random(in: 1...1_000_000)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("f64-tier-tests-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent("m-\(type)-\(spec.seed).gguf").path
    try SyntheticModel.write(spec, to: path)
    return (try MoEModel(path: path), spec.seed, { try? FileManager.default.removeItem(atPath: path) })
}

/// gpu-check's model verdict compares the GPU lane with the float64 reference lane, so that
/// lane must itself be right: on an F32 model (whose CPU experts do not quantise activations)
/// it reproduces the CPU's logits to float rounding, with half of every layer's experts on it.
@Test func float64ReferenceLaneReproducesTheCPUOnAnF32Model() throws {
    let (m, _, cleanup) = try freshModel("f32")
    defer { cleanup() }
    let c = m.config
    let prompt: [Int32] = (0..<12).map { Int32(($0 * 37 + 11) % c.vocabSize) }
    func logits(_ tier: DeviceExpertTier?, plan: HotCachePlan) throws -> ([Float], MoERuntime) {
        let runtime = try MoERuntime(model: m, options: HotCacheOptions(), logger: Logger(label: "test"))
        let s = InferenceSession(model: m, contextSize: 32, maxBatch: 16, threads: 2)
        if let tier { try runtime.attachDevice(tier, plan: plan) }
        runtime.setPerfMode(.update)
        s.executor = runtime.makeExecutor(pool: s.pool)
        var out = Array(try s.forward(prompt, logits: .all))
        for t in [Int32(5), 17, 2] { out += Array(try s.forward([t], logits: .last)) }
        return (out, runtime)
    }
    var slots: [Int: [Int]] = [:]
    for layer in c.moeLayers { slots[layer] = Array(stride(from: 1, to: c.expertCount, by: 2)) }
    let plan = HotCachePlan(slots: slots)
    let (cpu, _) = try logits(nil, plan: plan)
    let (reference, runtime) = try logits(Float64ExpertTier(model: m, plan: plan), plan: plan)
    #expect(runtime.metrics.hitRate > 0.2 && runtime.metrics.hitRate < 0.8, "both lanes must work: hit rate \(runtime.metrics.hitRate)")
    let rel = Comparison.relativeL2(reference, cpu.map(Double.init))
    #expect(rel > 0, "the reference lane must really run (bitwise-equal logits mean the CPU computed everything)")
    #expect(rel < 1e-4, "float64 reference lane vs CPU on an F32 model: rel L2 \(rel)")
}

/// A lane that scales its slot outputs: the comparing tier must see it.
private final class ScaledTier: DeviceExpertTier, @unchecked Sendable {
    let inner: Float64ExpertTier
    let scale: Float
    init(_ inner: Float64ExpertTier, scale: Float) { self.inner = inner; self.scale = scale }
    func holds(layer: Int, expert: Int) -> Bool { inner.holds(layer: layer, expert: expert) }
    func makeLane() -> DeviceExpertLane { Lane(inner.makeLane(), scale: scale, d: inner.d) }
    var bytes: Int { 0 }
    var expertCount: Int { inner.expertCount }
    func apply(_ plan: HotCachePlan, layout: ModelExpertLayout) throws -> Int { 0 }
    final class Lane: DeviceExpertLane {
        let inner: DeviceExpertLane
        let scale: Float
        let d: Int
        var rows: [Int] = []
        init(_ inner: DeviceExpertLane, scale: Float, d: Int) { self.inner = inner; self.scale = scale; self.d = d }
        func begin(layer: Int, items: [ExpertWorkItem], grouping: ExpertGrouping, input: UnsafePointer<Float>, tokens: Int) throws {
            rows = items.flatMap { i in (0..<i.count).map { i.arenaOffset + $0 } }
            try inner.begin(layer: layer, items: items, grouping: grouping, input: input, tokens: tokens)
        }
        func finish(slotOutputs: UnsafeMutablePointer<Float>) throws -> UInt64 {
            let t = try inner.finish(slotOutputs: slotOutputs)
            for r in rows { for i in r * d..<(r + 1) * d { slotOutputs[i] *= scale } }
            return t
        }
    }
}

@Test func comparingTierMeasuresTheLaneCallByCall() throws {
    let (m, _, cleanup) = try freshModel("q8_0")
    defer { cleanup() }
    var slots: [Int: [Int]] = [:]
    for layer in m.config.moeLayers { slots[layer] = Array(stride(from: 0, to: m.config.expertCount, by: 2)) }
    let plan = HotCachePlan(slots: slots)
    func lane(scale: Float) throws -> ComparingExpertTier {
        let compared = ComparingExpertTier(device: ScaledTier(Float64ExpertTier(model: m, plan: plan), scale: scale),
                                           reference: Float64ExpertTier(model: m, plan: plan))
        let runtime = try MoERuntime(model: m, options: HotCacheOptions(), logger: Logger(label: "test"))
        try runtime.attachDevice(compared, plan: plan)
        let s = InferenceSession(model: m, contextSize: 32, maxBatch: 16, threads: 2)
        s.executor = runtime.makeExecutor(pool: s.pool)
        _ = try s.forward((0..<10).map { Int32($0 * 13 % m.config.vocabSize) }, logits: .last)
        _ = try s.forward([7], logits: .last)
        return compared
    }
    let same = try lane(scale: 1)
    #expect(same.calls >= m.config.moeLayers.count && same.rows > 0)
    #expect(same.relativeL2 == 0 && same.worstCall == 0)
    let off = try lane(scale: 1.001)
    #expect(abs(off.relativeL2 - 1e-3) < 1e-4, "a 0.1% scale error reads as rel L2 \(off.relativeL2)")
    #expect(off.relativeL2 > ModelCheckResult.laneTolerance)
}

@Test func roundingStudyRunsTheSameDecodeInFloatAndInFloat64() throws {
    let (m, seed, cleanup) = try freshModel("q8_0")
    defer { cleanup() }
    let study = try ModelCheck.roundingStudy(model: m, steps: 4, threads: 2, logger: Logger(label: "test"))
    #expect(study.positions == 5)
    #expect(study.hotFraction > 0.2 && study.hotFraction < 0.8, "\(study.hotFraction)")
    // On two layers and four steps rounding moves the logits little (on the 8-layer bench
    // model, 32 steps: 2.2e-2, the GPU lane's own drift).
    #expect(study.roundedRelativeL2 < 1e-3, "\(study)")
    #expect(study.cpuRelativeL2 > 0 && study.cpuRelativeL2.isFinite, "\(study)")
    // The Float sums are really Float: they differ from the float64 ones, by rounding only.
    let gate = m.weights.expertMatrices(layer: m.config.moeLayers[0], expert: 0).gate
    var r = SeededRandom(seed: seed)
    let x = r.floats(gate.cols).map(Double.init)
    let single = Float64ExpertTier.multiply(gate, x, single: true), double = Float64ExpertTier.multiply(gate, x)
    let rel = Comparison.relativeL2(single.map { Float($0) }, double)
    #expect(rel > 0 && rel < 1e-5, "Float vs float64 sums: rel L2 \(rel)")
}
