import Engine
import ExpertCache

/// The device tier of the placement: expert copies in accelerator memory (VRAM). The hot lane
/// computes the routed slots of these experts on the device while the CPU computes the rest.
/// Implemented by the CUDA backend (GPULane); HotCache knows only this seam.
public protocol DeviceExpertTier: AnyObject, Sendable {
    /// True when the device holds expert `expert` of MoE layer `layer`.
    func holds(layer: Int, expert: Int) -> Bool
    /// One session's lane: its own stream and scratch buffers over the shared copies.
    func makeLane() -> DeviceExpertLane
    /// Bytes of expert copies on the device.
    var bytes: Int { get }
    /// Experts held.
    var expertCount: Int { get }
    /// Makes the device hold `plan`'s experts by copying only the changed ones into the fixed
    /// slots (on a side stream; call between requests, no session decoding). Returns the
    /// number of experts copied.
    func apply(_ plan: HotCachePlan, layout: ModelExpertLayout) throws -> Int
}

/// One session's hot lane: `begin` enqueues the device work and returns at once, so the CPU
/// lane runs meanwhile; `finish` waits and writes the results.
public protocol DeviceExpertLane: AnyObject {
    /// Enqueues `items` (all held by the device) of `layer` for the tokens of `input`
    /// ([tokens][d]); `grouping` is the call's (its rowToken maps arena rows to tokens).
    func begin(layer: Int, items: [ExpertWorkItem], grouping: ExpertGrouping, input: UnsafePointer<Float>, tokens: Int) throws
    /// Waits for the work of `begin` and writes each routed slot's expert output (before its
    /// route weight, as the CPU lane does) to its arena row of `slotOutputs`. Returns the
    /// device time of the work in nanoseconds.
    func finish(slotOutputs: UnsafeMutablePointer<Float>) throws -> UInt64
}
