import CUDA

extension KernelChecks {
    /// The hot lane's two-step expert FFN over routed slots of several experts, each expert's
    /// matrices at their own device address (as the VRAM tier holds them).
    static func expertFFN(gateUp: GPUWeightFormat, down: GPUWeightFormat, _ r: inout SeededRandom) -> KernelCheck {
        let dim = 256, ff = 512, experts = 4, tokens = 2, k = 3
        let gates = (0..<experts).map { _ in EncodedMatrix(format: gateUp, rows: ff, cols: dim, random: &r) }
        let ups = (0..<experts).map { _ in EncodedMatrix(format: gateUp, rows: ff, cols: dim, random: &r) }
        let downs = (0..<experts).map { _ in EncodedMatrix(format: down, rows: dim, cols: ff, random: &r) }
        let x = r.floats(tokens * dim)
        let items = tokens * k
        let itemExpert = (0..<items).map { _ in Int.random(in: 0..<experts, using: &r) }
        let itemToken = (0..<items).map { $0 / k }
        let itemWeight = r.floats(items, 0.05...1)
        var want: [Double] = []
        for i in 0..<items {
            let xt = Array(x[(itemToken[i] * dim)..<((itemToken[i] + 1) * dim)]).asDoubles
            let g = gates[itemExpert[i]].multiply(xt, tokens: 1), u = ups[itemExpert[i]].multiply(xt, tokens: 1)
            let h = zip(g, u).map { Reference.silu($0) * $1 }
            want += downs[itemExpert[i]].multiply(h, tokens: 1).map { $0 * Double(itemWeight[i]) }
        }
        let name = "expert_ffn_\(gateUp.rawValue)_\(down.rawValue)"
        return KernelCheck(name: name, reference: want) { d in
            // All experts' matrices in one buffer, as the VRAM tier's slots: per-item addresses.
            let blob = gates.flatMap(\.bytes) + ups.flatMap(\.bytes) + downs.flatMap(\.bytes)
            let wb = try d.upload(blob)
            let gateBytes = gates[0].bytes.count, downBytes = downs[0].bytes.count
            func address(_ base: Int, _ e: Int, _ size: Int) -> UInt64 { wb.address + UInt64(base + e * size) }
            let gateAddr = itemExpert.map { address(0, $0, gateBytes) }
            let upAddr = itemExpert.map { address(experts * gateBytes, $0, gateBytes) }
            let downAddr = itemExpert.map { address(2 * experts * gateBytes, $0, downBytes) }
            let gb = try d.upload(gateAddr), ub = try d.upload(upAddr), db = try d.upload(downAddr)
            let tb = try d.upload(itemToken.map { Int32($0) }), iw = try d.upload(itemWeight), xb = try d.upload(x)
            let hb = try d.zeros(floats: items * ff), ob = try d.zeros(floats: items * dim)
            let rpb = LinearKernelsShape.rowsPerBlock
            try d.run("expert_gate_up_\(gateUp.rawValue)", LaunchShape(grid: (blocks(ff, rpb), items, 1), block: (32, rpb, 1)),
                      [.buffer(gb), .buffer(ub), .int64(Int64(gates[0].rowBytes)), .buffer(tb), .buffer(xb), .buffer(hb),
                       .int(dim), .int(ff)])
            try d.run("expert_down_\(down.rawValue)", LaunchShape(grid: (blocks(dim, rpb), items, 1), block: (32, rpb, 1)),
                      [.buffer(db), .int64(Int64(downs[0].rowBytes)), .buffer(iw), .buffer(hb), .buffer(ob), .int(dim), .int(ff)])
            return try d.floats(ob, items * dim)
        }
    }
}
