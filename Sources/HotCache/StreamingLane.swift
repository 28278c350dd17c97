import Engine
import ExpertCache
import Foundation
import Logging

/// Whether layer L+1's experts are guessed from layer L's input and read ahead (decode only).
public enum PrefetchMode: String, Sendable {
    case off, on
    /// Measure the guess's precision on the first decode steps; keep reading ahead only if
    /// most guesses are right (a wrong guess spends read bandwidth the real misses need).
    case auto
}

/// Lookahead accuracy: of the experts layer L+1 really selected, how many were guessed.
public struct PrefetchStats: Sendable, Equatable {
    public var predictions = 0
    public var predictedSelected = 0
    public var selected = 0
    /// Misses whose bytes were already requested by a read-ahead.
    public var missesPrefetched = 0
    public var misses = 0
    public var prefetchReads = 0
    public var enabled = false
    /// Whether `auto` has measured enough to decide.
    public var decided = false
    public var precision: Double { selected == 0 ? 0 : Double(predictedSelected) / Double(selected) }
    public init() {}
}

/// One session's cold lane when experts stream from the file: a call's misses are read on
/// the reader's lanes while the hot lane computes, each is repacked into its pool buffer and computed
/// as soon as its bytes arrive, and the next layer's likely misses are read ahead.
final class StreamingLane {
    private let tier: OnlineTier
    private let reader: ExpertReader
    private let probe: RouterProbe?
    private let mode: PrefetchMode
    private let logger: Logger
    private let readAheadTop: Int
    private let k: Int
    private let layerCount: Int
    /// Layers with routed experts (the guesses per decode step are one fewer).
    private let moeLayerCount: Int
    private var freeBuffers: [UnsafeMutableRawPointer] = []
    private var allBuffers: [UnsafeMutableRawPointer] = []
    private var prefetched: [(layer: Int, expert: Int, read: FileRead)] = []
    /// The layer whose experts `guessBuffer` holds the guess for, until it is scored.
    private var guessedLayer: Int?
    private var guessBuffer: UnsafeMutablePointer<Int32>
    /// Done reads, refilled by the next submits (a decode step allocates no read).
    private var spareReads: [FileRead] = []
    /// Indices into `cold` whose bytes arrived in one wake-up of `finish`.
    private var ready: [Int] = []
    /// Shared by the sessions' lanes (updated under the tier's lock), so the auto decision
    /// and the figures cover the whole runtime.
    private var stats: PrefetchStats {
        get { tier.prefetchStats }
        set { tier.prefetchStats = newValue }
    }
    /// Decode steps measured before `auto` decides.
    static let autoSampleSteps = 16
    static let autoMinimumPrecision = 0.5

    init(tier: OnlineTier, reader: ExpertReader, model: MoEModel, pool: WorkerPool, prefetch: PrefetchMode,
         readAheadTop: Int? = nil, logger: Logger, buffers: Int = 16) {
        self.tier = tier
        self.readAheadTop = min(readAheadTop ?? model.config.expertsUsed, model.config.expertsUsed)
        self.logger = logger
        self.reader = reader
        mode = prefetch
        k = model.config.expertsUsed
        layerCount = model.config.layerCount
        moeLayerCount = model.config.moeLayers.count
        probe = prefetch == .off || moeLayerCount < 2 ? nil : RouterProbe(model: model, pool: pool)
        let bufferBytes = (0..<layerCount).map { tier.format(layer: $0).readBufferBytes }.max() ?? 0
        for _ in 0..<(buffers + k) {
            let b = UnsafeMutableRawPointer.allocate(byteCount: max(1, bufferBytes), alignment: ExpertReader.alignment)
            allBuffers.append(b)
        }
        freeBuffers = allBuffers
        guessBuffer = .allocate(capacity: max(1, k))
        if prefetch == .on { stats.enabled = true }
    }

    deinit {
        // Reads still in flight write into these buffers: wait for them first.
        for r in prefetched.lazy.map(\.read) { _ = try? reader.wait(r) }
        for r in draining { _ = try? reader.wait(r) }
        for r in pending.lazy.map(\.read) { _ = try? reader.wait(r) }
        for b in allBuffers { b.deallocate() }
        guessBuffer.deallocate()
    }

    /// Guesses layer+1's experts from this layer's one-token `input` and reads ahead the
    /// guessed ones that are not cached. Call before computing, after `begin`.
    func lookahead(layer: Int, input: UnsafePointer<Float>, tokens: Int) {
        // Once `auto` has turned read-ahead off, the guesses are not worth their router pass.
        guard let probe, tokens == 1, layer + 1 < layerCount, stats.enabled || !stats.decided else { return }
        guard probe.topExperts(layer: layer + 1, input: input, count: k, into: guessBuffer) else { return }
        guessedLayer = layer + 1
        guard stats.enabled else { return }
        // The guesses come best first: read ahead only the `readAheadTop` most likely.
        for e in UnsafeBufferPointer(start: guessBuffer, count: readAheadTop).lazy.map(Int.init)
        where !tier.isResident(layer: layer + 1, expert: e) {
            guard let buffer = freeBuffers.popLast() else { break }
            let ranges = tier.format(layer: layer + 1).fileRanges(expert: e, fileBase: tier.fileBase)
            prefetched.append((layer + 1, e, submit(ranges: ranges, buffer: buffer)))
            stats.prefetchReads += 1
        }
    }

