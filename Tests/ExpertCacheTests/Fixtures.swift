import Foundation
@testable import ExpertCache

/// Builds a layout or fails the test loudly (layouts in tests are always valid).
func layout(layers: Int = 3, experts: Int = 8, topK: Int = 2, bytes: Int = 100) -> ModelExpertLayout {
    try! ModelExpertLayout(layerCount: layers, expertsPerLayer: experts, topK: topK, bytesPerExpert: bytes)
}

func decode(_ json: String, layout: ModelExpertLayout? = nil) throws(ProfileError) -> PerfProfile {
    try PerfProfile.decode(Data(json.utf8), layout: layout)
}

func ids(_ scored: [ScoredExpert]) -> [String] { scored.map { "L\($0.id.layer)E\($0.id.expert)" } }

/// trace([[[0,1]], [[1,2]]]) = 2 tokens, 1 layer, k=2.
func trace(_ tokens: [[[Int]]], experts: Int, topK: Int) -> RoutingTrace {
    var t = RoutingTrace(layerIDs: Array(0..<(tokens.first?.count ?? 1)), expertsPerLayer: experts, topK: topK)
    for tok in tokens { try! t.append(tok) }
    return t
}

/// Small deterministic generator (SplitMix64) so random tests are reproducible by seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random trace with a skewed expert popularity so caches have something to learn.
func randomTrace(seed: UInt64, tokens: Int, layers: Int, experts: Int, topK: Int) -> RoutingTrace {
    var rng = SplitMix64(seed: seed)
    var t = RoutingTrace(layerIDs: Array(0..<layers), expertsPerLayer: experts, topK: topK)
    for _ in 0..<tokens {
        var perLayer: [[Int]] = []
        for _ in 0..<layers {
            var chosen: [Int] = []
            while chosen.count < topK {
                // Square of a uniform draw favours low ids.
                let u = Double(rng.next() % 1_000_000) / 1_000_000
                let x = min(experts - 1, Int(u * u * Double(experts)))
                if !chosen.contains(x) { chosen.append(x) }
            }
            perLayer.append(chosen)
        }
        try! t.append(perLayer)
    }
    return t
}
