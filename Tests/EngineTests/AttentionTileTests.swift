import CKernels
import Foundation
import Testing
@testable import Engine

/// A batch's attention in tiles (hm_attend_ggml_kv_tile: several queries of one KV head walk
/// the rows block by block together) against one hm_attend_ggml_kv call per query, batched
/// order: bit-identical for every key / value type pair, with rows strided as in the cache
/// (several KV heads per row), sliding windows, sinks and ranges that end inside a block.
struct AttentionTileTests {
    static let pairs: [(KVCacheType, KVCacheType)] = KVCacheType.allCases.flatMap { k in KVCacheType.allCases.map { (k, $0) } }

    func uniform(_ n: Int, _ rng: inout SeededGenerator, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in scale * Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) }
    }

    /// Rows of `heads` KV heads, each head's part stored in `type` (as KVCache lays them out).
    func cacheRows(_ type: KVCacheType, _ x: [Float], positions: Int, heads: Int, dim: Int) -> [UInt8] {
        let headBytes = type.rowBytes(dim)
        var bytes = [UInt8](repeating: 0, count: positions * heads * headBytes)
        for p in 0..<positions {
            for h in 0..<heads {
                let src = Array(x[((p * heads + h) * dim)..<((p * heads + h + 1) * dim)])
                bytes.withUnsafeMutableBytes { hm_kv_store_row(type.kernelCode, src, $0.baseAddress! + (p * heads + h) * headBytes, Int64(dim)) }
            }
        }
        return bytes
    }

    @Test(arguments: pairs.indices) func tilesAreBitIdenticalToOneCallPerQuery(pair: Int) {
        let (kType, vType) = Self.pairs[pair]
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededGenerator(seed: seed)
        let headDim = 64, valueDim = 32, kvHeads = 2, n = 203, scale = 1 / Float(headDim).squareRoot()
        let keys = cacheRows(kType, uniform(n * kvHeads * headDim, &rng, scale: 2), positions: n, heads: kvHeads, dim: headDim)
        let values = cacheRows(vType, uniform(n * kvHeads * valueDim, &rng), positions: n, heads: kvHeads, dim: valueDim)
        let kStride = kvHeads * kType.rowBytes(headDim), vStride = kvHeads * vType.rowBytes(valueDim)
        let sinks = uniform(8, &rng, scale: 3)
        for window in [0, 50] {
            for withSinks in [false, true] {
                // Eight queries (two tokens of four heads) on KV head 1, the last at position n-1, the
                // other token's ranges ending in an earlier block.
                let count = 8
                let queries = (0..<count).map { _ in uniform(headDim, &rng, scale: 2) }
                let positions = (0..<count).map { n - 1 - 61 * ($0 / 4) }
                let firsts = positions.map { Attention.firstVisible(position: $0, window: window) }
                var want = [[Float]](repeating: [], count: count)
                var outs = [Float](repeating: .nan, count: count * valueDim)
                keys.withUnsafeBytes { k in
                    values.withUnsafeBytes { v in
                        let kHead = k.baseAddress! + kType.rowBytes(headDim), vHead = v.baseAddress! + vType.rowBytes(valueDim)
                        for i in 0..<count {
                            var out = [Float](repeating: .nan, count: valueDim), scores = [Float](repeating: .nan, count: 208)
                            var acc = [Float](repeating: .nan, count: 64 * valueDim), qScratch = [UInt8](repeating: 0, count: 2 * headDim)
                            sinks.withUnsafeBufferPointer { sp in
                                hm_attend_ggml_kv(queries[i], kHead, kType.kernelCode, Int64(kStride), vHead, vType.kernelCode,
                                                  Int64(vStride), Int64(firsts[i]), Int64(positions[i] + 1), Int64(headDim),
                                                  Int64(valueDim), scale, 1, withSinks ? sp.baseAddress! + i : nil, &scores,
                                                  &acc, &qScratch, &out)
                            }
                            want[i] = out
                        }
                        // Scratch rows as Attention lays them out, filled with NaN so a read of an unwritten cell shows.
                        let accOffset = 208, queryOffset = accOffset + 64 * valueDim, rowFloats = queryOffset + headDim
                        var scratch = [Float](repeating: .nan, count: count * rowFloats)
                        var block = [Float](repeating: .nan, count: Int(HM_KV_TILE_ROWS) * max(headDim, valueDim))
                        let qFlat = queries.flatMap { $0 }
                        qFlat.withUnsafeBufferPointer { qp in
                            outs.withUnsafeMutableBufferPointer { op in
                                sinks.withUnsafeBufferPointer { sp in
                                    let tile = (0..<count).map { i in
                                        hm_attention_query(q: qp.baseAddress! + i * headDim, out: op.baseAddress! + i * valueDim,
                                                           first: Int64(firsts[i]), n: Int64(positions[i] + 1),
                                                           sink: withSinks ? sp.baseAddress! + i : nil)
                                    }
                                    hm_attend_ggml_kv_tile(tile, Int32(count), kHead, kType.kernelCode, Int64(kStride), vHead,
                                                           vType.kernelCode, Int64(vStride), Int64(headDim), Int64(valueDim), scale,
                                                           &scratch, Int64(rowFloats), Int64(accOffset), Int64(queryOffset), &block)
                                }
                            }
                        }
                    }
                }
                for i in 0..<count {
                    let got = Array(outs[(i * valueDim)..<((i + 1) * valueDim)])
                    let finite = got.allSatisfy { $0.isFinite }
                    #expect(finite, "K \(kType) V \(vType) query \(i): non-finite seed=\(seed)")
                    #expect(got.map(\.bitPattern) == want[i].map(\.bitPattern),
                            "K \(kType) V \(vType) window \(window) sinks \(withSinks) query \(i) seed=\(seed)")
                }
            }
        }
    }
}
