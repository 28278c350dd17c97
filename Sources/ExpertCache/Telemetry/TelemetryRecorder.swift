// Thread-safe front of TelemetryCounters, and the export to profile JSON.

import Foundation

/// The engine calls `record` once per MoE layer call. Every call takes one uncontended lock;
/// a decode step that records all its layers can take the lock once via `withStep`.
/// Contract: the server changes the mode only between decode steps (architecture rule), and
/// readers (`snapshot`) see a consistent copy because they take the same lock.
public final class TelemetryRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var counters: TelemetryCounters

    public init(layout: ModelExpertLayout, mode: PerfMode = .full, windowTokens: Int = 256) {
        counters = TelemetryCounters(layout: layout, mode: mode, windowTokens: windowTokens)
    }

    public var mode: PerfMode {
        lock.lock(); defer { lock.unlock() }
        return counters.mode
    }

    public func setMode(_ mode: PerfMode, reset: Bool = true) {
        lock.lock(); defer { lock.unlock() }
        counters.setMode(mode, reset: reset)
    }

    public func record(layer: Int, selected: UnsafeBufferPointer<Int32>, hot: UnsafeBufferPointer<Bool>,
                       tokens: Int, timings: LaneTimings? = nil) {
        lock.lock()
        counters.record(layer: layer, selected: selected, hot: hot, tokens: tokens, timings: timings)
        lock.unlock()
    }

    /// Runs `body` with the counters under one lock acquisition (e.g. all layers of a step).
    public func withStep<R>(_ body: (inout TelemetryCounters) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&counters)
    }

    /// A consistent copy for display and export, made under the lock and sharing no storage
    /// with the live counters.
    public func snapshot() -> TelemetryCounters {
        lock.lock(); defer { lock.unlock() }
        return counters.unshared()
    }
}

extension TelemetryCounters {
    /// Exports the counters in the tool's schema. Layers without calls are left out, like the tool.
    public func profile() -> PerfProfile {
        let e = layout.expertsPerLayer
        var layers: [LayerProfile] = []
        for (li, layer) in layout.moeLayers.enumerated() {
            let s = slots(li)
            guard s.calls > 0 || s.hot + s.cold > 0 else { continue }
            var m: [LayerMetric: Double] = [
                .calls: Double(s.calls), .tokens: Double(s.tokens),
                .hotSlotsTotal: Double(s.hot), .coldSlotsTotal: Double(s.cold),
                .hotSlotsPerCall: perCall(s.hot, s.calls), .coldSlotsPerCall: perCall(s.cold, s.calls),
                .hotSlotRatio: ratio(s.hot, s.hot + s.cold),
            ]
            if mode != .off {
                m[.hotLaneWallPerCallUs] = perCallUs(timeSum(li, .hotLane), s.calls)
                m[.coldLaneWallPerCallUs] = perCallUs(timeSum(li, .coldLane), s.calls)
                m[.joinWaitPerCallUs] = perCallUs(timeSum(li, .joinWait), s.calls)
            }
            if mode == .full {
                m[.totalMoePerCallUs] = perCallUs(timeSum(li, .total), s.calls)
                m[.routingPerCallUs] = perCallUs(timeSum(li, .routing), s.calls)
                m[.mergePerCallUs] = perCallUs(timeSum(li, .merge), s.calls)
                m[.parallelWallPerCallUs] = perCallUs(timeSum(li, .parallelWall), s.calls)
                m[.overlapPerCallUs] = perCallUs(timeSum(li, .overlap), s.calls)
            }
            var all: [ExpertHits] = [], hot: [ExpertHits] = [], cold: [ExpertHits] = []
            for x in 0..<e {
                let c = expertHits(li * e + x)
                if c.hot + c.cold > 0 { all.append(ExpertHits(expert: x, hits: c.hot + c.cold)) }
                if c.hot > 0 { hot.append(ExpertHits(expert: x, hits: c.hot)) }
                if c.cold > 0 { cold.append(ExpertHits(expert: x, hits: c.cold)) }
            }
            layers.append(LayerProfile(layer: layer, metrics: m, experts: all, hotExperts: hot, coldExperts: cold))
        }
        return PerfProfile(enabled: mode != .off, mode: mode.rawValue, nExpert: e, nExpertUsed: layout.topK,
                           layers: mode == .off ? [] : layers)
    }
}

private func perCall(_ v: UInt64, _ calls: UInt64) -> Double { calls == 0 ? 0 : Double(v) / Double(calls) }
private func perCallUs(_ ns: UInt64, _ calls: UInt64) -> Double { calls == 0 ? 0 : Double(ns) / 1000 / Double(calls) }
