import CKernels
import Quant

/// One expert's share of a MoE call: `count` token-slots routed to it, which occupy arena rows
/// arenaOffset..<arenaOffset+count in token order (the tokens are in `ExpertGrouping.rowToken`).
public struct ExpertWorkItem {
    public var expert: Int
    public var matrices: ExpertMatrices
    /// Offset of this item's rows in the shared arenas, in token-slot units.
    public var arenaOffset: Int
    /// Token-slots routed to this expert.
    public var count: Int
}

/// A MoE call's routes grouped by expert (counting sort, experts in order of first use), in
/// buffers kept from call to call: no heap allocation once they have grown to the batch size.
public final class ExpertGrouping {
    public private(set) var items: [ExpertWorkItem] = []
    /// Arena row -> the token whose input that row takes.
    public private(set) var rowToken: UnsafeMutablePointer<Int32> = .allocate(capacity: 1)
    /// token * k + slot -> the arena row holding that slot's expert output.
    public private(set) var rowOfSlot: UnsafeMutablePointer<Int32> = .allocate(capacity: 1)
    private var rowCapacity = 1
    private var itemOfExpert: [Int] = []
    private var filled: [Int] = []

    public init() {}
    deinit { rowToken.deallocate(); rowOfSlot.deallocate() }

    /// Groups `routes`, asking `matrices` once per distinct expert where its weights are.
    public func group(routes: ExpertRoutes, matrices: (Int) -> ExpertMatrices) {
        let k = routes.k, slots = routes.tokenCount * routes.k
        if slots > rowCapacity {
            rowToken.deallocate(); rowOfSlot.deallocate()
            rowToken = .allocate(capacity: slots)
            rowOfSlot = .allocate(capacity: slots)
            rowCapacity = slots
        }
        items.removeAll(keepingCapacity: true)
        for j in 0..<slots {
            let e = Int(routes.experts[j])
            if e >= itemOfExpert.count { itemOfExpert.append(contentsOf: repeatElement(-1, count: e + 1 - itemOfExpert.count)) }
            if itemOfExpert[e] < 0 {
                itemOfExpert[e] = items.count
                items.append(ExpertWorkItem(expert: e, matrices: matrices(e), arenaOffset: 0, count: 0))
            }
            items[itemOfExpert[e]].count += 1
        }
        filled.removeAll(keepingCapacity: true)
        var offset = 0
        for i in items.indices {
            items[i].arenaOffset = offset
            offset += items[i].count
            filled.append(0)
        }
        for j in 0..<slots {
            let i = itemOfExpert[Int(routes.experts[j])]
            let row = items[i].arenaOffset + filled[i]
            filled[i] += 1
            rowToken[row] = Int32(j / k)
            rowOfSlot[j] = Int32(row)
        }
        for item in items { itemOfExpert[item.expert] = -1 }
    }
}

/// A float buffer that grows on demand and is reused afterwards.
public final class FloatArena {
    public private(set) var pointer: UnsafeMutablePointer<Float> = .allocate(capacity: 1)
    private var capacity = 1

    public init() {}
    deinit { pointer.deallocate() }

    public func reserve(_ count: Int) {
        guard count > capacity else { return }
        pointer.deallocate()
        pointer = .allocate(capacity: count)
        capacity = count
    }
}

/// Computes routed experts for a batch: groups tokens by expert so each expert's weights
/// are read once for all its tokens, then merges per token in slot order. Because the merge
/// order is fixed by slots, not by where an expert was computed, any split of the items into
/// lanes gives bit-identical output.
public final class ExpertComputer {
    public let d: Int
    public let ff: Int
    public let k: Int
    public let pool: WorkerPool
    /// act(gate) * up between the gate/up and down projections (SwiGLU, GeGLU, clamped SwiGLU).
    public let activation: FFNActivation
    private var capacity = 0
    private var gathered: UnsafeMutablePointer<Float>
    private var gate: UnsafeMutablePointer<Float>
    private var up: UnsafeMutablePointer<Float>
    private var inputActs: [ActivationBuffers] = []
    private var hiddenActs: [ActivationBuffers] = []
    private var gateActs: [QuantizedActivations] = []
    private var upActs: [QuantizedActivations] = []
    private var downActs: [QuantizedActivations] = []

