import GGUF
import Quant

/// A loaded MoE model: config, weights in place in the mapping, and the expert seam.
public final class MoEModel: @unchecked Sendable {
    public let file: GGUFFile
    public let config: ModelConfig
    public let weights: ModelWeights

    /// `repack`: repack Q4_K/Q8_0 (and Q4_1/Q5_0/Q5_1/IQ4_NL/MXFP4) experts and attention matrices for the AVX2 eight-row
    /// kernels (see `ModelWeights.repackingForDecode`); leave it off when experts are streamed
    /// from the file.
    public init(file: GGUFFile, repack: Bool = false) throws {
        self.file = file
        config = try Architectures.config(for: file)
        let weights = try ModelWeights(file: file, config: config)
        self.weights = repack ? weights.repackingForDecode(file: file) : weights
    }

    private init(file: GGUFFile, config: ModelConfig, weights: ModelWeights) {
        self.file = file
        self.config = config
        self.weights = weights
    }

    /// This file-layout model with its weights repacked for the decode kernels; with
    /// `experts: false` the routed experts stay in the file (they are streamed).
    public func repacked(experts: Bool) -> MoEModel {
        MoEModel(file: file, config: config, weights: weights.repackingForDecode(file: file, experts: experts))
    }

    public convenience init(path: String) throws {
        try self.init(file: try GGUFFile(path: path))
    }
}

/// Which logits a forward pass returns.
public enum LogitsRequest: Sendable { case last, all, none }

/// One sequence's state: KV cache, recurrent state, scratch buffers, position. Not
/// thread-safe: one session decodes on one task at a time, using the pool for its parallel work.
/// The forward pass runs each layer's blocks (Blocks/*.swift): token mixer, then MoE.
public final class InferenceSession {
    public let model: MoEModel
    public let pool: WorkerPool
    public let cache: KVCache
    /// DeltaNet layers' state; nil for pure attention models.
    public let recurrent: RecurrentState?
    public let maxBatch: Int
    public var executor: ExpertExecutor
    /// Called with (layer, routes, the MoE block's input: embedding-length floats per token)
    /// after routing, before experts run (telemetry, tracing, lookahead guesses).
    public var routeObserver: ((Int, ExpertRoutes, UnsafePointer<Float>) -> Void)?
    /// Called after each batch of a multi-token forward with the tokens of that call done so
    /// far (prompt progress reports).
    public var batchObserver: ((Int) -> Void)?
    /// With a recurrent state, run a prompt's last token on its own so that checkpoints at both
    /// its start and end exist: a repeated prompt then rewinds by one token, not to 0 (the
    /// server's slots turn this on; it costs one more pass over the weights per prompt).
    public var checkpointsBeforeLastToken = false

    let c: ModelConfig
    let x, xn, q, k, v, attnOut, tmp, routerLogits, routeWeights, routeScales, moeOut, scores, cosSin: UnsafeMutablePointer<Float>
    /// One token's biased gating probabilities (the top-k choice with a selection bias).
    let routerSelection: UnsafeMutablePointer<Float>
    let routeExperts: UnsafeMutablePointer<Int32>
    /// Gated attention: the projected query + gate rows, and the gate alone.
    let queryAndGate, outputGate: UnsafeMutablePointer<Float>?
    let shared: SharedExpertScratch?
    let routedInputs: RoutedInputScratch?
    let deltaNet: DeltaNetScratch?
    let latent: LatentAttentionScratch?
    let perLayer: PerLayerInputScratch?
    /// Distinct RoPE tables (rotary dims, base, frequency factors) and the one each attention
    /// layer uses; `cosSin` holds maxBatch rows of each, kind after kind.
    let ropeKinds: [RopeKind]
    /// Per layer: offset of its kind's rows in `cosSin`.
    let ropeOffsetOfLayer: [Int]
    /// Floats of `scores` per attention task (sized for the widest layer).
    let attentionScratchPerPart: Int
    private var logitsBuffer: UnsafeMutablePointer<Float>
    private var logitsCapacity: Int
    let acts = ActivationBuffers()

    public var position: Int { cache.count }

