import Engine
import ExpertCache
import Foundation
import CUDA
import GPULane
import HotCache
import Logging

extension SeededGenerator {
    /// Uniform random token ids, llama-bench style (no tokenizer involved).
    mutating func tokens(_ n: Int, vocab: Int) -> [Int32] { (0..<n).map { _ in Int32(next() % UInt64(vocab)) } }
}

/// `hotmoe bench --sweep-cache`: seed 000's hit-rate sweep on this engine. Every budget gets its
/// own runtime (hot tier built from one profile); the runs are interleaved round-robin so slow
/// drift of a shared machine spreads over all budgets instead of biasing the last ones.
extension BenchCommand {
    /// What the two lanes are on a CPU-only build (see CachedExpertExecutor and HotTier).
    static let laneNote = """
        CPU only, no GPU backend: the hot tier is a resident, 64-byte aligned RAM copy of the chosen experts made at start-up; \
        the cold lane computes the other experts straight from the mmap'ed model file (page cache). Both lanes run the same \
        CPU kernels; when a MoE call has work in both, the lanes run concurrently with the threads split between them \
        (LLAMA_MOE_HOT_CACHE_PARALLEL=auto), else one lane gets every thread. With the file already in the page cache the hot \
        tier is not faster memory, so differences come from copy locality and lane scheduling, not from faster compute.
        """

    struct SweepOutput: Encodable {
        var model: String
        var test: String
        var threads: Int
        var repetitions: Int
        var lanes: String
        /// The engine without any hot-cache runtime (no telemetry, plain executor), for the runtime's overhead.
        var plainEngineSamples: [Double]
        var sweep: CacheSweep.Report
        enum CodingKeys: String, CodingKey {
            case model, test, threads, repetitions, lanes, plainEngineSamples = "plain_engine_samples_ts", sweep
        }
    }

    private struct Arm {
        var budget: CacheSweep.Budget?
        var runtime: MoERuntime?
        var executor: ExpertExecutor
        var samples: [Double] = []
    }

    /// What the lanes are with `--device CUDA<n>`.
    static let gpuLaneNote = """
        GPU hot lane: each budget's experts (the profile's ranking, then experts it never saw while the budget has room) are copied to VRAM in the file's layout and computed by the CUDA expert kernels \
        (gate/up -> SwiGLU -> down) on the GPU while the CPU computes the other experts from RAM (repacked unless --no-repack); results merge on the CPU in \
        slot order. Dense layers (attention, router, norms, output) stay on the CPU in this build, so the baseline row is \
        cold-only on the CPU, not llama.cpp's --cpu-moe with dense layers on the GPU.
        """

