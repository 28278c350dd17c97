// Reading and writing profile JSON with field-path errors and atomic saves.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension PerfProfile {
    /// Parses and validates a profile. With a `layout`, layer ids, expert ids and `n_expert`
    /// are checked against the model; without one only the structure is checked.
    public static func decode(_ data: Data, layout: ModelExpertLayout? = nil) throws(ProfileError) -> PerfProfile {
        let root: JSONValue
        do { root = try JSONParser.parse(data) } catch {
            throw ProfileError(path: "$", message: "malformed JSON at line \(error.line), column \(error.column): \(error.message)")
        }
        return try ProfileDecoder(layout: layout).profile(root)
    }

    public static func load(contentsOf url: URL, layout: ModelExpertLayout? = nil) throws -> PerfProfile {
        try decode(try Data(contentsOf: url), layout: layout)
    }

    public func encode() -> Data { Data(JSONPrinter.print(jsonValue()).utf8) }

    /// Atomic save: temp file in the same directory, fsync, rename over the target, fsync the directory.
    public func save(to url: URL) throws { try writeAtomically(encode(), to: url) }

    func jsonValue() -> JSONValue {
        var top: [(key: String, value: JSONValue)] = []
        if let enabled { top.append(("enabled", .bool(enabled))) }
        if let mode { top.append(("mode", .string(mode))) }
        top.append(("schema", .string(schema)))
        if let nExpert { top.append(("n_expert", .int(Int64(nExpert)))) }
        if let nExpertUsed { top.append(("n_expert_used", .int(Int64(nExpertUsed)))) }
        top += extra.members
        top.append(("layers", .array(layers.map { $0.jsonValue() })))
        return .object(top)
    }
}

extension LayerProfile {
    func jsonValue() -> JSONValue {
        var m: [(key: String, value: JSONValue)] = [("layer", .int(Int64(layer)))]
        for metric in LayerMetric.allCases {
            guard let v = metrics[metric] else { continue }
            m.append((metric.rawValue, metric.isCount ? .int(Int64(v)) : .double(v)))
        }
        m += extra.members
        func pairs(_ list: [ExpertHits]) -> JSONValue {
            .array(list.map { .array([.int(Int64($0.expert)), .int(Int64(clamping: $0.hits))]) })
        }
        if let experts { m.append(("experts", pairs(experts))) }
        if let hotExperts { m.append(("hot_experts", pairs(hotExperts))) }
        if let coldExperts { m.append(("cold_experts", pairs(coldExperts))) }
        return .object(m)
    }
}

private struct ProfileDecoder {
    let layout: ModelExpertLayout?

    func fail(_ path: String, _ message: String) -> ProfileError { ProfileError(path: path, message: message) }

    func profile(_ root: JSONValue) throws(ProfileError) -> PerfProfile {
        guard case .object(let members) = root else { throw fail("$", "expected an object, found \(root.typeName)") }
        var p = PerfProfile(schema: "", enabled: nil, layers: [])
        var sawSchema = false, sawLayers = false
        for (key, value) in members {
            switch key {
            case "schema":
                guard case .string(let s) = value else { throw fail(key, "expected a string, found \(value.typeName)") }
                guard s == perfProfileSchema || s == legacyPerfProfileSchema else {
                    throw fail(key, "unsupported schema \"\(s)\" (expected \"\(perfProfileSchema)\")")
                }
                p.schema = s; sawSchema = true
            case "enabled":
                guard case .bool(let b) = value else { throw fail(key, "expected a boolean, found \(value.typeName)") }
                p.enabled = b
            case "mode":
                guard case .string(let s) = value else { throw fail(key, "expected a string, found \(value.typeName)") }
                guard PerfMode(rawValue: s) != nil else { throw fail(key, "unknown perf mode \"\(s)\" (expected full, update or off)") }
                p.mode = s
            case "n_expert":
                let n = try count(value, key, "expert count")
                if let layout, n != layout.expertsPerLayer {
                    throw fail(key, "\(n) does not match the model (\(layout.expertsPerLayer) experts per layer)")
                }
                p.nExpert = Int(n)
            case "n_expert_used":
                p.nExpertUsed = Int(try count(value, key, "expert count"))
            case "layers":
                guard case .array(let items) = value else { throw fail(key, "expected an array, found \(value.typeName)") }
                var firstIndex: [Int: Int] = [:]
                for (i, item) in items.enumerated() {
                    let l = try layer(item, "layers[\(i)]")
                    if let j = firstIndex[l.layer] {
                        throw fail("layers[\(i)].layer", "duplicate layer \(l.layer) (also at layers[\(j)])")
                    }
                    firstIndex[l.layer] = i
                    p.layers.append(l)
                }
                sawLayers = true
            default:
                p.extra.members.append((key, value))
            }
        }
        guard sawSchema else { throw fail("schema", "missing (expected \"\(perfProfileSchema)\")") }
        guard sawLayers else { throw fail("layers", "missing (expected an array of layer objects)") }
        return p
    }