    /// `cacheTypes` must pass `cacheTypes.check(config:)`; F32 by default (the goldens' cache).
    public init(model: MoEModel, contextSize: Int? = nil, maxBatch: Int = 256, threads: Int,
                executor: ExpertExecutor? = nil, cacheTypes: KVCacheTypes = .f32,
                slidingWindow: SlidingWindowRows = .window) {
        self.model = model
        c = model.config
        pool = WorkerPool(threads: threads)
        cache = KVCache(config: c, capacity: contextSize ?? c.contextLength, types: cacheTypes, slidingWindow: slidingWindow,
                        maxBatch: max(1, maxBatch))
        recurrent = RecurrentState(config: c)
        self.maxBatch = max(1, maxBatch)
        self.executor = executor ?? PlainExpertExecutor(weights: model.weights, config: c, pool: pool)
        let n = self.maxBatch
        let qDim = c.maxQDim, kvDim = c.maxKVDim
        x = .allocate(capacity: n * c.embeddingLength)
        xn = .allocate(capacity: n * max(c.embeddingLength, qDim))
        q = .allocate(capacity: n * qDim)
        k = .allocate(capacity: n * max(kvDim, c.maxVDim))
        v = .allocate(capacity: n * max(kvDim, c.maxVDim))
        attnOut = .allocate(capacity: n * c.maxAttentionOutDim)
        tmp = .allocate(capacity: n * max(c.embeddingLength, qDim, kvDim))
        routerLogits = .allocate(capacity: n * c.expertCount)
        routerSelection = .allocate(capacity: c.expertCount)
        routeWeights = .allocate(capacity: n * c.expertsUsed)
        routeScales = .allocate(capacity: n * c.expertsUsed)
        routeExperts = .allocate(capacity: n * c.expertsUsed)
        moeOut = .allocate(capacity: n * c.embeddingLength)
        attentionScratchPerPart = Attention.scratchFloatsPerPart(config: c, capacity: cache.capacity)
        scores = .allocate(capacity: Attention.scratchFloats(config: c, capacity: cache.capacity, pool: pool))
        let (kinds, kindOfLayer) = RopeKind.kinds(model.weights, config: c)
        ropeKinds = kinds
        ropeOffsetOfLayer = kindOfLayer.map { k in k < 0 ? 0 : n * kinds[..<k].map(\.dim).reduce(0, +) }
        cosSin = .allocate(capacity: max(1, n * ropeKinds.map(\.dim).reduce(0, +)))
        queryAndGate = c.attentionOutputGate ? .allocate(capacity: n * 2 * qDim) : nil
        outputGate = c.attentionOutputGate ? .allocate(capacity: n * qDim) : nil
        shared = SharedExpertScratch.width(c) > 0 ? SharedExpertScratch(config: c, tokens: n) : nil
        routedInputs = model.weights.layers.contains { $0.moe?.routerInputScale != nil || $0.moe?.expertInputNorm != nil }
            ? RoutedInputScratch(config: c, tokens: n) : nil
        deltaNet = c.deltaNet.map { DeltaNetScratch(config: $0, tokens: n) }
        let heads = c.headCount
        latent = c.mla.map { LatentAttentionScratch(mla: $0, heads: heads, tokens: n) }
        perLayer = model.weights.perLayerInputs != nil ? PerLayerInputScratch(config: c, tokens: n) : nil
        logitsCapacity = c.vocabSize
        logitsBuffer = .allocate(capacity: logitsCapacity)
    }

    deinit {
        for p in [x, xn, q, k, v, attnOut, tmp, routerLogits, routerSelection, routeWeights, routeScales, moeOut, scores, cosSin, logitsBuffer] {
            p.deallocate()
        }
        queryAndGate?.deallocate()
        outputGate?.deallocate()
        routeExperts.deallocate()
    }

    public func reset() {
        cache.truncate(to: 0)
        recurrent?.reset()
    }

    /// Goes back to at most `position` tokens of context and returns how many are kept. The KV
    /// cache truncates anywhere its window rows still reach (else to 0); a recurrent state
    /// only to a checkpoint (or to 0), so the caller re-feeds the tokens from the returned
    /// position on.
    public func rewind(to position: Int) -> Int {
        let target = max(0, min(position, cache.count))
        guard target < cache.count else { return cache.count }
        var kept = recurrent?.rewind(to: target) ?? target
        if !cache.canResume(at: kept) { kept = recurrent?.rewind(to: 0) ?? 0 }
        cache.truncate(to: kept)
        return kept
    }

