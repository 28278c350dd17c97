/// Tensor element types as numbered by ggml (the numbers are part of the GGUF format).
/// `blockSize` elements are stored in `typeSize` bytes.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case iq1_m = 29
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, bf16 = 30
    case mxfp4 = 39

    /// Elements per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .i8, .i16, .i32, .i64, .f64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl, .mxfp4: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq4_xs: return 256
        case .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m: return 256
        }
    }

    /// Bytes per block.
    public var typeSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8: return 1
        case .i64, .f64: return 8
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .q8_1: return 36
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        case .q8_K: return 292
        case .iq4_nl: return 18
        case .iq4_xs: return 136
        case .iq2_xxs: return 66
        case .iq2_xs: return 74
        case .iq2_s: return 82
        case .iq3_xxs: return 98
        case .iq3_s: return 110
        case .iq1_s: return 50
        case .iq1_m: return 56
        case .mxfp4: return 17
        }
    }

    /// Types hotmoe can compute with (dequantise and take dot products of).
    public var isComputeSupported: Bool {
        switch self {
        case .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl, .mxfp4,
             .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs: return true
        case .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m: return true
        default: return false
        }
    }

    /// Weight types hotmoe can write (`Kernels.quantizeRow`, with ggml's reference quantisers).
    /// Every compute type has one (the grid formats as ggml quantises them with an importance matrix of ones).
    public var isQuantizeSupported: Bool {
        isComputeSupported && (blockSize == 1 || Quantize.blockEncoder(self) != nil)
    }

    /// The compute-supported types' names, for error messages.
    public static var computeSupportedNames: String {
        allCases.filter(\.isComputeSupported).map(\.description).joined(separator: ", ")
    }

    /// Bytes needed for `count` elements, or nil if `count` is not a whole number of blocks
    /// or the size overflows.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: typeSize)
        return overflow ? nil : bytes
    }

    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q8_1: "Q8_1"
        case .q2_K: "Q2_K"
        case .q3_K: "Q3_K"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        case .q8_K: "Q8_K"
        case .iq4_nl: "IQ4_NL"
        case .iq4_xs: "IQ4_XS"
        case .iq2_xxs: "IQ2_XXS"
        case .iq2_xs: "IQ2_XS"
        case .iq2_s: "IQ2_S"
        case .iq3_xxs: "IQ3_XXS"
        case .iq3_s: "IQ3_S"
        case .iq1_s: "IQ1_S"
        case .iq1_m: "IQ1_M"
        case .mxfp4: "MXFP4"
        case .i8: "I8"
        case .i16: "I16"
        case .i32: "I32"
        case .i64: "I64"
        case .f64: "F64"
        }
    }

    /// Parses names like "q4_k", "Q8_0", "f16" (case-insensitive).
    public init?(name: String) {
        guard let match = GGMLType.allCases.first(where: { $0.description.lowercased() == name.lowercased() })
        else { return nil }
        self = match
    }
}
