import CKernels

/// Element type of KV-cache rows (llama.cpp's --cache-type-k / --cache-type-v). Rows are
/// converted when written and attention reads them as stored (kv_attention.c).
public enum KVCacheType: String, CaseIterable, Sendable {
    case f32, f16, q8_0

    /// The code the C kernels take (HM_KV_*).
    var kernelCode: Int32 {
        switch self {
        case .f32: return Int32(HM_KV_F32)
        case .f16: return Int32(HM_KV_F16)
        case .q8_0: return Int32(HM_KV_Q8_0)
        }
    }

    /// Elements per block: a row's width must be a multiple of it (per head, too).
    public var blockSize: Int { self == .q8_0 ? 32 : 1 }

    /// Bytes a row of `count` elements takes (count a multiple of blockSize).
    public func rowBytes(_ count: Int) -> Int {
        switch self {
        case .f32: return count * 4
        case .f16: return count * 2
        case .q8_0: return count / 32 * 34
        }
    }

    /// Parses a command-line value; the error names the flag and the accepted types.
    public static func parse(_ text: String, flag: String) throws -> KVCacheType {
        guard let t = KVCacheType(rawValue: text.lowercased()) else {
            throw KVCacheTypeError(description: "\(flag): unsupported cache type '\(text)' (accepted: \(allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return t
    }
}

public struct KVCacheTypeError: Error, CustomStringConvertible {
    public let description: String
}

/// The types of the key rows and of the value rows.
public struct KVCacheTypes: Sendable, Equatable, CustomStringConvertible {
    public var keys: KVCacheType
    public var values: KVCacheType

    public init(keys: KVCacheType, values: KVCacheType) {
        self.keys = keys
        self.values = values
    }

    /// F32 rows: the library default, so goldens compare with llama.cpp's F32-KV goldens.
    public static let f32 = KVCacheTypes(keys: .f32, values: .f32)
    /// llama.cpp's command-line default, which hotmoe's commands share.
    public static let commandLineDefault = KVCacheTypes(keys: .f16, values: .f16)

    public var description: String { "K \(keys.rawValue), V \(values.rawValue)" }

    /// Refuses types whose blocks do not divide the model's head widths (Q8_0 needs heads
    /// whose key and value widths are multiples of 32, as in llama.cpp).
    public func check(config c: ModelConfig) throws {
        for l in 0..<c.layerCount where c.ownsKVRows(l) {
            let s = c.attentionShape(l)
            if s.headDim % keys.blockSize != 0 {
                throw KVCacheTypeError(description: "--cache-type-k \(keys.rawValue) needs a key head width that is a multiple of \(keys.blockSize); layer \(l) has \(s.headDim)")
            }
            // Values read from the key rows take the keys' type: --cache-type-v does not apply.
            if s.valuesInKeys, values != keys {
                throw KVCacheTypeError(description: "--cache-type-v \(values.rawValue) differs from --cache-type-k \(keys.rawValue): layer \(l) keeps its values inside the key rows (multi-head latent attention), so both must be the same type")
            }
            if !s.valuesInKeys, s.valueDim % values.blockSize != 0 {
                throw KVCacheTypeError(description: "--cache-type-v \(values.rawValue) needs a value head width that is a multiple of \(values.blockSize); layer \(l) has \(s.valueDim)")
            }
        }
    }
}
