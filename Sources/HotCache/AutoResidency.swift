import Engine
import ExpertCache
import Foundation
import Logging

/// The load-time choice between resident experts and streaming (issue: models larger than
/// RAM must run with no extra flags): figures from the model and options, the decision from
/// `ResidencyPlanner`, then the model in the matching layout and the options that run it.
public enum AutoResidency {
    /// The policy streaming uses without --moe-cache-policy: the best online policy measured
    /// on the trained default model's held-out prompts and the bench model (docs/analysis.md).
    public static let defaultPolicy = "lru"

    /// Memory figures for `model` (loaded in the file's layout) under `options`.
    public static func figures(model: MoEModel, options o: HotCacheOptions, repack: Bool, maxBatch: Int,
                               availableBytes: Int) -> MemoryFigures {
        let c = model.config, w = model.weights
        let sequences = max(1, o.parallelSequences)
        let expertFile = w.fileExpertBytes
        let formats = w.layers.map { ExpertSlotFormat(layer: $0, fastLayout: repack) }
        let largestSlot = formats.map(\.slotBytes).max() ?? 0
        let readBuffer = formats.map(\.readBufferBytes).max() ?? 0
        let perTokenFloats = 16 * c.embeddingLength + 2 * c.expertFFLength * c.expertsUsed + c.expertCount
        // The cache's spare buffers take one call's misses: up to every expert of a layer.
        let staging = c.expertCount * largestSlot
        return MemoryFigures(
            availableBytes: availableBytes,
            residentBytes: model.file.fileSize - expertFile + (repack ? w.denseRepackGrowth : 0),
            expertBytes: repack ? w.fastExpertBytes : expertFile,
            kvBytes: kvCacheBytes(config: c, capacity: o.ctxSize, sequences: sequences, types: o.kvCacheTypes,
                                  slidingWindow: o.kvSlidingWindow, maxBatch: maxBatch),
            computeBytes: sequences * ((64 << 20) + maxBatch * perTokenFloats * 4 + c.vocabSize * 4),
            streamingBytes: staging + sequences * (16 + c.expertsUsed) * readBuffer,
            minimumCacheBytes: c.expertsUsed * formats.reduce(0) { $0 + $1.slotBytes },
            reserveBytes: reserveBytes(o, availableBytes: availableBytes))
    }

    /// RAM left free: the given --moe-hot-cache-auto-reserve-mib, else its 1024 MiB default
    /// scaled to a tenth of what is available, at least 256 MiB (seed 000's default was sized
    /// for VRAM; on a machine short of RAM a fixed GiB would halve the expert cache).
    public static func reserveBytes(_ o: HotCacheOptions, availableBytes: Int) -> Int {
        let given = max(0, o.autoReserveMiB) << 20
        return o.autoReserveGiven ? given : min(given, max(256 << 20, availableBytes / 10))
    }

    /// Whether the options already say where experts live (explicit flags win over auto).
    public static func isExplicit(_ o: HotCacheOptions) -> Bool { o.stream || o.cachePolicy != nil }

    /// The model to run and the options to run it with. `model` is the file-layout model;
    /// `repack` whether the decode layout is wanted. Streaming switches the options to the
    /// RAM expert cache over the file (a --moe-hot-cache profile pins its experts there).
    public static func prepare(model: MoEModel, options: HotCacheOptions, repack: Bool, maxBatch: Int, logger: Logger,
                               availableBytes: Int? = MemoryLimits.availableBytes()) throws -> (MoEModel, HotCacheOptions) {
        var o = options
        if isExplicit(o) {
            if o.stream && o.cachePolicy == nil { o.cachePolicy = o.hotCache != nil ? "pinned" : defaultPolicy }
            if o.cacheCapacity == nil && o.maxMiB == 0, let available = availableBytes {
                // A policy without a size: the cache takes what memory leaves, as auto streaming does.
                let f = figures(model: model, options: o, repack: repack, maxBatch: maxBatch, availableBytes: available)
                let room = available - f.baseBytes - (o.stream ? f.streamingBytes : 0)
                guard room >= f.minimumCacheBytes else {
                    throw HotCacheError("--moe-cache-policy: no room for an expert cache (\(room >> 20) MiB left of \(available >> 20) MiB available, at least \(f.minimumCacheBytes >> 20) MiB needed)")
                }
                o.cacheCapacity = min(model.config.expertCount, room / max(1, slotBytesAllLayers(model, fastLayout: repack && o.stream)))
            }
            return (repack ? model.repacked(experts: !o.stream) : model, o)
        }
        guard let available = availableBytes else {
            logger.warning("cannot read available memory: experts are loaded resident without a memory check")
            return (repack ? model.repacked(experts: true) : model, o)
        }
        let f = figures(model: model, options: o, repack: repack, maxBatch: maxBatch, availableBytes: available)
        let decision = ResidencyPlanner.decide(f)
        switch decision {
        case .resident:
            logger.info("\(ResidencyPlanner.explain(decision, f))")
            return (repack ? model.repacked(experts: true) : model, o)
        case .refuse(let why):
            throw HotCacheError(why)
        case .stream(let cacheBytes):
            logger.notice("\(ResidencyPlanner.explain(decision, f))")
            o.stream = true
            o.cachePolicy = o.hotCache != nil ? "pinned" : defaultPolicy
            o.cacheCapacity = min(model.config.expertCount, cacheBytes / max(1, slotBytesAllLayers(model, fastLayout: repack)))
            // The hot-cache budget flags sized the resident tier; the streaming cache replaces it.
            o.maxMiB = 0
            try o.validate()
            return (repack ? model.repacked(experts: false) : model, o)
        }
    }

    /// Cache bytes of one expert in every layer.
    static func slotBytesAllLayers(_ model: MoEModel, fastLayout: Bool) -> Int {
        model.weights.layers.map { ExpertSlotFormat(layer: $0, fastLayout: fastLayout).slotBytes }.reduce(0, +)
    }
}
