#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Quant

/// One tensor's directory entry, validated against the file: its bytes lie inside the
/// data section, at an aligned offset, and its size matches its type and shape.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let type: GGMLType
    /// Dimensions fastest-varying first, as ggml stores them (dims[0] is the row length).
    public let dims: [Int]
    /// Absolute byte offset of the data in the file.
    public let fileOffset: Int
    public let byteCount: Int

    public var elementCount: Int { dims.reduce(1, *) }
    public var rowLength: Int { dims.first ?? 1 }
    public var rowBytes: Int { byteCount / max(1, elementCount / max(1, rowLength)) }
}

/// A GGUF (v2/v3) file mapped read-only. Tensor data is used in place from the mapping,
/// never copied. Everything in the header is checked before use.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let alignment: Int
    public let dataOffset: Int
    public let fileSize: Int
    /// Metadata in file order, and by key.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensors in file order, and by name.
    public let tensors: [GGUFTensorInfo]
    public let tensorsByName: [String: GGUFTensorInfo]

    private let mapping: UnsafeMutableRawPointer?
    /// True when `mapping` is a heap copy (init(bytes:)) rather than an mmap.
    private let ownsCopy: Bool
    public var base: UnsafeRawPointer { UnsafeRawPointer(mapping!) }

    /// Parses a GGUF held in memory (copied into page-aligned storage, as a mapping would be).
    /// For fuzzing and tests; models are opened by path so their weights are not copied.
    public convenience init(bytes: [UInt8], name: String = "<memory>", limits: GGUFLimits = GGUFLimits()) throws {
        guard bytes.count >= 24 else { throw GGUFError("\(name): file of \(bytes.count) bytes is too small to be GGUF (header needs 24)") }
        let copy = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 4096)
        bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        try self.init(name: name, mapping: copy, size: bytes.count, ownsCopy: true, limits: limits)
    }

    public convenience init(path: String) throws {
        try self.init(path: path, limits: GGUFLimits())
    }

    public convenience init(path: String, limits: GGUFLimits) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw GGUFError("\(path): cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw GGUFError("\(path): cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw GGUFError("\(path): not a regular file") }
        let size = Int(st.st_size)
        guard size >= 24 else { throw GGUFError("\(path): file of \(size) bytes is too small to be GGUF (header needs 24)") }
        guard let m = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), m != MAP_FAILED else {
            throw GGUFError("\(path): mmap of \(size) bytes failed (\(String(cString: strerror(errno))))")
        }
        try self.init(name: path, mapping: m, size: size, ownsCopy: false, limits: limits)
    }

    /// Takes ownership of `mapping` (a heap copy or an mmap): on a parse error it is released here.
    private init(name: String, mapping m: UnsafeMutableRawPointer, size: Int, ownsCopy: Bool, limits: GGUFLimits) throws {
        path = name
        do {
            let parsed = try GGUFFile.parse(base: UnsafeRawPointer(m), size: size, limits: limits)
            version = parsed.version
            alignment = parsed.alignment
            dataOffset = parsed.dataOffset
            metadataKeys = parsed.keys
            metadata = parsed.metadata
            tensors = parsed.tensors
            tensorsByName = Dictionary(parsed.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        } catch {
            if ownsCopy { m.deallocate() } else { munmap(m, size) }
            if let error = error as? GGUFError { throw GGUFError("\(name): \(error.message)") }
            throw error
        }
        fileSize = size
        mapping = m
        self.ownsCopy = ownsCopy
    }

    deinit {
        guard let mapping else { return }
        if ownsCopy { mapping.deallocate() } else { munmap(mapping, fileSize) }
    }

    /// Pointer to a tensor's bytes inside the mapping.
    public func data(_ tensor: GGUFTensorInfo) -> UnsafeRawPointer { base + tensor.fileOffset }

    /// Drops the mapped pages wholly inside [pointer, pointer + byteCount) from this process's
    /// resident memory (they are read again from the file if touched). For weights the engine
    /// has copied elsewhere (repacked experts); a no-op for in-memory files.
    public func releasePages(of pointer: UnsafeRawPointer, byteCount: Int) {
        guard !ownsCopy, byteCount > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: pointer) + page - 1) / page * page
        let end = (Int(bitPattern: pointer) + byteCount) / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED)
    }

    public func tensor(_ name: String) -> GGUFTensorInfo? { tensorsByName[name] }

    // MARK: - Typed metadata access with errors that name the key

    public func requireInt(_ key: String) throws -> Int {
        guard let v = metadata[key] else { throw GGUFError("\(path): missing metadata key '\(key)'") }
        // `.int` maps bools to 0/1; a bool where a count belongs is a broken file, not a 1.
        guard v.bool == nil, let i = v.int else {
            if case .uint64(let big) = v { throw GGUFError("\(path): metadata '\(key)' = \(big) does not fit in an Int") }
            throw GGUFError("\(path): metadata '\(key)' is \(v.type), expected an integer")
        }
        return i
    }

    public func requireDouble(_ key: String) throws -> Double {
        guard let v = metadata[key] else { throw GGUFError("\(path): missing metadata key '\(key)'") }
        guard v.bool == nil, let d = v.double else { throw GGUFError("\(path): metadata '\(key)' is \(v.type), expected a number") }
        return d
    }

    public func requireString(_ key: String) throws -> String {
        guard let v = metadata[key] else { throw GGUFError("\(path): missing metadata key '\(key)'") }
        guard let s = v.string else { throw GGUFError("\(path): metadata '\(key)' is \(v.type), expected a string") }
        return s
    }

    public var architecture: String? { metadata["general.architecture"]?.string }

    // MARK: - Parsing

    struct Parsed {
        var version: UInt32
        var alignment: Int
        var dataOffset: Int
        var keys: [String]
        var metadata: [String: GGUFValue]
        var tensors: [GGUFTensorInfo]
    }

    static func parse(base: UnsafeRawPointer, size: Int, limits: GGUFLimits) throws -> Parsed {
        var r = ByteReader(base: base, size: size, limits: limits)
        let magic = try r.read(UInt32.self, "magic")
        guard magic == 0x4655_4747 else {
            throw GGUFError("bad magic 0x\(String(magic, radix: 16)): not a GGUF file")
        }
        let version = try r.read(UInt32.self, "version")
        guard version == 2 || version == 3 else {
            // A byte-swapped version means a big-endian GGUF, which hotmoe does not read.
            let hint = version.byteSwapped == 2 || version.byteSwapped == 3 ? " (a big-endian file?)" : ""
            throw GGUFError("unsupported GGUF version \(version)\(hint) (supported: 2, 3)")
        }
        // A tensor directory entry needs at least 8 (name) + 4 + 4 + 8 bytes.
        let tensorCount = try r.readCount("tensor_count", limit: limits.maxTensorCount, minElementSize: 24)
        let kvCount = try r.readCount("metadata_kv_count", limit: limits.maxMetadataCount, minElementSize: 12)

        var keys = [String]()
        var metadata = [String: GGUFValue]()
        for i in 0..<kvCount {
            let key = try r.readString("metadata[\(i)] key", limit: limits.maxKeyBytes)
            guard !key.isEmpty else { throw GGUFError("metadata[\(i)] key is empty") }
            let rawType = try r.read(UInt32.self, "metadata '\(key)' type")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw GGUFError("metadata '\(key)': unknown value type \(rawType)")
            }
            let value = try r.readValue(type: type, "metadata '\(key)'")
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw GGUFError("metadata key '\(key)' appears twice")
            }
            keys.append(key)
        }

        var alignment = 32
        if let a = metadata["general.alignment"] {
            // A bool would read as 1 through `.int`; the spec says uint32, any integer type is tolerated.
            guard a.bool == nil, let v = a.int, v >= limits.minAlignment, v <= limits.maxAlignment, v & (v - 1) == 0 else {
                throw GGUFError("general.alignment \(a.summary) (\(a.type)) must be a power of two between \(limits.minAlignment) and \(limits.maxAlignment)")
            }
            alignment = v
        }

        struct RawTensor { var name: String; var type: GGMLType; var dims: [Int]; var offset: Int; var bytes: Int }
        var raw = [RawTensor]()
        raw.reserveCapacity(tensorCount)
        var names = Set<String>()
        for i in 0..<tensorCount {
            let name = try r.readString("tensor[\(i)] name")
            let label = "tensor '\(name)'"
            guard !name.isEmpty else { throw GGUFError("tensor[\(i)] name is empty") }
            guard name.utf8.count <= limits.maxTensorNameBytes else {
                throw GGUFError("\(label): name of \(name.utf8.count) bytes exceeds \(limits.maxTensorNameBytes)")
            }
            guard names.insert(name).inserted else { throw GGUFError("\(label) appears twice") }
            let nDims = Int(try r.read(UInt32.self, "\(label) n_dims"))
            guard nDims >= 1, nDims <= limits.maxDimensions else {
                throw GGUFError("\(label): n_dims \(nDims) outside 1...\(limits.maxDimensions)")
            }
            var dims = [Int]()
            var elements = 1
            for d in 0..<nDims {
                let v = try r.read(UInt64.self, "\(label) dims[\(d)]")
                guard v >= 1, v <= UInt64(Int32.max) else {
                    throw GGUFError("\(label): dims[\(d)] = \(v) outside 1...\(Int32.max)")
                }
                let (p, overflow) = elements.multipliedReportingOverflow(by: Int(v))
                guard !overflow, p <= size.multipliedReportingOverflow(by: 8).partialValue else {
                    throw GGUFError("\(label): element count overflows (dims \(dims + [Int(v)]))")
                }
                elements = p
                dims.append(Int(v))
            }
            let rawType = try r.read(UInt32.self, "\(label) type")
            guard let type = GGMLType(rawValue: rawType) else {
                throw GGUFError("\(label): unsupported tensor type id \(rawType) (shape \(dims))")
            }
            guard dims[0] % type.blockSize == 0 else {
                throw GGUFError("\(label): row length \(dims[0]) (shape \(dims)) is not a multiple of \(type)'s block size \(type.blockSize)")
            }
            guard let bytes = type.byteCount(elements: elements) else {
                throw GGUFError("\(label): byte size of \(elements) \(type) elements overflows")
            }
            let offset = try r.read(UInt64.self, "\(label) offset")
            guard offset <= UInt64(size) else {
                throw GGUFError("\(label): data offset \(offset) lies past the end of the file (\(size) bytes; truncated file?)")
            }
            guard Int(offset) % alignment == 0 else {
                throw GGUFError("\(label): data offset \(offset) is not aligned to \(alignment)")
            }
            raw.append(RawTensor(name: name, type: type, dims: dims, offset: Int(offset), bytes: bytes))
        }

        let dataOffset = (r.offset + alignment - 1) / alignment * alignment
        // A file without tensors (llama.cpp's vocab-only files) may end before the padding.
        guard dataOffset <= size || raw.isEmpty else {
            throw GGUFError("truncated file: tensor data would start at \(dataOffset), file has \(size) bytes")
        }
        let dataSize = max(0, size - dataOffset)
        var tensors = [GGUFTensorInfo]()
        tensors.reserveCapacity(raw.count)
        for t in raw {
            guard t.offset <= dataSize, t.bytes <= dataSize - t.offset else {
                throw GGUFError("tensor '\(t.name)': data [\(t.offset), +\(t.bytes)) extends past the data section of \(dataSize) bytes (truncated file?)")
            }
            tensors.append(GGUFTensorInfo(name: t.name, type: t.type, dims: t.dims,
                                          fileOffset: dataOffset + t.offset, byteCount: t.bytes))
        }
        // Overlapping tensors would let one tensor's writer corrupt another; real files never have them.
        let sorted = tensors.sorted { $0.fileOffset < $1.fileOffset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.fileOffset + a.byteCount > b.fileOffset {
            throw GGUFError("tensors '\(a.name)' and '\(b.name)' overlap in the data section")
        }
        return Parsed(version: version, alignment: alignment, dataOffset: dataOffset,
                      keys: keys, metadata: metadata, tensors: tensors)
    }
}