    public init(embedding d: Int, expertFF ff: Int, k: Int, pool: WorkerPool, activation: FFNActivation = .silu) {
        self.activation = activation
        self.d = d
        self.ff = ff
        self.k = k
        self.pool = pool
        gathered = .allocate(capacity: 1)
        gate = .allocate(capacity: 1)
        up = .allocate(capacity: 1)
    }

    deinit {
        gathered.deallocate(); gate.deallocate(); up.deallocate()
    }

    private func reserve(tokenSlots n: Int, items: Int) {
        if n > capacity {
            gathered.deallocate(); gate.deallocate(); up.deallocate()
            gathered = .allocate(capacity: n * d)
            gate = .allocate(capacity: n * ff)
            up = .allocate(capacity: n * ff)
            capacity = n
        }
        while inputActs.count < items {
            inputActs.append(ActivationBuffers())
            hiddenActs.append(ActivationBuffers())
        }
    }

    /// Runs the items' experts; each token-slot's expert output lands in `slotOutputs`
    /// (rows at the items' arena offsets; `tokenSlots` rows in all).
    public func compute(items: [ExpertWorkItem], grouping: ExpertGrouping, input: UnsafePointer<Float>, tokenSlots: Int,
                        slotOutputs: UnsafeMutablePointer<Float>, lanePool: WorkerPool? = nil) {
        if items.isEmpty { return }
        let pool = lanePool ?? self.pool
        reserve(tokenSlots: tokenSlots, items: items.count)
        var stage = Stage(step: .gather, activation: activation, items: items, input: input, rowToken: grouping.rowToken, slotOutputs: slotOutputs,
                          d: d, ff: ff, gathered: gathered, gate: gate, up: up,
                          inputActs: inputActs, hiddenActs: hiddenActs, gateActs: [], upActs: [], downActs: [])
        // Gather each item's input rows (set as the input of its activation buffers). Copies
        // this small run inline: a parallel region would cost more than it saves.
        let inline = tokenSlots <= ExpertComputer.inlineTokenSlots
        if inline { for i in items.indices { stage.run(i) } } else { pool.run(items.count, stage) }
        // Quantisation is lazy and not thread-safe per buffer: do it once per item up front.
        gateActs.removeAll(keepingCapacity: true)
        upActs.removeAll(keepingCapacity: true)
        for (i, item) in items.enumerated() {
            gateActs.append(inputActs[i].activations(for: item.matrices.gate.type))
            upActs.append(inputActs[i].activations(for: item.matrices.up.type))
        }
        stage.gateActs = gateActs
        stage.upActs = upActs
        stage.step = .gateUp
        stage.pickChunk(rows: ff, matricesPerItem: 2, threads: pool.threadCount)
        pool.run(items.count * stage.chunks(ff) * 2, stage)
        // SwiGLU / GeGLU, then quantise the hidden rows for the down projection.
        stage.step = .gatedActivation
        if inline { for i in items.indices { stage.run(i) } } else { pool.run(items.count, stage) }
        downActs.removeAll(keepingCapacity: true)
        for (i, item) in items.enumerated() { downActs.append(hiddenActs[i].activations(for: item.matrices.down.type)) }
        stage.downActs = downActs
        stage.step = .down
        stage.pickChunk(rows: d, matricesPerItem: 1, threads: pool.threadCount)
        pool.run(items.count * stage.chunks(d), stage)
    }

    /// The parallel steps of `compute`, one task per item or per (item, chunk of rows).
    private struct Stage: ParallelBody {
        enum Step { case gather, gateUp, gatedActivation, down }
        /// Rows per matrix task: large, because every task costs a contended atomic and a
        /// dispatch (64-row tasks made decode ~10% slower than 256-row ones on 2 cores), but
        /// halved while there would be fewer than six tasks per thread.
        var chunk = 256
        func chunks(_ rows: Int) -> Int { (rows + chunk - 1) / chunk }

