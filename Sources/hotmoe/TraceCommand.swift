import ArgumentParser
import Engine
import ExpertCache
import Foundation
import GGUF
import HotCache
import Tokenizer

/// Runs prompts and records, per token and MoE layer, the selected experts and their weights.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace", abstract: "Record expert routing for a set of prompts (for hotmoe analyze).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingOptions
    @Option(name: .customLong("prompts"), help: "JSONL: {\"prompt\": ..., \"domain\": ...} objects, JSON strings, or plain text lines.")
    var prompts: String
    @Option(name: [.short, .customLong("out")], help: "Trace file to write.") var out: String
    @Option(name: [.short, .customLong("n-predict")], help: "Tokens to generate after each prompt.") var nPredict = 64
    @Flag(name: .customLong("chat"), help: "Wrap each prompt in the chat template.") var chat = false
    @OptionGroup(title: "Chat template (with --chat)") var chatTemplate: ChatTemplateFlags

    static func parsePrompts(_ text: String) throws -> [(prompt: String, domain: String)] {
        var out = [(String, String)]()
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("{") || line.hasPrefix("\"") {
                let value: Any
                do { value = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed]) } catch {
                    throw CLIError("--prompts line \(i + 1): malformed JSON")
                }
                if let s = value as? String { out.append((s, "")); continue }
                guard let o = value as? [String: Any], let p = o["prompt"] as? String else {
                    throw CLIError("--prompts line \(i + 1): expected {\"prompt\": string, \"domain\"?: string}")
                }
                out.append((p, o["domain"] as? String ?? ""))
            } else {
                out.append((line, ""))
            }
        }
        guard !out.isEmpty else { throw CLIError("--prompts: no prompts found") }
        return out
    }

    func run() throws {
        Log.setup(verbose: modelOptions.verbose)
        let logger = Log.main
        do {
            let items = try TraceCommand.parsePrompts(try String(contentsOfFile: prompts, encoding: .utf8))
            let (model, tokenizer, _, runtime) = try modelOptions.load(logger: logger)
            let c = model.config
            let render = chat ? try chatTemplate.renderer(tokenizer: tokenizer, logger: logger) : nil
            let session = InferenceSession(model: model, contextSize: modelOptions.contextSize(for: model),
                                           maxBatch: modelOptions.batchSize, threads: modelOptions.threadCount)
            if let runtime { session.executor = runtime.makeExecutor(pool: session.pool) }
            // The trace also records the lookahead guesses, so `analyze` can model read-ahead.
            let writer = try TraceWriter(path: out, header: TraceHeader(model: model, lookahead: true))
            let collector = RouteCollector(model: model, lookaheadPool: session.pool)
            collector.attach(to: session)
            var totalTokens = 0
            for (i, item) in items.enumerated() {
                collector.reset()
                session.reset()
                let text = try render?([ChatMessage(role: "user", content: item.prompt)]) ?? item.prompt
                var tokens = tokenizer.encode(text, parseSpecial: chat)
                let room = session.cache.capacity - nPredict
                guard room > 0 else { throw CLIError("--n-predict \(nPredict) leaves no room in the context of \(session.cache.capacity)") }
                if tokens.count > room {
                    logger.warning("prompt \(i + 1): \(tokens.count) tokens truncated to \(room) to fit the context")
                    tokens = Array(tokens.prefix(room))
                }
                var sampler = Sampler(sampling.params)
                let stats = try Generator.generate(session: session, prompt: tokens, maxTokens: nPredict, sampler: &sampler,
                                                   stopTokens: tokenizer.eosTokens) { _ in true }
                if stats.stoppedBy == .nonFiniteLogits { throw CLIError("prompt \(i + 1): \(NonFiniteLogitsError(position: session.position))") }
                let (routing, w) = try collector.sequence()
                let seen = routing.tokenCount
                try writer.append(domain: item.domain, routing: routing, weights: w)
                totalTokens += seen
                logger.info("trace: prompt \(i + 1)/\(items.count) (\(item.domain.isEmpty ? "-" : item.domain)): \(seen) tokens")
            }
            try writer.close()
            logger.info("wrote \(out): \(items.count) sequences, \(totalTokens) tokens, \(c.moeLayers.count) MoE layers, top-\(c.expertsUsed) of \(c.expertCount)")
        } catch let e as CLIError {
            throw e
        } catch {
            throw CLIError("\(error)")
        }
    }
}
