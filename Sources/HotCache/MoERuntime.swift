import Engine
import ExpertCache
import Foundation
import Logging

/// One loaded model's expert-cache state: the layout, telemetry, the plan and its resident
/// hot tier. Sessions get executors from it; the server and CLI drive updates between requests.
public final class MoERuntime: @unchecked Sendable {
    public let model: MoEModel
    public let layout: ModelExpertLayout
    public let options: HotCacheOptions
    public let telemetry: TelemetryRecorder
    private let logger: Logger
    private let lock = NSLock()
    private var tier: HotTier?
    /// The VRAM tier when the hot lane runs on a GPU (then there is no RAM hot tier).
    public private(set) var deviceTier: DeviceExpertTier?
    private(set) var online: OnlineTier?
    public private(set) var plan: HotCachePlan
    private var manualPending = false

    /// `profile`, when given, selects the hot experts instead of the `options.hotCache` file
    /// (a sweep learns one profile in memory and builds several caches from it).
    public init(model: MoEModel, options: HotCacheOptions, logger: Logger, profile given: PerfProfile? = nil) throws {
        self.model = model
        self.options = options
        self.logger = logger
        if options.stream && model.weights.hasRepackedExperts {
            throw HotCacheError("--moe-stream reads experts from the file's layout, but this model was loaded with its experts repacked in RAM (load it with `repacked(experts: false)`)")
        }
        let c = model.config
        guard c.expertCount > 0 || (options.hotCache == nil && options.cachePolicy == nil && !options.stream) else {
            throw HotCacheError("this \(c.architecture) model has no routed experts (expert_count 0, every layer dense): the expert-cache options (--moe-hot-cache, --moe-stream, --moe-cache-policy) do not apply to it")
        }
        // Leading dense layers (and shared experts) are always resident: not in the layout.
        layout = try ModelExpertLayout(moeLayers: c.moeLayers, expertsPerLayer: c.expertCount, topK: c.expertsUsed,
                                       bytesPerExpert: c.moeLayers.map { model.weights.expertBytes(layer: $0) })
        telemetry = TelemetryRecorder(layout: layout, mode: options.perfMode)
        plan = .empty
        if options.cpuMoE {
            logger.info("--cpu-moe: experts stay in the model file's memory (CPU); no GPU backend is active, the hot tier is resident RAM")
        }
        // Streaming without a policy named uses the default one, sized from free memory.
        if let policy = options.cachePolicy ?? (options.stream ? AutoResidency.defaultPolicy : nil) {
            try startOnlineTier(policy: policy)
            return
        }
        guard given != nil || options.hotCache != nil else { return }
        guard options.maxMiB != 0 else {
            if given == nil { logger.warning("--moe-hot-cache given but --moe-hot-cache-max-mib is 0: the hot cache is disabled") }
            return
        }
        let profile = try given ?? loadProfile(options.hotCache!)
        let budget = try budgetBytes()
        let config = WeightingConfig(mode: options.weighting, layerCurve: options.layerCurve)
        plan = HotCachePlanner.plan(profile: profile, layout: layout, budgetBytes: budget, config: config)
        let clock = ContinuousClock()
        let t0 = clock.now
        tier = HotTier(weights: model.weights, plan: plan, expertCount: c.expertCount)
        let seconds = (clock.now - t0).components
        logger.info("MoE hot-cache: \(plan.hotCount)/\(layout.totalExperts) experts hot in \(plan.layers.count) layers, \(plan.usedBytes >> 20) MiB of \(budget >> 20) MiB budget (weighting \(options.weighting.name)), copied in \(seconds.seconds).\(String(format: "%03d", seconds.attoseconds / 1_000_000_000_000_000)) s")
    }

    /// A profile JSON checked against this model's layout; errors name the file.
    public func loadProfile(_ path: String) throws -> PerfProfile {
        do { return try PerfProfile.load(contentsOf: URL(fileURLWithPath: path), layout: layout) } catch let e as ProfileError {
            throw HotCacheError("\(path): \(e)")
        } catch {
            throw HotCacheError("\(path): cannot read hot-cache profile (\(error.localizedDescription))")
        }
    }

