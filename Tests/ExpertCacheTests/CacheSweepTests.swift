import Foundation
import Testing
@testable import ExpertCache

@Suite struct CacheSweepTests {
    func close(_ a: Double, _ b: Double, _ eps: Double = 1e-9) -> Bool { abs(a - b) < eps }

    @Test func breakEvenOfSeed000sMeasuredTable() {
        // Seed 000's Qwen3.6 sweep against its 22.2 t/s baseline. The crossing lies between
        // 41.90% (21.23 t/s) and 48.33% (22.80 t/s): 41.90 + (22.2 - 21.23) / (22.80 - 21.23) * 6.43
        // = 45.8727% by hand; the seed reports 45.89% from its unrounded baseline.
        let seed: [(Double, Double)] = [(0.2263, 18.35), (0.2821, 19.07), (0.3531, 20.05), (0.4190, 21.23),
                                        (0.4833, 22.80), (0.5454, 24.34), (0.6076, 25.77), (0.6251, 26.12)]
        guard case .at(let h) = CacheSweep.breakEven(baseline: 22.2, points: seed.reversed().map { ($0.0, $0.1) }) else {
            Issue.record("expected an interpolated break-even"); return
        }
        #expect(close(h, 0.458726751, 1e-8))
    }

    @Test func breakEvenTakesTheFirstUpwardCrossingAndNamesTheEdgeCases() {
        // Unsorted input; crossing between (0.2, 8) and (0.4, 11): 0.2 + (10 - 8) / 3 * 0.2 = 1/3.
        // The dip at 0.5 (noise) does not move it.
        let noisy = [(0.7, 12.0), (0.5, 9.0), (0.2, 8.0), (0.4, 11.0)]
        guard case .at(let h) = CacheSweep.breakEven(baseline: 10, points: noisy.map { ($0.0, $0.1) }) else {
            Issue.record("expected an interpolated break-even"); return
        }
        #expect(close(h, 1.0 / 3.0))
        #expect(CacheSweep.breakEven(baseline: 10, points: [(0.5, 12), (0.3, 10)]) == .atOrBelow(hitRate: 0.3))
        #expect(CacheSweep.breakEven(baseline: 10, points: [(0.3, 8), (0.6, 9.9)]) == .notReached)
        #expect(CacheSweep.breakEven(baseline: 10, points: []) == .notReached)
        #expect(CacheSweep.BreakEven.notReached.description.hasPrefix("not reached"))
    }

    @Test func defaultBudgetsHoldMultiplesOfTopKPerLayer() throws {
        // Experts of 0.75 MiB (layer 0) and 0.5 MiB (layer 1): one expert per layer = 1.25 MiB.
        // E = 8, k = 2: 1x = 2 per layer = 2.5 -> 3 MiB; 2x = 4 -> 5 MiB; 4x = 8 is every expert,
        // so it only appears as "all" = 10 MiB; 8x exceeds the layer.
        let l = try ModelExpertLayout(moeLayers: [0, 1], expertsPerLayer: 8, topK: 2, bytesPerExpert: [786_432, 524_288])
        let b = CacheSweep.defaultBudgets(layout: l)
        #expect(b.map(\.mib) == [0, 3, 5, 10])
        #expect(b.map(\.label) == ["baseline", "1x top-k", "2x top-k", "all"])
        #expect(CacheSweep.userBudgets([4, 0, 4, 9]).map(\.mib) == [0, 4, 9])
    }

    @Test func tableRatiosAndJSONComeFromTheSamples() throws {
        let report = CacheSweep.Report(profileSource: "test", totalExperts: 16, rows: [
            .init(budget: .init(label: "baseline", mib: 0), hotExperts: 0, cacheMiB: 0, hitRate: 0, samples: [10, 12]),
            .init(budget: .init(label: "user", mib: 2), hotExperts: 6, cacheMiB: 1.5, hitRate: 0.5, samples: [13.2, 13.2]),
            .init(budget: .init(label: "user", mib: 1), hotExperts: 3, cacheMiB: 0.75, hitRate: 0.25, samples: [9.9]),
        ])
        // Baseline mean 11, sample sd sqrt(2); ratios 13.2 / 11 = 1.2 and 9.9 / 11 = 0.9.
        #expect(close(report.rows[0].stats.stddev, 2.0.squareRoot()))
        #expect(report.markdownTable() == [
            "| budget | MiB | hot experts | real hit rate | decode t/s | vs baseline |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            "| baseline | 0 | 0/16 | 0.00% | 11.00 ± 1.41 | 1.000x |",
            "| user | 2 | 6/16 | 50.00% | 13.20 ± 0.00 | 1.200x above |",
            "| user | 1 | 3/16 | 25.00% | 9.90 ± 0.00 | 0.900x below |",
        ])
        // Crossing between (0.25, 9.9) and (0.5, 13.2): 0.25 + 1.1 / 3.3 * 0.25 = 1/3.
        guard case .at(let h) = report.breakEven else { Issue.record("expected an interpolated break-even"); return }
        #expect(close(h, 1.0 / 3.0))
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any]
        #expect(close(json?["break_even_hit_rate"] as? Double ?? 0, 1.0 / 3.0))
        #expect((json?["ratio_vs_baseline"] as? [Double])?.map { ($0 * 1000).rounded() } == [1000, 1200, 900])
        #expect(((json?["rows"] as? [[String: Any]])?[1]["avg_ts"] as? Double).map { close($0, 13.2) } == true)
    }
}
