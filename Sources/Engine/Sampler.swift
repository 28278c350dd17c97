import Foundation

/// Sampling settings with llama.cpp's names and defaults; temperature <= 0 means greedy.
public struct SamplingParams: Sendable, Equatable, Codable {
    public var temperature: Float = 0.8
    public var topK: Int = 40
    public var topP: Float = 0.95
    public var minP: Float = 0.05
    public var seed: UInt64? = nil

    public init(temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95, minP: Float = 0.05, seed: UInt64? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.seed = seed
    }

    public static let greedy = SamplingParams(temperature: 0, topK: 1, topP: 1, minP: 0)

    /// Rejects values llama.cpp would also reject or that make no sense.
    public func validate() throws {
        guard temperature.isFinite, temperature >= 0 else { throw SamplingError("temperature must be >= 0, got \(temperature)") }
        guard topK >= 0 else { throw SamplingError("top_k must be >= 0, got \(topK)") }
        guard topP.isFinite, topP > 0, topP <= 1 else { throw SamplingError("top_p must be in (0, 1], got \(topP)") }
        guard minP.isFinite, minP >= 0, minP <= 1 else { throw SamplingError("min_p must be in [0, 1], got \(minP)") }
    }
}

public struct SamplingError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// xoshiro256** seeded by splitmix64: reproducible across platforms for a given seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var z = seed
        func next() -> UInt64 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var r = z
            r = (r ^ (r >> 30)) &* 0xBF58_476D_1CE4_E5B9
            r = (r ^ (r >> 27)) &* 0x94D0_49BB_1331_11EB
            return r ^ (r >> 31)
        }
        s = (next(), next(), next(), next())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }
}

/// The model computed no finite logit (all NaN or infinite), most likely from corrupt weights:
/// generation stops here rather than emit noise.
public struct NonFiniteLogitsError: Error, CustomStringConvertible {
    public let position: Int

    public init(position: Int) { self.position = position }

    public var description: String {
        "the model computed no finite logit (all NaN or Inf) at position \(position): its weights are probably corrupt; --check-tensors names the first bad tensor"
    }
}

/// Picks the next token: top-k -> top-p -> min-p -> temperature -> draw, as llama.cpp's
/// default chain does. Candidate storage is reused between calls.
///
/// Non-finite logits never trap and always give a valid id: NaN ranks as -inf, ties go to the
/// lowest id (argmax, top-k), +inf logits share all the probability and a row with no value
/// above -inf is uniform (equal logits, equal odds). `hasFiniteValue` tells callers when a row
/// is all non-finite and the model's output is noise.
public struct Sampler {
    public let params: SamplingParams
    private var rng: SeededGenerator
    private var candidates: [(id: Int32, logit: Float)] = []
    /// When set, each `sample` keeps the distribution it drew from (after top-k, top-p, min-p
    /// and temperature; llama-server's post_sampling_probs), most likely first.
    public var recordsDistribution = false
    public private(set) var lastDistribution: [(id: Int32, prob: Float)] = []

    public init(_ params: SamplingParams) {
        self.params = params
        rng = SeededGenerator(seed: params.seed ?? UInt64.random(in: 0...UInt64.max))
    }

    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        if params.temperature <= 0 {
            let best = Sampler.argmax(logits)
            if recordsDistribution { lastDistribution = [(best, 1)] }  // greedy: all mass on one token
            return best
        }
        candidates.removeAll(keepingCapacity: true)
        // NaN as -inf keeps the sort's ordering strict and the softmax below defined.
        for (i, l) in logits.enumerated() { candidates.append((Int32(i), l.isNaN ? -.infinity : l)) }
        candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        if params.topK > 0, params.topK < candidates.count { candidates.removeLast(candidates.count - params.topK) }
        // Probabilities at temperature 1 for the p filters, as llama.cpp computes them.
        var probs = Sampler.softmax(candidates.map(\.logit))
        if params.topP < 1 {
            var cumulative: Float = 0
            var keep = candidates.count
            for (i, p) in probs.enumerated() {
                cumulative += p
                if cumulative >= params.topP { keep = i + 1; break }
            }
            candidates.removeLast(candidates.count - keep)
            probs.removeLast(probs.count - keep)
        }
        if params.minP > 0, let top = probs.first {
            let keep = max(1, probs.prefix { $0 >= params.minP * top }.count)
            candidates.removeLast(candidates.count - keep)
        }
        let scaled = Sampler.softmax(candidates.map { $0.logit / params.temperature })
        if recordsDistribution { lastDistribution = zip(candidates, scaled).map { ($0.id, $1) } }
        let r = Float(Double(rng.next() >> 11) / Double(1 << 53))
        var cumulative: Float = 0
        for (i, p) in scaled.enumerated() {
            cumulative += p
            if r < cumulative { return candidates[i].id }
        }
        return candidates.last!.id
    }

    /// The id of the largest logit, the lowest id on ties; NaN never wins (it compares false),
    /// so an all-NaN row gives id 0.
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<logits.count where logits[i] > bestValue {
            best = i
            bestValue = logits[i]
        }
        return Int32(best)
    }

    /// Whether any logit is finite. A healthy row answers at its first element, so this costs
    /// nothing per token; only a broken row is scanned to the end.
    public static func hasFiniteValue(_ logits: UnsafeBufferPointer<Float>) -> Bool {
        logits.contains { $0.isFinite }
    }

    /// Softmax of NaN-free values. +inf entries share all the mass and an all -inf row is
    /// uniform, where exp(x - max) would give NaN; finite rows take the plain formula.
    static func softmax(_ x: [Float]) -> [Float] {
        guard let m = x.max() else { return [] }
        if m == .infinity {
            let share = 1 / Float(x.reduce(0) { $1 == .infinity ? $0 + 1 : $0 })
            return x.map { $0 == .infinity ? share : 0 }
        }
        if m == -.infinity { return [Float](repeating: 1 / Float(x.count), count: x.count) }
        let e = x.map { expf($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
}
