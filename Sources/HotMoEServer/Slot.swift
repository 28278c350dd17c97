import Dispatch
import Engine
import Foundation
import Synchronization
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
    /// Report probabilities after the sampler chain instead of the model's (post_sampling_probs).
    var postSamplingProbs = false
    /// Output grammar (GBNF or JSON schema), in its initial state.
    var grammar: GrammarConstraint?
    /// Domain tag of the request's sequence in the --moe-trace-out file.
    var traceDomain = ""
    /// llama-server's `cache_prompt`: reuse the slot's KV rows for a shared prompt prefix.
    var reusePrefix = true
    /// `maxTokens` is what the context had left, not what was asked: reaching it truncates.
    var limitedByContext = false
    /// llama-server's return_progress: report the prompt's progress, batch by batch, while streaming.
    var returnProgress = false
    /// Control tokens the output keeps as text (the markup a tool-call/channel parser reads).
    var preservedTokens: Set<Int32> = []
    /// llama-server's --context-shift: when the slot is full, drop tokens after the kept head
    /// and go on generating (nil: generation stops at the full context).
    var contextShift: ContextShift?
}

/// llama-server's context shift. hotmoe recomputes the kept tail's KV rows at their new
/// positions instead of re-rotating cached keys: exact for every architecture (recurrent
/// layers included), at the cost of one batched prompt pass of up to half the context per shift.
struct ContextShift: Sendable, Equatable {
    /// Tokens kept at the start: the request's n_keep (-1: the whole prompt), plus the BOS.
    var keep: Int
    /// Tokens dropped per shift (0: half of what follows the kept head).
    var discard: Int

    /// The kept head and the dropped span for a full slot of `count` tokens (llama-server's
    /// arithmetic: the head at most capacity - 4, at least one token of the tail left).
    func span(count: Int, capacity: Int) -> (keep: Int, discard: Int) {
        let k = max(0, min(capacity - 4, keep))
        let left = count - k
        let d = min(max(discard > 0 ? discard : left / 2, 0), max(0, left - 1))
        return (k, d)
    }
}

/// Why generation ended, in llama-server's terms (`stop_type`).
enum StopType: Sendable, Equatable {
    case eos, limit, none
    /// A stop string was reached (`stopping_word`).
    case word(String)

    var name: String {
        switch self {
        case .eos: "eos"
        case .limit: "limit"
        case .none: "none"
        case .word: "word"
        }
    }
    /// OpenAI's finish_reason.
    var finishReason: String { self == .limit ? "length" : "stop" }
}

/// Text that became safe to show, with the tokens that made it and (when asked) their logprobs.
struct GeneratedPiece: Sendable {
    var text: String
    var tokens: [Int32]
    var logprobs: [TokenLogprob]
    /// The request's counts and times so far (llama-server's timings_per_token).
    var progress = GenerationProgress()
    /// Set on the prompt-progress reports of a request with return_progress (no text then).
    var promptProgress: PromptProgress?
}

/// llama-server's prompt_progress: prompt tokens in all, reused from the cache, processed so
/// far (cache included), and milliseconds spent.
struct PromptProgress: Sendable {
    var total: Int, cache: Int, processed: Int, milliseconds: Double
    var json: [String: Any] { ["total": total, "cache": cache, "processed": processed, "time_ms": milliseconds] }
}

/// Token counts and seconds of a generation, so far or in the end.
struct GenerationProgress: Sendable {
    var promptTokens = 0, cachedTokens = 0, completionTokens = 0
    var promptSeconds = 0.0, generationSeconds = 0.0
}

struct GenerationResult: Sendable {
    var text: String
    var promptTokens: Int
    var completionTokens: Int
    var cachedTokens: Int
    var stopType: StopType
    var finishReason: String { stopType.finishReason }
    var progress: GenerationProgress {
        GenerationProgress(promptTokens: promptTokens, cachedTokens: cachedTokens, completionTokens: completionTokens,
                           promptSeconds: promptSeconds, generationSeconds: generationSeconds)
    }
    /// The generated token ids.
    var tokens: [Int32] = []
    /// The slot that ran it (llama-server's id_slot).
    var slotID = 0
    var promptSeconds: Double
    var generationSeconds: Double
    /// Per generated token, when the request asked for logprobs.
    var logprobs: [TokenLogprob] = []
    /// Generation stopped because the slot's context was full (llama-server's `truncated`).
    var truncated = false
    /// Forward passes (llama_decode calls: prompt batches plus one per generated token fed
    /// back) and the busy slots summed over them (llamacpp:n_busy_slots_per_decode).
    var decodeCalls = 0
    var busySlotsAtDecodes = 0
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
    /// Slots generating right now, shared by all slots of a server.
    private let busy: BusyCount
    /// What the slot is doing, for GET /slots (read from other threads).
    let status = Mutex(SlotStatus())

