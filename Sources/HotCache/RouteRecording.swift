import Engine
import ExpertCache
import Foundation
import Logging

extension TraceHeader {
    /// The trace header of a loaded model: its MoE layers (leading dense layers route nothing).
    public init(model: MoEModel, lookahead: Bool = false) {
        let c = model.config
        self.init(modelName: model.file.metadata["general.name"]?.string ?? model.file.path, layerIDs: c.moeLayers,
                  expertsPerLayer: c.expertCount, topK: c.expertsUsed, hasWeights: true, hasLookahead: lookahead)
    }
}

/// Collects one sequence's routing from a session's route observer: per layer, the experts and
/// router weights of every token the session computes (prompt batches and decode steps alike),
/// and with a probe the lookahead guesses: layer L+1's router applied to layer L's input, as the
/// streaming lane guesses what to read ahead. Not thread-safe: one collector per session, used
/// on that session's thread.
public final class RouteCollector {
    private let layers: Int
    /// Model index of the first MoE layer: the MoE layers follow the leading dense ones.
    private let firstMoELayer: Int
    private let k: Int
    private let header: TraceHeader
    private var experts: [[Int32]]
    private var weights: [[Float]]
    private let probe: RouterProbe?
    private let embedding: Int
    private var guesses: [[Int32]]
    private let guessBuffer: UnsafeMutablePointer<Int32>

    /// `lookaheadPool`: record lookahead guesses, computing them on this pool (the session's).
    public init(model: MoEModel, lookaheadPool: WorkerPool? = nil) {
        header = TraceHeader(model: model, lookahead: lookaheadPool != nil)
        layers = model.config.moeLayers.count
        firstMoELayer = model.config.leadingDenseLayers
        k = model.config.expertsUsed
        embedding = model.config.embeddingLength
        experts = .init(repeating: [], count: layers)
        weights = .init(repeating: [], count: layers)
        guesses = .init(repeating: [], count: layers)
        probe = lookaheadPool.map { RouterProbe(model: model, pool: $0) }
        guessBuffer = .allocate(capacity: max(1, k))
    }

    deinit { guessBuffer.deallocate() }

    /// Routes the session's observer into this collector (held weakly: the session may outlive it).
    public func attach(to session: InferenceSession) {
        session.routeObserver = { [weak self] layer, routes, input in self?.observe(layer: layer, routes: routes, input: input) }
    }

    public func observe(layer: Int, routes: ExpertRoutes, input: UnsafePointer<Float>) {
        let n = routes.tokenCount * routes.k, index = layer - firstMoELayer
        experts[index] += UnsafeBufferPointer(start: routes.experts, count: n)
        weights[index] += UnsafeBufferPointer(start: routes.weights, count: n)
        guard let probe else { return }
        // The first MoE layer has no previous layer to guess from.
        if index == 0 { guesses[0] += repeatElement(-1, count: n) }
        guard index + 1 < layers else { return }
        for t in 0..<routes.tokenCount {
            probe.topExperts(layer: layer + 1, input: input + t * embedding, count: k, into: guessBuffer)
            guesses[index + 1] += UnsafeBufferPointer(start: guessBuffer, count: k)
        }
    }

    public func reset() {
        for l in 0..<layers {
            experts[l].removeAll(keepingCapacity: true); weights[l].removeAll(keepingCapacity: true)
            guesses[l].removeAll(keepingCapacity: true)
        }
    }

    /// Tokens seen in every layer (a forward pass still running may have reached only some).
    public var tokenCount: Int { (experts.map(\.count).min() ?? 0) / k }

    /// The sequence in the trace's token-major order ([token][layer][k]); validates every selection.
    public func sequence() throws -> (routing: RoutingTrace, weights: [Float]) {
        var routing = RoutingTrace(layerIDs: header.layerIDs, expertsPerLayer: header.expertsPerLayer, topK: k)
        var w = [Float](), g = [Int32]()
        w.reserveCapacity(tokenCount * layers * k)
        for t in 0..<tokenCount {
            let span = (t * k)..<((t + 1) * k)
            try routing.append((0..<layers).map { l in experts[l][span].map { Int($0) } })
            for l in 0..<layers { w += weights[l][span] }
            if probe != nil { for l in 0..<layers { g += guesses[l][span] } }
        }
        if probe != nil { try routing.attachLookahead(g) }
        return (routing, w)
    }
}

/// A trace file shared by a server's slots: each finished request is appended (streamed to
/// `path.partial`), and `close()` at shutdown moves the complete file into place atomically.
public final class SharedTraceWriter: @unchecked Sendable {
    private let lock = NSLock()
    private var writer: TraceWriter?
    private let logger: Logger
    public let path: String
    private var recordedSequences = 0
    private var recordedTokens = 0

    public init(path: String, model: MoEModel, logger: Logger) throws {
        writer = try TraceWriter(path: path, header: TraceHeader(model: model))
        self.path = path
        self.logger = logger
    }

    /// Requests and tokens recorded so far (also after close).
    public var recorded: (sequences: Int, tokens: Int) { lock.withLock { (recordedSequences, recordedTokens) } }

    /// Appends the collector's sequence and empties the collector. A failing write is logged and
    /// costs that request's trace only; serving goes on.
    public func append(domain: String, from collector: RouteCollector) {
        defer { collector.reset() }
        guard collector.tokenCount > 0 else { return }
        do {
            let (routing, weights) = try collector.sequence()
            try lock.withLock {
                guard let writer else {
                    logger.warning("--moe-trace-out: a request finished after shutdown; its routing is not recorded")
                    return
                }
                try writer.append(domain: domain, routing: routing, weights: weights)
                recordedSequences += 1
                recordedTokens += routing.tokenCount
            }
        } catch {
            logger.error("--moe-trace-out \(path): cannot record a request: \(error)")
        }
    }

    /// Finalises the file (sync + rename). Later appends are dropped.
    public func close() {
        lock.withLock {
            guard let w = writer else { return }
            writer = nil
            do {
                try w.close()
                logger.info("routing trace written to \(path): \(recordedSequences) requests, \(recordedTokens) tokens")
            } catch {
                logger.error("--moe-trace-out \(path): cannot finalise: \(error)")
            }
        }
    }
}
