import Quant

/// The first NaN or infinity in a tensor, as `--check-tensors` reports it.
public struct InvalidTensorValue: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let tensor: String
    public let type: GGMLType
    /// The element (float types) or block (quantised types) holding the value.
    public let index: Int
    /// The block field holding it ("d", "dmin", ...); nil for float types.
    public let field: String?
    public let value: Double

    public var description: String {
        let what = value.isNaN ? "NaN" : value > 0 ? "+Inf" : "-Inf"
        let place = field.map { "as the scale \($0) of block \(index) (elements \(index * type.blockSize)..<\((index + 1) * type.blockSize))" }
            ?? "at element \(index)"
        return "\(path): tensor '\(tensor)' (\(type)) holds \(what) \(place): the file is corrupt (a damaged download?)"
    }
}

/// Validates tensor values as llama.cpp's `ggml_validate_row_data` does: every F32, F16,
/// BF16 and F64 value, and the scales of every quantised block (d, and the min dmin / m / s
/// where the block has one; MXFP4's exponent e), must be finite. Integer tensors carry
/// nothing to check.
public enum TensorCheck {
    /// Checks every tensor in file order; `progress(bytesDone, bytesTotal)` after each one.
    /// Throws `InvalidTensorValue` for the first bad value.
    public static func check(_ file: GGUFFile, progress: (Int, Int) -> Void = { _, _ in }) throws {
        let total = file.tensors.reduce(0) { $0 + $1.byteCount }
        var done = 0
        for t in file.tensors {
            if let bad = firstInvalid(type: t.type, data: file.data(t), byteCount: t.byteCount) {
                throw InvalidTensorValue(path: file.path, tensor: t.name, type: t.type, index: bad.index, field: bad.field, value: bad.value)
            }
            // The scan must not leave a model larger than memory resident (the page cache keeps it).
            file.releasePages(of: file.data(t), byteCount: t.byteCount)
            done += t.byteCount
            progress(done, total)
        }
    }

    /// The first non-finite value in `byteCount` bytes of `type` data: its element or block
    /// index, the block field (nil for float types) and the value.
    public static func firstInvalid(type: GGMLType, data: UnsafeRawPointer, byteCount: Int) -> (index: Int, field: String?, value: Double)? {
        let n = byteCount / type.typeSize
        switch type {
        case .f32:
            return firstAllOnesExponent(data, count: n, mask: UInt32(0x7f80_0000)).map { ($0, nil, Double(data.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self))) }
        case .f16:
            return firstAllOnesExponent(data, count: n, mask: UInt16(0x7c00)).map { ($0, nil, Double(half(data, $0 * 2))) }
        case .bf16:
            return firstAllOnesExponent(data, count: n, mask: UInt16(0x7f80)).map { ($0, nil, Double(bf16ToFloat(data.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)))) }
        case .f64:
            return firstAllOnesExponent(data, count: n, mask: UInt64(0x7ff0_0000_0000_0000)).map { ($0, nil, data.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self)) }
        case .q8_K:
            // Q8_K's d is a float, not fp16.
            for b in 0..<n {
                let d = data.loadUnaligned(fromByteOffset: b * type.typeSize, as: Float.self)
                if !d.isFinite { return (b, "d", Double(d)) }
            }
            return nil
        case .mxfp4:
            // An E8M0 exponent byte first; 0xff is its NaN.
            for b in 0..<n where data.load(fromByteOffset: b * type.typeSize, as: UInt8.self) == 0xff { return (b, "e", .nan) }
            return nil
        case .iq1_m:
            // No d field: the fp16 scale is spread over the top nibbles of the scale words.
            for b in 0..<n {
                let bits = iq1mScaleBits(data + b * type.typeSize)
                if bits & 0x7c00 == 0x7c00 { return (b, "d", Double(fp16ToFloat(bits))) }
            }
            return nil
        case .i8, .i16, .i32, .i64:
            return nil
        default:
            let fields = halfScaleFields(type)
            for b in 0..<n {
                let block = data + b * type.typeSize
                for (name, offset) in fields {
                    let bits = block.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
                    if bits & 0x7c00 == 0x7c00 { return (b, name, Double(fp16ToFloat(bits))) }
                }
            }
            return nil
        }
    }

    /// The fp16 scale fields of a quantised block and their byte offsets (ggml-common.h).
    public static func halfScaleFields(_ type: GGMLType) -> [(String, Int)] {
        switch type {
        case .q4_0, .q5_0, .q8_0, .iq4_nl, .iq4_xs: [("d", 0)]
        case .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s: [("d", 0)]
        case .q4_1, .q5_1: [("d", 0), ("m", 2)]
        case .q8_1: [("d", 0), ("s", 2)]
        case .q4_K, .q5_K: [("d", 0), ("dmin", 2)]
        case .q2_K: [("d", 80), ("dmin", 82)]  // after 16 scale and 64 quant bytes
        case .q3_K: [("d", 108)]  // after hmask, qs and 12 scale bytes
        case .q6_K: [("d", 208)]  // last
        default: []
        }
    }

    @inline(__always)
    private static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        fp16ToFloat(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// Index of the first of `count` values whose exponent bits are all ones (NaN or
    /// infinity). Runs of 1024 values are screened with a min-reduction of the cleared exponent
    /// bits (zero only where all are set), which the compiler vectorises; a hit run is then
    /// searched value by value.
    @inline(__always)
    static func firstAllOnesExponent<T: FixedWidthInteger & UnsignedInteger>(_ p: UnsafeRawPointer, count n: Int, mask: T) -> Int? {
        let size = MemoryLayout<T>.size
        var start = 0
        while start < n {
            let end = min(n, start + 1024)
            var least = mask
            for i in start..<end { least = min(least, ~p.loadUnaligned(fromByteOffset: i * size, as: T.self) & mask) }
            if least == 0 {
                for i in start..<end where p.loadUnaligned(fromByteOffset: i * size, as: T.self) & mask == mask { return i }
            }
            start = end
        }
        return nil
    }
}