    init(id: Int, session: InferenceSession, trace: SharedTraceWriter? = nil, busy: BusyCount = BusyCount()) {
        self.id = id
        self.busy = busy
        self.session = session
        session.checkpointsBeforeLastToken = true  // prefix reuse on recurrent models
        self.trace = trace
        routes = trace.map { _ in RouteCollector(model: session.model) }
        routes?.attach(to: session)
        queue = DispatchQueue(label: "hotmoe.slot.\(id)")
    }

    /// Tokens of `prompt` this slot's cache already holds (read only while the slot is free).
    func sharedPrefix(with prompt: [Int32]) -> Int {
        var n = 0
        while n < min(history.count, prompt.count) && history[n] == prompt[n] { n += 1 }
        return n
    }

    /// Runs a generation on the slot's thread. `onText` gets each new piece of text; returning
    /// false cancels (client went away).
    func generate(_ r: GenerationRequest, tokenizer: Tokenizer,
                  onText: @escaping @Sendable (GeneratedPiece) -> Bool) async throws -> GenerationResult {
        try await withCheckedThrowingContinuation { cont in
            queue.async {
                do { cont.resume(returning: try self.run(r, tokenizer: tokenizer, onText: onText)) } catch { cont.resume(throwing: error) }
            }
        }
    }

    /// Pooled final hidden states of each prompt, on the slot's thread. The slot's cache is
    /// reset by it: nothing of an earlier prompt is reused afterwards.
    func embed(_ prompts: [[Int32]], pooling: EmbeddingPooling, normalize: Bool) async throws -> [[[Float]]] {
        try await withCheckedThrowingContinuation { cont in
            queue.async {
                self.history = []
                self.busy.enter()
                defer { self.busy.leave() }
                cont.resume(with: Result { try prompts.map { try self.session.embeddings($0, pooling: pooling, normalize: normalize) } })
            }
        }
    }

    /// Runs `body` on the slot's thread with its token history (the slot must be acquired).
    func withState<T: Sendable>(_ body: @escaping @Sendable (InferenceSession, inout [Int32]) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            queue.async { cont.resume(with: Result { try body(self.session, &self.history) }) }
        }
    }

    private func run(_ r: GenerationRequest, tokenizer: Tokenizer, onText: (GeneratedPiece) -> Bool) throws -> GenerationResult {
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

    private func decode(_ r: GenerationRequest, tokenizer: Tokenizer, onText: (GeneratedPiece) -> Bool) throws -> GenerationResult {
        let clock = ContinuousClock()
        // Reuse the longest common prefix, but always evaluate at least one token for logits.
        // A recurrent model keeps less: only up to its latest state checkpoint within the prefix.
        busy.enter()
        defer { busy.leave() }
        var decodeCalls = 0, busySum = 0
        func countDecode(_ calls: Int) { decodeCalls += calls; busySum += calls * busy.current }
        let common = r.reusePrefix ? sharedPrefix(with: r.prompt) : 0
        let keep = session.rewind(to: min(common, r.prompt.count - 1, session.position))
        history = Array(r.prompt.prefix(keep))
        let t0 = clock.now
        countDecode((r.prompt.count - keep + session.maxBatch - 1) / session.maxBatch)
        status.withLock { $0 = SlotStatus(processing: true, request: r, decoded: 0) }
        defer { status.withLock { $0.processing = false; $0.decoded = 0 } }
        var logits = try withoutActuallyEscaping(onText) { onText -> UnsafeBufferPointer<Float> in
            guard r.returnProgress else { return try session.forward(Array(r.prompt[keep...]), logits: .last) }
            func report(_ done: Int) {
                let elapsed = (clock.now - t0).seconds
                let p = PromptProgress(total: r.prompt.count, cache: keep, processed: keep + done, milliseconds: elapsed * 1000)
                _ = onText(GeneratedPiece(text: "", tokens: [], logprobs: [],
                                          // prompt_n so far: the tokens this request has computed.
                                          progress: GenerationProgress(promptTokens: keep + done, cachedTokens: keep,
                                                                       promptSeconds: elapsed),
                                          promptProgress: p))
            }
            report(0)
            session.batchObserver = report
            defer { session.batchObserver = nil }
            return try session.forward(Array(r.prompt[keep...]), logits: .last)
        }
        history = r.prompt
        let promptSeconds = (clock.now - t0).seconds
        let t1 = clock.now
        var sampler = Sampler(r.sampling)
        sampler.recordsDistribution = r.postSamplingProbs
        var decoder = tokenizer.makeStreamingDecoder(preserving: r.preservedTokens)
        var stopFilter = StopFilter(stops: r.stop)
        var text = "", stopType = StopType.limit
        var generatedTokens: [Int32] = [], logprobs: [TokenLogprob] = []
        var unsentTokens = 0, unsentLogprobs = 0
        var contextFull = false, shifted = false
        func progress() -> GenerationProgress {
            GenerationProgress(promptTokens: r.prompt.count, cachedTokens: keep, completionTokens: generatedTokens.count,
                               promptSeconds: promptSeconds, generationSeconds: (clock.now - t1).seconds)
        }
        var grammar = r.grammar
        func pick(_ row: UnsafeBufferPointer<Float>) throws -> Int32 {
            guard let grammar else { return sampler.sample(row) }
            return try grammar.sample(row, sampler: &sampler, scratch: &masked)
        }
        func emit(_ s: String) -> Bool {
            guard !s.isEmpty else { return true }
            text += s
            defer { unsentTokens = generatedTokens.count; unsentLogprobs = logprobs.count }
            return onText(GeneratedPiece(text: s, tokens: Array(generatedTokens[unsentTokens...]), logprobs: Array(logprobs[unsentLogprobs...]),
                                         progress: progress()))
        }
        loop: while generatedTokens.count < r.maxTokens {
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
            generatedTokens.append(token)
            if let n = r.topLogprobs {
                logprobs.append(r.postSamplingProbs ? TokenLogprob(id: token, distribution: sampler.lastDistribution, top: n)
                                                    : TokenLogprob(id: token, logits: logits, top: n))
            }
            if !r.ignoreEOS && tokenizer.eosTokens.contains(token) { stopType = .eos; break }
            try grammar?.accept(token)
            let (out, stopWord) = stopFilter.push(decoder.push(token))
            if !emit(out) { stopType = .none; break }
            if let stopWord { stopType = .word(stopWord); break loop }
            // The grammar is complete and takes nothing more: the only token left would be EOS.
            if grammar?.isFinished == true {
                stopType = .eos
                _ = emit(stopFilter.flush(decoder.finish()))
                break
            }
            if generatedTokens.count == r.maxTokens { break }
            if session.position >= session.cache.capacity {
                guard let shift = r.contextShift else { contextFull = true; break }
                try shiftContext(shift)
                shifted = true
            }
            logits = try session.forward(token: token, logits: .last)
            countDecode(1)
            history.append(token)
            status.withLock { $0.decoded = generatedTokens.count }
        }
        if stopType == .limit { _ = emit(stopFilter.flush(decoder.finish())) }
        // Tokens that produced no text (EOS, a stop string, an unfinished UTF-8 sequence) still
        // reach a streaming client, with their logprobs.
        if generatedTokens.count > unsentTokens && stopType != .none {
            _ = onText(GeneratedPiece(text: "", tokens: Array(generatedTokens[unsentTokens...]), logprobs: Array(logprobs[unsentLogprobs...]),
                                      progress: progress()))
        }
        return GenerationResult(text: text, promptTokens: r.prompt.count, completionTokens: generatedTokens.count, cachedTokens: keep,
                                stopType: stopType, tokens: generatedTokens, slotID: id, promptSeconds: promptSeconds,
                                generationSeconds: (clock.now - t1).seconds, logprobs: logprobs,
                                truncated: shifted || (stopType == .limit && (contextFull || (r.limitedByContext && generatedTokens.count == r.maxTokens))),
                                decodeCalls: decodeCalls, busySlotsAtDecodes: busySum)
    }
}

