// Binary routing traces: what `hotmoe trace` records and `hotmoe analyze` reads.
//
// Layout (little endian):
//   header:   "HMTRACE1" | u32 version (1, or 2 with lookahead) | u32 flags (bit 0: weights,
//             bit 1: lookahead, version 2 only) | u32 layers | u32 experts | u32 top-k
//             | u32 name length | name bytes | u32 layer id x layers
//   sequence: u32 tag "SEQ1" | u16 domain length | domain bytes | u32 tokens
//             | u16 expert id x (tokens * layers * k) | [f32 weight x (tokens * layers * k)]
//             | [u16 lookahead guess x (tokens * layers * k), 0xFFFF where no guess was made]
// Sequences are appended and flushed one at a time; the file is complete after `close()`.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct TraceHeader: Sendable, Equatable {
    public var modelName: String
    public var layerIDs: [Int]
    public var expertsPerLayer: Int
    public var topK: Int
    public var hasWeights: Bool
    /// Each step also holds the lookahead guess (RoutingTrace.lookahead).
    public var hasLookahead: Bool

    public init(modelName: String, layerIDs: [Int], expertsPerLayer: Int, topK: Int, hasWeights: Bool, hasLookahead: Bool = false) {
        self.modelName = modelName
        self.layerIDs = layerIDs
        self.expertsPerLayer = expertsPerLayer
        self.topK = topK
        self.hasWeights = hasWeights
        self.hasLookahead = hasLookahead
    }
}

/// One recorded sequence: its routing, the router weights when recorded, and a domain tag.
public struct TracedSequence: Sendable, Equatable {
    public var domain: String
    public var routing: RoutingTrace
    public var weights: [Float]?
}

public struct TraceFileError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ d: String) { description = d }
}

enum TraceFormat {
    static let magic = Array("HMTRACE1".utf8)
    static let sequenceTag: UInt32 = 0x3151_4553  // "SEQ1"
    static let noGuess: UInt16 = 0xFFFF
    static let maxLayers = 4096, maxExperts = 65536, maxTopK = 256, maxName = 4096, maxTokens = 1 << 24

    static let weightsRule = "router weights must be finite and in [0, 1]"
    static func areValidWeights(_ w: [Float]) -> Bool { w.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 } }
}

/// Streams sequences to a per-writer partial file next to `path` and renames it over `path`
/// on close (after fsync), so readers see the previous trace or the complete new one, never half a file.
public final class TraceWriter {
    public let header: TraceHeader
    private let path: String
    /// Unique per writer so two writers of one path (or a crashed one's leftover) never share it.
    private let partial: String
    private let handle: FileHandle
    public private(set) var sequences = 0

