// How one MoE call's routed slots run: device-tier experts on the GPU hot lane, the others on
// the CPU cold lane, both at once; the per-slot results are added per token in slot order,
// whichever lane made them, so the sum is the same sequence of float additions as on the CPU.

/// The flat slot indices (token * k + slot) of each lane.
public struct LaneSplit: Equatable, Sendable {
    public var hot: [Int] = []
    public var cold: [Int] = []

    /// `experts`: tokens * k routed expert ids; `onDevice(expert)`: the device-tier lookup of
    /// this layer. Ids outside 0..<`expertsPerLayer` go to the cold lane (its checks report them).
    public init(experts: [Int32], expertsPerLayer: Int, onDevice: (Int) -> Bool) {
        for (slot, e) in experts.enumerated() {
            let expert = Int(e)
            if expert >= 0, expert < expertsPerLayer, onDevice(expert) { hot.append(slot) } else { cold.append(slot) }
        }
    }

    /// Run the lanes concurrently only when both have work and there are at least `minSlots`
    /// slots in all (tiny regions cost more to fork than they save).
    public func runsConcurrently(minSlots: Int) -> Bool {
        !hot.isEmpty && !cold.isEmpty && hot.count + cold.count >= minSlots
    }
}

public enum LaneMerge {
    /// output[t * d ..< (t+1) * d] = sum over s in 0..<k, in order, of slot (t * k + s)'s row of
    /// `slotOutputs` ([tokens * k][d], each already scaled by its route weight).
    public static func merge(slotOutputs: UnsafePointer<Float>, tokens: Int, k: Int, d: Int,
                             into output: UnsafeMutablePointer<Float>) {
        for t in 0..<tokens {
            let out = output + t * d
            for i in 0..<d { out[i] = 0 }
            for s in 0..<k {
                let row = slotOutputs + (t * k + s) * d
                for i in 0..<d { out[i] += row[i] }
            }
        }
    }
}

/// Seed 000's lane timing fields for one parallel region, from the lanes' wall times.
public struct LaneTimes: Equatable, Sendable {
    public var hotLane: UInt64
    public var coldLane: UInt64
    public var parallelWall: UInt64
    /// Time hidden by running the lanes at once: hot + cold - wall (0 when serial).
    public var overlap: UInt64 { hotLane &+ coldLane > parallelWall ? hotLane &+ coldLane - parallelWall : 0 }
    /// Time the faster lane waited for the slower one at the join.
    public var joinWait: UInt64 { hotLane > coldLane ? hotLane - coldLane : coldLane - hotLane }

    public init(hotLane: UInt64, coldLane: UInt64, parallelWall: UInt64) {
        self.hotLane = hotLane
        self.coldLane = coldLane
        self.parallelWall = parallelWall
    }
}
