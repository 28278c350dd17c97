import ArgumentParser
import Engine
import ExpertCache
import Foundation
import GGUF
import HotCache
import Logging

/// Seed 000's hot-cache flags; each also reads its env var and INI key (see HotCacheOptions).
struct HotCacheFlags: ParsableArguments {
    @Flag(name: .customLong("cpu-moe"), help: "Keep the MoE experts on the CPU (the cold tier); the hot cache adds fast copies.")
    var cpuMoE = false
    @Option(name: .customLong("moe-layer-perf-out"), help: "Profiling run: write the MoE perf JSON here after requests and at exit.")
    var perfOut: String?
    @Option(name: [.customLong("moe-hot-cache"), .customLong("moe-hot-cache-json")], help: "Perf JSON that selects the initial hot experts.")
    var hotCache: String?
    @Option(name: .customLong("moe-hot-cache-max-mib"), help: "Hot-cache budget: 0 off, >0 MiB, -1 auto.")
    var maxMiB: Int?
    @Option(name: .customLong("moe-hot-cache-auto-reserve-mib"), help: "MiB left free by the auto budget and the RAM residency decision (default 1024; for RAM at most a tenth of what is available, at least 256).")
    var autoReserveMiB: Int?
    @Option(name: .customLong("moe-hot-cache-update-rate"), help: "Fraction of hot entries replaced after each request (0...1).")
    var updateRate: Double?
    @Option(name: [.customLong("moe-hot-cache-weighting"), .customLong("moe-hot-cache-qwen-weighting")],
            help: "Ranking: flat, pressure, smooth, time, balanced.")
    var weighting: String?
    @Option(name: [.customLong("moe-hot-cache-layer-curve"), .customLong("moe-hot-cache-qwen-layer-curve")],
            help: "How strongly pressure/time modes favour slow layers (0...1).")
    var layerCurve: Double?
    @Flag(name: .customLong("no-perf"), help: "Start with MoE perf counters off (clean throughput runs).")
    var noPerf = false
    @Option(name: .customLong("moe-cache-policy"), help: "Load-on-miss expert cache: lru, lfu, lfu-decay, window-lfu, lfru, pinned (profile pinned + LRU).")
    var cachePolicy: String?
    @Option(name: .customLong("moe-cache-capacity"), help: "Load-on-miss cache size in experts per layer (else from --moe-hot-cache-max-mib).")
    var cacheCapacity: Int?
    @Flag(name: .customLong("moe-stream"), help: "Stream experts from disk into the RAM expert cache even if they fit (chosen automatically when they do not).")
    var stream = false
    @Option(name: .customLong("moe-prefetch"), help: "Streaming: read the next layer's guessed experts ahead: off (default), on, auto (on if most guesses are right).")
    var prefetch: String?
    @Option(name: .customLong("config"), help: "INI file of settings (long flag names without --).")
    var config: String?
    @Option(name: .customLong("device"), help: "CUDA0, CUDA1, ...: hot experts in that GPU's VRAM (budget: --moe-hot-cache-max-mib, default all that fits; --cpu-moe without a budget keeps them on the CPU), computed there while the CPU computes the rest; none (default): CPU only.")
    var device: String?
    @Option(name: [.customLong("n-gpu-layers"), .customLong("gpu-layers")], help: "The VRAM tier takes the experts of the last N layers only (llama.cpp's -ngl; auto, all or -1: every layer; 0: none). Given without --device it means --device CUDA0. Dense layers stay on the CPU in this build.")
    var nGpuLayers: String?
    @Option(name: .customLong("n-cpu-moe"), help: "With the VRAM tier: the experts of the first N layers stay on the CPU (llama.cpp's --n-cpu-moe).")
    var nCpuMoE: Int?
    @Flag(name: .customLong("no-repack"), help: "Keep Q4_K/Q8_0/Q4_1/Q5_0/Q5_1/IQ4_NL/MXFP4 weights in the file's layout instead of repacking them for the AVX2 eight-row kernels (slower; also HOTMOE_NO_REPACK=1).")
    var noRepack = false

