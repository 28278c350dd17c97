#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Engine
import ExpertCache
import Foundation

/// A RAM cache of experts that loads on a miss, driven by an online replacement policy
/// (LRU, LFU, LFU-decay, window-LFU, LFRU, pinned profile + online remainder). A call's hits
/// come from the cache; misses are computed from the slow tier and then admitted as the policy
/// says. Each layer has its own cache of `capacity` experts.
final class OnlineTier: @unchecked Sendable {
    private struct Layer {
        var base: UnsafeMutableRawPointer
        let format: ExpertSlotFormat
        var slotExpert: [Int]
        var slotOf: [Int]
        var policy: any CachePolicy
    }

    private let weights: ModelWeights
    /// The slow tier when streaming: reads from the file (else the model's own memory).
    let reader: ExpertReader?
    let fileBase: UnsafeRawPointer
    private var layers: [Layer]
    private var ticks: [Int]
    let capacity: Int
    /// Serialises calls: admission rewrites slots that another session may be reading.
    let lock = NSLock()
    /// Lookahead figures of all sessions (their lanes update them under `lock`).
    var prefetchStats = PrefetchStats()
    /// Bytes copied into the cache from the model's memory (the non-streaming slow tier).
    private var copiedBytes = 0

    init(model: MoEModel, policy spec: PolicySpec, capacity: Int, stream: Bool, readLanes: Int = 4) throws {
        weights = model.weights
        fileBase = model.file.base
        self.capacity = capacity
        let c = model.config
        let formats = model.weights.layers.map { ExpertSlotFormat(layer: $0, fastLayout: stream) }
        // Checked again now, right before allocating: memory may have gone since the load decided.
        let total = formats.reduce(0) { $0 + $1.slotBytes * capacity }
        if let available = MemoryLimits.availableBytes(), total > available {
            throw HotCacheError("the expert cache needs \(total >> 20) MiB (\(capacity) experts per layer) but only \(available >> 20) MiB are available; lower --moe-cache-capacity or --moe-hot-cache-max-mib")
        }
        var built: [Layer] = []
        for (layer, format) in formats.enumerated() {
            var base: UnsafeMutableRawPointer?
            guard posix_memalign(&base, 64, max(1, format.slotBytes * capacity)) == 0, let base else {
                for l in built { free(l.base) }
                throw HotCacheError("out of memory allocating the expert cache (\(format.slotBytes * capacity >> 20) MiB for layer \(layer))")
            }
            guard let policy = spec.make(capacity: capacity, key: { $0.layer == layer ? $0.expert : nil }) else {
                free(base)
                for l in built { free(l.base) }
                throw HotCacheError("--moe-cache-policy: '\(spec)' is an offline bound, not an online policy")
            }
            built.append(Layer(base: base, format: format, slotExpert: [], slotOf: [Int](repeating: -1, count: c.expertCount), policy: policy))
        }
        layers = built
        ticks = [Int](repeating: 0, count: c.layerCount)
        reader = stream ? try ExpertReader(path: model.file.path, lanes: readLanes) : nil
    }

    deinit {
        reader?.shutdown()
        for l in layers { free(l.base) }
    }

    var bytes: Int { layers.reduce(0) { $0 + $1.format.slotBytes * capacity } }
    var residentCount: Int { layers.reduce(0) { $0 + $1.slotExpert.count } }
    /// Bytes brought into the cache or computed from the slow tier so far.
    var loadedBytes: Int { (reader?.stats.bytes ?? 0) + copiedBytes }

    func format(layer: Int) -> ExpertSlotFormat { layers[layer].format }

    func isResident(layer: Int, expert e: Int) -> Bool { layers[layer].slotOf[e] >= 0 }

    /// The cached copy of expert `e`, if resident.
    func residentMatrices(layer: Int, expert e: Int) -> ExpertMatrices? {
        let l = layers[layer]
        guard l.slotOf[e] >= 0 else { return nil }
        return l.format.matrices(at: l.base + l.slotOf[e] * l.format.slotBytes)
    }

    /// Runs the policy over this call's accesses (token order, slot order) and loads the
    /// experts it made resident. `computed` gives a slot-format copy of a miss the call
    /// computed (staging), nil where the expert is to be fetched from the slow tier.
    func admit(layer: Int, routes: ExpertRoutes, computed: (Int) -> UnsafeRawPointer?) throws {
        var l = layers[layer]
        defer { layers[layer] = l }
        // Same step rule as ExpertCache.Simulator: per token, hits touch the policy first, then misses load.
        for t in 0..<routes.tokenCount {
            ticks[layer] += 1
            let selected = (0..<routes.k).map { Int(routes.experts[t * routes.k + $0]) }
            let wasResident = selected.map { l.policy.isResident($0) }
            for pass in [true, false] {
                for (e, r) in zip(selected, wasResident) where r == pass { _ = l.policy.access(e, tick: ticks[layer]) }
            }
        }
        let resident = l.policy.residents
        let slotBytes = l.format.slotBytes
        // Evict what the policy dropped, then load what it added into the freed slots.
        var freeSlots = [Int]()
        var failure: Error?
        for (slot, e) in l.slotExpert.enumerated() where !resident.contains(e) {
            l.slotOf[e] = -1
            freeSlots.append(slot)
        }
        for e in resident.sorted() where l.slotOf[e] < 0 {
            let slot: Int
            if let f = freeSlots.popLast() { slot = f } else { slot = l.slotExpert.count; l.slotExpert.append(e) }
            let dst = l.base + slot * slotBytes
            if let src = computed(e) {
                dst.copyMemory(from: src, byteCount: slotBytes)
            } else if let reader {
                // A pinned expert becomes resident before its first access: read it now.
                let ranges = l.format.fileRanges(expert: e, fileBase: fileBase)
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: ExpertReader.bufferBytes(ranges: ranges),
                                                              alignment: ExpertReader.alignment)
                defer { buffer.deallocate() }
                let read = reader.submit(ranges: ranges, buffer: buffer)
                do { try reader.wait(read) } catch {
                    // Not filled: the slot stays free (compacted below), so nothing computes from it.
                    l.slotExpert[slot] = e
                    freeSlots.append(slot)
                    failure = failure ?? error
                    continue
                }
                l.format.fill(dst) { read.data($0) }
            } else {
                l.format.fill(dst, expert: e)
                copiedBytes += slotBytes
            }
            l.slotExpert[slot] = e
            l.slotOf[e] = slot
        }
        // Slots freed and not refilled are compacted away so slotExpert lists only residents.
        for slot in freeSlots.sorted(by: >) {
            let last = l.slotExpert.count - 1
            if slot != last {
                let moved = l.slotExpert[last]
                (l.base + slot * slotBytes).copyMemory(from: l.base + last * slotBytes, byteCount: slotBytes)
                l.slotExpert[slot] = moved
                l.slotOf[moved] = slot
            }
            l.slotExpert.removeLast()
        }
        if let failure { throw failure }
    }
}