        mutating func pickChunk(rows: Int, matricesPerItem: Int, threads: Int) {
            chunk = 256
            while chunk > 32 && items.count * chunks(rows) * matricesPerItem < threads * 6 { chunk /= 2 }
        }

        var step: Step
        let activation: FFNActivation
        let items: [ExpertWorkItem]
        let input: UnsafePointer<Float>, rowToken: UnsafePointer<Int32>, slotOutputs: UnsafeMutablePointer<Float>
        let d: Int, ff: Int
        let gathered: UnsafeMutablePointer<Float>, gate: UnsafeMutablePointer<Float>, up: UnsafeMutablePointer<Float>
        let inputActs: [ActivationBuffers], hiddenActs: [ActivationBuffers]
        var gateActs: [QuantizedActivations], upActs: [QuantizedActivations], downActs: [QuantizedActivations]

        func run(_ task: Int) {
            switch step {
            case .gather:
                let item = items[task]
                let base = gathered + item.arenaOffset * d
                for j in 0..<item.count {
                    (base + j * d).update(from: input + Int(rowToken[item.arenaOffset + j]) * d, count: d)
                }
                inputActs[task].setInput(base, cols: d, tokens: item.count)
            case .gateUp:
                let which = task % 2, rest = task / 2
                let i = rest / chunks(ff), c = rest % chunks(ff)
                let item = items[i]
                let rows = (c * chunk)..<min(ff, (c + 1) * chunk)
                if which == 0 {
                    Linear.applyRows(item.matrices.gate, gateActs[i], rows: rows, tokens: item.count,
                                     out: gate + item.arenaOffset * ff, outStride: ff)
                } else {
                    Linear.applyRows(item.matrices.up, upActs[i], rows: rows, tokens: item.count,
                                     out: up + item.arenaOffset * ff, outStride: ff)
                }
            case .gatedActivation:
                let item = items[task]
                let g = gate + item.arenaOffset * ff, u = up + item.arenaOffset * ff
                if let b = item.matrices.biases {
                    for j in 0..<item.count {
                        Ops.add(g + j * ff, b.gate, count: ff)
                        Ops.add(u + j * ff, b.up, count: ff)
                    }
                }
                Ops.gatedActivation(activation, gate: g, up: u, rows: item.count, rowLength: ff)
                hiddenActs[task].setInput(g, cols: ff, tokens: item.count)
            case .down:
                let i = task / chunks(d), c = task % chunks(d)
                let item = items[i]
                let rows = (c * chunk)..<min(d, (c + 1) * chunk)
                // Rows of this item's arena are its token-slots in assignment order.
                Linear.applyRows(item.matrices.down, downActs[i], rows: rows, tokens: item.count,
                                 out: slotOutputs + item.arenaOffset * d, outStride: d)
                // The down bias joins each slot's output before its routing weight.
                if let b = item.matrices.biases {
                    for j in 0..<item.count {
                        let o = slotOutputs + (item.arenaOffset + j) * d
                        for r in rows { o[r] += b.down[r] }
                    }
                }
            }
        }
    }

    /// Two lanes at once (the hot cache's hot and cold experts), each computer on its own
    /// lane pool, as one region of `pool`; each lane's wall time lands in `laneNanos[0/1]`.
    /// Here rather than in the caller's module so that the region is specialised (a generic
    /// region formed in another module allocates its invoke closure).
    public static func computeSideBySide(
        _ first: (ExpertComputer, [ExpertWorkItem], WorkerPool), _ second: (ExpertComputer, [ExpertWorkItem], WorkerPool),
        grouping: ExpertGrouping, input: UnsafePointer<Float>, tokenSlots: Int, slotOutputs: UnsafeMutablePointer<Float>,
        pool: WorkerPool, laneNanos: UnsafeMutablePointer<UInt64>
    ) {
        pool.run(2, SideBySide(lanes: (first, second), grouping: grouping, input: input, tokenSlots: tokenSlots,
                               slotOutputs: slotOutputs, laneNanos: laneNanos))
    }

