import Dispatch
import Engine
import Foundation
import HotCache
import Tokenizer

/// What one completion asks for, already validated.
struct GenerationRequest: Sendable {
    var prompt: [Int32]
    var maxTokens: Int
    var sampling: SamplingParams
    var stop: [String]
    var ignoreEOS = false
    /// Logit bias and repetition penalties applied before sampling.
    var adjustments = LogitAdjustments()
    /// Report each generated token's logprob and this many alternatives (nil: no logprobs).
    var topLogprobs: Int?
    /// Output grammar (GBNF or JSON schema), in its initial state.
    var grammar: GrammarConstraint?
    /// Domain tag of the request's sequence in the --moe-trace-out file.
    var traceDomain = ""
}

struct GenerationResult: Sendable {
    var text: String
    var promptTokens: Int
    var completionTokens: Int
    var cachedTokens: Int
    var finishReason: String  // "stop" | "length" (OpenAI's names)
    var promptSeconds: Double
    var generationSeconds: Double
    /// Per generated token, when the request asked for logprobs.
    var logprobs: [TokenLogprob] = []
}

/// One inference slot: a session (KV cache) and the thread it decodes on. Decoding never runs
/// on the server's event loops. The slot keeps its last token history so a request that shares
/// a prompt prefix with the previous one reuses that part of the KV cache.
final class Slot: @unchecked Sendable {
    let id: Int
    let session: InferenceSession
    private let queue: DispatchQueue
    private var history: [Int32] = []
    /// Logits after bias and penalties (reused between tokens).
    private var adjusted: [Float] = []
    /// Logits with the grammar's mask (reused between tokens).
    private var masked: [Float] = []
    private let trace: SharedTraceWriter?
    private let routes: RouteCollector?

    init(id: Int, session: InferenceSession, trace: SharedTraceWriter? = nil) {
        self.id = id
        self.session = session
        session.checkpointsBeforeLastToken = true  // prefix reuse on recurrent models
        self.trace = trace
        routes = trace.map { _ in RouteCollector(model: session.model) }
        routes?.attach(to: session)
        queue = DispatchQueue(label: "hotmoe.slot.\(id)")
    }

    /// Runs a generation on the slot's thread. `onText` gets each new piece of text; returning
    /// false cancels (client went away).
    func generate(_ r: GenerationRequest, tokenizer: Tokenizer,
                  onText: @escaping @Sendable (String) -> Bool) async throws -> GenerationResult {
        try await withCheckedThrowingContinuation { cont in
            queue.async {
                do { cont.resume(returning: try self.run(r, tokenizer: tokenizer, onText: onText)) } catch { cont.resume(throwing: error) }
            }
        }
    }

    private func run(_ r: GenerationRequest, tokenizer: Tokenizer, onText: (String) -> Bool) throws -> GenerationResult {
        // One trace sequence per request: the tokens this request computes (a reused prompt
        // prefix was computed, and recorded, by an earlier request). Recorded even on failure.
        routes?.reset()
        defer { if let routes { trace?.append(domain: r.traceDomain, from: routes) } }
        do { return try decode(r, tokenizer: tokenizer, onText: onText) } catch let e as GrammarError {
            history = []
            throw APIError(400, e.description)
        } catch {
            // The cache may hold rows of the failed request (NaN ones, say): reuse none of them.
            history = []
            throw error
        }
    }

    private func decode(_ r: GenerationRequest, tokenizer: Tokenizer, onText: (String) -> Bool) throws -> GenerationResult {
        let clock = ContinuousClock()
        // Reuse the longest common prefix, but always evaluate at least one token for logits.
        // A recurrent model keeps less: only up to its latest state checkpoint within the prefix.
        var common = 0
        while common < min(history.count, r.prompt.count) && history[common] == r.prompt[common] { common += 1 }
        let keep = session.rewind(to: min(common, r.prompt.count - 1, session.position))
        history = Array(r.prompt.prefix(keep))
        let t0 = clock.now
        var logits = try session.forward(Array(r.prompt[keep...]), logits: .last)
        history = r.prompt
        let promptSeconds = (clock.now - t0).seconds
        let t1 = clock.now
        var sampler = Sampler(r.sampling)
        var decoder = tokenizer.makeStreamingDecoder()
        var stopFilter = StopFilter(stops: r.stop)
        var text = "", generated = 0, finish = "length"
        var logprobs: [TokenLogprob] = []
        var grammar = r.grammar
        func pick(_ row: UnsafeBufferPointer<Float>) throws -> Int32 {
            guard let grammar else { return sampler.sample(row) }
            return try grammar.sample(row, sampler: &sampler, scratch: &masked)
        }
        func emit(_ s: String) -> Bool {
            guard !s.isEmpty else { return true }
            text += s
            return onText(s)
        }
        loop: while generated < r.maxTokens {
            guard Sampler.hasFiniteValue(logits) else { throw NonFiniteLogitsError(position: session.position) }
            let token: Int32
            if r.adjustments.isNeutral {
                token = try pick(logits)
            } else {
                adjusted.removeAll(keepingCapacity: true)
                adjusted.append(contentsOf: logits)
                token = try adjusted.withUnsafeMutableBufferPointer { buffer in
                    r.adjustments.apply(to: buffer, history: history[...])
                    return try pick(UnsafeBufferPointer(buffer))
                }
            }
            generated += 1
            if let n = r.topLogprobs { logprobs.append(TokenLogprob(id: token, logits: logits, top: n)) }
            if !r.ignoreEOS && tokenizer.eosTokens.contains(token) { finish = "stop"; break }
            try grammar?.accept(token)
            let (out, stopped) = stopFilter.push(decoder.push(token))
            if !emit(out) { finish = "stop"; break }
            if stopped { finish = "stop"; break loop }
            // The grammar is complete and takes nothing more: the only token left would be EOS.
            if grammar?.isFinished == true {
                finish = "stop"
                _ = emit(stopFilter.flush(decoder.finish()))
                break
            }
            if generated == r.maxTokens { break }
            guard session.position < session.cache.capacity else { break }
            logits = try session.forward(token: token, logits: .last)
            history.append(token)
        }
        if finish == "length" { _ = emit(stopFilter.flush(decoder.finish())) }
        return GenerationResult(text: text, promptTokens: r.prompt.count, completionTokens: generated, cachedTokens: keep,
                                finishReason: finish, promptSeconds: promptSeconds, generationSeconds: (clock.now - t1).seconds,
                                logprobs: logprobs)
    }
}

/// Holds back text that could be the start of a stop string, so a stop split across tokens is
/// still caught and never shown.
struct StopFilter {
    let stops: [String]
    private var pending = ""

    init(stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    /// Returns the text safe to show, and whether a stop string was reached.
    mutating func push(_ piece: String) -> (String, Bool) {
        pending += piece
        guard !stops.isEmpty else { defer { pending = "" }; return (pending, false) }
        if let hit = stops.compactMap({ pending.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            let out = String(pending[..<hit.lowerBound])
            pending = ""
            return (out, true)
        }
        // Keep the longest suffix that is a prefix of some stop string.
        var keep = 0
        for s in stops {
            for n in stride(from: min(s.count - 1, pending.count), to: 0, by: -1) where pending.hasSuffix(String(s.prefix(n))) {
                keep = max(keep, n)
                break
            }
        }
        let out = String(pending.dropLast(keep))
        pending = String(pending.suffix(keep))
        return (out, false)
    }

    mutating func flush(_ tail: String) -> String {
        let (out, stopped) = push(tail)
        if stopped { return out }
        defer { pending = "" }
        return out + pending
    }
}
