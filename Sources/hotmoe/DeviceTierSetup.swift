import CUDA
import Engine
import ExpertCache
import GGUF
import GPULane
import HotCache
import Logging

/// `--device CUDA<n>` on run, serve and bench: the VRAM tier of the placement, its experts and
/// budget as DeviceTierPlan decides (auto: what cuMemGetInfo reports free minus
/// --moe-hot-cache-auto-reserve-mib). The CPU lane keeps its repacked copies; the device gets
/// the file's layout, read from the mapping.
enum DeviceTierSetup {
    /// `model` with its experts in the file's layout, which the VRAM tier copies: the CPU lane
    /// keeps its repacked experts, the tier reads the mapping.
    static func fileLayout(of model: MoEModel, file: GGUFFile) throws -> MoEModel {
        model.weights.hasRepackedExperts ? try MoEModel(file: file) : model
    }

    /// Attaches the VRAM tier of `library`'s device to `runtime` (the device named `device`);
    /// false when --cpu-moe without a budget keeps every expert on the CPU. A model the tier
    /// cannot take is an error when the device was named, and one warning line and the CPU
    /// path when only -ngl implied it (a llama-server command line on any model).
    @discardableResult
    static func attach(_ library: KernelLibrary, device: String, named: Bool, runtime: MoERuntime, model: MoEModel, file: GGUFFile,
                       options o: HotCacheOptions, layers: [Int], logger: Logger) throws -> Bool {
        func refuse(_ why: String) throws -> Bool {
            guard named else {
                logger.warning("-ngl: \(why); running on CPU")
                return false
            }
            throw CLIError("--device \(device): \(why)")
        }
        guard runtime.prefetchStats == nil, runtime.readStats == nil else {
            return try refuse("the VRAM tier does not combine with streamed experts (--moe-stream, --moe-cache-policy, or a model larger than RAM) in this build")
        }
        guard let budget = try DeviceTierPlan.budget(o) else {
            logger.info("--device \(device) with --cpu-moe and no --moe-hot-cache-max-mib: every expert stays on the CPU")
            return false
        }
        guard !layers.isEmpty else {
            logger.info("--device \(device): -ngl / --n-cpu-moe leave no MoE layer to the GPU: every expert stays on the CPU")
            return false
        }
        let fileLayout = try fileLayout(of: model, file: file)
        if let why = CUDAExpertTier.unsupportedReason(fileLayout) { return try refuse(why) }
        let memory = try library.context.memoryInfo()
        let room = DeviceBudget(budget: budget, freeBytes: memory.free, kvBytes: 0, denseBytes: 0, computeBytes: 0)
        if let asked = room.requestedBytes {
            logger.warning("--moe-hot-cache-max-mib \(asked >> 20) is more than the device has free (\(memory.free >> 20) MiB): using \(room.bytes >> 20) MiB")
        }
        let profile = try o.hotCache.map { try runtime.loadProfile($0) }
        let plan = DeviceTierPlan.plan(profile: profile, layout: runtime.layout, budgetBytes: room.bytes,
                        config: WeightingConfig(mode: o.weighting, layerCurve: o.layerCurve), layers: layers)
        let tier = try CUDAExpertTier(library: library, model: fileLayout,
                                      placement: TierPlacement(layout: runtime.layout, device: plan, resident: nil))
        try runtime.attachDevice(tier, plan: plan)
        var order = profile == nil ? "no profile: experts in index order" : "ranked by \(o.hotCache!), then unseen experts"
        if layers != runtime.layout.moeLayers { order += "; MoE layers \(layers.first!)...\(layers.last!) only (-ngl / --n-cpu-moe)" }
        logger.info("VRAM tier on \(device): \(plan.hotCount)/\(runtime.layout.totalExperts) experts (\(order)), \(tier.bytes >> 20) MiB of a \(room.bytes >> 20) MiB budget (\(memory.free >> 20) MiB free); dense layers and the other experts on the CPU")
        return true
    }
}
