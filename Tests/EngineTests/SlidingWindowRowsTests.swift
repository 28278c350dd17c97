import Foundation
import Testing
@testable import Engine

/// Sliding-window layers keeping only their window (the default, as llama.cpp) against
/// keeping every position (--swa-full): the same bits everywhere, fewer bytes, and a rewind
/// or a saved state that the window rows cannot serve is refused or starts over.
@Suite struct SlidingWindowRowsTests {
    /// Tiny models with a window of 8: gemma4 (with and without shared-KV layers) and gpt-oss.
    static let models = ["gemma4", "gemma4-shared", "gpt-oss"]

    func model(_ name: String) throws -> MoEModel {
        var spec = SyntheticModelSpec.preset("tiny", architecture: name == "gemma4-shared" ? "gemma4" : name)!
        spec.seed = 29
        if name == "gemma4-shared" { spec.sharedKVLayers = 3 }
        let path = tempModelPath("window-rows-\(name).gguf")
        try SyntheticModel.write(spec, to: path)
        return try MoEModel(path: path)
    }

    func prompt(_ m: MoEModel, _ n: Int, salt: Int = 0) -> [Int32] {
        (0..<n).map { Int32(($0 * 31 + 7 + salt) % m.config.vocabSize) }
    }

    func session(_ m: MoEModel, _ rows: SlidingWindowRows, maxBatch: Int) -> InferenceSession {
        InferenceSession(model: m, contextSize: 1024, maxBatch: maxBatch, threads: 2, cacheTypes: .commandLineDefault,
                         slidingWindow: rows)
    }

    /// Every position's logits of a 600-token prompt (the rows slide many times) and of 80
    /// decode steps after it (which slide them again) are bit for bit those of full rows, at two batch sizes.
    @Test(arguments: models, [4, 7])
    func windowRowsGiveTheBitsOfFullRows(name: String, maxBatch: Int) throws {
        let m = try model(name)
        let window = session(m, .window, maxBatch: maxBatch), full = session(m, .full, maxBatch: maxBatch)
        #expect(window.cache.windowLength == 8 && window.cache.windowRows == KVCache.windowRowCount(window: 8, maxBatch: maxBatch))
        #expect(full.cache.windowLength == 0 && full.cache.windowRows == 1024)
        let p = prompt(m, 600)
        #expect(Array(try window.forward(p, logits: .all)) == Array(try full.forward(p, logits: .all)))
        #expect(window.cache.windowOrigin >= 512, "the window rows never slid (origin \(window.cache.windowOrigin))")
        for step in 0..<80 {
            let t = Int32((step * 13 + 3) % m.config.vocabSize)
            let a = Array(try window.forward(token: t)), b = Array(try full.forward(token: t))
            #expect(a == b, "decode step \(step) at \(window.position), origin \(window.cache.windowOrigin): \(zip(a, b).filter { $0 != $1 }.count) of \(a.count) differ")
        }
        #expect(window.cache.bytes < full.cache.bytes)
        #expect(kvCacheBytes(config: m.config, capacity: 1024, types: .commandLineDefault, slidingWindow: .window, maxBatch: maxBatch)
            == window.cache.bytes)
        #expect(kvCacheBytes(config: m.config, capacity: 1024, types: .commandLineDefault, slidingWindow: .full) == full.cache.bytes)
    }

    /// A rewind to a position whose window is still held keeps it; one further back starts
    /// over at 0 (full rows keep it). Either way the next tokens see the same context.
    @Test(arguments: models)
    func rewindKeepsWhatTheWindowHolds(name: String) throws {
        let m = try model(name)
        let window = session(m, .window, maxBatch: 4), full = session(m, .full, maxBatch: 4)
        let p = prompt(m, 400)
        _ = try window.forward(p); _ = try full.forward(p)
        #expect(window.rewind(to: 397) == 397 && full.rewind(to: 397) == 397)
        let more = prompt(m, 9, salt: 5)
        #expect(Array(try window.forward(more, logits: .all)) == Array(try full.forward(more, logits: .all)))
        #expect(window.rewind(to: 30) == 0)
        #expect(full.rewind(to: 30) == 30)
        _ = try window.forward(Array(p[..<30]))
        #expect(Array(try window.forward(more, logits: .all)) == Array(try full.forward(more, logits: .all)))
    }

    /// A saved state holds the last window of the windowed layers: restored, decoding goes on
    /// with the same bits; a slot keeping full rows refuses it and says why.
    @Test(arguments: models)
    func savedStateHoldsTheWindow(name: String) throws {
        let m = try model(name)
        let a = session(m, .window, maxBatch: 4)
        let p = prompt(m, 300)
        _ = try a.forward(p)
        let data = try SessionState.encode(a, tokens: p)
        let want = Array(try a.forward(token: 9))
        let b = session(m, .window, maxBatch: 7)
        #expect(try SessionState.decode(data, into: b) == p)
        #expect(b.cache.windowOrigin == 256)  // 300 - 7, down to a multiple of 64
        #expect(Array(try b.forward(token: 9)) == want)
        let full = session(m, .full, maxBatch: 4)
        #expect { try SessionState.decode(data, into: full) } throws: { "\($0)".contains("--swa-full") }
        // A state for fewer tokens than the window rows still reach back to is refused.
        #expect { try SessionState.encode(a, tokens: Array(p[..<20])) } throws: { "\($0)".contains("sliding-window rows") }
    }
}