    /// Seed 001's load-on-miss cache: capacity per layer from --moe-cache-capacity or the budget;
    /// with policy `pinned`, the --moe-hot-cache profile's top experts stay, the rest is LRU.
    private func startOnlineTier(policy name: String) throws {
        let c = model.config
        let largest = layout.bytesPerExpert.max() ?? 1
        let capacity = try options.cacheCapacity ?? max(1, budgetBytes() / (largest * layout.moeLayerCount))
        var pinned = [ExpertID]()
        if name.lowercased() == "pinned", let path = options.hotCache {
            let ranked = Weighting.rank(try loadProfile(path).observations(),
                                        config: WeightingConfig(mode: options.weighting, layerCurve: options.layerCurve))
            pinned = ranked.map(\.id)
        }
        let spec: PolicySpec
        do { spec = try PolicySpec(name: name, pinned: pinned) } catch { throw HotCacheError("--moe-cache-policy: \(error)") }
        online = try OnlineTier(model: model, policy: spec, capacity: min(capacity, c.expertCount), stream: options.stream,
                                readLanes: options.readLanes)
        let slow = online!.reader.map { "disk (\($0.lanes) read lanes, \($0.usesDirectIO ? "O_DIRECT" : "buffered pread"))" } ?? "mapped file"
        logger.info("MoE expert cache: policy \(name), \(min(capacity, c.expertCount)) experts per layer (\(String(format: "%.1f", Double(min(capacity, c.expertCount)) / Double(c.expertsUsed)))x top-k), \(online!.bytes >> 20) MiB, slow tier: \(slow)")
    }

    /// Fixed MiB, or auto: available RAM minus the reserve, the KV cache and compute buffers.
    private func budgetBytes() throws -> Int {
        let available = MemoryLimits.availableBytes()
        if options.maxMiB > 0 {
            let bytes = options.maxMiB << 20
            if let available, bytes > available {
                throw HotCacheError("--moe-hot-cache-max-mib \(options.maxMiB) exceeds available memory (\(available >> 20) MiB)")
            }
            return bytes
        }
        guard let available else { throw HotCacheError("--moe-hot-cache-max-mib -1: cannot read available memory; give a fixed MiB budget") }
        let c = model.config
        let kv = kvCacheBytes(config: c, capacity: options.ctxSize, sequences: options.parallelSequences,
                              types: options.kvCacheTypes, slidingWindow: options.kvSlidingWindow, maxBatch: options.kvMaxBatch)
        let compute = 64 << 20
        let budget = HotCachePlanner.autoBudget(freeBytes: available, reserveMiB: options.autoReserveMiB, kvBytes: kv, computeBytes: compute)
        logger.info("MoE hot-cache auto budget: \(available >> 20) MiB available - \(options.autoReserveMiB) MiB reserve - \(kv >> 20) MiB KV - \(compute >> 20) MiB compute = \(budget >> 20) MiB")
        return budget
    }

    /// An executor for one session (sessions decode concurrently; the tier is shared read-only).
    /// The executor holds the runtime weakly: a slot still decoding when the server shuts down
    /// outlives it, and then computes every expert from the model instead of reading freed memory.
    public func makeExecutor(pool: WorkerPool) -> ExpertExecutor {
        CachedExpertExecutor(model: model, tier: { [weak self] in self?.tier }, online: online, telemetry: telemetry,
                             parallelism: options.parallelism, minParallelSlots: options.parallelMinSlots, pool: pool,
                             prefetch: options.prefetch, readAheadTop: options.readAheadTop, device: deviceTier, logger: logger)
    }

    /// Moves the hot tier to a device: its experts are computed on the GPU hot lane, every
    /// other expert from RAM on the CPU lane (the RAM hot tier is released). Executors made
    /// after this call use it. Not with the streaming or online tiers.
    /// `plan`: the experts the device holds (updates start from it).
    public func attachDevice(_ device: DeviceExpertTier, plan devicePlan: HotCachePlan) throws {
        guard online == nil else { throw HotCacheError("the GPU hot tier does not combine with --moe-stream or --moe-cache-policy") }
        lock.lock(); defer { lock.unlock() }
        deviceTier = device
        plan = devicePlan
        tier = nil
        logger.info("MoE hot-cache on the device: \(device.expertCount)/\(layout.totalExperts) experts, \(device.bytes >> 20) MiB of VRAM")
    }

    /// Lookahead figures over all sessions (nil when not streaming).
    public var prefetchStats: PrefetchStats? {
        guard let online, online.reader != nil else { return nil }
        online.lock.lock(); defer { online.lock.unlock() }
        return online.prefetchStats
    }

    /// Streaming reads: bytes and the wall time with a read in flight (nil when not streaming).
    public var readStats: (bytes: Int, busyNanos: UInt64, reads: Int, directIO: Bool)? {
        guard let r = online?.reader else { return nil }
        let s = r.stats
        return (s.bytes, s.busyNanos, s.reads, r.usesDirectIO)
    }

    /// Test hook: the cached copy of an expert in the online tier.
    func residentSlot(layer: Int, expert: Int) -> ExpertMatrices? { online?.residentMatrices(layer: layer, expert: expert) }

    /// Test hook: fail every streaming read after `parts` more range reads.
    func injectReadFailure(afterParts parts: Int) { online?.reader?.setFailure(afterParts: parts) }

    public var perfMode: PerfMode { telemetry.mode }

