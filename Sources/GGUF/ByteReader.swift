/// A bounds-checked little-endian cursor over the mapped file. Every read checks the bytes
/// left first, so a truncated or hostile file produces an error, never an out-of-bounds read.
struct ByteReader {
    let base: UnsafeRawPointer
    let size: Int
    private(set) var offset: Int = 0
    let limits: GGUFLimits
    /// Array elements read so far over all metadata, checked against `limits.maxMetadataElements`.
    private(set) var metadataElements = 0

    init(base: UnsafeRawPointer, size: Int, limits: GGUFLimits) {
        self.base = base
        self.size = size
        self.limits = limits
    }

    var remaining: Int { size - offset }

    private mutating func take(_ count: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawPointer {
        guard count >= 0, count <= remaining else {
            throw GGUFError("truncated file: \(what()) needs \(count) bytes at offset \(offset), only \(remaining) left")
        }
        defer { offset += count }
        return base + offset
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let p = try take(MemoryLayout<T>.size, what())
        return T(littleEndian: p.loadUnaligned(as: T.self))
    }

    mutating func readFloat(_ what: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    mutating func readDouble(_ what: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    /// Reads a count stored as u64 and checks it against a limit and against the bytes left
    /// (each element needs at least `minElementSize` bytes).
    mutating func readCount(_ what: @autoclosure () -> String, limit: Int, minElementSize: Int) throws -> Int {
        let raw = try read(UInt64.self, what())
        guard raw <= UInt64(limit) else {
            throw GGUFError("\(what()): count \(raw) exceeds the limit of \(limit)")
        }
        let count = Int(raw)
        let (needed, overflow) = count.multipliedReportingOverflow(by: minElementSize)
        guard !overflow, needed <= remaining else {
            // `needed` is not printed when it overflowed: the message must not trap.
            throw GGUFError("\(what()): count \(count) needs at least \(overflow ? "more than Int.max" : "\(needed)") bytes (\(minElementSize) per element), only \(remaining) left in the file (truncated or corrupt file)")
        }
        return count
    }

    mutating func readString(_ what: @autoclosure () -> String, limit: Int? = nil) throws -> String {
        let length = try readCount("\(what()) length", limit: limit ?? limits.maxStringBytes, minElementSize: 1)
        let p = try take(length, what())
        let bytes = UnsafeRawBufferPointer(start: p, count: length)
        // Invalid UTF-8 is repaired (U+FFFD) rather than rejected: some real vocabularies carry
        // byte tokens that are not valid UTF-8 on their own.
        return String(decoding: bytes, as: UTF8.self)
    }

    mutating func readValue(type: GGUFValueType, _ what: String, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, what))
        case .int8: return .int8(try read(Int8.self, what))
        case .uint16: return .uint16(try read(UInt16.self, what))
        case .int16: return .int16(try read(Int16.self, what))
        case .uint32: return .uint32(try read(UInt32.self, what))
        case .int32: return .int32(try read(Int32.self, what))
        case .uint64: return .uint64(try read(UInt64.self, what))
        case .int64: return .int64(try read(Int64.self, what))
        case .float32: return .float32(try readFloat(what))
        case .float64: return .float64(try readDouble(what))
        case .bool:
            let b = try read(UInt8.self, what)
            guard b <= 1 else { throw GGUFError("\(what): bool value \(b) is neither 0 nor 1") }
            return .bool(b == 1)
        case .string: return .string(try readString(what))
        case .array:
            guard depth < limits.maxArrayDepth else {
                throw GGUFError("\(what): arrays nested deeper than \(limits.maxArrayDepth)")
            }
            let rawType = try read(UInt32.self, "\(what) element type")
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw GGUFError("\(what): unknown array element type \(rawType)")
            }
            let count = try readCount("\(what) array", limit: limits.maxArrayCount,
                                      minElementSize: elementType.minimumEncodedSize)
            metadataElements += count
            guard metadataElements <= limits.maxMetadataElements else {
                throw GGUFError("\(what) array: \(count) elements bring the metadata to \(metadataElements) array elements, over the limit of \(limits.maxMetadataElements)")
            }
            var values = [GGUFValue]()
            values.reserveCapacity(count)
            for i in 0..<count {
                values.append(try readValue(type: elementType, count <= 16 ? "\(what)[\(i)]" : what, depth: depth + 1))
            }
            return .array(elementType, values)
        }
    }
}
