import ExpertCache
import Testing

@Suite struct ResidencyTests {
    private let mib = 1 << 20

    private func figures(available: Int) -> MemoryFigures {
        MemoryFigures(availableBytes: available * mib, residentBytes: 300 * mib, expertBytes: 2500 * mib, kvBytes: 100 * mib,
                      computeBytes: 64 * mib, streamingBytes: 36 * mib, minimumCacheBytes: 160 * mib, reserveBytes: 1024 * mib)
    }

    /// Fits: everything resident plus the reserve; streams: the cache takes what remains after the
    /// non-expert weights, KV, compute, streaming buffers and reserve; refuses below the minimum.
    @Test func decidesFitsStreamsOrRefusesFromTheFigures() {
        let base = 300 + 100 + 64 + 1024
        #expect(ResidencyPlanner.decide(figures(available: base + 2500)) == .resident)
        #expect(ResidencyPlanner.decide(figures(available: base + 2499)) == .stream(cacheBytes: (2499 - 36) * mib))
        #expect(ResidencyPlanner.decide(figures(available: base + 36 + 160)) == .stream(cacheBytes: 160 * mib))
        guard case .refuse(let why) = ResidencyPlanner.decide(figures(available: base + 36 + 159)) else {
            Issue.record("accepted less than the minimum cache")
            return
        }
        #expect(why.contains("1683 MiB available") && why.contains("need 1684 MiB"), "\(why)")
        guard case .refuse = ResidencyPlanner.decide(figures(available: 0)) else {
            Issue.record("accepted no memory at all")
            return
        }
    }

    @Test func explainsTheStreamingDecisionInOneLine() {
        let f = figures(available: 2488)
        let line = ResidencyPlanner.explain(ResidencyPlanner.decide(f), f)
        #expect(line.contains("streamed") && line.contains("2500 MiB of experts") && line.contains("964 MiB") && !line.contains("\n"), "\(line)")
    }
}
