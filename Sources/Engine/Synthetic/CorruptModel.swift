import GGUF
import Quant

/// Corrupt copies of a model file, as a damaged download leaves them (structure intact, values
/// not), for the robustness tests and checks: chosen values overwritten with NaN or Inf, or
/// the bytes of every float tensor random.
public enum CorruptModel {
    /// `value` written over element `element` of tensor `tensor` (F32, F16 or BF16), or over
    /// the scale d of the block holding that element (quantised types with an fp16 d).
    public struct Poison: Sendable {
        public var tensor: String
        public var element: Int
        public var value: Float

        public init(_ tensor: String, element: Int, _ value: Float) {
            self.tensor = tensor
            self.element = element
            self.value = value
        }
    }

    /// Copies `source` to `path` with the poisoned values; throws for a tensor that is missing,
    /// quantised, or smaller than the element.
    public static func write(from source: String, to path: String, poison: [Poison]) throws {
        let file = try GGUFFile(path: source)
        for p in poison {
            guard let t = file.tensor(p.tensor) else { throw GGUFError("\(source): no tensor '\(p.tensor)' to poison") }
            let poisonable = [.f32, .f16, .bf16].contains(t.type) || !TensorCheck.halfScaleFields(t.type).isEmpty
            guard poisonable, p.element >= 0, p.element < t.elementCount else {
                throw GGUFError("\(source): cannot poison element \(p.element) of '\(p.tensor)' (\(t.type), \(t.elementCount) elements)")
            }
        }
        try file.writeCopy(to: path) { t, bytes in
            for p in poison where p.tensor == t.name {
                switch t.type {
                case .f32: bytes.storeBytes(of: p.value, toByteOffset: p.element * 4, as: Float.self)
                case .f16: bytes.storeBytes(of: floatToFp16(p.value), toByteOffset: p.element * 2, as: UInt16.self)
                case .bf16: bytes.storeBytes(of: floatToBf16(p.value), toByteOffset: p.element * 2, as: UInt16.self)
                default:
                    let block = p.element / t.type.blockSize * t.type.typeSize
                    bytes.storeBytes(of: floatToFp16(p.value), toByteOffset: block + TensorCheck.halfScaleFields(t.type)[0].1, as: UInt16.self)
                }
            }
        }
    }

    /// Copies `source` to `path` with the bytes of every F32, F16 and BF16 tensor replaced by
    /// seeded random bytes (some of them NaN or Inf, most of the rest absurdly large or small).
    public static func writeRandomFloatData(from source: String, to path: String, seed: UInt64) throws {
        try GGUFFile(path: source).writeCopy(to: path) { t, bytes in
            guard [.f32, .f16, .bf16].contains(t.type) else { return }
            var rng = SeededGenerator(seed: seed &+ UInt64(truncatingIfNeeded: t.fileOffset))
            var i = 0
            while i + 8 <= bytes.count {
                bytes.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self)
                i += 8
            }
            while i < bytes.count {
                bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                i += 1
            }
        }
    }
}
