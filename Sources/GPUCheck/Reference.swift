import CUDA
import Foundation
import Quant

/// A weight matrix in GGUF layout with its exact dequantized values, the float64 references'
/// input: the GPU must reproduce the dot products of what the file holds.
public struct EncodedMatrix {
    public let format: GPUWeightFormat
    public let rows: Int
    public let cols: Int
    public let bytes: [UInt8]
    public let values: [Float]

    public var rowBytes: Int { bytes.count / rows }

    public init(format: GPUWeightFormat, rows: Int, cols: Int, random: inout SeededRandom) {
        let type = GGMLType(rawValue: format.ggmlType)!
        let rowBytes = type.byteCount(elements: cols)!
        let source = random.floats(rows * cols)
        var bytes = [UInt8](repeating: 0, count: rows * rowBytes)
        var values = [Float](repeating: 0, count: rows * cols)
        source.withUnsafeBufferPointer { s in
            bytes.withUnsafeMutableBytes { b in
                values.withUnsafeMutableBufferPointer { v in
                    for r in 0..<rows {
                        Kernels.quantizeRow(type: type, s.baseAddress! + r * cols, b.baseAddress! + r * rowBytes, count: cols)
                        Kernels.dequantizeRow(type: type, b.baseAddress! + r * rowBytes, v.baseAddress! + r * cols, count: cols)
                    }
                }
            }
        }
        self.format = format
        self.rows = rows
        self.cols = cols
        self.bytes = bytes
        self.values = values
    }

    /// W . x for x [tokens][cols], as [tokens][rows], in float64.
    public func multiply(_ x: [Double], tokens: Int) -> [Double] {
        var y = [Double](repeating: 0, count: tokens * rows)
        for t in 0..<tokens {
            for r in 0..<rows {
                var s = 0.0
                for c in 0..<cols { s += Double(values[r * cols + c]) * x[t * cols + c] }
                y[t * rows + r] = s
            }
        }
        return y
    }
}

/// Float64 references of the kernels, written from the operations' definitions.
public enum Reference {
    public static func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }

    public static func rmsNorm(_ x: [Double], weight: [Double], d: Int, eps: Double) -> [Double] {
        var y = x
        for t in 0..<(x.count / d) {
            var s = 0.0
            for i in 0..<d { s += x[t * d + i] * x[t * d + i] }
            let scale = 1 / (s / Double(d) + eps).squareRoot()
            for i in 0..<d { y[t * d + i] = x[t * d + i] * scale * weight[i] }
        }
        return y
    }

    public static func rope(_ x: [Double], positions: [Int], heads: Int, headDim: Int, ropeDim: Int, base: Double, neox: Bool) -> [Double] {
        var y = x
        let half = ropeDim / 2
        for (t, p) in positions.enumerated() {
            for h in 0..<heads {
                let o = (t * heads + h) * headDim
                for i in 0..<half {
                    let theta = Double(p) * pow(base, -2 * Double(i) / Double(ropeDim))
                    let (a, b) = neox ? (i, i + half) : (2 * i, 2 * i + 1)
                    let x0 = x[o + a], x1 = x[o + b]
                    y[o + a] = x0 * cos(theta) - x1 * sin(theta)
                    y[o + b] = x0 * sin(theta) + x1 * cos(theta)
                }
            }
        }
        return y
    }

    /// Softmax, top-k (ties to the lower id), optional renormalisation, as a dense
    /// [tokens][experts] vector: the weight at each chosen id, 0 elsewhere.
    public static func route(_ logits: [Double], experts: Int, k: Int, normalize: Bool) -> [Double] {
        var out = [Double](repeating: 0, count: logits.count)
        for t in 0..<(logits.count / experts) {
            let l = logits[(t * experts)..<((t + 1) * experts)]
            let m = l.max() ?? 0
            let e = l.map { exp($0 - m) }
            let sum = e.reduce(0, +)
            let chosen = (0..<experts).sorted { e[$0] != e[$1] ? e[$0] > e[$1] : $0 < $1 }.prefix(k)
            let total = chosen.reduce(0.0) { $0 + e[$1] / sum }
            for c in chosen { out[t * experts + c] = e[c] / sum / (normalize ? max(total, 6.103515625e-5) : 1) }
        }
        return out
    }

    /// One decode step of attention over [kvHeads][ctxCap][headDim] caches.
    public static func attention(q: [Double], k: [Double], v: [Double], heads: Int, kvHeads: Int, headDim: Int,
                                 ctxCap: Int, nCtx: Int, scale: Double) -> [Double] {
        var out = [Double](repeating: 0, count: heads * headDim)
        for h in 0..<heads {
            let kvh = h / (heads / kvHeads)
            var s = (0..<nCtx).map { p in
                (0..<headDim).reduce(0.0) { $0 + q[h * headDim + $1] * k[(kvh * ctxCap + p) * headDim + $1] } * scale
            }
            let m = s.max() ?? 0
            s = s.map { exp($0 - m) }
            let sum = s.reduce(0, +)
            for i in 0..<headDim {
                var a = 0.0
                for p in 0..<nCtx { a += s[p] * v[(kvh * ctxCap + p) * headDim + i] }
                out[h * headDim + i] = a / sum
            }
        }
        return out
    }
}

extension Array where Element == Float {
    var asDoubles: [Double] { map(Double.init) }
}
