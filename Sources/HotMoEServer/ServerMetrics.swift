import Foundation
import HotCache

/// Counters for /metrics, in Prometheus text exposition format (names follow llama-server's
/// `llamacpp:` metrics where one exists, prefixed `hotmoe_`).
final class ServerMetrics: @unchecked Sendable {
    private let lock = NSLock()
    private var requests = 0, errors = 0, promptTokens = 0, generatedTokens = 0
    private var promptSeconds = 0.0, generationSeconds = 0.0

    func record(_ r: GenerationResult) {
        lock.lock(); defer { lock.unlock() }
        requests += 1
        promptTokens += r.promptTokens - r.cachedTokens
        generatedTokens += r.completionTokens
        promptSeconds += r.promptSeconds
        generationSeconds += r.generationSeconds
    }

    func recordError() {
        lock.lock(); errors += 1; lock.unlock()
    }

    func render(busy: Int, queued: Int, slots: Int, runtime: MoERuntime) -> String {
        lock.lock(); defer { lock.unlock() }
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ lines: [(String, Double)]) {
            out += "# HELP hotmoe_\(name) \(help)\n# TYPE hotmoe_\(name) \(type)\n"
            for (labels, v) in lines { out += "hotmoe_\(name)\(labels) \(v.isFinite ? String(v) : "0")\n" }
        }
        metric("requests_total", "counter", "Completed completion requests.", [("", Double(requests))])
        metric("request_errors_total", "counter", "Requests answered with an error.", [("", Double(errors))])
        metric("prompt_tokens_total", "counter", "Prompt tokens processed (cached prefixes excluded).", [("", Double(promptTokens))])
        metric("tokens_predicted_total", "counter", "Tokens generated.", [("", Double(generatedTokens))])
        metric("prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s.", [("", promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0)])
        metric("predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s.", [("", generationSeconds > 0 ? Double(generatedTokens) / generationSeconds : 0)])
        metric("requests_processing", "gauge", "Slots busy.", [("", Double(busy))])
        metric("requests_deferred", "gauge", "Requests waiting for a slot (queue depth).", [("", Double(queued))])
        metric("slots", "gauge", "Inference slots (--parallel).", [("", Double(slots))])
        let m = runtime.metrics
        metric("moe_hit_rate", "gauge", "Share of selected experts served by the hot tier (cumulative).", [("", m.hitRate)])
        metric("moe_window_hit_rate", "gauge", "Hot-tier hit rate over the recent window.", [("", m.windowHitRate)])
        metric("moe_layer_hit_rate", "gauge", "Hot-tier hit rate per MoE layer.",
               m.perLayerHitRate.sorted { $0.key < $1.key }.map { ("{layer=\"\($0.key)\"}", $0.value) })
        metric("moe_hot_experts", "gauge", "Experts resident in the hot tier.", [("", Double(m.hotExperts))])
        metric("moe_experts", "gauge", "Experts in the model (MoE layers x experts).", [("", Double(m.totalExperts))])
        metric("moe_cache_bytes", "gauge", "Bytes of the hot tier.", [("", Double(m.cacheBytes))])
        metric("moe_cache_mib", "gauge", "MiB of the hot tier.", [("", Double(m.cacheBytes) / 1_048_576)])
        return out
    }
}
