// Per-layer / per-expert MoE counters. This sits on the decode hot path: flat arrays indexed
// by moeLayer * E + expert, no dictionaries, nothing allocated per call.

/// Run-time perf collection mode (same names as the llama.cpp tool's `mode`).
public enum PerfMode: String, Sendable, CaseIterable {
    /// Counters and every lane timing.
    case full
    /// Only what hit-rate display and dynamic replacement need: hits, slots, lane walls, join wait.
    case update
    /// Records nothing.
    case off
}

/// Wall times of one MoE layer call, in nanoseconds. Fields the engine cannot measure stay 0.
public struct LaneTimings: Sendable, Equatable {
    public var routing: UInt64 = 0       // routing + worklist preparation
    public var hotLane: UInt64 = 0       // hot lane wall
    public var coldLane: UInt64 = 0      // cold lane wall
    public var parallelWall: UInt64 = 0  // wall of the whole hot/cold region
    public var overlap: UInt64 = 0       // time hidden by running the lanes concurrently
    public var joinWait: UInt64 = 0      // time one lane waited for the other at the join
    public var merge: UInt64 = 0         // weighted merge of both lanes
    public var total: UInt64 = 0         // whole MoE block
    public init(routing: UInt64 = 0, hotLane: UInt64 = 0, coldLane: UInt64 = 0, parallelWall: UInt64 = 0,
                overlap: UInt64 = 0, joinWait: UInt64 = 0, merge: UInt64 = 0, total: UInt64 = 0) {
        self.routing = routing; self.hotLane = hotLane; self.coldLane = coldLane; self.parallelWall = parallelWall
        self.overlap = overlap; self.joinWait = joinWait; self.merge = merge; self.total = total
    }
}

/// Not thread-safe by itself; `TelemetryRecorder` wraps it in a lock.
public struct TelemetryCounters: Sendable {
    public let layout: ModelExpertLayout
    public private(set) var mode: PerfMode
    /// Live hit-rate window length in tokens.
    public let windowTokens: Int

    // Per expert (moeIndex * E + e): selections served hot / cold.
    private var hotHits: [UInt64]
    private var coldHits: [UInt64]
    // Per MoE layer: one struct so a call touches one array (one uniqueness check), not nine.
    private var layerStats: [LayerStats]
    // Per MoE layer * Timing.count, nanosecond sums.
    private var timeSums: [UInt64]
    // Live window: per layer a ring of the most recent calls.
    private var ring: [WindowEntry]

    struct LayerStats: Sendable {
        var calls: UInt64 = 0, tokens: UInt64 = 0, hotSlots: UInt64 = 0, coldSlots: UInt64 = 0
        var winHot: UInt64 = 0, winTotal: UInt64 = 0, winTokens: UInt64 = 0
        var ringStart = 0, ringCount = 0
    }

    struct WindowEntry: Sendable {
        var hot: UInt32 = 0, total: UInt32 = 0, tokens: UInt32 = 0
    }

    enum Timing: Int, CaseIterable {
        case routing, hotLane, coldLane, parallelWall, overlap, joinWait, merge, total
    }

    public init(layout: ModelExpertLayout, mode: PerfMode = .full, windowTokens: Int = 256) {
        precondition(windowTokens > 0, "window must hold at least one token")
        self.layout = layout
        self.mode = mode
        self.windowTokens = windowTokens
        let n = layout.totalExperts, l = layout.moeLayerCount
        hotHits = .init(repeating: 0, count: n); coldHits = hotHits
        layerStats = .init(repeating: LayerStats(), count: l)
        timeSums = .init(repeating: 0, count: l * Timing.allCases.count)
        // Every call carries at least one token, so `windowTokens` entries always cover the window.
        ring = .init(repeating: WindowEntry(), count: l * windowTokens)
    }

    /// Changes the mode; like the tool's POST /moe-layer-perf this starts a fresh perf window.
    public mutating func setMode(_ newMode: PerfMode, reset: Bool = true) {
        mode = newMode
        if reset { self.reset() }
    }

    /// A copy that shares no array storage with `self`. Snapshots cross threads: a shared buffer
    /// would leave copy-on-write to hinge on a reference count the reader drops without the lock
    /// (ThreadSanitizer reports that as a race), and the engine's next record would pay the copy.
    func unshared() -> TelemetryCounters {
        var copy = self
        copy.hotHits = hotHits.withUnsafeBufferPointer { Array($0) }
        copy.coldHits = coldHits.withUnsafeBufferPointer { Array($0) }
        copy.layerStats = layerStats.withUnsafeBufferPointer { Array($0) }
        copy.timeSums = timeSums.withUnsafeBufferPointer { Array($0) }
        copy.ring = ring.withUnsafeBufferPointer { Array($0) }
        return copy
    }

    public mutating func reset() {
        self = TelemetryCounters(layout: layout, mode: mode, windowTokens: windowTokens)
    }

    /// Records one MoE layer call. `selected[i]` is an expert id of `layer`; `hot[i]` says whether
    /// that selection ran on the hot lane. Ids outside the layer are skipped (engine bug, not data).
    @inlinable
    public mutating func record(layer: Int, selected: UnsafeBufferPointer<Int32>, hot: UnsafeBufferPointer<Bool>,
                                tokens: Int, timings: LaneTimings? = nil) {
        if mode == .off { return }
        recordCounts(layer: layer, selected: selected, hot: hot, tokens: tokens, timings: timings)
    }

    /// Array convenience for callers off the hot path (tests, tools).
    public mutating func record(layer: Int, selected: [Int32], hot: [Bool], tokens: Int = 1, timings: LaneTimings? = nil) {
        precondition(selected.count == hot.count, "one hot flag per selection")
        selected.withUnsafeBufferPointer { s in
            hot.withUnsafeBufferPointer { h in record(layer: layer, selected: s, hot: h, tokens: tokens, timings: timings) }
        }
    }

