import Engine
import ExpertCache
import Foundation
import Logging

/// How the hot and cold lanes are scheduled (LLAMA_MOE_HOT_CACHE_PARALLEL).
public enum LaneParallelism: String, Sendable {
    /// Concurrent when both lanes have work and the region is big enough, else serial.
    case auto
    /// Always serial (A/B comparisons).
    case off
    /// Concurrent whenever both lanes have work, even for tiny regions (debugging).
    case force
}

/// The expert seam backed by the cache: for each MoE call, experts found in the hot tier are
/// computed from their resident copies (hot lane), the rest from the model file (cold lane);
/// the lanes run concurrently and merge per token in slot order, so the output is bitwise the
/// same as without the cache. One executor per session; the tier and telemetry are shared.
final class CachedExpertExecutor: ExpertExecutor {
    private let weights: ModelWeights
    private let tier: () -> HotTier?
    private let online: OnlineTier?
    /// The device tier and this session's lane on it (the hot lane runs on the GPU).
    private let device: DeviceExpertTier?
    private let deviceLane: DeviceExpertLane?
    private let streaming: StreamingLane?
    private let telemetry: TelemetryRecorder
    private let parallelism: LaneParallelism
    private let minParallelSlots: Int
    private let hotComputer: ExpertComputer
    private let coldComputer: ExpertComputer
    private let pool: WorkerPool
    private let lanePools: (hot: WorkerPool, cold: WorkerPool)
    private let slotOutputs = FloatArena()
    private let grouping = ExpertGrouping()
    private var hotItems: [ExpertWorkItem] = []
    private var coldItems: [ExpertWorkItem] = []
    private var hotFlags: [Bool] = []
    private var coldReads: [(expert: Int, buffer: UnsafeMutableRawPointer)] = []
    /// Per expert of the current call's layer: whether `locate` found it in the fast tier
    /// (before this call's admission). Kept across calls so that a call allocates nothing.
    private var hotOf: [Bool]
    /// Per streamed read: the index of its expert's item in `coldItems`; and the items whose
    /// bytes have arrived.
    private var itemOfRead: [Int] = []
    private var readyItems: [ExpertWorkItem] = []
    /// The two concurrent lanes' times.
    private let laneTimes = UnsafeMutablePointer<UInt64>.allocate(capacity: 2)
    /// The first streaming read error since the last `takeFailure`.
    private var failure: Error?

    init(model: MoEModel, tier: @escaping () -> HotTier?, online: OnlineTier?, telemetry: TelemetryRecorder,
         parallelism: LaneParallelism, minParallelSlots: Int, pool: WorkerPool, prefetch: PrefetchMode,
         readAheadTop: Int? = nil, device: DeviceExpertTier? = nil, logger: Logger) {
        let config = model.config
        self.device = device
        hotOf = [Bool](repeating: false, count: config.expertCount)
        deviceLane = device?.makeLane()
        weights = model.weights
        self.tier = tier
        self.online = online
        self.telemetry = telemetry
        self.parallelism = parallelism
        self.minParallelSlots = minParallelSlots
        self.pool = pool
        streaming = online.flatMap { o in
            o.reader.map { StreamingLane(tier: o, reader: $0, model: model, pool: pool, prefetch: prefetch, readAheadTop: readAheadTop, logger: logger) }
        }
        // Concurrent lanes split the threads; a serial lane gets them all.
        let hotThreads = max(1, pool.threadCount / 2)
        lanePools = (WorkerPool(threads: hotThreads), WorkerPool(threads: max(1, pool.threadCount - hotThreads)))
        hotComputer = ExpertComputer(embedding: config.embeddingLength, expertFF: config.expertFFLength,
                                     k: config.expertsUsed, pool: pool, activation: config.ffnActivation)
        coldComputer = ExpertComputer(embedding: config.embeddingLength, expertFF: config.expertFFLength,
                                      k: config.expertsUsed, pool: pool, activation: config.ffnActivation)
    }

    deinit { laneTimes.deallocate() }

    func takeFailure() -> Error? {
        defer { failure = nil }
        return failure
    }