    public init(path: String, header: TraceHeader) throws {
        // 0xFFFF marks "no guess", so a lookahead trace holds at most 65535 experts per layer.
        guard header.expertsPerLayer <= (header.hasLookahead ? 65535 : 65536), !header.layerIDs.isEmpty, header.topK >= 1 else {
            throw TraceFileError("trace header: \(header.layerIDs.count) layers, \(header.expertsPerLayer) experts, top-\(header.topK) cannot be recorded")
        }
        self.header = header
        self.path = path
        partial = path + ".partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard FileManager.default.createFile(atPath: partial, contents: nil), let h = FileHandle(forWritingAtPath: partial) else {
            throw TraceFileError("\(partial): cannot create")
        }
        handle = h
        var b = [UInt8]()
        b += TraceFormat.magic
        put(&b, UInt32(header.hasLookahead ? 2 : 1))
        put(&b, UInt32((header.hasWeights ? 1 : 0) | (header.hasLookahead ? 2 : 0))); put(&b, UInt32(header.layerIDs.count))
        put(&b, UInt32(header.expertsPerLayer)); put(&b, UInt32(header.topK))
        let name = Array(header.modelName.utf8.prefix(TraceFormat.maxName))
        put(&b, UInt32(name.count)); b += name
        for l in header.layerIDs { put(&b, UInt32(l)) }
        try handle.write(contentsOf: b)
    }

    /// Appends one sequence. `weights`, when the header says so, has one value per selection.
    public func append(domain: String, routing: RoutingTrace, weights: [Float]? = nil) throws {
        guard routing.layerIDs == header.layerIDs, routing.expertsPerLayer == header.expertsPerLayer, routing.topK == header.topK else {
            throw TraceFileError("sequence \(sequences): routing layout differs from the trace header")
        }
        if header.hasWeights {
            guard weights?.count == routing.selections.count else {
                throw TraceFileError("sequence \(sequences): \(weights?.count ?? 0) weights for \(routing.selections.count) selections")
            }
            // What the reader refuses is never written (NaN weights of a corrupt model, say).
            guard TraceFormat.areValidWeights(weights!) else { throw TraceFileError("sequence \(sequences): \(TraceFormat.weightsRule)") }
        }
        if header.hasLookahead, routing.lookahead == nil {
            throw TraceFileError("sequence \(sequences): the trace records lookahead guesses, the sequence has none")
        }
        var b = [UInt8]()
        put(&b, TraceFormat.sequenceTag)
        let d = Array(domain.utf8.prefix(65535))
        b += withUnsafeBytes(of: UInt16(d.count).littleEndian, Array.init); b += d
        put(&b, UInt32(routing.tokenCount))
        b.reserveCapacity(b.count + routing.selections.count * 6)
        for e in routing.selections { b += withUnsafeBytes(of: UInt16(e).littleEndian, Array.init) }
        if header.hasWeights, let weights { for w in weights { put(&b, w.bitPattern) } }
        if header.hasLookahead, let guesses = routing.lookahead {
            for g in guesses { b += withUnsafeBytes(of: (g < 0 ? TraceFormat.noGuess : UInt16(g)).littleEndian, Array.init) }
        }
        try handle.write(contentsOf: b)
        sequences += 1
    }

    /// Flushes, syncs and moves the file into place.
    public func close() throws {
        try handle.synchronize()
        try handle.close()
        guard rename(partial, path) == 0 else { throw TraceFileError("\(path): rename failed (\(String(cString: strerror(errno))))") }
        syncDirectory((path as NSString).deletingLastPathComponent)
    }

    private func put(_ b: inout [UInt8], _ v: UInt32) { b += withUnsafeBytes(of: v.littleEndian, Array.init) }
}

