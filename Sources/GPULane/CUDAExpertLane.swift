import CUDA
import Engine
import HotCache

/// One session's GPU hot lane: its stream, timing events and scratch, grown to the largest
/// call seen. Per call: the input rows and the per-row work list go up in one async copy each,
/// the two expert kernels run, the outputs come back asynchronously into pinned memory;
/// `finish` waits and scatters them to the arena rows.
final class CUDAExpertLane: DeviceExpertLane {
    private let tier: CUDAExpertTier
    private var stream: Stream?
    private var start: Event?
    private var end: Event?
    private var deviceScratch: DeviceBuffer?
    private var hostScratch: PinnedHostBuffer?
    /// Arena row of each work row of the pending call.
    private var rows: [Int] = []
    private var pendingOut: (hostOffset: Int, d: Int)?

    init(tier: CUDAExpertTier) { self.tier = tier }

    /// Byte offsets of the scratch segments for `n` rows and `tokens` input rows, each 256-aligned.
    struct Layout {
        let input, gate, up, down, token, weight, hidden, output, total: Int
        /// The part copied host -> device per call (input rows and the work list).
        var uploadBytes: Int { hidden }

        init(rows n: Int, tokens: Int, d: Int, ff: Int) {
            func align(_ x: Int) -> Int { (x + 255) / 256 * 256 }
            input = 0
            gate = align(tokens * d * 4)
            up = gate + align(n * 8)
            down = up + align(n * 8)
            token = down + align(n * 8)
            weight = token + align(n * 4)
            hidden = weight + align(n * 4)
            output = hidden + align(n * ff * 4)
            total = output + align(n * d * 4)
        }
    }

    private func ensure(_ layout: Layout) throws {
        let context = tier.context
        if stream == nil {
            stream = try Stream(context: context)
            start = try Event(context: context)
            end = try Event(context: context)
        }
        if (deviceScratch?.byteCount ?? 0) < layout.total {
            deviceScratch = nil
            deviceScratch = try DeviceBuffer(context: context, byteCount: layout.total * 2)
        }
        if (hostScratch?.byteCount ?? 0) < layout.total {
            hostScratch = nil
            hostScratch = try PinnedHostBuffer(context: context, byteCount: layout.total * 2)
        }
    }

    func begin(layer: Int, items: [ExpertWorkItem], grouping: ExpertGrouping, input: UnsafePointer<Float>, tokens: Int) throws {
        let rowToken = grouping.rowToken
        guard let slots = tier.formats(layer: layer) else { throw CUDAError.invalidArgument("layer \(layer) has no device slots") }
        let d = tier.embedding, ff = tier.expertFF
        rows.removeAll(keepingCapacity: true)
        for item in items {
            guard tier.holds(layer: layer, expert: item.expert) else {
                throw CUDAError.invalidArgument("expert \(item.expert) of layer \(layer) is not on the device")
            }
            for j in 0..<item.count { rows.append(item.arenaOffset + j) }
        }
        let n = rows.count
        guard n > 0 else { pendingOut = nil; return }
        let layout = Layout(rows: n, tokens: tokens, d: d, ff: ff)
        try ensure(layout)
        let host = hostScratch!.pointer, dev = deviceScratch!, stream = stream!
        host.copyMemory(from: input, byteCount: tokens * d * 4)
        let gate = (host + layout.gate).assumingMemoryBound(to: UInt64.self)
        let up = (host + layout.up).assumingMemoryBound(to: UInt64.self)
        let down = (host + layout.down).assumingMemoryBound(to: UInt64.self)
        let token = (host + layout.token).assumingMemoryBound(to: Int32.self)
        let weight = (host + layout.weight).assumingMemoryBound(to: Float.self)
        var r = 0
        for item in items {
            let a = tier.addresses(layer: layer, expert: item.expert)
            for j in 0..<item.count {
                gate[r] = a.gate
                up[r] = a.up
                down[r] = a.down
                token[r] = rowToken[item.arenaOffset + j]
                // Unweighted, as the CPU lane: the merge applies the route weights.
                weight[r] = 1
                r += 1
            }
        }
        try start!.record(on: stream)
        try dev.uploadAsync(host, count: layout.uploadBytes, stream: stream)
        for (name, shape, arguments) in CUDAExpertLane.launches(layout: layout, scratch: dev.address, rows: n, d: d, ff: ff, slots: slots) {
            try tier.library.kernel(name).launch(shape, on: stream, arguments)
        }
        try dev.downloadAsync(into: host + layout.output, count: n * d * 4, at: layout.output, stream: stream)
        try end!.record(on: stream)
        pendingOut = (layout.output, d)
    }

    /// The two kernel launches of one call over `rows` work rows whose scratch starts at
    /// device address `scratch` (pure, so their arguments are checked against the kernels'
    /// signatures without a device).
    static func launches(layout: Layout, scratch: UInt64, rows n: Int, d: Int, ff: Int, slots: CUDAExpertTier.LayerSlots)
        -> [(String, LaunchShape, [KernelArgument])] {
        launches(layout: layout, scratch: scratch, rows: n, d: d, ff: ff, gateUp: slots.gateUp, down: slots.down,
                 gateRowBytes: slots.gateRowBytes, downRowBytes: slots.downRowBytes)
    }

    static func launches(layout: Layout, scratch: UInt64, rows n: Int, d: Int, ff: Int, gateUp: GPUWeightFormat, down: GPUWeightFormat,
                         gateRowBytes: Int, downRowBytes: Int) -> [(String, LaunchShape, [KernelArgument])] {
        let rpb = 4
        func at(_ offset: Int) -> KernelArgument { .pointer(scratch + UInt64(offset)) }
        return [
            ("expert_gate_up_\(gateUp.rawValue)", LaunchShape(grid: ((ff + rpb - 1) / rpb, n, 1), block: (32, rpb, 1)),
             [at(layout.gate), at(layout.up), .int64(Int64(gateRowBytes)), at(layout.token), at(layout.input), at(layout.hidden),
              .int(d), .int(ff)]),
            ("expert_down_\(down.rawValue)", LaunchShape(grid: ((d + rpb - 1) / rpb, n, 1), block: (32, rpb, 1)),
             [at(layout.down), .int64(Int64(downRowBytes)), at(layout.weight), at(layout.hidden), at(layout.output), .int(d), .int(ff)]),
        ]
    }

    func finish(slotOutputs: UnsafeMutablePointer<Float>) throws -> UInt64 {
        guard let (offset, d) = pendingOut else { return 0 }
        pendingOut = nil
        try end!.synchronize()
        let ms = try end!.milliseconds(since: start!)
        let out = (hostScratch!.pointer + offset).assumingMemoryBound(to: Float.self)
        for (i, row) in rows.enumerated() {
            (slotOutputs + row * d).update(from: out + i * d, count: d)
        }
        return UInt64(max(0, ms) * 1_000_000)
    }
}
