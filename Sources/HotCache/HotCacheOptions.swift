import Engine
import ExpertCache
import Foundation

/// The hot-cache workflow's settings, named as seed 000 names them (flags, env vars, INI keys).
public struct HotCacheOptions: Sendable, Equatable {
    public var cpuMoE = false
    public var perfOut: String?
    public var hotCache: String?
    /// 0 disables, > 0 fixed MiB, -1 auto-size.
    public var maxMiB = 0
    public var autoReserveMiB = 1024
    /// Whether the reserve was given; else the RAM residency decision scales it down on small
    /// machines (see `AutoResidency.reserveBytes`).
    public var autoReserveGiven = false
    public var updateRate = 0.0
    public var weighting = WeightingMode.flat
    public var layerCurve = WeightingConfig.defaultLayerCurve
    public var perfMode = PerfMode.full
    public var parallelism = LaneParallelism.auto
    public var parallelMinSlots = 2
    /// Online tier (seed 001): a cache that loads experts on a miss, by this policy.
    public var cachePolicy: String?
    /// Online tier capacity in experts per layer (else derived from the MiB budget).
    public var cacheCapacity: Int?
    /// Read cold experts from disk with pread instead of through the mapping.
    public var stream = false
    /// Streaming: read the next layer's guessed experts ahead (decode).
    /// Off by default: on the 2-core test machine it did not pay (docs/larger-than-ram.md).
    public var prefetch = PrefetchMode.off
    /// Streaming: read ahead only the best this many guesses per layer (default: top-k).
    public var readAheadTop: Int?
    /// Streaming: reads in flight at once.
    public var readLanes = 4
    /// For the auto budget's KV estimate.
    public var ctxSize = 4096
    public var parallelSequences = 1
    /// KV row types: the KV bytes in the auto budget and the larger-than-RAM decision.
    public var kvCacheTypes = KVCacheTypes.f32
    /// Sliding-window layers' rows (--swa-full) and the batch the window rows leave room for.
    public var kvSlidingWindow = SlidingWindowRows.window
    public var kvMaxBatch = 256

    public init() {}

    /// Whether anything asks for the cache runtime (telemetry, a plan, or a perf file).
    public var wantsRuntime: Bool { perfOut != nil || hotCache != nil || maxMiB != 0 || cachePolicy != nil }

    /// Values given on the command line, as strings or nil.
    public struct CommandLine: Sendable {
        public var cpuMoE: Bool?
        public var perfOut: String?
        public var hotCache: String?
        public var maxMiB: Int?
        public var autoReserveMiB: Int?
        public var updateRate: Double?
        public var weighting: String?
        public var layerCurve: Double?
        public var noPerf = false
        public var cachePolicy: String?
        public var cacheCapacity: Int?
        public var stream: Bool?
        public var prefetch: String?
        public init() {}
    }

    /// INI keys this struct understands.
    public static let settingKeys: Set<String> = [
        "cpu-moe", "moe-layer-perf-out", "moe-hot-cache", "moe-hot-cache-max-mib", "moe-hot-cache-auto-reserve-mib",
        "moe-hot-cache-update-rate", "moe-hot-cache-weighting", "moe-hot-cache-qwen-weighting",
        "moe-hot-cache-layer-curve", "moe-hot-cache-qwen-layer-curve", "moe-hot-cache-pp-reduce-merge", "no-perf",
        "moe-cache-policy", "moe-cache-capacity", "moe-stream", "moe-prefetch",
    ]