    /// Switches the perf mode and resets the window (POST /moe-layer-perf).
    public func setPerfMode(_ mode: PerfMode) {
        telemetry.setMode(mode, reset: true)
        logger.info("MoE perf mode = \(mode.rawValue)")
    }

    /// The current perf snapshot in the seed's schema (GET /moe-layer-perf).
    public func perfProfile() -> PerfProfile { telemetry.snapshot().profile() }
    public func perfJSON() -> Data { perfProfile().encode() }

    /// Marks a manual apply as queued: the next automatic update is skipped.
    public func requestManualApply() {
        lock.lock(); manualPending = true; lock.unlock()
        logger.info("MoE hot-cache manual apply requested; auto update will be skipped until it is handled")
    }

    /// Applies an expert list at full rate (POST /moe-hot-cache). The caller guarantees no
    /// session is decoding. On any error the cache is unchanged.
    public func applyHotCache(json: Data) throws -> UpdateStats {
        let profile: PerfProfile
        do { profile = try PerfProfile.decode(json, layout: layout) } catch {
            // A rejected request is handled too: the automatic update must not stay skipped.
            lock.lock(); manualPending = false; lock.unlock()
            throw HotCacheError("hot-cache JSON rejected: \(error)")
        }
        return try apply(profile.observations(), rate: 1.0, mode: "manual")
    }

    private func apply(_ observations: [LayerObservation], rate: Double, mode: String) throws -> UpdateStats {
        lock.lock(); defer { lock.unlock() }
        if mode == "manual" { manualPending = false }
        guard tier != nil || deviceTier != nil else {
            var stats = UpdateStats()
            stats.updateRate = rate
            logger.info("MoE hot-cache apply: mode = \(mode), no hot cache is active (start with --moe-hot-cache and a budget)")
            return stats
        }
        let update = HotCacheUpdater.update(current: plan, observations: observations, rate: rate,
                                            config: WeightingConfig(mode: options.weighting, layerCurve: options.layerCurve), layout: layout)
        if let deviceTier {
            _ = try deviceTier.apply(update.plan, layout: layout)
        } else {
            tier?.apply(update.replacements)
        }
        plan = update.plan
        let s = update.stats
        logger.info("MoE hot-cache apply: mode = \(mode), rate = \(String(format: "%.2f", s.updateRate * 100))%, exchanged = \(s.exchanged), candidates = \(s.candidates), hot experts = \(s.hotExperts), layers changed = \(s.layersChanged)")
        return s
    }

    public var isActive: Bool { tier != nil || online != nil || deviceTier != nil }

    /// After a completed request, with no session decoding: automatic update at the
    /// configured rate, then the perf file rewrite.
    public func afterRequest() {
        lock.lock()
        let skip = manualPending
        lock.unlock()
        if skip {
            logger.info("MoE hot-cache auto update skipped: manual /moe-hot-cache request pending")
        } else if options.updateRate > 0, tier != nil || deviceTier != nil, telemetry.mode != .off {
            _ = try? apply(perfProfile().observations(), rate: options.updateRate, mode: "auto")
        }
        writePerfOut()
    }

    /// Writes --moe-layer-perf-out atomically (after requests and at shutdown).
    public func writePerfOut() {
        guard let path = options.perfOut else { return }
        do {
            try perfProfile().save(to: URL(fileURLWithPath: path))
            logger.debug("MoE perf JSON written to \(path)")
        } catch {
            logger.error("cannot write --moe-layer-perf-out \(path): \(error)")
        }
    }

    public func shutdown() { writePerfOut() }

    public var metrics: RuntimeMetrics {
        let snap = telemetry.snapshot()
        var perLayer = [Int: Double]()
        for l in layout.moeLayers { perLayer[l] = snap.hitRate(layer: l) }
        return RuntimeMetrics(hitRate: snap.totalHitRate, windowHitRate: snap.totalWindowHitRate, perLayerHitRate: perLayer,
                              hotExperts: online?.residentCount ?? deviceTier?.expertCount ?? plan.hotCount, totalExperts: layout.totalExperts,
                              cacheBytes: online?.bytes ?? deviceTier?.bytes ?? tier?.bytes ?? 0, streamedBytes: online?.loadedBytes ?? 0)
    }

    /// Test hook: the tier's copies equal the model's bytes.
    public func verifyTier() -> Bool { tier?.verify() ?? true }
}

public struct RuntimeMetrics: Sendable, Equatable {
    public var hitRate: Double
    public var windowHitRate: Double
    public var perLayerHitRate: [Int: Double]
    public var hotExperts: Int
    public var totalExperts: Int
    public var cacheBytes: Int
    /// Bytes read from disk by the streaming tier so far.
    public var streamedBytes: Int = 0
}

public struct HotCacheError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ d: String) { description = d }
}
