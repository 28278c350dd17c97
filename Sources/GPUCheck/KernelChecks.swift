import CUDA
import Foundation

/// One kernel check: random inputs, their float64 reference, and the device computation.
public struct KernelCheck {
    public let name: String
    public let reference: [Double]
    public let device: (DeviceRunner) throws -> [Float]
}

/// The result line gpu-check prints per kernel.
public struct CheckOutcome: CustomStringConvertible {
    public let name: String
    public let relativeL2: Double
    public let error: String?
    public var passed: Bool { error == nil && relativeL2 < Comparison.tolerance }

    public init(name: String, got: [Float], want: [Double]) {
        self.name = name
        relativeL2 = Comparison.relativeL2(got, want)
        error = got.count == want.count ? nil : "\(got.count) values for \(want.count)"
    }

    public init(name: String, error: Error) {
        self.name = name
        relativeL2 = .infinity
        self.error = "\(error)"
    }

    public var description: String {
        let verdict = passed ? "PASS" : "FAIL"
        let detail = error.map { " (\($0))" } ?? ""
        return "kernel \(name.padding(toLength: 24, withPad: " ", startingAt: 0)) rel_l2 \(String(format: "%.3e", relativeL2)) \(verdict)\(detail)"
    }
}

public enum KernelChecks {
    /// Every kernel family on fresh random data from `seed`.
    public static func all(seed: UInt64) -> [KernelCheck] {
        var r = SeededRandom(seed: seed)
        var checks: [KernelCheck] = []
        for f in GPUWeightFormat.allCases {
            checks.append(linear(f, tokens: 1, random: &r))
            checks.append(linear(f, tokens: 11, random: &r))
        }
        checks += [rmsNorm(&r), rope(neox: false, &r), rope(neox: true, &r), swiglu(&r), router(&r), attention(&r),
                   expertFFN(gateUp: .q4_K, down: .q6_K, &r), expertFFN(gateUp: .q8_0, down: .q8_0, &r),
                   expertFFN(gateUp: .f16, down: .f32, &r)]
        return checks
    }

    /// Runs the checks on the device; a thrown error fails that check only.
    public static func run(_ checks: [KernelCheck], on runner: DeviceRunner) -> [CheckOutcome] {
        checks.map { c in
            do { return CheckOutcome(name: c.name, got: try c.device(runner), want: c.reference) } catch {
                return CheckOutcome(name: c.name, error: error)
            }
        }
    }

    static func linear(_ f: GPUWeightFormat, tokens: Int, random r: inout SeededRandom) -> KernelCheck {
        let rows = 70, cols = 512
        let w = EncodedMatrix(format: f, rows: rows, cols: cols, random: &r)
        let x = r.floats(tokens * cols)
        let decode = tokens == 1
        let name = (decode ? "matvec_" : "matmul_") + f.rawValue
        return KernelCheck(name: name, reference: w.multiply(x.asDoubles, tokens: tokens)) { d in
            let wb = try d.upload(w.bytes), xb = try d.upload(x), yb = try d.zeros(floats: tokens * rows)
            let rpb = LinearKernelsShape.rowsPerBlock
            var args: [KernelArgument] = [.buffer(wb), .int64(Int64(w.rowBytes)), .buffer(xb), .buffer(yb), .int(rows), .int(cols)]
            if !decode { args.append(.int(tokens)) }
            let grid = (blocks(rows, rpb), decode ? 1 : blocks(tokens, LinearKernelsShape.tokenTile), 1)
            try d.run(name, LaunchShape(grid: grid, block: (32, rpb, 1)), args)
            return try d.floats(yb, tokens * rows)
        }
    }

    static func rmsNorm(_ r: inout SeededRandom) -> KernelCheck {
        let tokens = 3, dim = 1000
        let x = r.floats(tokens * dim, -3...3), w = r.floats(dim, 0.5...1.5)
        let want = Reference.rmsNorm(x.asDoubles, weight: w.asDoubles, d: dim, eps: 1e-6)
        return KernelCheck(name: "rms_norm_f32", reference: want) { d in
            let xb = try d.upload(x), wb = try d.upload(w), yb = try d.zeros(floats: x.count)
            try d.run("rms_norm_f32", LaunchShape(grid: (tokens, 1, 1), block: (256, 1, 1)),
                      [.buffer(xb), .buffer(wb), .buffer(yb), .int(dim), .float(1e-6)])
            return try d.floats(yb, x.count)
        }
    }

