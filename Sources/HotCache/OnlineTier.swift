#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Engine
import ExpertCache
import Foundation

/// Reads expert bytes from the model file with pread (seed 001's streaming case: experts
/// come from disk on demand, not from whatever the page cache happens to hold).
final class ExpertStreamer: @unchecked Sendable {
    private let fd: Int32
    private let fileBase: UnsafeRawPointer
    private let weights: ModelWeights

    init(model: MoEModel) throws {
        fd = open(model.file.path, O_RDONLY)
        guard fd >= 0 else { throw HotCacheError("\(model.file.path): cannot open for streaming") }
        fileBase = model.file.base
        weights = model.weights
    }

    deinit { close(fd) }

    /// Reads expert `e` of `layer` (gate, up, down back to back) into `dst`.
    func read(layer: Int, expert e: Int, into dst: UnsafeMutableRawPointer) {
        let m = weights.expertMatrices(layer: layer, expert: e)
        var offset = 0
        for w in [m.gate, m.up, m.down] {
            let fileOffset = off_t(w.data - fileBase)
            var done = 0
            while done < w.byteCount {
                let n = pread(fd, dst + offset + done, w.byteCount - done, fileOffset + off_t(done))
                precondition(n > 0, "pread of expert \(layer)/\(e) failed: the model file changed or shrank while serving")
                done += n
            }
            // Drop the pages again: the RAM cache, not the page cache, decides what stays.
            _ = posix_fadvise(fd, fileOffset, off_t(w.byteCount), Int32(POSIX_FADV_DONTNEED))
            offset += w.byteCount
        }
    }
}

/// A RAM cache of experts that loads on a miss, driven by an online replacement policy
/// (LRU, LFU, LFU-decay, window-LFU, LFRU, pinned profile + online remainder). A call's hits
/// come from the cache; misses are computed from the slow tier and then admitted as the policy
/// says. Each layer has its own cache of `capacity` experts.
final class OnlineTier: @unchecked Sendable {
    private struct Layer {
        var base: UnsafeMutableRawPointer
        var slotBytes: Int
        var slotExpert: [Int]
        var slotOf: [Int]
        var policy: any CachePolicy
    }

    private let weights: ModelWeights
    private let streamer: ExpertStreamer?
    private var layers: [Layer]
    private var ticks: [Int]
    let capacity: Int
    /// Serialises calls: admission rewrites slots that another session may be reading.
    let lock = NSLock()
    private(set) var loadedBytes = 0

    init(model: MoEModel, policy spec: PolicySpec, capacity: Int, stream: Bool) throws {
        weights = model.weights
        streamer = stream ? try ExpertStreamer(model: model) : nil
        self.capacity = capacity
        let c = model.config
        layers = try (0..<c.layerCount).map { layer in
            let bytes = model.weights.expertBytes(layer: layer)
            var base: UnsafeMutableRawPointer?
            guard posix_memalign(&base, 64, max(1, bytes * capacity)) == 0 else {
                throw HotCacheError("out of memory allocating the expert cache (\(bytes * capacity >> 20) MiB for layer \(layer))")
            }
            guard let policy = spec.make(capacity: capacity, key: { $0.layer == layer ? $0.expert : nil }) else {
                throw HotCacheError("--moe-cache-policy: '\(spec)' is an offline bound, not an online policy")
            }
            return Layer(base: base!, slotBytes: bytes, slotExpert: [], slotOf: [Int](repeating: -1, count: c.expertCount), policy: policy)
        }
        ticks = [Int](repeating: 0, count: c.layerCount)
    }

    deinit { for l in layers { free(l.base) } }

    var bytes: Int { layers.reduce(0) { $0 + $1.slotBytes * capacity } }
    var residentCount: Int { layers.reduce(0) { $0 + $1.slotExpert.count } }

    private func matrices(at p: UnsafeRawPointer, layer: Int, expert e: Int) -> ExpertMatrices {
        let m = weights.expertMatrices(layer: layer, expert: e)
        return ExpertMatrices(gate: m.gate.relocated(to: p), up: m.up.relocated(to: p + m.gate.byteCount),
                              down: m.down.relocated(to: p + m.gate.byteCount + m.up.byteCount))
    }

    func isResident(layer: Int, expert e: Int) -> Bool { layers[layer].slotOf[e] >= 0 }

    /// Where to compute expert `e` from: its cached copy, else the slow tier (streamed into
    /// `staging`, or the mapping).
    func matrices(layer: Int, expert e: Int, staging: () -> UnsafeMutableRawPointer) -> ExpertMatrices {
        let l = layers[layer]
        if l.slotOf[e] >= 0 { return matrices(at: l.base + l.slotOf[e] * l.slotBytes, layer: layer, expert: e) }
        guard let streamer else { return weights.expertMatrices(layer: layer, expert: e) }
        let dst = staging()
        streamer.read(layer: layer, expert: e, into: dst)
        loadedBytes += l.slotBytes
        return matrices(at: dst, layer: layer, expert: e)
    }

    /// Runs the policy over this call's accesses (token order, slot order) and loads the
    /// experts it made resident. `computed` gives the bytes a miss was computed from.
    func admit(layer: Int, routes: ExpertRoutes, computed: (Int) -> ExpertMatrices?) {
        var l = layers[layer]
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
        // Evict what the policy dropped, then load what it added into the freed slots.
        var freeSlots = [Int]()
        for (slot, e) in l.slotExpert.enumerated() where !resident.contains(e) {
            l.slotOf[e] = -1
            freeSlots.append(slot)
        }
        for e in resident.sorted() where l.slotOf[e] < 0 {
            let slot: Int
            if let f = freeSlots.popLast() { slot = f } else { slot = l.slotExpert.count; l.slotExpert.append(e) }
            l.slotExpert[slot] = e
            l.slotOf[e] = slot
            let dst = l.base + slot * l.slotBytes
            // A pinned expert becomes resident before its first access: read it from the slow tier.
            guard let src = computed(e) else {
                if let streamer {
                    streamer.read(layer: layer, expert: e, into: dst)
                    loadedBytes += l.slotBytes
                } else {
                    let m = weights.expertMatrices(layer: layer, expert: e)
                    dst.copyMemory(from: m.gate.data, byteCount: m.gate.byteCount)
                    (dst + m.gate.byteCount).copyMemory(from: m.up.data, byteCount: m.up.byteCount)
                    (dst + m.gate.byteCount + m.up.byteCount).copyMemory(from: m.down.data, byteCount: m.down.byteCount)
                }
                continue
            }
            dst.copyMemory(from: src.gate.data, byteCount: src.gate.byteCount)
            (dst + src.gate.byteCount).copyMemory(from: src.up.data, byteCount: src.up.byteCount)
            (dst + src.gate.byteCount + src.up.byteCount).copyMemory(from: src.down.data, byteCount: src.down.byteCount)
        }
        // Slots freed and not refilled are compacted away so slotExpert lists only residents.
        for slot in freeSlots.sorted(by: >) {
            let last = l.slotExpert.count - 1
            if slot != last {
                let moved = l.slotExpert[last]
                (l.base + slot * l.slotBytes).copyMemory(from: l.base + last * l.slotBytes, byteCount: l.slotBytes)
                l.slotExpert[slot] = moved
                l.slotOf[moved] = slot
            }
            l.slotExpert.removeLast()
        }
        layers[layer] = l
    }
}
