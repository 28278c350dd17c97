import CKernels

// Activation rows converted once per matrix-vector product into the format the weight type's
// dot product wants (ggml's `vec_dot_type`).

extension GGMLType {
    /// The format ggml's CPU backend converts activations to before taking dot products with
    /// weights of this type; nil for types hotmoe cannot compute with.
    public var vecDotType: GGMLType? {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .q8_0, .q4_0, .q5_0, .iq4_nl, .mxfp4: return .q8_0
        case .q4_1, .q5_1: return .q8_1
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs: return .q8_K
        case .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m: return .q8_K
        default: return nil
        }
    }
}

/// Activations quantised once per matrix-vector product, in the format the weight type wants.
/// Copies share storage until one of them is written (copy on write). Reading from several
/// threads at once is safe; writing is not.
public struct QuantizedActivations: @unchecked Sendable {
    /// The weight type these activations pair with. Any weight type with the same
    /// `vecDotType` can use them too (e.g. Q4_K and Q6_K both take Q8_K).
    public let weightType: GGMLType
    /// The activation storage format (`weightType.vecDotType`).
    public let type: GGMLType
    /// Elements per token.
    public private(set) var count: Int
    public private(set) var tokens: Int
    /// Bytes between consecutive tokens' rows.
    public private(set) var rowBytes: Int
    private var storage: Storage

    final class Storage {
        let bytes: UnsafeMutableRawPointer
        let size: Int
        init(size: Int) {
            self.size = size
            bytes = .allocate(byteCount: max(size, 1), alignment: 64)
            bytes.initializeMemory(as: UInt8.self, repeating: 0, count: max(size, 1))
        }
        func copy() -> Storage {
            let s = Storage(size: size)
            s.bytes.copyMemory(from: bytes, byteCount: size)
            return s
        }
        deinit { bytes.deallocate() }
    }

    /// - Precondition: `weightType` is compute-supported and `count` is a whole number of the
    ///   activation format's blocks (256 for Q8_K, 32 for Q8_0/Q8_1).
    public init(type weightType: GGMLType, count: Int, tokens: Int = 1) {
        guard let act = weightType.vecDotType else {
            preconditionFailure("\(weightType) weights are not supported")
        }
        precondition(tokens >= 0 && count >= 0)
        guard let rowBytes = act.byteCount(elements: count) else {
            preconditionFailure("\(count) elements is not a whole number of \(act) blocks")
        }
        self.weightType = weightType
        self.type = act
        self.count = count
        self.tokens = tokens
        self.rowBytes = rowBytes
        self.storage = Storage(size: rowBytes * tokens)
    }

    /// Changes the shape, reallocating only when the buffer is too small, so one value can be
    /// reused across layers and batch sizes. Row contents are unspecified afterwards.
    public mutating func resize(count: Int, tokens: Int) {
        precondition(tokens >= 0 && count >= 0)
        guard let rowBytes = type.byteCount(elements: count) else {
            preconditionFailure("\(count) elements is not a whole number of \(type) blocks")
        }
        self.count = count
        self.tokens = tokens
        self.rowBytes = rowBytes
        if rowBytes * tokens > storage.size || !isKnownUniquelyReferenced(&storage) {
            storage = Storage(size: Swift.max(rowBytes * tokens, storage.size))
        }
    }

    /// Converts `count` floats at `x` into token row `token`.
    public mutating func quantize(_ x: UnsafePointer<Float>, token: Int) {
        precondition(token >= 0 && token < tokens, "token \(token) out of range")
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        let dst = storage.bytes + token * rowBytes
        switch type {
        case .q8_0:
            if CPU.avx2 {
                hm_quantize_q8_0_x86(x, dst, Int64(count))
            } else {
                Quantize.forEachBlock(.q8_0, x, dst, count / 32, Quantize.q8_0Activation)
            }
        case .q8_K:
            if CPU.avx2 {
                hm_quantize_q8_K(x, dst, Int64(count))
            } else {
                Quantize.row(.q8_K, x, dst, count: count)
            }
        case .f16:
            if CPU.avx2 {
                hm_fp32_to_fp16(x, dst, Int64(count))
            } else {
                Quantize.row(.f16, x, dst, count: count)
            }
        default:
            Quantize.row(type, x, dst, count: count)
        }
    }

    /// Reference path of `quantize` (plain Swift), kept for tests.
    mutating func quantizeReference(_ x: UnsafePointer<Float>, token: Int) {
        precondition(token >= 0 && token < tokens)
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        let dst = storage.bytes + token * rowBytes
        if type == .q8_0 {
            Quantize.forEachBlock(.q8_0, x, dst, count / 32, Quantize.q8_0Activation)
        } else {
            Quantize.row(type, x, dst, count: count)
        }
    }

    /// The raw bytes of token `token`'s row, valid while this value (or a copy) is alive and unmodified.
    public func row(token: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(storage.bytes + token * rowBytes)
    }
}