    static func rope(neox: Bool, _ r: inout SeededRandom) -> KernelCheck {
        let tokens = 3, heads = 4, headDim = 64, ropeDim = neox ? 64 : 32
        let x = r.floats(tokens * heads * headDim)
        let positions = (0..<tokens).map { _ in Int.random(in: 0..<4096, using: &r) }
        let name = neox ? "rope_neox_f32" : "rope_norm_f32"
        let want = Reference.rope(x.asDoubles, positions: positions, heads: heads, headDim: headDim, ropeDim: ropeDim, base: 10000, neox: neox)
        return KernelCheck(name: name, reference: want) { d in
            let xb = try d.upload(x), pb = try d.upload(positions.map { Int32($0) })
            try d.run(name, LaunchShape(grid: (tokens, heads, 1), block: (min(128, ropeDim / 2), 1, 1)),
                      [.buffer(xb), .buffer(pb), .int(heads), .int(headDim), .int(ropeDim), .float(10000)])
            return try d.floats(xb, x.count)
        }
    }

    static func swiglu(_ r: inout SeededRandom) -> KernelCheck {
        let n = 3000
        let g = r.floats(n, -6...6), u = r.floats(n)
        let want = zip(g, u).map { Reference.silu(Double($0)) * Double($1) }
        return KernelCheck(name: "swiglu_f32", reference: want) { d in
            let gb = try d.upload(g), ub = try d.upload(u), ob = try d.zeros(floats: n)
            try d.run("swiglu_f32", LaunchShape(grid: (blocks(n, 256), 1, 1), block: (256, 1, 1)),
                      [.buffer(gb), .buffer(ub), .buffer(ob), .int64(Int64(n))])
            return try d.floats(ob, n)
        }
    }

    static func router(_ r: inout SeededRandom) -> KernelCheck {
        let tokens = 5, experts = 64, k = 8
        let logits = r.floats(tokens * experts, -4...4)
        let want = Reference.route(logits.asDoubles, experts: experts, k: k, normalize: true)
        return KernelCheck(name: "router_softmax_topk", reference: want) { d in
            let lb = try d.upload(logits), ib = try d.upload([Int32](repeating: -1, count: tokens * k))
            let wb = try d.zeros(floats: tokens * k)
            try d.run("router_softmax_topk", LaunchShape(grid: (blocks(tokens, 64), 1, 1), block: (64, 1, 1)),
                      [.buffer(lb), .int(experts), .int(k), .int(1), .float(0), .buffer(ib), .buffer(wb), .int(tokens)])
            var ids = [Int32](repeating: 0, count: tokens * k)
            try ids.withUnsafeMutableBytes { try ib.download(into: $0.baseAddress!, count: $0.count) }
            let weights = try d.floats(wb, tokens * k)
            // Dense form: a wrong id shows up as a large error.
            var dense = [Float](repeating: 0, count: tokens * experts)
            for t in 0..<tokens {
                for s in 0..<k {
                    let e = Int(ids[t * k + s])
                    guard e >= 0, e < experts else { throw CUDAError.invalidArgument("router returned expert id \(e)") }
                    dense[t * experts + e] += weights[t * k + s]
                }
            }
            return dense
        }
    }

    static func attention(_ r: inout SeededRandom) -> KernelCheck {
        let heads = 8, kvHeads = 2, headDim = 64, ctxCap = 300, nCtx = 257
        let scale = 1 / Float(headDim).squareRoot()
        let q = r.floats(heads * headDim, -2...2), k = r.floats(kvHeads * ctxCap * headDim, -2...2)
        let v = r.floats(kvHeads * ctxCap * headDim)
        let want = Reference.attention(q: q.asDoubles, k: k.asDoubles, v: v.asDoubles, heads: heads, kvHeads: kvHeads,
                                       headDim: headDim, ctxCap: ctxCap, nCtx: nCtx, scale: Double(scale))
        return KernelCheck(name: "attention_decode_f32", reference: want) { d in
            let qb = try d.upload(q), kb = try d.upload(k), vb = try d.upload(v)
            let ob = try d.zeros(floats: heads * headDim), sb = try d.zeros(floats: heads * ctxCap)
            try d.run("attention_decode_f32", LaunchShape(grid: (heads, 1, 1), block: (128, 1, 1)),
                      [.buffer(qb), .buffer(kb), .buffer(vb), .buffer(ob), .buffer(sb), .int(heads), .int(kvHeads),
                       .int(headDim), .int(ctxCap), .int(nCtx), .float(scale)])
            return try d.floats(ob, heads * headDim)
        }
    }
}

/// The launch constants the linear and expert kernels are written for.
enum LinearKernelsShape {
    static let rowsPerBlock = 4
    static let tokenTile = 8
}