    /// Runs `tokens` through the model at the current position, in batches of `maxBatch`.
    /// Returns the requested logits ([vocab] for .last, [tokens * vocab] for .all).
    @discardableResult
    public func forward(_ tokens: [Int32], logits request: LogitsRequest = .last) throws -> UnsafeBufferPointer<Float> {
        try tokens.withUnsafeBufferPointer { try forward(buffer: $0, logits: request) }
    }

    /// One token (a decode step) without building an array: no heap allocation per step.
    @discardableResult
    public func forward(token: Int32, logits request: LogitsRequest = .last) throws -> UnsafeBufferPointer<Float> {
        try withUnsafeTemporaryAllocation(of: Int32.self, capacity: 1) { buffer in
            buffer[0] = token
            return try forward(buffer: UnsafeBufferPointer(buffer), logits: request)
        }
    }

    private func forward(buffer tokens: UnsafeBufferPointer<Int32>, logits request: LogitsRequest) throws -> UnsafeBufferPointer<Float> {
        guard !tokens.isEmpty else { return UnsafeBufferPointer(start: logitsBuffer, count: 0) }
        guard cache.count + tokens.count <= cache.capacity else {
            throw EngineError.contextFull(needed: cache.count + tokens.count, capacity: cache.capacity)
        }
        for t in tokens where t < 0 || Int(t) >= c.vocabSize {
            throw EngineError.badToken(t, vocabSize: c.vocabSize)
        }
        if request == .all, tokens.count * c.vocabSize > logitsCapacity {
            logitsBuffer.deallocate()
            logitsCapacity = tokens.count * c.vocabSize
            logitsBuffer = .allocate(capacity: logitsCapacity)
        }
        let splitLast = checkpointsBeforeLastToken && recurrent != nil && tokens.count > 1
        var start = 0
        while start < tokens.count {
            var n = min(maxBatch, tokens.count - start)
            if splitLast, start + n == tokens.count, n > 1 { n -= 1 }
            if splitLast, start == tokens.count - 1 { recurrent?.checkpoint(position: cache.count) }
            let isLast = start + n == tokens.count
            let want: LogitsRequest = request == .all ? .all : (isLast ? request : .none)
            let before = cache.count
            runBatch(UnsafeBufferPointer(rebasing: tokens[start..<(start + n)]), logits: want,
                     logitsOut: logitsBuffer + (request == .all ? start * c.vocabSize : 0))
            if let failure = executor.takeFailure() {
                // This batch's state is invalid: go back to before it (a recurrent state to its
                // checkpoint) and end the request; the session stays usable.
                _ = rewind(to: before)
                throw failure
            }
            start += n
            batchObserver?(start)
        }
        // A prompt's end is where the next request most likely resumes (prefix reuse).
        if tokens.count > 1 { recurrent?.checkpoint(position: cache.count) }
        let count = request == .all ? tokens.count * c.vocabSize : (request == .last ? c.vocabSize : 0)
        return UnsafeBufferPointer(start: logitsBuffer, count: count)
    }

