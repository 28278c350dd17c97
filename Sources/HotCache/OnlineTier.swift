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
        let format: ExpertSlotFormat
        /// Per expert: the pool buffer holding its cached copy, nil when not cached.
        var bufferOf: [UnsafeMutableRawPointer?]
        var residents = 0
        var policy: any CachePolicy
    }

    private let weights: ModelWeights
    /// The slow tier when streaming: reads from the file (else the model's own memory).
    let reader: ExpertReader?
    let fileBase: UnsafeRawPointer
    private var layers: [Layer]
    private var ticks: [Int]
    let capacity: Int
    /// Buffers of one slot each (the largest layer's), shared by every layer's cache and by the
    /// calls' misses: a miss is read into a free buffer and, if the policy keeps it, that buffer
    /// simply becomes its slot (an evicted expert's buffer goes back), so admission copies nothing.
    private var free: [UnsafeMutableRawPointer] = []
    private let block: UnsafeMutableRawPointer
    private var extra: [UnsafeMutableRawPointer] = []
    let bufferBytes: Int
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
        let bufferBytes = formats.map(\.slotBytes).max() ?? 64
        self.bufferBytes = bufferBytes
        // Every MoE layer's slots plus room for one call's misses (at most every expert of a layer).
        let count = c.moeLayers.count * capacity + (stream ? c.expertCount : 0)
        let total = count * bufferBytes
        // Checked again now, right before allocating: memory may have gone since the load decided.
        if let available = MemoryLimits.availableBytes(), total > available {
            throw HotCacheError("the expert cache needs \(total >> 20) MiB (\(capacity) experts per layer) but only \(available >> 20) MiB are available; lower --moe-cache-capacity or --moe-hot-cache-max-mib")
        }
        var base: UnsafeMutableRawPointer?
        guard posix_memalign(&base, 64, max(1, total)) == 0, let base else {
            throw HotCacheError("out of memory allocating the expert cache (\(total >> 20) MiB)")
        }
        block = base
        free = (0..<count).reversed().map { base + $0 * bufferBytes }
        var built: [Layer] = []
        for (layer, format) in formats.enumerated() {
            guard let policy = spec.make(capacity: capacity, key: { $0.layer == layer ? $0.expert : nil }) else {
                Glibc.free(base)
                throw HotCacheError("--moe-cache-policy: '\(spec)' is an offline bound, not an online policy")
            }
            built.append(Layer(format: format, bufferOf: [UnsafeMutableRawPointer?](repeating: nil, count: c.expertCount), policy: policy))
        }
        layers = built
        ticks = [Int](repeating: 0, count: c.layerCount)
        reader = stream ? try ExpertReader(path: model.file.path, lanes: readLanes) : nil
    }

    deinit {
        reader?.shutdown()
        Glibc.free(block)
        for p in extra { p.deallocate() }
    }

    var bytes: Int { layers.count * capacity * bufferBytes }
    var residentCount: Int { layers.reduce(0) { $0 + $1.residents } }
    /// Bytes brought into the cache or computed from the slow tier so far.
    var loadedBytes: Int { (reader?.stats.bytes ?? 0) + copiedBytes }

    func format(layer: Int) -> ExpertSlotFormat { layers[layer].format }

    func isResident(layer: Int, expert e: Int) -> Bool { layers[layer].bufferOf[e] != nil }

    /// The cached copy of expert `e`, if resident.
    func residentMatrices(layer: Int, expert e: Int) -> ExpertMatrices? {
        layers[layer].bufferOf[e].map { layers[layer].format.matrices(at: $0, expert: e) }
    }

    /// A free buffer for a miss (give it back with `release` or hand it to `admit`).
    func takeBuffer() -> UnsafeMutableRawPointer {
        if let p = free.popLast() { return p }
        // Only reachable if a call misses more experts than a layer has; never fails a request.
        let p = UnsafeMutableRawPointer.allocate(byteCount: bufferBytes, alignment: 64)
        extra.append(p)
        return p
    }

    func release<Buffers: Sequence>(_ buffers: Buffers) where Buffers.Element == UnsafeMutableRawPointer {
        free.append(contentsOf: buffers)
    }

    /// Scratch of `admit`, kept so that a call allocates nothing (calls hold `lock`).
    private var selected: [Int] = []
    private var wasResident: [Bool] = []
    private var claimed: [Bool] = []

    /// Runs the policy over this call's accesses (token order, slot order) and makes resident
    /// what it admits: a miss the call read into `staged` keeps that buffer as its slot; other
    /// admissions (a pinned expert before its first access) are fetched from the slow tier.
    /// Staged buffers not admitted go back to the pool.
    func admit(layer: Int, routes: ExpertRoutes, staged: [(expert: Int, buffer: UnsafeMutableRawPointer)]) throws {
        // In place: a copy of the layer would copy the policy's storage on its first write.
        try admit(&layers[layer], layer: layer, routes: routes, staged: staged)
    }

    private func admit(_ l: inout Layer, layer: Int, routes: ExpertRoutes,
                       staged: [(expert: Int, buffer: UnsafeMutableRawPointer)]) throws {
        // Same step rule as ExpertCache.Simulator: per token, hits touch the policy first, then misses load.
        let k = routes.k
        for t in 0..<routes.tokenCount {
            ticks[layer] += 1
            selected.removeAll(keepingCapacity: true)
            wasResident.removeAll(keepingCapacity: true)
            for s in 0..<k {
                let e = Int(routes.experts[t * k + s])
                selected.append(e)
                wasResident.append(l.policy.isResident(e))
            }
            for hitsFirst in 0..<2 {
                for (e, r) in zip(selected, wasResident) where r == (hitsFirst == 0) { _ = l.policy.access(e, tick: ticks[layer]) }
            }
        }
        for e in l.bufferOf.indices where l.bufferOf[e] != nil && !l.policy.isResident(e) {
            free.append(l.bufferOf[e]!)
            l.bufferOf[e] = nil
            l.residents -= 1
        }
        claimed.removeAll(keepingCapacity: true)
        claimed.append(contentsOf: repeatElement(false, count: staged.count))
        var failure: Error?
        // Ascending expert order, as the policy's resident set sorted.
        for e in l.bufferOf.indices where l.bufferOf[e] == nil && l.policy.isResident(e) {
            if let i = staged.firstIndex(where: { $0.expert == e }), !claimed[i] {
                claimed[i] = true
                l.bufferOf[e] = staged[i].buffer
            } else {
                let p = takeBuffer()
                if let reader {
                    let ranges = l.format.fileRanges(expert: e, fileBase: fileBase)
                    let raw = UnsafeMutableRawPointer.allocate(byteCount: ExpertReader.bufferBytes(ranges: ranges), alignment: ExpertReader.alignment)
                    defer { raw.deallocate() }
                    let read = reader.submit(ranges: ranges, buffer: raw)
                    do { try reader.wait(read) } catch {
                        // Not filled: it stays uncached, so nothing computes from it.
                        free.append(p)
                        failure = failure ?? error
                        continue
                    }
                    l.format.fill(p) { read.data($0) }
                } else {
                    l.format.fill(p, expert: e)
                    copiedBytes += l.format.slotBytes
                }
                l.bufferOf[e] = p
            }
            l.residents += 1
        }
        for i in staged.indices where !claimed[i] { free.append(staged[i].buffer) }
        if let failure { throw failure }
    }
}
