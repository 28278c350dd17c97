import Engine
import Foundation

/// The physical bound on decode speed: every decoded token reads the dense weights once and
/// the weights of its top-k experts in every layer, so tokens/s cannot exceed memory bandwidth
/// divided by those bytes. `hotmoe bench --memory-bound` prints it next to the measured speed.
enum MemoryBound {
    /// Bytes one decode step reads: per layer the mixer's projections, router, shared expert
    /// and top-k experts, the recurrent state of DeltaNet layers (read and written), the output
    /// matrix and one embedding row (norm vectors are negligible and left out).
    static func bytesPerToken(_ m: MoEModel) -> Int {
        let w = m.weights, k = m.config.expertsUsed
        var bytes = w.output.byteCount + w.tokenEmbedding.rowBytes
        for (i, l) in w.layers.enumerated() {
            bytes += l.denseMatrices.reduce(0) { $0 + $1.byteCount }
            bytes += k * w.expertBytes(layer: i)
        }
        // DeltaNet layers read and write their recurrent state once per token.
        return bytes + 2 * RecurrentState.bytes(config: m.config, checkpoints: 0)
    }

    /// Copy bandwidth in STREAM's convention (bytes read + bytes written per second) and read
    /// bandwidth (bytes summed per second), `threads` threads each on its share of a 512 MiB
    /// buffer, best of `repetitions`. Decoding streams weights in, so the read figure is the bound.
    static func bandwidth(threads: Int, repetitions: Int = 5) -> (copy: Double, read: Double) {
        let size = 512 << 20
        let src = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { src.deallocate(); dst.deallocate() }
        memset(src, 1, size)
        memset(dst, 0, size)  // fault every page in before timing
        let pool = WorkerPool(threads: threads)
        let part = size / threads
        var copy = 0.0, read = 0.0
        let sums = UnsafeMutablePointer<UInt32>.allocate(capacity: threads)
        defer { sums.deallocate() }
        for _ in 0..<repetitions {
            var t0 = ContinuousClock.now
            pool.run(threads) { i in memcpy(dst + i * part, src + i * part, part) }
            copy = max(copy, Double(2 * part * threads) / (ContinuousClock.now - t0).seconds)
            t0 = ContinuousClock.now
            pool.run(threads) { i in
                let v = (src + i * part).assumingMemoryBound(to: SIMD8<UInt32>.self)
                var a = SIMD8<UInt32>(), b = SIMD8<UInt32>()
                for j in stride(from: 0, to: part / 32, by: 2) { a &+= v[j]; b &+= v[j + 1] }
                sums[i] = (a &+ b).wrappedSum()  // kept, so the loads are not optimised away
            }
            read = max(read, Double(part * threads) / (ContinuousClock.now - t0).seconds)
        }
        return (copy, read)
    }
}