    func options(ctxSize: Int, parallel: Int, kvTypes: KVCacheTypes, slidingWindow: SlidingWindowRows = .window,
                 maxBatch: Int = 256) throws -> HotCacheOptions {
        var cli = HotCacheOptions.CommandLine()
        cli.cpuMoE = cpuMoE ? true : nil
        cli.perfOut = perfOut
        cli.hotCache = hotCache
        cli.maxMiB = maxMiB
        cli.autoReserveMiB = autoReserveMiB
        cli.updateRate = updateRate
        cli.weighting = weighting
        cli.layerCurve = layerCurve
        cli.noPerf = noPerf
        cli.cachePolicy = cachePolicy
        cli.cacheCapacity = cacheCapacity
        cli.stream = stream ? true : nil
        cli.prefetch = prefetch
        let source = try settings()
        var o = try HotCacheOptions.resolve(cli, source: source)
        o.ctxSize = ctxSize
        o.parallelSequences = parallel
        o.kvCacheTypes = kvTypes
        o.kvSlidingWindow = slidingWindow
        o.kvMaxBatch = maxBatch
        return o
    }

    /// The environment and the --config INI file (its keys checked against `iniKeys`).
    func settings() throws -> SettingsSource {
        try SettingsSource(iniPath: config, knownKeys: config == nil ? nil : HotCacheFlags.iniKeys)
    }

    /// The device named by --device, LLAMA_ARG_DEVICE or the INI file's `device` key.
    func namedDevice() throws -> String? {
        if let device { return device }
        let source = try settings()
        return source.value("device", env: ["LLAMA_ARG_DEVICE"])
    }

    /// The named device, else CUDA0 when -ngl asks for GPU layers (llama.cpp uses its GPU
    /// whenever -ngl offloads any).
    func deviceName() throws -> String? {
        if let named = try namedDevice() { return named }
        return try gpuLayersValue() != nil && gpuLayers() != 0 ? "CUDA0" : nil
    }

    /// -ngl as given: the flag, else LLAMA_ARG_N_GPU_LAYERS, else the INI's `n-gpu-layers`.
    private func gpuLayersValue() throws -> String? {
        if let nGpuLayers { return nGpuLayers }
        let source = try settings()
        return source.value("n-gpu-layers", env: ["LLAMA_ARG_N_GPU_LAYERS"])
    }

    /// --n-cpu-moe: the flag, else LLAMA_ARG_N_CPU_MOE, else the INI's `n-cpu-moe`; 0 when absent.
    func cpuMoELayers() throws -> Int {
        if let nCpuMoE { return max(0, nCpuMoE) }
        let source = try settings()
        return max(0, try source.int("n-cpu-moe", env: ["LLAMA_ARG_N_CPU_MOE"]) ?? 0)
    }

    /// -ngl as a layer count, nil for every layer (auto, all, -1 or absent).
    func gpuLayers() throws -> Int? {
        guard let v = try gpuLayersValue()?.lowercased(), !["auto", "all", "-1"].contains(v) else { return nil }
        guard let n = Int(v), n >= 0 else { throw CLIError("--n-gpu-layers \(v): expected a layer count >= 0, auto, all or -1") }
        return n
    }

    /// Whether the decode layout is wanted: on unless --no-repack or HOTMOE_NO_REPACK.
    var repack: Bool {
        !noRepack && ProcessInfo.processInfo.environment["HOTMOE_NO_REPACK"].map({ $0 != "0" }) != true
    }

    /// INI keys accepted by commands that use these flags (cache settings plus model/server ones).
    static let iniKeys: Set<String> = HotCacheOptions.settingKeys.union([
        "model", "threads", "ctx-size", "batch-size", "host", "port", "parallel", "n-predict", "temp", "top-k", "top-p",
        "min-p", "seed", "n-gpu-layers", "n-cpu-moe", "device", "flash-attn", "ubatch-size", "alias", "api-key", "moe-trace-out", "swa-full",
    ])