    /// Command line, then environment, then INI, then defaults; every value range-checked.
    public static func resolve(_ cli: CommandLine, source: SettingsSource) throws -> HotCacheOptions {
        var o = HotCacheOptions()
        o.cpuMoE = try cli.cpuMoE ?? source.bool("cpu-moe", env: ["LLAMA_ARG_CPU_MOE"]) ?? false
        o.perfOut = cli.perfOut ?? source.value("moe-layer-perf-out", env: ["LLAMA_ARG_MOE_LAYER_PERF_OUT"])
        o.hotCache = cli.hotCache ?? source.value("moe-hot-cache", env: ["LLAMA_ARG_MOE_HOT_CACHE"])
        o.maxMiB = try cli.maxMiB ?? source.int("moe-hot-cache-max-mib", env: ["LLAMA_ARG_MOE_HOT_CACHE_MAX_MIB"]) ?? 0
        let reserve = try cli.autoReserveMiB
            ?? source.int("moe-hot-cache-auto-reserve-mib", env: ["LLAMA_ARG_MOE_HOT_CACHE_AUTO_RESERVE_MIB"])
        o.autoReserveMiB = reserve ?? 1024
        o.autoReserveGiven = reserve != nil
        o.updateRate = try cli.updateRate
            ?? source.double("moe-hot-cache-update-rate", env: ["LLAMA_ARG_MOE_HOT_CACHE_UPDATE_RATE"]) ?? 0
        let weighting = cli.weighting
            ?? source.value("moe-hot-cache-weighting", env: ["LLAMA_ARG_MOE_HOT_CACHE_WEIGHTING", "LLAMA_MOE_HOT_CACHE_WEIGHTING",
                                                             "LLAMA_MOE_HOT_CACHE_QWEN_WEIGHTING"])
            ?? source.ini["moe-hot-cache-qwen-weighting"] ?? "flat"
        guard let mode = WeightingMode(name: weighting) else {
            throw SettingsError("--moe-hot-cache-weighting: unknown mode '\(weighting)' (flat, pressure, smooth, time, balanced and their aliases)")
        }
        o.weighting = mode
        o.layerCurve = try cli.layerCurve
            ?? source.double("moe-hot-cache-layer-curve", env: ["LLAMA_ARG_MOE_HOT_CACHE_LAYER_CURVE", "LLAMA_MOE_HOT_CACHE_LAYER_CURVE",
                                                                "LLAMA_MOE_HOT_CACHE_QWEN_LAYER_CURVE", "LLAMA_MOE_HOT_CACHE_GEMMA4_LAYER_CURVE"])
            ?? source.double("moe-hot-cache-qwen-layer-curve", env: []) ?? WeightingConfig.defaultLayerCurve
        o.cachePolicy = cli.cachePolicy ?? source.value("moe-cache-policy", env: ["HOTMOE_MOE_CACHE_POLICY"])
        o.cacheCapacity = try cli.cacheCapacity ?? source.int("moe-cache-capacity", env: ["HOTMOE_MOE_CACHE_CAPACITY"])
        o.stream = try cli.stream ?? source.bool("moe-stream", env: ["HOTMOE_MOE_STREAM"]) ?? false
        let prefetch = cli.prefetch ?? source.value("moe-prefetch", env: ["HOTMOE_MOE_PREFETCH"]) ?? "off"
        guard let p = PrefetchMode(rawValue: prefetch.lowercased()) else {
            throw SettingsError("--moe-prefetch: '\(prefetch)' is not auto, on or off")
        }
        o.prefetch = p
        if let top = source.environment["HOTMOE_MOE_PREFETCH_TOP"], !top.isEmpty {
            guard let v = Int(top), v >= 1 else { throw SettingsError("HOTMOE_MOE_PREFETCH_TOP: '\(top)' is not an integer >= 1") }
            o.readAheadTop = v
        }
        if let lanes = source.environment["HOTMOE_MOE_READ_LANES"], !lanes.isEmpty {
            guard let v = Int(lanes), (1...64).contains(v) else { throw SettingsError("HOTMOE_MOE_READ_LANES: '\(lanes)' is not in 1...64") }
            o.readLanes = v
        }
        if let p = o.cachePolicy {
            do { _ = try PolicySpec(name: p) } catch { throw SettingsError("--moe-cache-policy: \(error)") }
            if p.lowercased() == "belady" || p.lowercased() == "opt" {
                throw SettingsError("--moe-cache-policy: belady needs the future; it is an analysis bound (hotmoe analyze), not a runtime policy")
            }
        }
        let noPerf = try cli.noPerf || (source.bool("no-perf", env: []) ?? false)
        if noPerf {
            o.perfMode = .off
        } else if let m = source.environment["LLAMA_MOE_LAYER_PERF"], !m.isEmpty {
            guard let mode = PerfMode(rawValue: m.lowercased()) else {
                throw SettingsError("LLAMA_MOE_LAYER_PERF: '\(m)' is not full, update or off")
            }
            o.perfMode = mode
        }
        if let p = source.environment["LLAMA_MOE_HOT_CACHE_PARALLEL"], !p.isEmpty {
            switch p.lowercased() {
            case "auto": o.parallelism = .auto
            case "0", "off", "false": o.parallelism = .off
            case "force": o.parallelism = .force
            default: throw SettingsError("LLAMA_MOE_HOT_CACHE_PARALLEL: '\(p)' is not auto, off or force")
            }
        }
        if let s = source.environment["LLAMA_MOE_HOT_CACHE_PARALLEL_MIN_SLOTS"], !s.isEmpty {
            guard let v = Int(s), v >= 0 else { throw SettingsError("LLAMA_MOE_HOT_CACHE_PARALLEL_MIN_SLOTS: '\(s)' is not an integer >= 0") }
            o.parallelMinSlots = v
        }
        try o.validate()
        return o
    }

    public func validate() throws {
        guard maxMiB >= -1 else { throw SettingsError("--moe-hot-cache-max-mib must be -1 (auto), 0 (off) or a positive MiB count, got \(maxMiB)") }
        guard autoReserveMiB >= 0 else { throw SettingsError("--moe-hot-cache-auto-reserve-mib must be >= 0, got \(autoReserveMiB)") }
        guard (0...1).contains(updateRate) else { throw SettingsError("--moe-hot-cache-update-rate must be in 0.0...1.0, got \(updateRate)") }
        guard (0...1).contains(layerCurve) else { throw SettingsError("--moe-hot-cache-layer-curve must be in 0.0...1.0, got \(layerCurve)") }
        if let c = cacheCapacity, c < 1 { throw SettingsError("--moe-cache-capacity must be >= 1 expert per layer, got \(c)") }
        if cachePolicy != nil && hotCache != nil && cachePolicy?.lowercased() != "pinned" {
            throw SettingsError("--moe-hot-cache with --moe-cache-policy needs policy 'pinned' (profile experts pinned, online remainder)")
        }
        if maxMiB != 0 && hotCache == nil && cachePolicy == nil {
            throw SettingsError("--moe-hot-cache FILE is required when --moe-hot-cache-max-mib is not 0 (profile first with --moe-layer-perf-out)")
        }
    }
}
