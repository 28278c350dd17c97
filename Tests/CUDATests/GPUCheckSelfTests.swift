@testable import GPUCheck
import Foundation
import Testing

/// gpu-check's verdicts tested without a device: every check's float64 reference, rounded to
/// float and perturbed, must pass when the perturbation is small and fail when it is not.
private func perturbed(_ want: [Double], by relative: Double, _ r: inout SeededRandom) -> [Float] {
    want.map { Float($0 * (1 + relative * Double(Float.random(in: -1...1, using: &r)))) }
}

@Test func smallPerturbationsPassAndLargeOnesFail() {
    var r = SeededRandom(seed: UInt64.random(in: 0...UInt64.max))
    let checks = KernelChecks.all(seed: UInt64.random(in: 0...UInt64.max))
    #expect(checks.count == 10 + 9)
    for c in checks {
        #expect(!c.reference.isEmpty && c.reference.allSatisfy(\.isFinite), "\(c.name)")
        #expect(CheckOutcome(name: c.name, got: perturbed(c.reference, by: 1e-4, &r), want: c.reference).passed, "\(c.name)")
        #expect(!CheckOutcome(name: c.name, got: perturbed(c.reference, by: 0.2, &r), want: c.reference).passed, "\(c.name)")
        var withNaN = c.reference.map(Float.init)
        withNaN[withNaN.count / 2] = .nan
        #expect(!CheckOutcome(name: c.name, got: withNaN, want: c.reference).passed, "\(c.name)")
        #expect(!CheckOutcome(name: c.name, got: Array(c.reference.dropLast().map(Float.init)), want: c.reference).passed)
    }
}

@Test func relativeL2MatchesItsDefinition() {
    #expect(Comparison.relativeL2([3, 4], [3, 4]) == 0)
    #expect(abs(Comparison.relativeL2([3, 5], [3, 4]) - 0.2) < 1e-12)  // |(0,1)| / |(3,4)|
    #expect(Comparison.relativeL2([0, 0], [0, 0]) == 0)
    #expect(Comparison.relativeL2([1], [0]) == 1)
    #expect(Comparison.relativeL2([], []) == .infinity)
}

@Test func routerReferenceKeepsTopKAndRenormalises() {
    // Token 0: experts 2 and 0 are the top two (ties broken to the lower id for 1 vs 3).
    let logits: [Double] = [1, 0, 2, 0]
    let dense = Reference.route(logits, experts: 4, k: 2, normalize: true)
    #expect(dense[1] == 0 && dense[3] == 0)
    #expect(abs(dense[0] + dense[2] - 1) < 1e-12)
    #expect(abs(dense[2] / dense[0] - exp(1.0)) < 1e-12)
    let ties = Reference.route([0, 0, 0, 0], experts: 4, k: 2, normalize: false)
    #expect(ties == [0.25, 0.25, 0, 0])
}

@Test func ropeReferenceRotatesPairsByTheAngle() {
    // One head of 4 dims at position 1, base 1: every pair turns by 1 radian.
    let x: [Double] = [1, 0, 0, 1]
    let norm = Reference.rope(x, positions: [1], heads: 1, headDim: 4, ropeDim: 4, base: 1, neox: false)
    #expect(abs(norm[0] - cos(1.0)) < 1e-12 && abs(norm[1] - sin(1.0)) < 1e-12)
    #expect(abs(norm[2] + sin(1.0)) < 1e-12 && abs(norm[3] - cos(1.0)) < 1e-12)
    let neox = Reference.rope(x, positions: [1], heads: 1, headDim: 4, ropeDim: 4, base: 1, neox: true)
    // NeoX pairs (0, 2) and (1, 3).
    #expect(abs(neox[0] - cos(1.0)) < 1e-12 && abs(neox[2] - sin(1.0)) < 1e-12)
    #expect(abs(neox[1] + sin(1.0)) < 1e-12 && abs(neox[3] - cos(1.0)) < 1e-12)
}
