/// The per-sequence state of the DeltaNet layers: each layer's conv window (the last
/// kernel-1 inputs) and its delta-rule state (valueHeads x stateSize x stateSize). Unlike a KV
/// cache it cannot be truncated, so it keeps a few checkpoints (state + position) taken after
/// multi-token forwards; rewinding restores the latest one at or before the target.
public final class RecurrentState: @unchecked Sendable {
    public static let defaultCheckpoints = 3
    let config: DeltaNetConfig
    /// Layer -> its slot among the recurrent layers (-1 for attention layers).
    private let slotOfLayer: [Int]
    let slots: Int
    private let floatsPerSlot: Int
    private let storage: UnsafeMutablePointer<Float>
    private var checkpoints: [(position: Int, data: UnsafeMutablePointer<Float>)] = []
    private let maxCheckpoints: Int

    public init?(config c: ModelConfig, checkpoints: Int = RecurrentState.defaultCheckpoints) {
        guard c.hasRecurrentLayers, let n = c.deltaNet else { return nil }
        config = n
        var slotOf = [Int](), next = 0
        for l in 0..<c.layerCount {
            if c.mixer(l) == .deltaNet { slotOf.append(next); next += 1 } else { slotOf.append(-1) }
        }
        slotOfLayer = slotOf
        slots = next
        floatsPerSlot = n.convStateFloats + n.ssmStateFloats
        storage = .allocate(capacity: slots * floatsPerSlot)
        storage.initialize(repeating: 0, count: slots * floatsPerSlot)
        maxCheckpoints = checkpoints
    }

    deinit {
        storage.deallocate()
        for c in checkpoints { c.data.deallocate() }
    }

    public static func bytes(config c: ModelConfig, checkpoints: Int) -> Int {
        guard let n = c.deltaNet else { return 0 }
        let layers = (0..<c.layerCount).filter { c.mixer($0) == .deltaNet }.count
        return (1 + checkpoints) * layers * (n.convStateFloats + n.ssmStateFloats) * MemoryLayout<Float>.size
    }

    public var bytes: Int { (1 + maxCheckpoints) * slots * floatsPerSlot * MemoryLayout<Float>.size }

    /// (K-1) rows of `convChannels` floats, oldest first.
    @inline(__always) func conv(layer: Int) -> UnsafeMutablePointer<Float> {
        storage + slotOfLayer[layer] * floatsPerSlot
    }

    /// valueHeads matrices of stateSize x stateSize, row j holding column j of the state S[i][j].
    @inline(__always) func ssm(layer: Int) -> UnsafeMutablePointer<Float> {
        storage + slotOfLayer[layer] * floatsPerSlot + config.convStateFloats
    }

    /// Floats of the live state (without checkpoints).
    var stateFloats: Int { slots * floatsPerSlot }

    /// Copies the live state out or in; restoring drops the checkpoints (they belong to the
    /// sequence that was there before).
    func copyState(_ buffer: UnsafeMutablePointer<Float>, toState: Bool) {
        if toState {
            storage.update(from: buffer, count: stateFloats)
            for c in checkpoints { c.data.deallocate() }
            checkpoints.removeAll()
        } else {
            buffer.update(from: storage, count: stateFloats)
        }
    }

    public func reset() {
        storage.update(repeating: 0, count: slots * floatsPerSlot)
        for c in checkpoints { c.data.deallocate() }
        checkpoints.removeAll()
    }

    /// Records the state as it is at `position` (the oldest checkpoint makes room).
    public func checkpoint(position: Int) {
        guard maxCheckpoints > 0 else { return }
        if let last = checkpoints.last, last.position == position { return }
        let data: UnsafeMutablePointer<Float>
        if checkpoints.count == maxCheckpoints { data = checkpoints.removeFirst().data } else { data = .allocate(capacity: slots * floatsPerSlot) }
        data.update(from: storage, count: slots * floatsPerSlot)
        checkpoints.append((position, data))
    }

    /// Restores the latest checkpoint at or before `position` and returns its position, or
    /// resets to the empty state and returns 0. Checkpoints after it are dropped.
    func rewind(to position: Int) -> Int {
        while let last = checkpoints.last, last.position > position {
            last.data.deallocate()
            checkpoints.removeLast()
        }
        guard let last = checkpoints.last else {
            storage.update(repeating: 0, count: slots * floatsPerSlot)
            return 0
        }
        storage.update(from: last.data, count: slots * floatsPerSlot)
        return last.position
    }
}
