#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Quant

/// Writes GGUF v3 files. Tensor bytes are produced on demand while writing, so a
/// multi-gigabyte model never has to sit in memory at once. The file appears atomically
/// (written to a temporary name, synced, then renamed).
public struct GGUFWriter {
    public struct PendingTensor {
        public let name: String
        public let type: GGMLType
        public let dims: [Int]
        public let byteCount: Int
        /// Fills exactly `byteCount` bytes.
        public let fill: (UnsafeMutableRawBufferPointer) throws -> Void
    }

    public private(set) var metadata: [(String, GGUFValue)] = []
    public private(set) var tensors: [PendingTensor] = []
    public var alignment = 32

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.0 == key }) { metadata[i].1 = value } else { metadata.append((key, value)) }
    }

    public mutating func set(_ key: String, _ value: String) { set(key, .string(value)) }
    public mutating func set(_ key: String, uint32 value: Int) { set(key, .uint32(UInt32(value))) }
    public mutating func set(_ key: String, float32 value: Double) { set(key, .float32(Float(value))) }
    public mutating func set(_ key: String, strings: [String]) { set(key, .array(.string, strings.map(GGUFValue.string))) }
    public mutating func set(_ key: String, int32s: [Int]) { set(key, .array(.int32, int32s.map { .int32(Int32($0)) })) }
    public mutating func set(_ key: String, float32s: [Float]) { set(key, .array(.float32, float32s.map(GGUFValue.float32))) }

    /// Adds a tensor whose bytes `fill` writes when the file is written.
    public mutating func addTensor(name: String, type: GGMLType, dims: [Int],
                                   fill: @escaping (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        guard !dims.isEmpty, dims.allSatisfy({ $0 > 0 }), dims[0] % type.blockSize == 0,
              let bytes = type.byteCount(elements: dims.reduce(1, *)) else {
            throw GGUFError("tensor '\(name)': invalid shape \(dims) for type \(type)")
        }
        guard !tensors.contains(where: { $0.name == name }) else { throw GGUFError("tensor '\(name)' added twice") }
        tensors.append(PendingTensor(name: name, type: type, dims: dims, byteCount: bytes, fill: fill))
    }

    /// Adds an F32 tensor from values (row-major with dims[0] fastest).
    public mutating func addTensor(name: String, dims: [Int], values: [Float]) throws {
        guard values.count == dims.reduce(1, *) else {
            throw GGUFError("tensor '\(name)': \(values.count) values for shape \(dims)")
        }
        try addTensor(name: name, type: .f32, dims: dims) { buf in
            values.withUnsafeBytes { buf.copyMemory(from: $0) }
        }
    }

    /// The header (metadata and tensor table, padded to the alignment) and each tensor's
    /// offset from the start of the data section.
    private func header() -> (bytes: [UInt8], offsets: [Int]) {
        var header = ByteSink()
        header.append(UInt32(0x4655_4747))
        header.append(UInt32(3))
        header.append(UInt64(tensors.count))
        var kv = metadata
        if alignment != 32, !kv.contains(where: { $0.0 == "general.alignment" }) {
            kv.append(("general.alignment", .uint32(UInt32(alignment))))
        }
        header.append(UInt64(kv.count))
        for (key, value) in kv {
            header.appendString(key)
            header.append(value.type.rawValue)
            header.appendValue(value)
        }
        var offset = 0
        var offsets = [Int]()
        for t in tensors {
            header.appendString(t.name)
            header.append(UInt32(t.dims.count))
            for d in t.dims { header.append(UInt64(d)) }
            header.append(t.type.rawValue)
            header.append(UInt64(offset))
            offsets.append(offset)
            offset = (offset + t.byteCount + alignment - 1) / alignment * alignment
        }
        header.pad(to: alignment)
        return (header.bytes, offsets)
    }

    /// The whole file in memory, byte for byte what `write(to:)` writes (for small models:
    /// fuzz harnesses and tests that build many variants).
    public func serialized() throws -> [UInt8] {
        let (head, offsets) = header()
        let end = zip(tensors, offsets).reduce(0) { max($0, $1.1 + $1.0.byteCount) }
        var bytes = head + [UInt8](repeating: 0, count: end)
        for (t, start) in zip(tensors, offsets) {
            try bytes.withUnsafeMutableBytes { all in
                try t.fill(UnsafeMutableRawBufferPointer(rebasing: all[(head.count + start)..<(head.count + start + t.byteCount)]))
            }
        }
        return bytes
    }

    /// `progress(done, total)` is called after each tensor's bytes are written.
    public func write(to path: String, progress: (Int, Int) -> Void = { _, _ in }) throws {
        let (headerBytes, offsets) = header()
        // Unique per call: concurrent writers of the same path in one process must not share a temp file.
        let tmp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw GGUFError("\(tmp): cannot create (\(String(cString: strerror(errno))))") }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(tmp) }
        }
        try writeAll(fd, headerBytes, tmp)
        var position = 0
        for (index, (t, start)) in zip(tensors, offsets).enumerated() {
            if start > position { try writeAll(fd, [UInt8](repeating: 0, count: start - position), tmp) }
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: t.byteCount, alignment: 64)
            defer { buf.deallocate() }
            buf.initializeMemory(as: UInt8.self, repeating: 0)
            try t.fill(buf)
            try writeAll(fd, UnsafeRawBufferPointer(buf), tmp)
            position = start + t.byteCount
            progress(index + 1, tensors.count)
        }
        guard fsync(fd) == 0 else { throw GGUFError("\(tmp): fsync failed") }
        guard rename(tmp, path) == 0 else { throw GGUFError("\(path): rename failed (\(String(cString: strerror(errno))))") }
        ok = true
        // Persist the rename (best effort): without it a power cut can bring back the old name.
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path) }
    }

    private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = systemWrite(fd, bytes.baseAddress! + done, bytes.count - done)
            guard n > 0 else { throw GGUFError("\(path): write failed (\(String(cString: strerror(errno))))") }
            done += n
        }
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#else
private let systemWrite = Darwin.write
#endif

/// Little-endian byte accumulator for the header.
struct ByteSink {
    var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func appendString(_ s: String) {
        append(UInt64(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }

    mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    mutating func appendValue(_ value: GGUFValue) {
        switch value {
        case .uint8(let v): append(v)
        case .int8(let v): append(v)
        case .uint16(let v): append(v)
        case .int16(let v): append(v)
        case .uint32(let v): append(v)
        case .int32(let v): append(v)
        case .uint64(let v): append(v)
        case .int64(let v): append(v)
        case .float32(let v): append(v.bitPattern)
        case .float64(let v): append(v.bitPattern)
        case .bool(let v): append(UInt8(v ? 1 : 0))
        case .string(let s): appendString(s)
        case .array(let type, let values):
            append(type.rawValue)
            append(UInt64(values.count))
            for v in values { appendValue(v) }
        }
    }
}
