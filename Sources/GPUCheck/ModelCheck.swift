import CUDA
import Engine
import ExpertCache
import GPULane
import HotCache
import Logging

/// gpu-check's model step: the same model decoded by the CPU alone and with the GPU hot lane
/// (every other expert of each layer in VRAM, so both lanes work in every MoE call and the
/// merge is exercised), fed the same tokens; logits compared over the prompt and every step.
public struct ModelCheckResult: CustomStringConvertible {
    public let relativeL2: Double
    public let worstStepRelativeL2: Double
    public let greedyAgreement: Int
    public let steps: Int
    public let deviceExperts: Int
    public let totalExperts: Int
    public let hotFraction: Double
    public var passed: Bool { relativeL2 < Comparison.tolerance && worstStepRelativeL2.isFinite }

    public var description: String {
        String(format: "logits GPU hot lane vs CPU: rel_l2 %.3e (worst step %.3e) over %d greedy tokens, greedy agreement %d/%d, %d/%d experts on the device, %.1f%% of selections on the GPU lane %@",
               relativeL2, worstStepRelativeL2, steps, greedyAgreement, steps, deviceExperts, totalExperts, 100 * hotFraction,
               passed ? "PASS" : "FAIL")
    }
}

public enum ModelCheck {
    public static func compare(model: MoEModel, library: KernelLibrary, steps: Int = 32, threads: Int, logger: Logger) throws -> ModelCheckResult {
        let c = model.config
        let prompt: [Int32] = (0..<24).map { Int32(($0 * 7919 + 13) % c.vocabSize) }
        let contextSize = prompt.count + steps + 4
        // CPU reference: greedy decode.
        let cpu = InferenceSession(model: model, contextSize: contextSize, maxBatch: prompt.count, threads: threads)
        var cpuLogits: [[Float]] = [Array(try cpu.forward(prompt, logits: .last))]
        var tokens: [Int32] = []
        for _ in 0..<steps {
            let next = cpuLogits.last!.withUnsafeBufferPointer { Sampler.argmax($0) }
            tokens.append(next)
            cpuLogits.append(Array(try cpu.forward([next], logits: .last)))
        }
        // GPU hot lane: even experts on the device, the CPU's tokens fed back.
        let runtime = try MoERuntime(model: model, options: HotCacheOptions(), logger: logger)
        var slots: [Int: [Int]] = [:]
        for layer in c.moeLayers { slots[layer] = Array(stride(from: 0, to: c.expertCount, by: 2)) }
        let plan = HotCachePlan(slots: slots)
        let tier = try CUDAExpertTier(library: library, model: model,
                                      placement: TierPlacement(layout: runtime.layout, device: plan, resident: nil))
        try runtime.attachDevice(tier, plan: plan)
        runtime.setPerfMode(.update)
        let gpu = InferenceSession(model: model, contextSize: contextSize, maxBatch: prompt.count, threads: threads)
        gpu.executor = runtime.makeExecutor(pool: gpu.pool)
        var gpuLogits: [[Float]] = [Array(try gpu.forward(prompt, logits: .last))]
        for t in tokens { gpuLogits.append(Array(try gpu.forward([t], logits: .last))) }
        var agree = 0
        var worst = 0.0
        for i in 0..<steps {
            let g = gpuLogits[i].withUnsafeBufferPointer { Sampler.argmax($0) }
            if g == tokens[i] { agree += 1 }
        }
        for (g, w) in zip(gpuLogits, cpuLogits) { worst = max(worst, Comparison.relativeL2(g, w.asDoubles)) }
        let all = Comparison.relativeL2(gpuLogits.flatMap { $0 }, cpuLogits.flatMap { $0 }.asDoubles)
        return ModelCheckResult(relativeL2: all, worstStepRelativeL2: worst, greedyAgreement: agree, steps: steps,
                                deviceExperts: tier.expertCount, totalExperts: runtime.layout.totalExperts,
                                hotFraction: runtime.metrics.hitRate)
    }
}