    /// A non-negative integral number (integral floats are accepted: some writers print 4.0).
    func count(_ v: JSONValue, _ path: String, _ what: String) throws(ProfileError) -> UInt64 {
        switch v {
        case .int(let i):
            guard i >= 0 else { throw fail(path, "negative \(what) \(i)") }
            return UInt64(i)
        case .double(let d):
            guard d >= 0 else { throw fail(path, "negative \(what) \(JSONPrinter.number(d))") }
            guard d == d.rounded(), d < 9.2e18 else { throw fail(path, "expected an integer \(what), found \(d)") }
            return UInt64(d)
        default:
            throw fail(path, "expected an integer \(what), found \(v.typeName)")
        }
    }

    func layer(_ v: JSONValue, _ path: String) throws(ProfileError) -> LayerProfile {
        guard case .object(let members) = v else { throw fail(path, "expected a layer object, found \(v.typeName)") }
        guard let idValue = members.first(where: { $0.key == "layer" })?.value else {
            throw fail("\(path).layer", "missing layer index")
        }
        let id = Int(try count(idValue, "\(path).layer", "layer index"))
        if let layout, layout.moeIndex(ofLayer: id) == nil {
            throw fail("\(path).layer", "layer \(id) has no routed experts in this model")
        }
        var l = LayerProfile(layer: id)
        for (key, value) in members where key != "layer" {
            let fieldPath = "\(path).\(key)"
            if let metric = LayerMetric(rawValue: key) {
                l.metrics[metric] = try number(value, fieldPath, integral: metric.isCount)
                continue
            }
            switch key {
            case "experts": l.experts = try pairs(value, fieldPath, layer: id)
            case "hot_experts": l.hotExperts = try pairs(value, fieldPath, layer: id)
            case "cold_experts": l.coldExperts = try pairs(value, fieldPath, layer: id)
            default: l.extra.members.append((key, value))
            }
        }
        return l
    }

    func number(_ v: JSONValue, _ path: String, integral: Bool) throws(ProfileError) -> Double {
        if integral { return Double(try count(v, path, "count")) }
        guard let d = v.numberValue else { throw fail(path, "expected a number, found \(v.typeName)") }
        guard d >= 0 else { throw fail(path, "negative value \(JSONPrinter.number(d))") }
        return d
    }

    func pairs(_ v: JSONValue, _ path: String, layer: Int) throws(ProfileError) -> [ExpertHits] {
        guard case .array(let items) = v else { throw fail(path, "expected an array of [expert_id, hit_count] pairs, found \(v.typeName)") }
        var out: [ExpertHits] = []
        var seenAt: [Int: Int] = [:]
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            guard case .array(let pair) = item else { throw fail(p, "expected an [expert_id, hit_count] pair, found \(item.typeName)") }
            guard pair.count == 2 else { throw fail(p, "expected 2 elements [expert_id, hit_count], found \(pair.count)") }
            let expert = Int(try count(pair[0], "\(p)[0]", "expert id"))
            if let layout, expert >= layout.expertsPerLayer {
                throw fail("\(p)[0]", "expert \(expert) out of range (layer \(layer) has \(layout.expertsPerLayer) experts)")
            }
            let hits = try count(pair[1], "\(p)[1]", "hit count")
            if let j = seenAt[expert] { throw fail("\(p)[0]", "duplicate expert \(expert) (also at index \(j))") }
            seenAt[expert] = i
            out.append(ExpertHits(expert: expert, hits: hits))
        }
        return out
    }
}

/// Writes `data` so that readers see either the old file or the complete new one, never a torn write.
func writeAtomically(_ data: Data, to url: URL) throws {
    let dir = url.deletingLastPathComponent().path
    removeStaleTemporaries(of: url)
    let tmp = url.deletingLastPathComponent()
        .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    var ok = false
    defer {
        if !ok { unlink(tmp) }
    }
    try data.withUnsafeBytes { raw in
        var off = 0
        while off < raw.count {
            let n = write(fd, raw.baseAddress! + off, raw.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                let e = errno
                close(fd)
                throw POSIXError(POSIXErrorCode(rawValue: e) ?? .EIO)
            }
            off += n
        }
    }
    guard fsync(fd) == 0 else {
        let e = errno; close(fd)
        throw POSIXError(POSIXErrorCode(rawValue: e) ?? .EIO)
    }
    close(fd)
    guard rename(tmp, url.path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    ok = true
    syncDirectory(dir)
}

/// Persists a rename into `dir` (profiles and traces): without it a power cut can bring the old
/// name back. Readers never see a torn file either way, so this is best effort.
func syncDirectory(_ dir: String) {
    let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
    if dfd >= 0 { _ = fsync(dfd); close(dfd) }
}

/// Removes temp files that killed writers of `url` left behind (`.NAME.tmp-PID-RAND` whose PID
/// is gone), so crashes do not accumulate litter next to the profile. Live writers' files stay.
func removeStaleTemporaries(of url: URL) {
    let dir = url.deletingLastPathComponent().path
    let prefix = ".\(url.lastPathComponent).tmp-"
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir) else { return }
    for name in names where name.hasPrefix(prefix) {
        guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }) else { continue }
        if kill(pid, 0) != 0 && errno == ESRCH { unlink((dir.isEmpty ? "." : dir) + "/" + name) }
    }
}
