import Testing
@testable import ExpertCache

@Suite struct TelemetryTests {
    @Test func layoutMapsModelLayersToMoEIndices() throws {
        let l = try ModelExpertLayout(moeLayers: [1, 3], expertsPerLayer: 4, topK: 2, bytesPerExpert: [10, 30])
        #expect(l.moeIndex(ofLayer: 0) == nil)
        #expect(l.moeIndex(ofLayer: 3) == 1)
        #expect(l.flatIndex(ExpertID(layer: 3, expert: 2)) == 6)
        #expect(l.bytes(ofLayer: 3) == 30)
        #expect(!l.contains(ExpertID(layer: 1, expert: 4)))
        #expect(throws: ModelExpertLayout.LayoutError.self) {
            try ModelExpertLayout(moeLayers: [3, 1], expertsPerLayer: 4, topK: 2, bytesPerExpert: [1, 1])
        }
    }

    @Test func countsHitsAndCumulativeAndWindowHitRate() {
        var c = TelemetryCounters(layout: layout(layers: 2, experts: 4), mode: .update, windowTokens: 2)
        c.record(layer: 0, selected: [0, 1], hot: [true, true])
        c.record(layer: 0, selected: [2, 1], hot: [false, false])
        c.record(layer: 0, selected: [0, 3], hot: [true, false])
        c.record(layer: 1, selected: [3, 2], hot: [false, false])
        #expect(c.hits(ExpertID(layer: 0, expert: 0)) == (hot: 2, cold: 0))
        #expect(c.hits(ExpertID(layer: 0, expert: 1)) == (hot: 1, cold: 1))
        #expect(c.calls(layer: 0) == 3)
        #expect(c.hitRate(layer: 0) == 3.0 / 6.0)
        #expect(c.totalHitRate == 3.0 / 8.0)
        // Window of 2 tokens keeps only the last two layer-0 calls: (0 + 1) hot of 4.
        #expect(c.windowHitRate(layer: 0) == 0.25)
        #expect(c.totalWindowHitRate == 1.0 / 6.0)
    }

    @Test func windowKeepsAtLeastTheLatestLongCall() {
        var c = TelemetryCounters(layout: layout(layers: 1, experts: 4), mode: .update, windowTokens: 4)
        c.record(layer: 0, selected: [0, 1], hot: [true, true], tokens: 1)
        c.record(layer: 0, selected: [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3], hot: .init(repeating: false, count: 12), tokens: 6)
        #expect(c.windowHitRate(layer: 0) == 0)
        #expect(c.hitRate(layer: 0) == 2.0 / 14.0)
    }

    @Test func offRecordsNothingAndModeSwitchResets() {
        var c = TelemetryCounters(layout: layout(layers: 1, experts: 4), mode: .off)
        c.record(layer: 0, selected: [0, 1], hot: [true, false])
        #expect(c.calls(layer: 0) == 0)
        c.setMode(.update)
        c.record(layer: 0, selected: [0, 1], hot: [true, false])
        #expect(c.calls(layer: 0) == 1)
        c.setMode(.full)
        #expect(c.calls(layer: 0) == 0)
        #expect(c.profile().layers.isEmpty)
    }

    @Test func updateModeKeepsLaneTimesButNotFullTimings() {
        let t = LaneTimings(routing: 5_000, hotLane: 10_000, coldLane: 30_000, joinWait: 20_000, merge: 1_000, total: 60_000)
        var u = TelemetryCounters(layout: layout(layers: 1, experts: 4), mode: .update)
        u.record(layer: 0, selected: [0, 1], hot: [true, false], timings: t)
        let lu = u.profile().layers[0]
        #expect(lu.metrics[.joinWaitPerCallUs] == 20)
        #expect(lu.metrics[.coldLaneWallPerCallUs] == 30)
        #expect(lu.metrics[.totalMoePerCallUs] == nil)

        var f = TelemetryCounters(layout: layout(layers: 1, experts: 4), mode: .full)
        f.record(layer: 0, selected: [0, 1], hot: [true, false], timings: t)
        f.record(layer: 0, selected: [0, 2], hot: [true, false], timings: t)
        let lf = f.profile().layers[0]
        #expect(lf.metrics[.totalMoePerCallUs] == 60)
        #expect(lf.metrics[.routingPerCallUs] == 5)
        #expect(lf.metrics[.coldSlotsPerCall] == 1)
        #expect(lf.experts == [ExpertHits(expert: 0, hits: 2), ExpertHits(expert: 1, hits: 1), ExpertHits(expert: 2, hits: 1)])
        #expect(lf.hotExperts == [ExpertHits(expert: 0, hits: 2)])
        #expect(lf.coldExperts == [ExpertHits(expert: 1, hits: 1), ExpertHits(expert: 2, hits: 1)])
    }

    @Test func recorderIsUsableFromManyThreads() async {
        let r = TelemetryRecorder(layout: layout(layers: 2, experts: 4), mode: .update)
        await withTaskGroup(of: Void.self) { g in
            for w in 0..<4 {
                g.addTask {
                    let sel: [Int32] = [0, 1], hot = [true, false]
                    for _ in 0..<500 {
                        sel.withUnsafeBufferPointer { s in
                            hot.withUnsafeBufferPointer { h in r.record(layer: w % 2, selected: s, hot: h, tokens: 1) }
                        }
                    }
                }
            }
        }
        let s = r.snapshot()
        #expect(s.calls(layer: 0) + s.calls(layer: 1) == 2000)
        #expect(s.hits(ExpertID(layer: 0, expert: 0)).hot == 1000)
    }
}