/// Reads and validates a whole trace; every field is checked against the header and the bytes
/// left before anything is allocated.
public enum TraceReader {
    public static func read(path: String) throws -> (header: TraceHeader, sequences: [TracedSequence]) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw TraceFileError("\(path): cannot read (\(error.localizedDescription))")
        }
        do { return try parse(data) } catch let e as TraceFileError { throw TraceFileError("\(path): \(e.description)") }
    }

    public static func parse(_ data: Data) throws -> (header: TraceHeader, sequences: [TracedSequence]) {
        var r = Cursor(bytes: [UInt8](data))
        guard try r.bytes(8, "magic") == TraceFormat.magic else { throw TraceFileError("not a hotmoe trace (bad magic)") }
        let version = try r.u32("version")
        guard version == 1 || version == 2 else { throw TraceFileError("unsupported trace version \(version)") }
        let flags = try r.u32("flags")
        guard flags & ~(version == 2 ? 3 : 1) == 0 else { throw TraceFileError("unknown flags 0x\(String(flags, radix: 16)) for version \(version)") }
        let layers = Int(try r.u32("layers")), experts = Int(try r.u32("experts")), k = Int(try r.u32("top_k"))
        guard (1...TraceFormat.maxLayers).contains(layers) else { throw TraceFileError("layers \(layers) outside 1...\(TraceFormat.maxLayers)") }
        guard (1...TraceFormat.maxExperts).contains(experts) else { throw TraceFileError("experts \(experts) outside 1...\(TraceFormat.maxExperts)") }
        guard (1...min(experts, TraceFormat.maxTopK)).contains(k) else { throw TraceFileError("top_k \(k) outside 1...\(min(experts, TraceFormat.maxTopK))") }
        let nameLength = Int(try r.u32("name length"))
        guard nameLength <= TraceFormat.maxName else { throw TraceFileError("name length \(nameLength) exceeds \(TraceFormat.maxName)") }
        let name = String(decoding: try r.bytes(nameLength, "name"), as: UTF8.self)
        let layerIDs = try (0..<layers).map { Int(try r.u32("layer id \($0)")) }
        guard Set(layerIDs).count == layers else { throw TraceFileError("layer ids repeat: \(layerIDs)") }
        // Ids index per-layer tables downstream (ModelExpertLayout.denseIndex): a model has at
        // most maxLayers blocks, so a larger id is corruption, not a layer.
        if let bad = layerIDs.first(where: { $0 >= TraceFormat.maxLayers }) {
            throw TraceFileError("layer id \(bad) outside 0..<\(TraceFormat.maxLayers)")
        }
        if flags & 2 == 2, experts > Int(TraceFormat.noGuess) {
            throw TraceFileError("experts \(experts) with lookahead guesses: at most \(TraceFormat.noGuess)")
        }
        let header = TraceHeader(modelName: name, layerIDs: layerIDs, expertsPerLayer: experts, topK: k, hasWeights: flags & 1 == 1,
                                 hasLookahead: flags & 2 == 2)
        var sequences = [TracedSequence]()
        while !r.atEnd {
            let i = sequences.count
            guard try r.u32("sequence \(i) tag") == TraceFormat.sequenceTag else { throw TraceFileError("sequence \(i): bad tag") }
            let domainLength = Int(try r.u16("sequence \(i) domain length"))
            let domain = String(decoding: try r.bytes(domainLength, "sequence \(i) domain"), as: UTF8.self)
            let tokens = Int(try r.u32("sequence \(i) tokens"))
            let selections = tokens * layers * k
            let needed = selections * (2 + (header.hasWeights ? 4 : 0) + (header.hasLookahead ? 2 : 0))
            guard tokens <= TraceFormat.maxTokens, needed <= r.remaining else {
                throw TraceFileError("sequence \(i): \(tokens) tokens need \(needed) bytes, \(r.remaining) left (truncated?)")
            }
            var routing = RoutingTrace(layerIDs: layerIDs, expertsPerLayer: experts, topK: k)
            let idBytes = try r.bytes(selections * 2, "sequence \(i) expert ids")
            let ids = (0..<selections).map { Int(idBytes[2 * $0]) | Int(idBytes[2 * $0 + 1]) << 8 }
            for t in 0..<tokens {
                let perLayer = (0..<layers).map { l in Array(ids[((t * layers + l) * k)..<((t * layers + l + 1) * k)]) }
                do { try routing.append(perLayer) } catch { throw TraceFileError("sequence \(i): \(error)") }
            }
            var weights: [Float]?
            if header.hasWeights {
                let w = try r.bytes(selections * 4, "sequence \(i) weights")
                weights = (0..<selections).map { j in
                    Float(bitPattern: UInt32(w[4 * j]) | UInt32(w[4 * j + 1]) << 8 | UInt32(w[4 * j + 2]) << 16 | UInt32(w[4 * j + 3]) << 24)
                }
                guard TraceFormat.areValidWeights(weights!) else { throw TraceFileError("sequence \(i): \(TraceFormat.weightsRule)") }
            }
            if header.hasLookahead {
                let g = try r.bytes(selections * 2, "sequence \(i) lookahead guesses")
                let guesses = (0..<selections).map { j -> Int32 in
                    let v = UInt16(g[2 * j]) | UInt16(g[2 * j + 1]) << 8
                    return v == TraceFormat.noGuess ? -1 : Int32(v)
                }
                do { try routing.attachLookahead(guesses) } catch { throw TraceFileError("sequence \(i): \(error)") }
            }
            sequences.append(TracedSequence(domain: domain, routing: routing, weights: weights))
        }
        return (header, sequences)
    }

    struct Cursor {
        let bytes: [UInt8]
        var offset = 0
        var remaining: Int { bytes.count - offset }
        var atEnd: Bool { offset == bytes.count }

        mutating func bytes(_ n: Int, _ what: String) throws -> [UInt8] {
            guard n >= 0, n <= remaining else { throw TraceFileError("truncated at \(what) (offset \(offset))") }
            defer { offset += n }
            return Array(bytes[offset..<offset + n])
        }

        mutating func u32(_ what: String) throws -> UInt32 {
            let b = try bytes(4, what)
            return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
        }

        mutating func u16(_ what: String) throws -> UInt16 {
            let b = try bytes(2, what)
            return UInt16(b[0]) | UInt16(b[1]) << 8
        }
    }
}
