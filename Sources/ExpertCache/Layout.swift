// Identity and sizes of routed experts. Pure values: the engine fills the numbers
// from the model file; nothing here knows an architecture.

/// One routed expert: (model layer index, expert index inside that layer).
public struct ExpertID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var layer: Int
    public var expert: Int

    public init(layer: Int, expert: Int) {
        self.layer = layer
        self.expert = expert
    }

    public static func < (a: ExpertID, b: ExpertID) -> Bool {
        a.layer != b.layer ? a.layer < b.layer : a.expert < b.expert
    }

    public var description: String { "L\(layer).E\(expert)" }
}

/// Shape of the routed experts of a model.
///
/// `moeLayers` are model layer indices (dense layers are simply absent). Every MoE layer
/// has `expertsPerLayer` experts; an expert's size in bytes is the sum of its gate, up and
/// down slices, which depends on that layer's tensor types, hence per layer.
public struct ModelExpertLayout: Hashable, Sendable {
    public let moeLayers: [Int]
    public let expertsPerLayer: Int
    public let topK: Int
    /// Bytes of one expert (gate + up + down slices) for each entry of `moeLayers`.
    public let bytesPerExpert: [Int]
    /// Model layer index -> position in `moeLayers`, or -1 for non-MoE layers.
    private let denseIndex: [Int]

    public enum LayoutError: Error, Equatable, CustomStringConvertible {
        case invalid(String)
        public var description: String {
            switch self { case .invalid(let m): "invalid expert layout: \(m)" }
        }
    }

    /// Far above any model's block count (the GGUF loader allows 4096).
    public static let maxLayerID = 1 << 16

    public init(moeLayers: [Int], expertsPerLayer: Int, topK: Int, bytesPerExpert: [Int]) throws {
        // A model without routed experts (every layer dense) has the empty layout.
        let noExperts = moeLayers.isEmpty && expertsPerLayer == 0 && topK == 0
        guard noExperts || expertsPerLayer > 0 else { throw LayoutError.invalid("expertsPerLayer must be > 0") }
        guard noExperts || (topK > 0 && topK <= expertsPerLayer) else {
            throw LayoutError.invalid("topK \(topK) must be in 1...\(expertsPerLayer)")
        }
        guard bytesPerExpert.count == moeLayers.count else {
            throw LayoutError.invalid("bytesPerExpert has \(bytesPerExpert.count) entries for \(moeLayers.count) MoE layers")
        }
        guard moeLayers.allSatisfy({ $0 >= 0 }), Set(moeLayers).count == moeLayers.count,
              moeLayers == moeLayers.sorted() else {
            throw LayoutError.invalid("moeLayers must be distinct, non-negative and ascending")
        }
        guard bytesPerExpert.allSatisfy({ $0 > 0 }) else { throw LayoutError.invalid("expert sizes must be > 0") }
        // denseIndex has one entry per layer id up to the largest: bound it before allocating.
        guard (moeLayers.last ?? 0) < Self.maxLayerID else {
            throw LayoutError.invalid("layer id \(moeLayers.last ?? 0) exceeds \(Self.maxLayerID - 1)")
        }
        self.moeLayers = moeLayers
        self.expertsPerLayer = expertsPerLayer
        self.topK = topK
        self.bytesPerExpert = bytesPerExpert
        var index = [Int](repeating: -1, count: (moeLayers.last ?? -1) + 1)
        for (i, l) in moeLayers.enumerated() { index[l] = i }
        self.denseIndex = index
    }

    /// Convenience: MoE layers 0..<layerCount, all experts the same size.
    public init(layerCount: Int, expertsPerLayer: Int, topK: Int, bytesPerExpert: Int) throws {
        try self.init(moeLayers: Array(0..<layerCount), expertsPerLayer: expertsPerLayer, topK: topK,
                      bytesPerExpert: [Int](repeating: bytesPerExpert, count: layerCount))
    }

    public var moeLayerCount: Int { moeLayers.count }
    public var totalExperts: Int { moeLayers.count * expertsPerLayer }

    /// Position of a model layer among the MoE layers, nil if the layer has no routed experts.
    public func moeIndex(ofLayer layer: Int) -> Int? {
        layer >= 0 && layer < denseIndex.count && denseIndex[layer] >= 0 ? denseIndex[layer] : nil
    }

    public func contains(_ id: ExpertID) -> Bool {
        moeIndex(ofLayer: id.layer) != nil && id.expert >= 0 && id.expert < expertsPerLayer
    }

    /// Bytes of one expert of `layer`; nil if the layer has no routed experts.
    public func bytes(ofLayer layer: Int) -> Int? {
        moeIndex(ofLayer: layer).map { bytesPerExpert[$0] }
    }

    /// Flat index `moeIndex * expertsPerLayer + expert` used by the counter arrays.
    @inline(__always)
    public func flatIndex(_ id: ExpertID) -> Int? {
        guard let li = moeIndex(ofLayer: id.layer), id.expert >= 0, id.expert < expertsPerLayer else { return nil }
        return li * expertsPerLayer + id.expert
    }
}
