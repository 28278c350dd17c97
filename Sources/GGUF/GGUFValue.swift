/// GGUF metadata value types, numbered as in the file format.
public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6
    case bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Smallest number of bytes one element of this type occupies in a file; used to bound
    /// array counts by the bytes actually left, before anything is allocated.
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }
}

/// One metadata value. Arrays hold their element type so that an empty array still says
/// what it is, and so a writer can reproduce the file exactly.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    /// Any integer type (and bool) as Int; nil for other types or values that do not fit.
    public var int: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        case .bool(let v): v ? 1 : 0
        default: nil
        }
    }

    /// Any numeric type as Double.
    public var double: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: int.map(Double.init)
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var bool: Bool? {
        switch self {
        case .bool(let v): v
        default: nil
        }
    }

    public var array: [GGUFValue]? {
        if case .array(_, let values) = self { return values }
        return nil
    }

    public var stringArray: [String]? {
        guard let values = array else { return nil }
        var out = [String]()
        out.reserveCapacity(values.count)
        for v in values {
            guard let s = v.string else { return nil }
            out.append(s)
        }
        return out
    }

    public var intArray: [Int]? {
        guard let values = array else { return nil }
        var out = [Int]()
        out.reserveCapacity(values.count)
        for v in values {
            guard let i = v.int else { return nil }
            out.append(i)
        }
        return out
    }

    public var floatArray: [Float]? {
        guard let values = array else { return nil }
        var out = [Float]()
        out.reserveCapacity(values.count)
        for v in values {
            guard let d = v.double else { return nil }
            out.append(Float(d))
        }
        return out
    }

    /// Short human-readable rendering; long arrays are summarised.
    public var summary: String {
        switch self {
        case .string(let s): return s.count > 60 ? "\"\(s.prefix(57))...\"" : "\"\(s)\""
        case .array(let t, let values):
            if values.count <= 8 { return "[" + values.map(\.summary).joined(separator: ", ") + "]" }
            return "[\(t) x \(values.count)]"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        default: return int.map(String.init) ?? "?"
        }
    }
}
