import Foundation
import Testing
@testable import ExpertCache

private func tempPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("trace-\(getpid())-\(UUID().uuidString.prefix(6))-\(name)").path
}

private func randomTrace(tokens: Int, layers: Int = 3, experts: Int = 16, k: Int = 2, seed: UInt64) -> RoutingTrace {
    var rng = SplitMix(seed: seed)
    var t = RoutingTrace(layerIDs: Array(0..<layers), expertsPerLayer: experts, topK: k)
    for _ in 0..<tokens {
        try! t.append((0..<layers).map { _ in
            var picked = [Int]()
            while picked.count < k { let e = Int(rng.next() % UInt64(experts)); if !picked.contains(e) { picked.append(e) } }
            return picked
        })
    }
    return t
}

struct SplitMix {
    var s: UInt64
    init(seed: UInt64) { s = seed }
    mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct TraceFileTests {
    @Test func writeThenReadGivesTheSameSequences() throws {
        let path = tempPath("rt.trace")
        let header = TraceHeader(modelName: "test model ü", layerIDs: [0, 1, 2], expertsPerLayer: 16, topK: 2, hasWeights: true)
        let w = try TraceWriter(path: path, header: header)
        let seqs = [randomTrace(tokens: 40, seed: 1), randomTrace(tokens: 0, seed: 2), randomTrace(tokens: 7, seed: 3)]
        for (i, s) in seqs.enumerated() {
            try w.append(domain: ["en", "", "python"][i], routing: s, weights: s.selections.map { Float($0) / 32 })
        }
        #expect(!FileManager.default.fileExists(atPath: path), "the trace appears only when complete")
        try w.close()
        let (h, back) = try TraceReader.read(path: path)
        #expect(h == header)
        #expect(back.map(\.routing) == seqs)
        #expect(back.map(\.domain) == ["en", "", "python"])
        #expect(back[0].weights == seqs[0].selections.map { Float($0) / 32 })
    }

    @Test func nonFiniteWeightsAreRefusedAndTheFileStaysReadable() throws {
        let path = tempPath("nan.trace")
        let header = TraceHeader(modelName: "m", layerIDs: [0, 1, 2], expertsPerLayer: 16, topK: 2, hasWeights: true)
        let w = try TraceWriter(path: path, header: header)
        let good = randomTrace(tokens: 4, seed: 7), bad = randomTrace(tokens: 3, seed: 8)
        try w.append(domain: "a", routing: good, weights: good.selections.map { _ in 0.5 })
        // A corrupt model's routes: NaN weights (the selections themselves are valid).
        #expect(throws: TraceFileError.self) { try w.append(domain: "b", routing: bad, weights: bad.selections.map { _ in Float.nan }) }
        try w.close()
        #expect(try TraceReader.read(path: path).1.map(\.routing) == [good])
    }

    @Test func everyTruncationAndCorruptionIsRejected() throws {
        let path = tempPath("full.trace")
        let w = try TraceWriter(path: path, header: TraceHeader(modelName: "m", layerIDs: [0, 1], expertsPerLayer: 8, topK: 2, hasWeights: false))
        try w.append(domain: "x", routing: randomTrace(tokens: 5, layers: 2, experts: 8, seed: 9))
        try w.close()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        for n in 0..<bytes.count {
            // Cutting exactly between sequences leaves a valid, shorter trace; anything else must fail.
            if let r = try? TraceReader.parse(bytes.prefix(n)) {
                #expect(r.sequences.isEmpty, "prefix \(n) accepted with a partial sequence")
            }
        }
        func corrupt(_ offset: Int, _ value: UInt32, _ fragment: String) {
            var b = [UInt8](bytes)
            withUnsafeBytes(of: value.littleEndian) { for i in 0..<4 { b[offset + i] = $0[i] } }
            do {
                _ = try TraceReader.parse(Data(b))
                Issue.record("corruption at \(offset) accepted")
            } catch {
                #expect("\(error)".contains(fragment), "\(error)")
            }
        }
        corrupt(8, 3, "version 3")
        corrupt(12, 0x10, "flags")
        corrupt(12, 2, "for version 1")   // lookahead guesses need version 2
        corrupt(16, 0, "layers 0")
        corrupt(20, 1 << 20, "experts")
        corrupt(24, 9, "top_k 9")
        corrupt(28, 1 << 30, "name length")
        // An expert id out of range (ids start after header 33 + 8 + tag 4 + domain 2+1 + tokens 4).
        var b = [UInt8](bytes)
        b[52] = 200
        #expect(throws: TraceFileError.self) { try TraceReader.parse(Data(b)) }
    }

    @Test func lookaheadGuessesRoundTripAndBadGuessesAreRefused() throws {
        let path = tempPath("la.trace")
        let header = TraceHeader(modelName: "m", layerIDs: [0, 1, 2], expertsPerLayer: 16, topK: 2, hasWeights: false, hasLookahead: true)
        let w = try TraceWriter(path: path, header: header)
        var seq = randomTrace(tokens: 9, seed: 11)
        let guesses = randomTrace(tokens: 9, seed: 12).selections.enumerated().map { i, g in (i / 2) % 3 == 0 ? -1 : g }
        try seq.attachLookahead(guesses)
        try w.append(domain: "d", routing: seq)
        #expect(throws: TraceFileError.self) { try w.append(domain: "no guesses", routing: randomTrace(tokens: 2, seed: 13)) }
        try w.close()
        let (h, back) = try TraceReader.read(path: path)
        #expect(h == header)
        #expect(back.map(\.routing) == [seq])
        #expect(back[0].routing.guessed(token: 0, layerIndex: 0) == nil)
        let step = (4 * 3 + 1) * 2   // token 4, layer index 1, k = 2
        #expect(back[0].routing.guessed(token: 4, layerIndex: 1).map(Array.init) == Array(guesses[step..<step + 2]))

        var bad = randomTrace(tokens: 1, seed: 14)
        #expect(throws: RoutingTrace.TraceError.self) { try bad.attachLookahead([3, 3, 0, 1, -1, -1]) }   // repeated expert
        #expect(throws: RoutingTrace.TraceError.self) { try bad.attachLookahead([16, 0, 0, 1, -1, -1]) }  // out of range
        #expect(throws: RoutingTrace.TraceError.self) { try bad.attachLookahead([-1, 2, 0, 1, -1, -1]) }  // half a guess
        #expect(throws: RoutingTrace.TraceError.self) { try bad.attachLookahead([0, 1]) }                 // wrong count
        // A guess id out of range in the file is corruption, named by the reader.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count - 2] = 0x20; bytes[bytes.count - 1] = 0
        #expect(throws: TraceFileError.self) { try TraceReader.parse(Data(bytes)) }
    }

    @Test func staticProfileIsLearnedOnTheTrainSplitOnly() {
        // Train sequence always picks {0, 1}; test sequence always picks {2, 3}: a profile learned on
        // the train half must miss everything at capacity 2, and Belady must beat it.
        var train = RoutingTrace(layerIDs: [0], expertsPerLayer: 8, topK: 2)
        var test = RoutingTrace(layerIDs: [0], expertsPerLayer: 8, topK: 2)
        for _ in 0..<20 { try! train.append([[0, 1]]); try! test.append([[2, 3]]) }
        let a = TraceAnalysis.analyze([train, test], capacityMultiples: [1, 2], segments: [4])
        #expect(a.capacities == [2, 4])
        #expect(a.staticProfile.hitRates[0] == 0)
        #expect(a.trainSequences == 1)
        // LRU at capacity 2: 4 compulsory misses out of 80 accesses.
        #expect(a.curves.first { $0.policy == "lru" }!.hitRates[0] == 76.0 / 80.0)
        #expect(a.uniformExpectation == [0.25, 0.5])
        #expect(a.verdict.contains("online policy"))
        #expect(a.utilisation[0].counts == [20, 20, 20, 20, 0, 0, 0, 0])
    }
}
