// QuantizedActivations value semantics and reuse.
import Testing
@testable import Quant

@Suite struct ActivationsTests {
    @Test func vecDotTypesFollowGgmlCpu() {
        #expect(GGMLType.f32.vecDotType == .f32)
        #expect(GGMLType.f16.vecDotType == .f16)
        #expect(GGMLType.bf16.vecDotType == .bf16)
        #expect([GGMLType.q8_0, .q4_0, .q5_0, .iq4_nl, .mxfp4].allSatisfy { $0.vecDotType == .q8_0 })
        #expect([GGMLType.q4_1, .q5_1].allSatisfy { $0.vecDotType == .q8_1 })
        #expect([GGMLType.q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs].allSatisfy { $0.vecDotType == .q8_K })
        #expect(GGMLType.q8_K.vecDotType == nil && GGMLType.i8.vecDotType == nil)
        // ggml's type ids (ggml.h), which are part of the file format.
        #expect([GGMLType.q4_1, .q5_0, .q5_1, .iq4_nl, .iq4_xs, .mxfp4, .q2_K, .q3_K].map(\.rawValue) == [3, 6, 7, 20, 23, 39, 10, 11])
        #expect([GGMLType.iq4_nl, .iq4_xs, .mxfp4].map(\.typeSize) == [18, 136, 17])
        // The grid formats (gguf-py's GGMLQuantizationType and GGML_QUANT_SIZES): 256 per block.
        #expect(gridTypes.allSatisfy { $0.vecDotType == .q8_K && $0.blockSize == 256 && $0.isComputeSupported && $0.isQuantizeSupported })
        #expect(gridTypes.map(\.rawValue) == [16, 17, 22, 18, 21, 19, 29])
        #expect(gridTypes.map(\.typeSize) == [66, 74, 82, 98, 110, 50, 56])
        #expect(gridTypes.map(\.description) == ["IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"])
    }

    /// Copies share storage until written; writing a copy leaves the original intact.
    @Test func copyOnWrite() {
        var (rng, seed) = freshRNG()
        let x = gaussian(512, &rng), z = gaussian(512, &rng)
        var a = activations(for: .q4_K, x, count: 512)
        let before = activationBytes(a, token: 0)
        var b = a
        z.withUnsafeBufferPointer { b.quantize($0.baseAddress!, token: 0) }
        #expect(activationBytes(a, token: 0) == before, "seed=\(seed)")
        #expect(activationBytes(b, token: 0) != before, "seed=\(seed)")
        x.withUnsafeBufferPointer { a.quantize($0.baseAddress!, token: 0) }
        #expect(activationBytes(a, token: 0) == before)
    }

    /// Tokens are independent rows; a resized value gives the same bytes as a fresh one; one
    /// Q8_K activation set serves Q4_K, Q5_K and Q6_K weights alike.
    @Test func tokensResizeAndSharedFormats() {
        var (rng, seed) = freshRNG()
        let x = gaussian(3 * 768, &rng)
        var act = QuantizedActivations(type: .q4_K, count: 256, tokens: 1)
        act.resize(count: 768, tokens: 3)
        x.withUnsafeBufferPointer { p in
            for t in [2, 0, 1] { act.quantize(p.baseAddress! + t * 768, token: t) }
        }
        let fresh = activations(for: .q6_K, x, count: 768)
        for t in 0..<3 {
            #expect(activationBytes(act, token: t) == activationBytes(fresh, token: t), "token \(t) seed=\(seed)")
            let single = activations(for: .q4_K, Array(x[t * 768..<(t + 1) * 768]), count: 768)
            #expect(activationBytes(act, token: t) == activationBytes(single, token: 0))
        }
        for type in [GGMLType.q4_K, .q5_K, .q6_K] {
            let w = randomBlocks(type, count: 768 * 2, &rng)
            let viaShared = runMatmul(type, w, rows: 0..<2, cols: 768, act, tokens: 3, outStride: 2)
            let viaOwn = runMatmul(type, w, rows: 0..<2, cols: 768, fresh, tokens: 3, outStride: 2)
            #expect(viaShared == viaOwn, "\(type) seed=\(seed)")
        }
        act.resize(count: 256, tokens: 2)  // shrinking reuses the buffer
        #expect(act.rowBytes == 292 && act.tokens == 2)
    }
}