    /// Loads `file` with its experts resident if they fit in the memory this process may
    /// use, else streamed from the file into a RAM expert cache (explicit flags win), and the
    /// runtime when any cache feature is asked for or streaming needs one (`always`: the server).
    /// `kvTypes` are checked against the model's head widths here.
    /// With --device CUDA<n> (and `attachDevice`), the runtime gets the VRAM tier instead of a
    /// RAM hot tier; without a usable GPU one warning line, and the CPU path as asked.
    func load(file: GGUFFile, ctxSize: (MoEModel) -> Int, parallel: Int, maxBatch: Int, kvTypes: KVCacheTypes,
              slidingWindow: SlidingWindowRows = .window, always: Bool = false, attachDevice: Bool = true,
              logger: Logger) throws -> (MoEModel, MoERuntime?) {
        let base = try MoEModel(file: file)
        try kvTypes.check(config: base.config)
        let o = try options(ctxSize: ctxSize(base), parallel: parallel, kvTypes: kvTypes, slidingWindow: slidingWindow, maxBatch: maxBatch)
        let (model, resolved) = try AutoResidency.prepare(model: base, options: o, repack: repack, maxBatch: maxBatch, logger: logger)
        let device = try deviceName()
        let gpu = attachDevice ? try GPUSetup.open(device, logger: logger) : nil
        guard always || resolved.wantsRuntime || resolved.cpuMoE || gpu != nil else { return (model, nil) }
        guard let gpu, let device else { return (model, try MoERuntime(model: model, options: resolved, logger: logger)) }
        // The VRAM tier replaces the RAM hot tier: no RAM copy of the budget is made first.
        var runtimeOptions = resolved
        runtimeOptions.hotCache = nil
        runtimeOptions.maxMiB = 0
        let runtime = try MoERuntime(model: model, options: runtimeOptions, logger: logger)
        let layers = DeviceTierPlan.deviceLayers(moeLayers: runtime.layout.moeLayers, layerCount: model.config.layerCount,
                                                 gpuLayers: try gpuLayers(), cpuMoELayers: try cpuMoELayers())
        try DeviceTierSetup.attach(gpu, device: device, named: try namedDevice() != nil, runtime: runtime, model: model, file: file,
                                   options: resolved, layers: layers, logger: logger)
        return (model, runtime)
    }
}

extension MoERuntime {
    /// One line for logs: hit rate and cache size.
    var summaryLine: String {
        let m = metrics
        return String(format: "MoE hot-cache: %d/%d experts hot, %.1f MiB, hit rate %.2f%% (window %.2f%%)",
                      m.hotExperts, m.totalExperts, Double(m.cacheBytes) / 1048576, m.hitRate * 100, m.windowHitRate * 100)
    }

    /// Streaming figures for logs: MiB read per token, read bandwidth, lookahead accuracy.
    func streamingLine(tokens: Int) -> String? {
        guard let r = readStats else { return nil }
        let mib = Double(r.bytes) / 1048576
        let seconds = Double(r.busyNanos) / 1e9
        var line = String(format: "MoE streaming: %.1f MiB read in %d expert reads (%.2f MiB/token over %d tokens), %.0f MiB/s while reading (%@)",
                          mib, r.reads, mib / Double(max(1, tokens)), tokens, seconds > 0 ? mib / seconds : 0,
                          r.directIO ? "O_DIRECT" : "buffered")
        if let p = prefetchStats, p.predictions > 0 {
            line += String(format: "; lookahead %@: %.1f%% of next-layer experts guessed, %d of %d misses read ahead",
                           p.enabled ? "on" : "off", p.precision * 100, p.missesPrefetched, p.misses)
        }
        return line
    }
}
