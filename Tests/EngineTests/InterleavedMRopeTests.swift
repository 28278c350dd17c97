import Testing
@testable import Engine
import GGUF

/// Qwen3.5's interleaved M-RoPE for text: which pairs rotate, against ggml_mrope_cache_init's
/// branches written out (is_imrope: sector % 3 picks t / h / w below 3 x that section, else
/// the 4th section, whose text position is 0).
@Suite struct InterleavedMRopeTests {
    /// The position ggml gives pair `i` of a text token at `p` (t = h = w = p, e = 0).
    func ggmlPosition(pair i: Int, sections s: [Int], p: Int) -> Int {
        let sector = i % s.reduce(0, +)
        if sector % 3 == 1 && sector < 3 * s[1] { return p }       // theta_h
        if sector % 3 == 2 && sector < 3 * s[2] { return p }       // theta_w
        if sector % 3 == 0 && sector < 3 * s[0] { return p }       // theta_t
        return 0                                                   // theta_e
    }

    func file(sections: [Int]) throws -> GGUFFile {
        var spec = SyntheticModelSpec.preset("tiny", architecture: "qwen35moe")!
        spec.seed = 2
        let path = tempModelPath("imrope-base.gguf"), variant = tempModelPath("imrope-\(sections).gguf")
        try SyntheticModel.write(spec, to: path)
        try rewriteGGUF(path, to: variant, set: [("qwen35moe.rope.dimension_sections", .array(.int32, sections.map { .int32(Int32($0)) }))])
        return try GGUFFile(path: variant)
    }

    @Test func rotatedPairsFollowGgmlsSectorRule() throws {
        // Qwen3.5's own sections cover all 32 pairs; the others leave some to the 4th section.
        let cases: [([Int], Int)] = [([11, 11, 10, 0], 32), ([6, 6, 4, 0], 16), ([3, 3, 2, 0], 8), ([5, 2, 1, 0], 8),
                                     ([2, 2, 2, 2], 16), ([4, 0, 3, 1], 8)]
        for (sections, pairs) in cases {
            let got = try #require(try InterleavedMRope.rotatedPairs(try file(sections: sections), key: "qwen35moe.rope.dimension_sections", pairs: pairs))
            let expected = (0..<pairs).map { ggmlPosition(pair: $0, sections: sections, p: 7) == 7 }
            #expect(got == expected, "sections \(sections)")
        }
        #expect(try InterleavedMRope.rotatedPairs(try file(sections: [11, 11, 10, 0]), key: "qwen35moe.rope.dimension_sections", pairs: 32)!.allSatisfy { $0 })
        #expect(try InterleavedMRope.rotatedPairs(try file(sections: [6, 6, 4, 0]), key: "qwen35moe.rope.dimension_sections", pairs: 16)!
            .enumerated().filter { !$0.element }.map(\.offset) == [14])
    }

    /// An unrotated pair's factor makes the RoPE table cos 1, sin 0 at every position, as
    /// position 0 does in ggml; the others are untouched.
    @Test func unrotatedPairsGetAnIdentityRotation() throws {
        let rotated = [true, true, false, true, false, true, true, true]
        let factors = try #require(InterleavedMRope.frequencyFactors(rotated: rotated))
        #expect(InterleavedMRope.frequencyFactors(rotated: rotated) == factors)
        #expect(InterleavedMRope.frequencyFactors(rotated: Array(repeating: true, count: 8)) == nil)
        var withFactors = [Float](repeating: .nan, count: 16), plain = withFactors
        for p in [1, 37, 4000] {
            Ops.ropeTable(position: p, ropeDim: 16, base: 10_000, freqFactors: factors, into: &withFactors)
            Ops.ropeTable(position: p, ropeDim: 16, base: 10_000, into: &plain)
            for i in 0..<8 {
                if rotated[i] {
                    #expect(withFactors[2 * i] == plain[2 * i] && withFactors[2 * i + 1] == plain[2 * i + 1])
                } else {
                    #expect(withFactors[2 * i] == 1 && withFactors[2 * i + 1] == 0, "pair \(i) at \(p)")
                }
            }
        }
    }

    @Test func badSectionsAreRefusedNamingTheKey() throws {
        for bad in [[40, 0, 0, 0], [0, 0, 0, 0]] {
            #expect { try MoEModel(file: try file(sections: bad)) } throws: { "\($0)".contains("rope.dimension_sections") }
        }
    }
}