    func runBatch(_ tokens: UnsafeBufferPointer<Int32>, logits request: LogitsRequest,
                          logitsOut: UnsafeMutablePointer<Float>) {
        let n = tokens.count, d = c.embeddingLength, start = cache.count
        let w = model.weights
        for (i, t) in tokens.enumerated() {
            Kernels.dequantizeRow(type: w.tokenEmbedding.type, w.tokenEmbedding.data + Int(t) * w.tokenEmbedding.rowBytes,
                                  x + i * d, count: d)
        }
        if c.embeddingScale != 0 { for j in 0..<(n * d) { x[j] *= c.embeddingScale } }
        if let inputs = w.perLayerInputs { perLayerInputs(inputs, tokens: tokens) }
        var base = 0
        for kind in ropeKinds {
            for i in 0..<n {
                Ops.ropeTable(position: start + i, ropeDim: kind.dim, base: kind.base, freqFactors: kind.freqs,
                              scaling: c.ropeScaling, into: cosSin + base + i * kind.dim)
            }
            base += maxBatch * kind.dim
        }
        cache.reserve(start: start, tokens: n)
        cache.count = start + n
        for (li, layer) in w.layers.enumerated() {
            for i in 0..<n { Ops.rmsNorm(x + i * d, layer.attnNorm, xn + i * d, count: d, eps: c.normEpsilon) }
            switch layer.mixer {
            case .attention(let a): attentionBlock(layer: li, weights: a, tokens: n, start: start)
            case .deltaNet(let dn): deltaNetBlock(layer: li, weights: dn, tokens: n)
            case .latentAttention(let a): latentAttentionBlock(layer: li, weights: a, tokens: n, start: start)
            }
            if let norm = layer.mixerPostNorm { for i in 0..<n { Ops.rmsNorm(tmp + i * d, norm, tmp + i * d, count: d, eps: c.normEpsilon) } }
            Ops.add(x, tmp, count: n * d)
            for i in 0..<n { Ops.rmsNorm(x + i * d, layer.ffnNorm, xn + i * d, count: d, eps: c.normEpsilon) }
            if let moe = layer.moe { moeBlock(layer: li, weights: moe, tokens: n) } else if let dense = layer.denseFFN {
                denseFFNBlock(weights: dense, tokens: n)
            }
            if let norm = layer.moePostNorm { for i in 0..<n { Ops.rmsNorm(moeOut + i * d, norm, moeOut + i * d, count: d, eps: c.normEpsilon) } }
            Ops.add(x, moeOut, count: n * d)
            if let input = layer.perLayerInput { perLayerInputBlock(layer: li, weights: input, tokens: n) }
            if let s = layer.outputScale { for j in 0..<(n * d) { x[j] *= s[0] } }
        }
        let rows: Int
        switch request {
        case .none: return
        case .last:
            Ops.rmsNorm(x + (n - 1) * d, w.outputNorm, xn, count: d, eps: c.normEpsilon)
            acts.setInput(xn, cols: d, tokens: 1)
            Linear.apply(w.output, acts, tokens: 1, out: logitsOut, pool: pool)
            rows = 1
        case .all:
            for i in 0..<n { Ops.rmsNorm(x + i * d, w.outputNorm, xn + i * d, count: d, eps: c.normEpsilon) }
            acts.setInput(xn, cols: d, tokens: n)
            Linear.apply(w.output, acts, tokens: n, out: logitsOut, pool: pool)
            rows = n
        }
        if c.finalLogitSoftcap > 0 { Ops.softcap(logitsOut, count: rows * c.vocabSize, cap: c.finalLogitSoftcap) }
    }

    /// The RoPE (cos, sin) rows of this batch for an attention layer's kind.
    @inline(__always) func ropeTable(layer: Int) -> UnsafeMutablePointer<Float> { cosSin + ropeOffsetOfLayer[layer] }
}

/// One RoPE table layout: rotary dims, base and optional frequency factors (by identity).
struct RopeKind {
    let dim: Int
    let base: Float
    let freqs: UnsafePointer<Float>?

    func same(_ o: RopeKind) -> Bool { dim == o.dim && base == o.base && freqs == o.freqs }

    /// The distinct kinds over the attention layers, and each layer's kind (-1: no attention).
    static func kinds(_ w: ModelWeights, config c: ModelConfig) -> ([RopeKind], [Int]) {
        var kinds = [RopeKind](), ofLayer = [Int]()
        for (l, layer) in w.layers.enumerated() {
            let freqs: UnsafePointer<Float>?
            switch layer.mixer {
            case .attention(let a): freqs = a.ropeFreqs
            case .latentAttention: freqs = nil
            case .deltaNet: ofLayer.append(-1); continue
            }
            let s = c.attentionShape(l), kind = RopeKind(dim: s.ropeDim, base: s.ropeBase, freqs: freqs)
            if let i = kinds.firstIndex(where: { $0.same(kind) }) { ofLayer.append(i) } else {
                ofLayer.append(kinds.count)
                kinds.append(kind)
            }
        }
        return (kinds, ofLayer)
    }
}

public enum EngineError: Error, CustomStringConvertible, Equatable {
    case contextFull(needed: Int, capacity: Int)
    case badToken(Int32, vocabSize: Int)

    public var description: String {
        switch self {
        case .contextFull(let needed, let capacity):
            "context full: \(needed) positions needed, the context holds \(capacity) (raise --ctx-size)"
        case .badToken(let t, let vocab): "token id \(t) outside the vocabulary of \(vocab)"
        }
    }
}
