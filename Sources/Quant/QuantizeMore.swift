// ggml's reference quantisers of Q4_1, Q5_1, Q5_0 and MXFP4 (quantize_row_*_ref), same float
// operations in the same order, so llama.cpp reads the blocks exactly as written.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Quantize {
    /// Packs 32 unsigned quants (< 2^bits) as a Q4_1 (bits 4) or Q5_1/Q5_0 nibble array at
    /// `qs`, with the fifth bits at `qh` when bits == 5.
    @inline(__always)
    static func pack32(_ q: (Int) -> Int, _ y: UnsafeMutableRawPointer, qs: Int, qh: Int?) {
        var high: UInt32 = 0
        for j in 0..<16 {
            let q0 = q(j), q1 = q(j + 16)
            y.storeBytes(of: UInt8((q0 & 0xf) | (q1 & 0xf) << 4), toByteOffset: qs + j, as: UInt8.self)
            high |= UInt32((q0 >> 4) & 1) << UInt32(j) | UInt32((q1 >> 4) & 1) << UInt32(j + 16)
        }
        if let qh { y.storeBytes(of: high, toByteOffset: qh, as: UInt32.self) }
    }

    /// `quantize_row_q4_1_ref` / `quantize_row_q5_1_ref`: d = (max - min) / (2^bits - 1), m = min.
    static func minMax32(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, bits: Int) {
        var min = Float.greatestFiniteMagnitude, max = -Float.greatestFiniteMagnitude
        for j in 0..<32 {
            if x[j] < min { min = x[j] }
            if x[j] > max { max = x[j] }
        }
        let nmax = (1 << bits) - 1
        let d = (max - min) / Float(nmax)
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(y, Q4_1.d, d)
        storeHalf(y, Q4_1.m, min)
        // C truncates (x - min) * id + 0.5 toward zero; Q4_1 caps at 15, Q5_1 keeps the low 5 bits.
        let q = { (j: Int) in Swift.min(nmax, Int(clampInt8((x[j] - min) * id + 0.5))) }
        if bits == 4 {
            pack32(q, y, qs: Q4_1.qs, qh: nil)
        } else {
            pack32(q, y, qs: Q5_1.qs, qh: Q5_1.qh)
        }
    }

    /// `quantize_row_q5_0_ref`: d = max / -16 where max is the signed value of largest magnitude.
    static func q5_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let (_, max) = firstAbsMax(x, 32)
        let d = max / -16
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(y, Q5_0.d, d)
        pack32({ j in Swift.min(31, Int(clampInt8(x[j] * id + 16.5))) }, y, qs: Q5_0.qs, qh: Q5_0.qh)
    }

    /// `quantize_row_mxfp4_ref`: a power-of-two scale from the largest magnitude, then the
    /// nearest code-book value per element (first index wins ties).
    static func mxfp4(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let (amax, _) = firstAbsMax(x, 32)
        let e = amax > 0 ? Int(UInt8(truncatingIfNeeded: Int(log2(amax).rounded(.down) - 2 + 127))) : 0
        let d = e8m0Half(e)
        y.storeBytes(of: UInt8(e), toByteOffset: MXFP4.e, as: UInt8.self)
        let q = { (j: Int) -> Int in
            var best = 0
            var bestErr = abs(Float(mxfp4Values[0]) * d - x[j])
            for i in 1..<16 {
                let err = abs(Float(mxfp4Values[i]) * d - x[j])
                if err < bestErr {
                    best = i
                    bestErr = err
                }
            }
            return best
        }
        pack32(q, y, qs: MXFP4.qs, qh: nil)
    }
}