    private func submit(ranges: ExpertFileRanges,
                        buffer: UnsafeMutableRawPointer) -> FileRead {
        reader.submit(ranges: ranges, buffer: buffer, reusing: spareReads.popLast())
    }

    /// Scores the previous guess against this call's selections (one decode token).
    private func score(layer: Int, selected: UnsafePointer<Int32>, count: Int) {
        guard guessedLayer == layer, count == k else { return }
        guessedLayer = nil
        stats.predictions += 1
        stats.selected += k
        let guess = UnsafeBufferPointer(start: guessBuffer, count: k)
        for s in 0..<k where guess.contains(selected[s]) { stats.predictedSelected += 1 }
        if mode == .auto, !stats.decided, stats.predictions >= Self.autoSampleSteps * max(1, moeLayerCount - 1) {
            stats.enabled = stats.precision >= Self.autoMinimumPrecision
            stats.decided = true
            logger.info("MoE lookahead prefetch \(stats.enabled ? "on" : "off"): next-layer guesses \(String(format: "%.1f", stats.precision * 100))% right over \(stats.predictions) steps (needs \(Int(Self.autoMinimumPrecision * 100))%)")
        }
    }

    private var cold: [(expert: Int, buffer: UnsafeMutableRawPointer)] = []
    private var waiting: [Int] = []
    private var pending: [(index: Int, read: FileRead)] = []
    private var draining: [FileRead] = []
    private var format: ExpertSlotFormat?

    /// Starts reading the call's misses (`cold`: expert, the pool buffer it is read into); read-aheads of
    /// this layer serve them, any other read-ahead was a wrong guess and is dropped.
    func begin(layer: Int, routes: ExpertRoutes, cold: [(expert: Int, buffer: UnsafeMutableRawPointer)]) {
        if routes.tokenCount == 1 { score(layer: layer, selected: routes.experts, count: routes.k) }
        self.cold = cold
        format = tier.format(layer: layer)
        stats.misses += cold.count
        pending.removeAll(keepingCapacity: true)
        waiting.removeAll(keepingCapacity: true)
        waiting.append(contentsOf: cold.indices)
        for p in prefetched {
            if p.layer == layer, let i = waiting.firstIndex(where: { cold[$0].expert == p.expert }) {
                pending.append((waiting.remove(at: i), p.read))
                stats.missesPrefetched += 1
            } else {
                draining.append(p.read)
            }
        }
        prefetched.removeAll(keepingCapacity: true)
        topUp(keep: probe != nil && stats.enabled ? k : 0)
    }

    /// Submits waiting misses while buffers are free, keeping `keep` for read-aheads.
    private func topUp(keep: Int = 0) {
        var i = 0
        while i < draining.count {
            if reader.isDone(draining[i]) {
                freeBuffers.append(draining[i].buffer)
                spareReads.append(draining.remove(at: i))
            } else {
                i += 1
            }
        }
        guard let format else { return }
        while !waiting.isEmpty, freeBuffers.count > keep || (pending.isEmpty && !freeBuffers.isEmpty) {
            let i = waiting.removeFirst()
            let ranges = format.fileRanges(expert: cold[i].expert, fileBase: tier.fileBase)
            pending.append((i, submit(ranges: ranges, buffer: freeBuffers.removeLast())))
        }
    }

    /// Waits for the misses and runs `compute` on each batch of cold items (indices into
    /// `cold`) whose bytes have arrived and been repacked, in arrival order. Returns the
    /// first read error; the call's output is then invalid.
    func finish(compute: ([Int]) -> Void) -> Error? {
        var failure: Error?
        while !pending.isEmpty {
            guard reader.waitAny(pending.lazy.map(\.read)) != nil else { break }
            ready.removeAll(keepingCapacity: true)
            var i = 0
            while i < pending.count {
                let p = pending[i]
                guard reader.isDone(p.read) else {
                    i += 1
                    continue
                }
                do {
                    try reader.wait(p.read)
                    format?.fill(cold[p.index].buffer) { p.read.data($0) }
                    ready.append(p.index)
                } catch {
                    failure = failure ?? error
                }
                freeBuffers.append(p.read.buffer)
                spareReads.append(p.read)
                pending.remove(at: i)
            }
            topUp()
            if !ready.isEmpty && failure == nil { compute(ready) }
        }
        // Dropped, not emptied in place: the caller's array shares this storage and refills it.
        cold = []
        return failure
    }
}
