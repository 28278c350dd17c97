import Quant

/// One expert's share of a MoE call: the tokens routed to it (and in which slot).
public struct ExpertWorkItem {
    public var expert: Int
    public var matrices: ExpertMatrices
    /// (token, slot) pairs routed to this expert, in token order.
    public var assignments: [(token: Int, slot: Int)]
    /// Offset of this item's rows in the shared arenas, in token-slot units.
    public var arenaOffset: Int
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
    private var capacity = 0
    private var gathered: UnsafeMutablePointer<Float>
    private var gate: UnsafeMutablePointer<Float>
    private var up: UnsafeMutablePointer<Float>
    private var inputActs: [ActivationBuffers] = []
    private var hiddenActs: [ActivationBuffers] = []

    public init(embedding d: Int, expertFF ff: Int, k: Int, pool: WorkerPool) {
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

    /// Groups the routes into work items, asking `matrices` where each expert's weights are.
    public func makeItems(routes: ExpertRoutes, matrices: (Int) -> ExpertMatrices) -> [ExpertWorkItem] {
        var byExpert = [Int: Int]()
        var items = [ExpertWorkItem]()
        for t in 0..<routes.tokenCount {
            for s in 0..<routes.k {
                let e = Int(routes.experts[t * routes.k + s])
                if let i = byExpert[e] {
                    items[i].assignments.append((t, s))
                } else {
                    byExpert[e] = items.count
                    items.append(ExpertWorkItem(expert: e, matrices: matrices(e), assignments: [(t, s)], arenaOffset: 0))
                }
            }
        }
        var offset = 0
        for i in items.indices {
            items[i].arenaOffset = offset
            offset += items[i].assignments.count
        }
        return items
    }

    /// Runs the items' experts; each token-slot's expert output lands in `slotOutputs`
    /// (rows at the items' arena offsets; `tokenSlots` rows in all).
    public func compute(items: [ExpertWorkItem], input: UnsafePointer<Float>, tokenSlots: Int,
                        slotOutputs: UnsafeMutablePointer<Float>, lanePool: WorkerPool? = nil) {
        if items.isEmpty { return }
        let pool = lanePool ?? self.pool
        reserve(tokenSlots: tokenSlots, items: items.count)
        let d = d, ff = ff
        let gathered = gathered, gate = gate, up = up
        // Gather each item's input rows and quantise them for its gate/up weights.
        pool.run(items.count) { i in
            let item = items[i]
            let base = gathered + item.arenaOffset * d
            for (j, a) in item.assignments.enumerated() {
                (base + j * d).update(from: input + a.token * d, count: d)
            }
            inputActs[i].setInput(base, cols: d, tokens: item.assignments.count)
        }
        // Quantisation is lazy and not thread-safe per buffer: do it once per item up front.
        let gateActs = items.indices.map { inputActs[$0].activations(for: items[$0].matrices.gate.type) }
        let upActs = items.indices.map { inputActs[$0].activations(for: items[$0].matrices.up.type) }
        let chunk = 64
        let chunksPerItem = (ff + chunk - 1) / chunk
        pool.run(items.count * chunksPerItem * 2) { task in
            let which = task % 2, rest = task / 2
            let i = rest / chunksPerItem, c = rest % chunksPerItem
            let item = items[i]
            let rows = (c * chunk)..<min(ff, (c + 1) * chunk)
            let n = item.assignments.count
            if which == 0 {
                Linear.applyRows(item.matrices.gate, gateActs[i], rows: rows, tokens: n,
                                 out: gate + item.arenaOffset * ff, outStride: ff)
            } else {
                Linear.applyRows(item.matrices.up, upActs[i], rows: rows, tokens: n,
                                 out: up + item.arenaOffset * ff, outStride: ff)
            }
        }
        // SwiGLU, then quantise the hidden rows for the down projection.
        pool.run(items.count) { i in
            let item = items[i]
            let g = gate + item.arenaOffset * ff, u = up + item.arenaOffset * ff
            for j in 0..<(item.assignments.count * ff) { g[j] = Ops.silu(g[j]) * u[j] }
            hiddenActs[i].setInput(g, cols: ff, tokens: item.assignments.count)
        }
        let downActs = items.indices.map { hiddenActs[$0].activations(for: items[$0].matrices.down.type) }
        let downChunksPerItem = (d + chunk - 1) / chunk
        pool.run(items.count * downChunksPerItem) { task in
            let i = task / downChunksPerItem, c = task % downChunksPerItem
            let item = items[i]
            let rows = (c * chunk)..<min(d, (c + 1) * chunk)
            // Rows of this item's arena are its token-slots in assignment order.
            Linear.applyRows(item.matrices.down, downActs[i], rows: rows, tokens: item.assignments.count,
                             out: slotOutputs + item.arenaOffset * d, outStride: d)
        }
    }

    /// output[t] = sum over slots in slot order of weight * that slot's expert output.
    public static func merge(items: [ExpertWorkItem], routes: ExpertRoutes, slotOutputs: UnsafeMutablePointer<Float>,
                      d: Int, output: UnsafeMutablePointer<Float>, pool: WorkerPool) {
        let k = routes.k
        // Map (token, slot) -> arena row so the sum can run in slot order.
        var rowOf = [Int](repeating: 0, count: routes.tokenCount * k)
        for item in items {
            for (j, a) in item.assignments.enumerated() { rowOf[a.token * k + a.slot] = item.arenaOffset + j }
        }
        pool.forRanges(routes.tokenCount) { tokens in
            for t in tokens {
                let o = output + t * d
                for i in 0..<d { o[i] = 0 }
                for s in 0..<k {
                    let w = routes.weights[t * k + s]
                    let y = slotOutputs + rowOf[t * k + s] * d
                    for i in 0..<d { o[i] += w * y[i] }
                }
            }
        }
    }
}

/// Computes every expert from where the model file put it (the mmap'd weights).
public final class PlainExpertExecutor: ExpertExecutor {
    let weights: ModelWeights
    let computer: ExpertComputer
    let slotOutputs = FloatArena()

    public init(weights: ModelWeights, config: ModelConfig, pool: WorkerPool) {
        self.weights = weights
        computer = ExpertComputer(embedding: config.embeddingLength, expertFF: config.expertFFLength,
                                  k: config.expertsUsed, pool: pool)
    }

    public func computeExperts(layer: Int, input: UnsafePointer<Float>, routes: ExpertRoutes,
                               output: UnsafeMutablePointer<Float>) {
        let items = computer.makeItems(routes: routes) { weights.expertMatrices(layer: layer, expert: $0) }
        let slots = routes.tokenCount * routes.k
        slotOutputs.reserve(slots * computer.d)
        computer.compute(items: items, input: input, tokenSlots: slots, slotOutputs: slotOutputs.pointer)
        ExpertComputer.merge(items: items, routes: routes, slotOutputs: slotOutputs.pointer, d: computer.d,
                             output: output, pool: computer.pool)
    }
}
