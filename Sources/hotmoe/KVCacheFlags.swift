import ArgumentParser
import Engine

/// llama.cpp's -ctk / -ctv: the KV cache's key and value row types (default f16, as there).
struct KVCacheFlags: ParsableArguments {
    @Option(name: [.customLong("ctk", withSingleDash: true), .customLong("cache-type-k")],
            help: "KV cache type for keys: \(KVCacheType.allCases.map(\.rawValue).joined(separator: ", ")) (default: f16, as llama.cpp).")
    var cacheTypeK = KVCacheTypes.commandLineDefault.keys.rawValue
    @Option(name: [.customLong("ctv", withSingleDash: true), .customLong("cache-type-v")],
            help: "KV cache type for values: \(KVCacheType.allCases.map(\.rawValue).joined(separator: ", ")) (default: f16, as llama.cpp).")
    var cacheTypeV = KVCacheTypes.commandLineDefault.values.rawValue
    @Flag(name: .customLong("swa-full"), help: "Keep every position's KV rows in sliding-window layers (gemma4, gpt-oss), so any prompt prefix can be resumed; by default they keep only their window plus two batches, as llama.cpp does.")
    var swaFull = false

    var slidingWindow: SlidingWindowRows { swaFull ? .full : .window }

    func validate() throws {
        _ = try types()
    }

    func types() throws -> KVCacheTypes {
        do {
            return KVCacheTypes(keys: try KVCacheType.parse(cacheTypeK, flag: "--cache-type-k"),
                                values: try KVCacheType.parse(cacheTypeV, flag: "--cache-type-v"))
        } catch let e as KVCacheTypeError {
            throw ValidationError(e.description)
        }
    }
}
