@testable import Engine
import Testing

/// The bias and penalties against a float64 transcription of llama.cpp's
/// llama_sampler_penalties_apply, on fresh random logits and histories.
@Test func logitAdjustmentsMatchLlamaCppsPenaltyFormula() {
    var rng = SeededGenerator(seed: UInt64.random(in: 1...1_000_000))
    func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
    for _ in 0..<20 {
        let vocab = 50
        let logits = (0..<vocab).map { _ in Float(uniform() * 8 - 4) }
        let history = (0..<(10 + Int(rng.next() % 100))).map { _ in Int32(rng.next() % UInt64(vocab)) }
        let a = LogitAdjustments(bias: [3: Float(uniform() * 4 - 2), 7: -.infinity], repeatPenalty: Float(0.5 + uniform()),
                                 frequencyPenalty: Float(uniform() * 2 - 1), presencePenalty: Float(uniform() * 2 - 1),
                                 repeatLastN: [-1, 0, 16, 64][Int(rng.next() % 4)])
        var got = logits
        got.withUnsafeMutableBufferPointer { a.apply(to: $0, history: history[...]) }
        var expected = logits.map(Double.init)
        for (id, b) in a.bias { expected[Int(id)] += Double(b) }
        if a.repeatLastN != 0 {
            let window = a.repeatLastN < 0 ? history[...] : history.suffix(a.repeatLastN)
            for t in Set(window) {
                let c = Double(window.filter { $0 == t }.count)
                var l = expected[Int(t)]
                l = l <= 0 ? l * Double(a.repeatPenalty) : l / Double(a.repeatPenalty)
                expected[Int(t)] = l - c * Double(a.frequencyPenalty) - Double(a.presencePenalty)
            }
        }
        for i in 0..<vocab {
            if expected[i].isInfinite { #expect(got[i] == -.infinity); continue }
            #expect(abs(Double(got[i]) - expected[i]) <= 1e-5 * max(1, abs(expected[i])), "token \(i): \(got[i]) vs \(expected[i])")
        }
    }
    #expect(LogitAdjustments().isNeutral && !LogitAdjustments(repeatPenalty: 1.1).isNeutral)
    #expect(LogitAdjustments(repeatPenalty: 1.1, repeatLastN: 0).isNeutral)
}
