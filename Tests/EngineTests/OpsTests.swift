import Foundation
import Testing
@testable import Engine

private func randomFloats(_ n: Int, _ rng: inout SeededGenerator, scale: Float = 1) -> [Float] {
    (0..<n).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) * scale }
}

@Test func rmsNormMatchesFloat64Reference() {
    var rng = SeededGenerator(seed: UInt64.random(in: 0...UInt64.max))
    for n in [1, 7, 64, 1000] {
        let x = randomFloats(n, &rng, scale: 3), w = randomFloats(n, &rng)
        var y = [Float](repeating: 0, count: n)
        Ops.rmsNorm(x, w, &y, count: n, eps: 1e-6)
        let ms = x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(n)
        for i in 0..<n {
            let ref = Double(x[i]) / (ms + 1e-6).squareRoot() * Double(w[i])
            #expect(abs(Double(y[i]) - ref) <= 1e-5 * max(1, abs(ref)))
        }
    }
}

@Test(arguments: [RopeStyle.norm, .neox])
func ropeMatchesFloat64Reference(style: RopeStyle) {
    var rng = SeededGenerator(seed: UInt64.random(in: 0...UInt64.max))
    let heads = 3, headDim = 16, ropeDim = 12, base: Float = 10000
    for position in [0, 1, 17, 300] {
        let x = randomFloats(heads * headDim, &rng)
        var y = x
        var table = [Float](repeating: 0, count: ropeDim)
        Ops.ropeTable(position: position, ropeDim: ropeDim, base: base, into: &table)
        Ops.rope(&y, heads: heads, headDim: headDim, ropeDim: ropeDim, style: style, cosSin: table)
        for h in 0..<heads {
            for i in 0..<(ropeDim / 2) {
                let theta = Double(position) * pow(Double(base), -2 * Double(i) / Double(ropeDim))
                let (a, b) = style == .norm ? (2 * i, 2 * i + 1) : (i, i + ropeDim / 2)
                let x0 = Double(x[h * headDim + a]), x1 = Double(x[h * headDim + b])
                #expect(abs(Double(y[h * headDim + a]) - (x0 * cos(theta) - x1 * sin(theta))) < 2e-4)
                #expect(abs(Double(y[h * headDim + b]) - (x0 * sin(theta) + x1 * cos(theta))) < 2e-4)
            }
            // Dimensions past ropeDim are left alone.
            for i in ropeDim..<headDim { #expect(y[h * headDim + i] == x[h * headDim + i]) }
        }
    }
}

@Test func simdDotMatchesFloat64Reference() {
    var rng = SeededGenerator(seed: UInt64.random(in: 0...UInt64.max))
    for n in [1, 7, 15, 16, 17, 64, 100, 1031] {
        let a = randomFloats(n, &rng, scale: 2), b = randomFloats(n, &rng, scale: 2)
        let ref = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let bound = zip(a, b).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) } * 1e-6
        #expect(abs(Double(Ops.dot(a, b, count: n)) - ref) <= bound)
    }
}

@Test func routerPicksTopKAndNormalises() {
    var rng = SeededGenerator(seed: UInt64.random(in: 0...UInt64.max))
    for _ in 0..<50 {
        let e = 16, k = 4
        let logits = randomFloats(e, &rng, scale: 4)
        for normalize in [true, false] {
            var work = logits
            var experts = [Int32](repeating: -1, count: k), weights = [Float](repeating: 0, count: k)
            Router.route(logits: &work, expertCount: e, k: k, normalize: normalize, experts: &experts, weights: &weights)
            let m = logits.max()!
            let exps = logits.map { exp(Double($0 - m)) }
            let z = exps.reduce(0, +)
            let order = (0..<e).sorted { exps[$0] > exps[$1] }
            #expect(experts.map(Int.init) == Array(order.prefix(k)))
            let picked = order.prefix(k).map { exps[$0] / z }
            let norm = normalize ? picked.reduce(0, +) : 1
            for s in 0..<k { #expect(abs(Double(weights[s]) - picked[s] / norm) < 1e-5) }
        }
    }
}

@Test func workerPoolSplitCoversEveryIndexOnce() {
    for total in [0, 1, 5, 16, 17, 1000] {
        for parts in [1, 2, 3, 8] {
            for g in [1, 4, 16] {
                let ranges = WorkerPool.split(total, parts: parts, granularity: g)
                #expect(ranges.flatMap { Array($0) } == Array(0..<total))
                #expect(ranges.count <= parts)
                for r in ranges.dropLast() { #expect(r.upperBound % g == 0) }
            }
        }
    }
    let pool = WorkerPool(threads: 2)
    let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: 100)
    hits.initialize(repeating: 0)
    defer { hits.deallocate() }
    pool.forRanges(100, granularity: 3) { r in for i in r { hits[i] += 1 } }
    #expect(hits.allSatisfy { $0 == 1 })
}

@Test(arguments: [2, 3, 4])
func workerPoolRunsEveryTaskExactlyOnceUnderStress(threads: Int) {
    let pool = WorkerPool(threads: threads)
    let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: 512)
    defer { counts.deallocate() }
    var rng = SeededGenerator(seed: UInt64.random(in: 0...UInt64.max))
    for round in 0..<3000 {
        let n = Int(rng.next() % 300) + 1
        counts.initialize(repeating: 0)
        pool.run(n) { i in
            counts[i] += 1
            // A nested region runs inline and must not deadlock.
            if i == 0 && round % 7 == 0 { pool.run(3) { _ in } }
        }
        #expect(counts.prefix(n).allSatisfy { $0 == 1 } && counts.dropFirst(n).allSatisfy { $0 == 0 }, "round \(round)")
        if round % 500 == 0 { usleep(1000) }  // let workers fall asleep and be woken again
    }
}

@Test func samplerIsReproducibleAndRespectsFilters() throws {
    var rng = SeededGenerator(seed: 42)
    let logits = randomFloats(100, &rng, scale: 5)
    let sorted = (0..<100).sorted { logits[$0] > logits[$1] }
    func draws(_ p: SamplingParams, _ n: Int = 300) -> [Int32] {
        var s = Sampler(p)
        return logits.withUnsafeBufferPointer { buf in (0..<n).map { _ in s.sample(buf) } }
    }
    let p = SamplingParams(temperature: 1, topK: 5, topP: 1, minP: 0, seed: 9)
    #expect(draws(p) == draws(p))
    #expect(Set(draws(p)).isSubset(of: Set(sorted.prefix(5).map(Int32.init))))
    #expect(Set(draws(p)).count > 1)
    #expect(draws(.greedy, 3) == [Int32(sorted[0]), Int32(sorted[0]), Int32(sorted[0])])
    let minP = SamplingParams(temperature: 1, topK: 0, topP: 1, minP: 0.5, seed: 3)
    let m = logits.max()!
    for t in Set(draws(minP)) { #expect(exp(logits[Int(t)] - m) >= 0.5) }
    #expect(throws: SamplingError.self) { try SamplingParams(temperature: -1).validate() }
    #expect(throws: SamplingError.self) { try SamplingParams(topP: 0).validate() }
}