    private struct SideBySide: ParallelBody {
        let lanes: ((ExpertComputer, [ExpertWorkItem], WorkerPool), (ExpertComputer, [ExpertWorkItem], WorkerPool))
        let grouping: ExpertGrouping, input: UnsafePointer<Float>, tokenSlots: Int, slotOutputs: UnsafeMutablePointer<Float>
        let laneNanos: UnsafeMutablePointer<UInt64>

        func run(_ lane: Int) {
            let start = ContinuousClock.now
            let (computer, items, lanePool) = lane == 0 ? lanes.0 : lanes.1
            computer.compute(items: items, grouping: grouping, input: input, tokenSlots: tokenSlots, slotOutputs: slotOutputs,
                             lanePool: lanePool)
            let c = (ContinuousClock.now - start).components
            laneNanos[lane] = UInt64(max(0, c.seconds)) &* 1_000_000_000 &+ UInt64(max(0, c.attoseconds / 1_000_000_000))
        }
    }

    /// At most this many token-slots (one decode step of top-8 or top-16), the cheap steps
    /// (gather, SwiGLU, merge) run on the calling thread.
    public static let inlineTokenSlots = 16

    /// output[t] = sum over slots in slot order of weight * that slot's expert output.
    public static func merge(grouping: ExpertGrouping, routes: ExpertRoutes, slotOutputs: UnsafeMutablePointer<Float>,
                             d: Int, output: UnsafeMutablePointer<Float>, pool: WorkerPool) {
        let inline = routes.tokenCount * routes.k <= inlineTokenSlots
        let parts = inline ? 1 : WorkerPool.partCount(routes.tokenCount, parts: pool.threadCount, granularity: 1)
        let merge = Merge(routes: routes, rowOfSlot: grouping.rowOfSlot, slotOutputs: slotOutputs, d: d,
                          output: output, parts: parts)
        if inline { merge.run(0) } else { pool.run(parts, merge) }
    }

    private struct Merge: ParallelBody {
        let routes: ExpertRoutes, rowOfSlot: UnsafePointer<Int32>, slotOutputs: UnsafeMutablePointer<Float>
        let d: Int, output: UnsafeMutablePointer<Float>, parts: Int

        func run(_ part: Int) {
            let k = routes.k
            for t in WorkerPool.range(part, of: parts, total: routes.tokenCount, granularity: 1) {
                let o = output + t * d
                for i in 0..<d { o[i] = 0 }
                for s in 0..<k {
                    let w = routes.weights[t * k + s]
                    let y = slotOutputs + Int(rowOfSlot[t * k + s]) * d
                    if let scales = routes.outputScales {
                        let scale = scales[t * k + s]
                        for i in 0..<d { o[i] += (y[i] * scale) * w }
                    } else {
                        for i in 0..<d { o[i] += w * y[i] }
                    }
                }
            }
        }
    }
}

/// Computes every expert from where the model file put it (the mmap'd weights).
public final class PlainExpertExecutor: ExpertExecutor {
    let weights: ModelWeights
    let computer: ExpertComputer
    let grouping = ExpertGrouping()
    let slotOutputs = FloatArena()

    public init(weights: ModelWeights, config: ModelConfig, pool: WorkerPool) {
        self.weights = weights
        computer = ExpertComputer(embedding: config.embeddingLength, expertFF: config.expertFFLength,
                                  k: config.expertsUsed, pool: pool, activation: config.ffnActivation)
    }

    public func computeExperts(layer: Int, input: UnsafePointer<Float>, routes: ExpertRoutes,
                               output: UnsafeMutablePointer<Float>) {
        grouping.group(routes: routes) { weights.expertMatrices(layer: layer, expert: $0) }
        let slots = routes.tokenCount * routes.k
        slotOutputs.reserve(slots * computer.d)
        computer.compute(items: grouping.items, grouping: grouping, input: input, tokenSlots: slots,
                         slotOutputs: slotOutputs.pointer)
        ExpertComputer.merge(grouping: grouping, routes: routes, slotOutputs: slotOutputs.pointer, d: computer.d,
                             output: output, pool: computer.pool)
    }
}
