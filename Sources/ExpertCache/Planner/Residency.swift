/// Where a model's experts live, decided at load from the memory this process may use:
/// all resident in RAM (the fast layout), or streamed from the file into a RAM expert cache.
/// Pure: every figure is given, so the decision is testable without a model or a machine.
public struct MemoryFigures: Sendable, Equatable {
    /// Bytes the process may still take: MemAvailable and the cgroup's headroom, the lower.
    public var availableBytes: Int
    /// Non-expert weights in the layout they run in (attention, norms, embeddings, shared experts).
    public var residentBytes: Int
    /// Every routed expert in the layout it runs in.
    public var expertBytes: Int
    /// KV cache and recurrent state for the context and sequence count asked for.
    public var kvBytes: Int
    /// Scratch buffers of the forward pass.
    public var computeBytes: Int
    /// Extra buffers that streaming needs (staging for one call's misses, read buffers).
    public var streamingBytes: Int
    /// The smallest expert cache that streaming can run with (top-k experts per layer).
    public var minimumCacheBytes: Int
    /// Headroom left free (--moe-hot-cache-auto-reserve-mib).
    public var reserveBytes: Int

    public init(availableBytes: Int, residentBytes: Int, expertBytes: Int, kvBytes: Int, computeBytes: Int,
                streamingBytes: Int, minimumCacheBytes: Int, reserveBytes: Int) {
        self.availableBytes = availableBytes
        self.residentBytes = residentBytes
        self.expertBytes = expertBytes
        self.kvBytes = kvBytes
        self.computeBytes = computeBytes
        self.streamingBytes = streamingBytes
        self.minimumCacheBytes = minimumCacheBytes
        self.reserveBytes = reserveBytes
    }

    /// What must be resident whatever happens to the experts.
    public var baseBytes: Int { residentBytes + kvBytes + computeBytes + reserveBytes }
}

public enum ResidencyDecision: Sendable, Equatable {
    /// Every expert fits: load them all in the fast layout.
    case resident
    /// Experts stream from the file into a RAM cache of `cacheBytes`.
    case stream(cacheBytes: Int)
    /// Not even the minimum fits; the message gives the numbers.
    case refuse(String)
}

public enum ResidencyPlanner {
    public static func decide(_ f: MemoryFigures) -> ResidencyDecision {
        if f.baseBytes + f.expertBytes <= f.availableBytes { return .resident }
        let cache = f.availableBytes - f.baseBytes - f.streamingBytes
        if cache >= f.minimumCacheBytes { return .stream(cacheBytes: cache) }
        return .refuse("""
            not enough memory to run this model: \(mib(f.availableBytes)) MiB available, but the non-expert weights \
            (\(mib(f.residentBytes)) MiB), KV cache (\(mib(f.kvBytes)) MiB), compute buffers (\(mib(f.computeBytes)) MiB), \
            streaming buffers (\(mib(f.streamingBytes)) MiB), the smallest expert cache (\(mib(f.minimumCacheBytes)) MiB) \
            and the reserve (\(mib(f.reserveBytes)) MiB) need \
            \(mib(f.baseBytes + f.streamingBytes + f.minimumCacheBytes)) MiB; lower -c / --parallel or \
            --moe-hot-cache-auto-reserve-mib
            """)
    }

    /// One log line explaining a decision.
    public static func explain(_ d: ResidencyDecision, _ f: MemoryFigures) -> String {
        switch d {
        case .resident:
            return "experts resident: \(mib(f.expertBytes)) MiB of experts + \(mib(f.baseBytes - f.reserveBytes)) MiB "
                + "(weights, KV, compute) fit in \(mib(f.availableBytes)) MiB available with \(mib(f.reserveBytes)) MiB reserve"
        case .stream(let cache):
            return "experts streamed from disk: \(mib(f.expertBytes)) MiB of experts do not fit in \(mib(f.availableBytes)) MiB "
                + "available beside \(mib(f.baseBytes - f.reserveBytes)) MiB of weights, KV and compute and the "
                + "\(mib(f.reserveBytes)) MiB reserve; RAM expert cache \(mib(cache)) MiB "
                + "(\(String(format: "%.0f", Double(cache) * 100 / Double(max(1, f.expertBytes))))% of the experts)"
        case .refuse(let why):
            return why
        }
    }

    static func mib(_ b: Int) -> Int { b >> 20 }
}
