import Foundation
import HotCache
import Prometheus
import Synchronization

/// /metrics in Prometheus text format via swift-prometheus. Names follow llama-server's
/// `llamacpp:` metrics where one exists, prefixed `hotmoe_`. Counters move as requests end;
/// gauges that mirror live state (slots, queue, hot tier) are refreshed on each scrape.
final class ServerMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let requests, errors, promptTokens, generatedTokens: Counter
    private let promptSeconds, generationSeconds: Counter
    private let requestSeconds: ValueHistogram
    private let promptRate, generationRate, busy, queued, slots: Gauge
    private let hitRate, windowHitRate, hotExperts, experts, cacheBytes, cacheMiB: Gauge
    private let readMiB, readSeconds, readBandwidth, readPerToken, lookaheadPrecision, lookaheadOn: Gauge

    init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func counter(_ name: String, _ help: String) -> Counter { registry.makeCounter(descriptor: Self.descriptor(name, help)) }
        func gauge(_ name: String, _ help: String) -> Gauge { registry.makeGauge(descriptor: Self.descriptor(name, help)) }
        requests = counter("requests_total", "Completed completion requests.")
        errors = counter("request_errors_total", "Requests answered with an error.")
        promptTokens = counter("prompt_tokens_total", "Prompt tokens processed (cached prefixes excluded).")
        generatedTokens = counter("tokens_predicted_total", "Tokens generated.")
        promptSeconds = counter("prompt_seconds_total", "Seconds spent on prompt processing.")
        generationSeconds = counter("tokens_predicted_seconds_total", "Seconds spent generating tokens.")
        requestSeconds = registry.makeValueHistogram(
            descriptor: Self.descriptor("request_duration_seconds", "Prompt plus generation time of completed requests."),
            buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120])
        promptRate = gauge("prompt_tokens_seconds", "Average prompt throughput in tokens/s.")
        generationRate = gauge("predicted_tokens_seconds", "Average generation throughput in tokens/s.")
        busy = gauge("requests_processing", "Slots busy.")
        queued = gauge("requests_deferred", "Requests waiting for a slot (queue depth).")
        slots = gauge("slots", "Inference slots (--parallel).")
        hitRate = gauge("moe_hit_rate", "Share of selected experts served by the hot tier (cumulative).")
        windowHitRate = gauge("moe_window_hit_rate", "Hot-tier hit rate over the recent window.")
        hotExperts = gauge("moe_hot_experts", "Experts resident in the hot tier.")
        experts = gauge("moe_experts", "Experts in the model (MoE layers x experts).")
        cacheBytes = gauge("moe_cache_bytes", "Bytes of the hot tier.")
        cacheMiB = gauge("moe_cache_mib", "MiB of the hot tier.")
        readMiB = gauge("moe_stream_read_mib", "MiB of experts read from the model file (streaming; cumulative).")
        readSeconds = gauge("moe_stream_read_busy_seconds", "Seconds with at least one expert read in flight (cumulative).")
        readBandwidth = gauge("moe_stream_read_mib_per_second", "Read bandwidth while reading: read MiB / busy seconds.")
        readPerToken = gauge("moe_stream_read_mib_per_token", "MiB read from disk per processed token (prompt + generated).")
        lookaheadPrecision = gauge("moe_lookahead_precision", "Share of next-layer experts the lookahead guessed right.")
        lookaheadOn = gauge("moe_lookahead_enabled", "1 while lookahead read-ahead runs.")
    }

    // The averages are derived from the counters' inputs, kept here because Prometheus
    // counters cannot be read back.
    private struct Totals {
        var prompt = 0, generated = 0, promptSeconds = 0.0, generationSeconds = 0.0
        var cached = 0, decodes = 0, busyAtDecodes = 0, longestSequence = 0
    }
    private let totals = Mutex(Totals())

    func record(_ r: GenerationResult) {
        let processed = max(0, r.promptTokens - r.cachedTokens)
        requests.increment()
        promptTokens.increment(by: Int64(processed))
        generatedTokens.increment(by: Int64(r.completionTokens))
        promptSeconds.increment(by: r.promptSeconds)
        generationSeconds.increment(by: r.generationSeconds)
        requestSeconds.record(r.promptSeconds + r.generationSeconds)
        totals.withLock { t in
            t.prompt += processed; t.generated += r.completionTokens
            t.promptSeconds += r.promptSeconds; t.generationSeconds += r.generationSeconds
            t.cached += r.cachedTokens; t.decodes += r.decodeCalls; t.busyAtDecodes += r.busySlotsAtDecodes
            t.longestSequence = max(t.longestSequence, r.promptTokens + r.completionTokens)
            promptRate.set(t.promptSeconds > 0 ? Double(t.prompt) / t.promptSeconds : 0)
            generationRate.set(t.generationSeconds > 0 ? Double(t.generated) / t.generationSeconds : 0)
        }
    }

    func recordError() { errors.increment() }

    /// An embedding request: its prompt costs forward passes but no token is generated.
    func recordEmbedding(promptTokens n: Int, decodeCalls: Int) {
        promptTokens.increment(by: Int64(n))
        totals.withLock { $0.prompt += n; $0.decodes += decodeCalls; $0.busyAtDecodes += decodeCalls }
    }

    func render(busy busyCount: Int, queued queuedCount: Int, slots slotCount: Int, runtime: MoERuntime) -> String {
        busy.set(Double(busyCount)); queued.set(Double(queuedCount)); slots.set(Double(slotCount))
        let m = runtime.metrics
        hitRate.set(finite(m.hitRate)); windowHitRate.set(finite(m.windowHitRate))
        hotExperts.set(Double(m.hotExperts)); experts.set(Double(m.totalExperts))
        cacheBytes.set(Double(m.cacheBytes)); cacheMiB.set(Double(m.cacheBytes) / 1_048_576)
        if let r = runtime.readStats {
            let mib = Double(r.bytes) / 1_048_576, seconds = Double(r.busyNanos) / 1e9
            readMiB.set(mib); readSeconds.set(seconds); readBandwidth.set(seconds > 0 ? mib / seconds : 0)
            let tokens = totals.withLock { $0.prompt + $0.generated }
            readPerToken.set(tokens > 0 ? mib / Double(tokens) : 0)
        }
        if let p = runtime.prefetchStats {
            lookaheadPrecision.set(finite(p.precision)); lookaheadOn.set(p.enabled ? 1.0 : 0.0)
        }
        // The registry hands back the gauge it already has for a name and label set.
        for (layer, rate) in m.perLayerHitRate {
            registry.makeGauge(descriptor: Self.descriptor("moe_layer_hit_rate", "Hot-tier hit rate per MoE layer."),
                               labels: [("layer", String(layer))]).set(finite(rate))
        }
        return registry.emitToString() + llamaCppMetrics(busy: busyCount, queued: queuedCount)
    }

    /// llama-server's own `llamacpp:*` names, so its dashboards and tests read hotmoe unchanged.
    /// (The Prometheus library would turn the colon into an underscore, so this block is written
    /// directly, in the exposition format.)
    private func llamaCppMetrics(busy: Int, queued: Int) -> String {
        let t = totals.withLock { $0 }
        let counters: [(String, String, Double)] = [
            ("prompt_tokens_total", "Number of prompt tokens processed, excluding cached tokens", Double(t.prompt)),
            ("prompt_tokens_cached_total", "Number of prompt tokens reused from the cache", Double(t.cached)),
            ("prompt_seconds_total", "Total time spent processing prompts", t.promptSeconds),
            ("tokens_predicted_total", "Number of generation tokens processed", Double(t.generated)),
            ("tokens_predicted_seconds_total", "Total time spent generating tokens", t.generationSeconds),
            ("n_decode_total", "Total number of forward passes (llama_decode() calls)", Double(t.decodes)),
            ("n_tokens_max", "Largest observed sequence length (prompt + generation)", Double(t.longestSequence)),
            ("spec_decode_num_draft_tokens_total", "Speculative: Total draft tokens generated (hotmoe has no speculative decoding)", 0),
            ("spec_decode_num_accepted_tokens_total", "Speculative: Total draft tokens accepted (hotmoe has no speculative decoding)", 0),
            ("spec_decode_num_drafts_total", "Speculative: Total verification steps (hotmoe has no speculative decoding)", 0),
        ]
        let gauges: [(String, String, Double)] = [
            ("prompt_tokens_seconds", "Average prompt throughput in tokens/s", t.promptSeconds > 0 ? Double(t.prompt) / t.promptSeconds : 0),
            ("predicted_tokens_seconds", "Average generation throughput in tokens/s",
             t.generationSeconds > 0 ? Double(t.generated) / t.generationSeconds : 0),
            ("requests_processing", "Number of requests processing", Double(busy)),
            ("requests_deferred", "Number of requests deferred", Double(queued)),
            ("n_busy_slots_per_decode", "Average number of busy slots per forward pass", Double(t.busyAtDecodes) / Double(max(t.decodes, 1))),
        ]
        var out = ""
        for (kind, items) in [("counter", counters), ("gauge", gauges)] {
            for (name, help, value) in items {
                out += "# HELP llamacpp:\(name) \(help)\n# TYPE llamacpp:\(name) \(kind)\nllamacpp:\(name) \(value)\n"
            }
        }
        return out
    }

    /// `hotmoe_NAME`; the unit is already part of NAME where there is one.
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "hotmoe", metricName: name, unitName: "", helpText: help)
    }

    private func finite(_ v: Double) -> Double { v.isFinite ? v : 0 }
}