    /// Groups the call's routes (in `grouping`), each expert pointing where it is computed
    /// from, and marks in `hotOf` whether that is the fast tier. Streamed misses point at the
    /// pool buffer they are read into, filled when their bytes arrive (`coldReads`).
    private func locate(layer: Int, routes: ExpertRoutes) {
        if let online {
            coldReads.removeAll(keepingCapacity: true)
            let format = online.format(layer: layer)
            grouping.group(routes: routes) { e in
                if let m = online.residentMatrices(layer: layer, expert: e) {
                    hotOf[e] = true
                    return m
                }
                hotOf[e] = false
                guard streaming != nil else { return weights.expertMatrices(layer: layer, expert: e) }
                // Read into a pool buffer that becomes the expert's slot if the policy admits it.
                let buffer = online.takeBuffer()
                coldReads.append((e, buffer))
                return format.matrices(at: buffer, expert: e)
            }
            return
        }
        if let device {
            grouping.group(routes: routes) { e in
                hotOf[e] = device.holds(layer: layer, expert: e)
                return weights.expertMatrices(layer: layer, expert: e)
            }
            return
        }
        let tier = tier()
        grouping.group(routes: routes) { e in
            if let m = tier?.matrices(layer: layer, expert: e) {
                hotOf[e] = true
                return m
            }
            hotOf[e] = false
            return weights.expertMatrices(layer: layer, expert: e)
        }
    }