    @usableFromInline
    mutating func recordCounts(layer: Int, selected: UnsafeBufferPointer<Int32>, hot: UnsafeBufferPointer<Bool>,
                               tokens tokenCount: Int, timings: LaneTimings?) {
        guard let li = layout.moeIndex(ofLayer: layer) else { return }
        let e = layout.expertsPerLayer, base = li * e
        var h: UInt64 = 0, c: UInt64 = 0
        let n = min(selected.count, hot.count)
        hotHits.withUnsafeMutableBufferPointer { hh in
            coldHits.withUnsafeMutableBufferPointer { ch in
                for i in 0..<n {
                    let x = Int(selected[i])
                    guard x >= 0, x < e else { continue }
                    if hot[i] { hh[base + x] &+= 1; h &+= 1 } else { ch[base + x] &+= 1; c &+= 1 }
                }
            }
        }
        let t = UInt64(max(tokenCount, 1))
        pushWindow(li, hot: h, cold: c, tokens: t)
        guard let timings else { return }
        let tb = li * Timing.allCases.count
        timeSums[tb + Timing.hotLane.rawValue] &+= timings.hotLane
        timeSums[tb + Timing.coldLane.rawValue] &+= timings.coldLane
        timeSums[tb + Timing.joinWait.rawValue] &+= timings.joinWait
        guard mode == .full else { return }
        timeSums[tb + Timing.routing.rawValue] &+= timings.routing
        timeSums[tb + Timing.parallelWall.rawValue] &+= timings.parallelWall
        timeSums[tb + Timing.overlap.rawValue] &+= timings.overlap
        timeSums[tb + Timing.merge.rawValue] &+= timings.merge
        timeSums[tb + Timing.total.rawValue] &+= timings.total
    }

    /// Window = the most recent calls whose tokens sum to at most `windowTokens`
    /// (always at least the latest call, even if it alone is longer, e.g. a prompt batch).
    private mutating func pushWindow(_ li: Int, hot: UInt64, cold: UInt64, tokens t: UInt64) {
        let cap = windowTokens, base = li * cap
        let entry = WindowEntry(hot: UInt32(clamping: hot), total: UInt32(clamping: hot + cold), tokens: UInt32(clamping: t))
        layerStats.withUnsafeMutableBufferPointer { ls in
            ring.withUnsafeMutableBufferPointer { r in
                var st = ls[li]
                st.calls &+= 1; st.tokens &+= t; st.hotSlots &+= hot; st.coldSlots &+= cold
                func pop() {
                    let old = r[base + st.ringStart]
                    st.winHot -= UInt64(old.hot); st.winTotal -= UInt64(old.total); st.winTokens -= UInt64(old.tokens)
                    st.ringStart = st.ringStart + 1 == cap ? 0 : st.ringStart + 1
                    st.ringCount -= 1
                }
                if st.ringCount == cap { pop() }
                r[base + (st.ringStart + st.ringCount) % cap] = entry
                st.ringCount += 1
                st.winHot += UInt64(entry.hot); st.winTotal += UInt64(entry.total); st.winTokens += UInt64(entry.tokens)
                while st.ringCount > 1, st.winTokens > UInt64(cap) { pop() }
                ls[li] = st
            }
        }
    }

    // MARK: Reading

    public func hits(_ id: ExpertID) -> (hot: UInt64, cold: UInt64) {
        guard let i = layout.flatIndex(id) else { return (0, 0) }
        return (hotHits[i], coldHits[i])
    }

    public func calls(layer: Int) -> UInt64 { layout.moeIndex(ofLayer: layer).map { layerStats[$0].calls } ?? 0 }
    public func tokens(layer: Int) -> UInt64 { layout.moeIndex(ofLayer: layer).map { layerStats[$0].tokens } ?? 0 }

    /// Cumulative hit rate of a layer: selections found hot / all selections (0 when none).
    public func hitRate(layer: Int) -> Double {
        guard let li = layout.moeIndex(ofLayer: layer) else { return 0 }
        return ratio(layerStats[li].hotSlots, layerStats[li].hotSlots + layerStats[li].coldSlots)
    }

    public var totalHitRate: Double {
        let h = layerStats.reduce(0) { $0 + $1.hotSlots }
        return ratio(h, h + layerStats.reduce(0) { $0 + $1.coldSlots })
    }

    /// Hit rate over the live window (last `windowTokens` tokens) of a layer.
    public func windowHitRate(layer: Int) -> Double {
        guard let li = layout.moeIndex(ofLayer: layer) else { return 0 }
        return ratio(layerStats[li].winHot, layerStats[li].winTotal)
    }

    public var totalWindowHitRate: Double {
        ratio(layerStats.reduce(0) { $0 + $1.winHot }, layerStats.reduce(0) { $0 + $1.winTotal })
    }

    func timeSum(_ li: Int, _ t: Timing) -> UInt64 { timeSums[li * Timing.allCases.count + t.rawValue] }
    func slots(_ li: Int) -> (hot: UInt64, cold: UInt64, calls: UInt64, tokens: UInt64) {
        let st = layerStats[li]
        return (st.hotSlots, st.coldSlots, st.calls, st.tokens)
    }
    func expertHits(_ flat: Int) -> (hot: UInt64, cold: UInt64) { (hotHits[flat], coldHits[flat]) }
}

@inline(__always)
func ratio(_ a: UInt64, _ b: UInt64) -> Double { b == 0 ? 0 : Double(a) / Double(b) }
