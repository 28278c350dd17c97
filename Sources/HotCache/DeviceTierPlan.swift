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

    /// The experts for `budgetBytes` of VRAM: the profile's ranking when there is one, then filled.
    public static func plan(profile: PerfProfile?, layout: ModelExpertLayout, budgetBytes: Int, config: WeightingConfig) -> HotCachePlan {
        let ranked = profile.map { HotCachePlanner.plan(profile: $0, layout: layout, budgetBytes: budgetBytes, config: config) }
            ?? HotCachePlan(budgetBytes: budgetBytes)
        return ranked.filled(layout: layout, budgetBytes: budgetBytes)
    }
}
