import ExpertCache

/// Which experts the VRAM tier holds (`--device CUDA<n>`), decided without a device: the
/// budget from the hot-cache options, and the experts within it ranked as the RAM hot tier's
/// would be (the --moe-hot-cache profile), then the experts the profile never saw while the
/// budget has room.
public enum DeviceTierPlan {
    /// The budget asked for: `--moe-hot-cache-max-mib` N (fixed) or -1 (auto: free VRAM minus
    /// the reserve); left at 0, auto as llama.cpp puts every layer on the GPU by default, unless
    /// `--cpu-moe` keeps the experts on the CPU (nil: nothing goes to the device).
    public static func budget(_ o: HotCacheOptions) throws -> CacheBudget? {
        if o.maxMiB == 0 { return o.cpuMoE ? nil : .auto(reserveMiB: o.autoReserveMiB) }
        return try CacheBudget(maxMiB: o.maxMiB, autoReserveMiB: o.autoReserveMiB)
    }

    /// The MoE layers whose experts may go to the device, as llama.cpp places layers:
    /// `-ngl N` offloads the last N of `layerCount` layers (nil: all), and `--n-cpu-moe N` keeps
    /// the experts of the first N layers on the CPU.
    public static func deviceLayers(moeLayers: [Int], layerCount: Int, gpuLayers: Int?, cpuMoELayers: Int) -> [Int] {
        let firstOffloaded = gpuLayers.map { layerCount - min(max(0, $0), layerCount) } ?? 0
        return moeLayers.filter { $0 >= firstOffloaded && $0 >= cpuMoELayers }
    }

    /// The experts for `budgetBytes` of VRAM in `layers` (nil: every MoE layer): the profile's
    /// ranking when there is one, then filled.
    public static func plan(profile: PerfProfile?, layout full: ModelExpertLayout, budgetBytes: Int, config: WeightingConfig,
                            layers: [Int]? = nil) -> HotCachePlan {
        var layout = full
        if let layers, layers != full.moeLayers {
            guard !layers.isEmpty, let sub = try? ModelExpertLayout(moeLayers: layers, expertsPerLayer: full.expertsPerLayer, topK: full.topK,
                                                                    bytesPerExpert: layers.map { full.bytes(ofLayer: $0) ?? 0 }) else {
                return HotCachePlan(budgetBytes: budgetBytes)
            }
            layout = sub
        }
        let ranked = profile.map { HotCachePlanner.plan(profile: $0, layout: layout, budgetBytes: budgetBytes, config: config) }
            ?? HotCachePlan(budgetBytes: budgetBytes)
        return ranked.filled(layout: layout, budgetBytes: budgetBytes)
    }
}