    func runSweep(model m: MoEModel, fileLayout: MoEModel, session: InferenceSession, threads: Int, gpu: KernelLibrary? = nil,
                  rng: inout SeededGenerator, logger: Logger) throws {
        let base = try cache.options(ctxSize: session.cache.capacity, parallel: 1, kvTypes: session.cache.types)
        guard base.cachePolicy == nil else { throw CLIError("--sweep-cache measures the static hot tier; drop --moe-cache-policy") }
        guard base.maxMiB == 0 else { throw CLIError("--sweep-cache chooses the budgets; give them with --sweep-mib a,b,c, not --moe-hot-cache-max-mib") }
        let userMiB = try sweepMiB.map { list in
            try list.split(separator: ",").map { s in
                guard let v = Int(s.trimmingCharacters(in: .whitespaces)), v >= 0 else { throw CLIError("--sweep-mib: '\(s)' is not a MiB count >= 0") }
                return v
            }
        }
        var o = base
        o.hotCache = nil
        o.maxMiB = 0
        // The baseline runtime has no hot tier: every expert on the cold lane, as in seed 000's
        // profiling run. It doubles as the profiler when no profile file is given.
        o.perfMode = .full
        let baseline = try MoERuntime(model: m, options: o, logger: logger)
        let plain = session.executor
        let profile: PerfProfile, source: String
        if let path = base.hotCache {
            profile = try baseline.loadProfile(path)
            source = "profile JSON \(path) (--moe-hot-cache)"
        } else {
            guard nPrompt > 0 else { throw CLIError("--sweep-cache needs a profile: --moe-hot-cache FILE, or -p > 0 for a profiling pass") }
            session.executor = baseline.makeExecutor(pool: session.pool)
            session.reset()
            try session.forward(rng.tokens(nPrompt, vocab: m.config.vocabSize), logits: .last)
            profile = baseline.perfProfile()
            source = "learned in this run: one profiling pass over \(nPrompt) random prompt tokens (not the decode tokens)"
            if let out = base.perfOut { try profile.save(to: URL(fileURLWithPath: out)) }
        }
        o.perfMode = .update  // counts hits for the real hit rate at the lowest counter overhead
        var arms = [Arm(budget: nil, runtime: nil, executor: plain)]
        for b in userMiB.map(CacheSweep.userBudgets) ?? CacheSweep.defaultBudgets(layout: baseline.layout) {
            o.maxMiB = b.mib
            let rt = b.mib == 0 ? baseline : try MoERuntime(model: m, options: o, logger: logger, profile: profile)
            // With --device the budget's experts go to VRAM (GPU hot lane); the baseline stays cold-only.
            // Experts the profiling pass never saw fill what the budget has left.
            if let gpu, b.mib > 0 {
                let plan = rt.plan.filled(layout: rt.layout, budgetBytes: b.mib * CacheBudget.mib)
                try rt.attachDevice(try CUDAExpertTier(library: gpu, model: fileLayout,
                                                       placement: TierPlacement(layout: rt.layout, device: plan, resident: nil)),
                                    plan: plan)
            }
            arms.append(Arm(budget: b, runtime: rt, executor: rt.makeExecutor(pool: session.pool)))
        }
        // Warm-up per arm (faults the mapping and the copies in), then clean counters.
        for a in arms {
            session.executor = a.executor
            _ = try BenchCommand.decodeRate(session, rng.tokens(8, vocab: m.config.vocabSize))
            a.runtime?.telemetry.setMode(.update, reset: true)
        }
        for r in 0..<repetitions {
            // Same tokens for every arm in a repetition; the starting arm rotates.
            let tokens = rng.tokens(nGen, vocab: m.config.vocabSize)
            for i in 0..<arms.count {
                let a = (i + r) % arms.count
                session.executor = arms[a].executor
                arms[a].samples.append(try BenchCommand.decodeRate(session, tokens))
            }
            let line = arms.map { String(format: "%@ %.2f", $0.budget.map { "\($0.mib) MiB" } ?? "plain", $0.samples.last!) }.joined(separator: ", ")
            logger.info("sweep repetition \(r + 1)/\(repetitions): \(line) t/s")
        }
        session.executor = plain
        let rows = arms.compactMap { a -> CacheSweep.Row? in
            guard let b = a.budget, let rt = a.runtime else { return nil }
            let metrics = rt.metrics
            return CacheSweep.Row(budget: b, hotExperts: metrics.hotExperts, cacheMiB: Double(metrics.cacheBytes) / Double(CacheBudget.mib),
                                  hitRate: metrics.hitRate, samples: a.samples)
        }
        let report = CacheSweep.Report(profileSource: source, totalExperts: baseline.layout.totalExperts, rows: rows)
        let out = SweepOutput(model: BenchCommand.describe(m), test: "tg\(nGen)", threads: threads, repetitions: repetitions,
                              lanes: gpu == nil ? BenchCommand.laneNote : BenchCommand.gpuLaneNote, plainEngineSamples: arms[0].samples, sweep: report)
        try printSweep(out)
    }

    private func printSweep(_ out: SweepOutput) throws {
        if output == "json" {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(out), as: UTF8.self))
            return
        }
        let plain = SampleStats(out.plainEngineSamples)
        print("hot-cache sweep: \(out.model), \(out.test), \(out.repetitions) repetitions, \(out.threads) threads")
        print("profile: \(out.sweep.profileSource)")
        print("")
        out.sweep.markdownTable().forEach { print($0) }
        print("")
        print("break-even hit rate: \(out.sweep.breakEven.description)")
        print(String(format: "plain engine (no hot-cache runtime, no counters): %.2f ± %.2f t/s; the baseline row runs the same runtime as the cache rows with an empty hot tier, so the ratio isolates the cache.", plain.mean, plain.stddev))
        print("hit rate: selections served by the hot tier / all selections during the timed decode runs (runtime counters).")
        print("lanes: " + out.lanes)
    }
}