extension Slot {
    /// Drops a span after the kept head of the full slot and recomputes the rest at its new
    /// positions (a recurrent model from its latest checkpoint within the head).
    fileprivate func shiftContext(_ shift: ContextShift) throws {
        let (keep, discard) = shift.span(count: history.count, capacity: session.cache.capacity)
        history.removeSubrange(keep..<(keep + discard))
        let from = session.rewind(to: keep)
        if from < history.count { _ = try session.forward(Array(history[from...]), logits: .none) }
    }
}

/// Number of slots generating at once, across a server's slots.
final class BusyCount: Sendable {
    private let value = Atomic<Int>(0)
    var current: Int { value.load(ordering: .relaxed) }
    func enter() { value.add(1, ordering: .relaxed) }
    func leave() { value.subtract(1, ordering: .relaxed) }
}

/// A slot's state as GET /slots reports it.
struct SlotStatus: Sendable {
    var processing = false
    var request: GenerationRequest?
    var decoded = 0
}

/// Holds back text that could be the start of a stop string, so a stop split across tokens is
/// still caught and never shown.
struct StopFilter {
    let stops: [String]
    private var pending = ""

    init(stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    /// Returns the text safe to show, and the stop string reached, if any.
    mutating func push(_ piece: String) -> (String, String?) {
        pending += piece
        guard !stops.isEmpty else { defer { pending = "" }; return (pending, nil) }
        if let hit = stops.compactMap({ s in pending.range(of: s).map { (s, $0) } }).min(by: { $0.1.lowerBound < $1.1.lowerBound }) {
            let out = String(pending[..<hit.1.lowerBound])
            pending = ""
            return (out, hit.0)
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
        return (out, nil)
    }

    mutating func flush(_ tail: String) -> String {
        let (out, stopWord) = push(tail)
        if stopWord != nil { return out }
        defer { pending = "" }
        return out + pending
    }
}