    func computeExperts(layer: Int, input: UnsafePointer<Float>, routes: ExpertRoutes,
                        output: UnsafeMutablePointer<Float>) {
        online?.lock.lock()
        defer { online?.lock.unlock() }
        let mode = telemetry.mode
        let timed = mode != .off
        let clock = ContinuousClock.now
        let slots = routes.tokenCount * routes.k
        locate(layer: layer, routes: routes)
        hotItems.removeAll(keepingCapacity: true)
        coldItems.removeAll(keepingCapacity: true)
        for item in grouping.items {
            if hotOf[item.expert] { hotItems.append(item) } else { coldItems.append(item) }
        }
        slotOutputs.reserve(slots * hotComputer.d)
        let arena = slotOutputs.pointer
        let tPrep = timed ? ContinuousClock.now : clock

        let concurrent: Bool
        switch parallelism {
        case .off: concurrent = false
        case .force: concurrent = !hotItems.isEmpty && !coldItems.isEmpty
        case .auto: concurrent = !hotItems.isEmpty && !coldItems.isEmpty && slots >= minParallelSlots && pool.threadCount > 1
        }
        var laneNanos: (hot: UInt64, cold: UInt64) = (0, 0)
        let regionStart = ContinuousClock.now
        var readFailed = false
        var deviceRegion = false
        if let deviceLane {
            // The GPU work is enqueued first, the CPU lane runs on the whole pool meanwhile.
            let t0 = ContinuousClock.now
            var deviceError: Error?
            if !hotItems.isEmpty {
                do { try deviceLane.begin(layer: layer, items: hotItems, grouping: grouping, input: input, tokens: routes.tokenCount) } catch {
                    deviceError = error
                }
            }
            let t1 = ContinuousClock.now
            coldComputer.compute(items: coldItems, grouping: grouping, input: input, tokenSlots: slots, slotOutputs: arena)
            let t2 = ContinuousClock.now
            var deviceNanos: UInt64 = 0
            if !hotItems.isEmpty, deviceError == nil {
                do { deviceNanos = try deviceLane.finish(slotOutputs: arena) } catch { deviceError = error }
            }
            if let deviceError {
                failure = failure ?? deviceError
                readFailed = true
            }
            deviceRegion = !hotItems.isEmpty && !coldItems.isEmpty
            laneNanos = (nanos(t1 - t0) + deviceNanos, nanos(t2 - t1))
        } else if let streaming {
            // Misses are read on the reader's lanes while the hot lane computes; each cold
            // expert is computed as its bytes arrive.
            streaming.begin(layer: layer, routes: routes, cold: coldReads)
            streaming.lookahead(layer: layer, input: input, tokens: routes.tokenCount)
            let t0 = ContinuousClock.now
            hotComputer.compute(items: hotItems, grouping: grouping, input: input, tokenSlots: slots, slotOutputs: arena)
            let t1 = ContinuousClock.now
            itemOfRead.removeAll(keepingCapacity: true)
            for read in coldReads { itemOfRead.append(coldItems.firstIndex { $0.expert == read.expert }!) }
            let error = streaming.finish { ready in
                readyItems.removeAll(keepingCapacity: true)
                for r in ready { readyItems.append(coldItems[itemOfRead[r]]) }
                coldComputer.compute(items: readyItems, grouping: grouping, input: input, tokenSlots: slots, slotOutputs: arena)
            }
            if let error {
                failure = failure ?? error
                readFailed = true
            }
            laneNanos = (nanos(t1 - t0), nanos(ContinuousClock.now - t1))
        } else if concurrent {
            ExpertComputer.computeSideBySide((hotComputer, hotItems, lanePools.hot), (coldComputer, coldItems, lanePools.cold),
                                             grouping: grouping, input: input, tokenSlots: slots, slotOutputs: arena,
                                             pool: pool, laneNanos: laneTimes)
            laneNanos = (laneTimes[0], laneTimes[1])
        } else {
            let t0 = ContinuousClock.now
            hotComputer.compute(items: hotItems, grouping: grouping, input: input, tokenSlots: slots, slotOutputs: arena)
            let t1 = ContinuousClock.now
            coldComputer.compute(items: coldItems, grouping: grouping, input: input, tokenSlots: slots, slotOutputs: arena)
            laneNanos = (nanos(t1 - t0), nanos(ContinuousClock.now - t1))
        }
        let regionEnd = ContinuousClock.now
        if readFailed {
            // The pass will be discarded (a failed read or device call); a zero output keeps the
            // later layers finite meanwhile.
            output.update(repeating: 0, count: routes.tokenCount * hotComputer.d)
        } else {
            ExpertComputer.merge(grouping: grouping, routes: routes, slotOutputs: arena, d: hotComputer.d, output: output, pool: pool)
        }
        // After a failed read the pool buffers hold no valid expert: admit nothing this call.
        if let online {
            if readFailed {
                online.release(coldReads.lazy.map(\.buffer))
            } else {
                do { try online.admit(layer: layer, routes: routes, staged: coldReads) } catch {
                    failure = failure ?? error
                }
            }
        }
        guard timed else { return }
        let end = ContinuousClock.now

        if hotFlags.count < slots { hotFlags = [Bool](repeating: false, count: slots) }
        for t in 0..<routes.tokenCount {
            for s in 0..<routes.k {
                hotFlags[t * routes.k + s] = hotOf[Int(routes.experts[t * routes.k + s])]
            }
        }
        var timings: LaneTimings?
        if mode == .full || mode == .update {
            let wall = nanos(regionEnd - regionStart)
            let serialSum = laneNanos.hot + laneNanos.cold
            timings = LaneTimings(
                routing: nanos(tPrep - clock), hotLane: laneNanos.hot, coldLane: laneNanos.cold, parallelWall: wall,
                overlap: (concurrent || deviceRegion) && serialSum > wall ? serialSum - wall : 0,
                joinWait: concurrent || deviceRegion ? (max(laneNanos.hot, laneNanos.cold) - min(laneNanos.hot, laneNanos.cold)) : 0,
                merge: nanos(end - regionEnd), total: nanos(end - clock))
        }
        hotFlags.withUnsafeBufferPointer { flags in
            telemetry.record(layer: layer, selected: UnsafeBufferPointer(start: routes.experts, count: slots),
                             hot: UnsafeBufferPointer(rebasing: flags[0..<slots]), tokens: routes.tokenCount, timings: timings)
        }
    }
}

@inline(__always) func nanos(_ d: Duration) -> UInt64 {
    let c = d.components
    return UInt64(max(0, c.seconds)) &* 1_000_000_000 &+ UInt64(max(0, c.attoseconds / 1_000_000_000))
}
