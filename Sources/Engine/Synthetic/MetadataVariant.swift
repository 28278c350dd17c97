import Foundation
import GGUF

/// Copies of a model file with rewritten metadata, described by a small text format: the fuzz
/// target for the architectures' config parsing (Fuzz/Sources/FuzzArchConfig) and its replay
/// test share it. One line per key, `KEY=TYPE:VALUE` with llama.cpp's --override-kv types
/// (int, float, bool, str) plus u64, f64 and the arrays ints, floats, bools, strs
/// (`[a,b,c]`); `KEY=` removes the key. A key starting with '.' gets the architecture prefix
/// ("<arch>."). Lines that do not parse are skipped, so every input is some variant.
public enum MetadataVariant {
    /// Bounds on what one text can ask for (a fuzz input is at most a few KB anyway).
    public static let maxLines = 512, maxArrayCount = 4096

    /// The (key, new value or nil to remove) pairs of `text`, in order.
    public static func overrides(_ text: Substring, architecture: String) -> [(String, GGUFValue?)] {
        var result = [(String, GGUFValue?)]()
        for line in text.split(separator: "\n", omittingEmptySubsequences: true).prefix(maxLines) {
            guard let eq = line.firstIndex(of: "=") else { continue }
            var key = String(line[..<eq])
            if key.hasPrefix(".") { key = architecture + key }
            guard !key.isEmpty else { continue }
            let spec = line[line.index(after: eq)...]
            if spec.isEmpty { result.append((key, nil)); continue }
            guard let colon = spec.firstIndex(of: ":"), let value = parse(type: spec[..<colon], spec[spec.index(after: colon)...]) else { continue }
            result.append((key, value))
        }
        return result
    }

    private static func scalar(_ type: Substring, _ text: Substring) -> GGUFValue? {
        switch type {
        case "int":
            guard let v = Int64(text) else { return nil }
            return Int32(exactly: v).map(GGUFValue.int32) ?? .int64(v)
        case "u64": return UInt64(text).map(GGUFValue.uint64)
        case "float": return Float(text).map(GGUFValue.float32)
        case "f64": return Double(text).map(GGUFValue.float64)
        case "bool": return text == "true" ? .bool(true) : text == "false" ? .bool(false) : nil
        case "str": return .string(String(text))
        default: return nil
        }
    }

    private static let arrayTypes: [Substring: (element: Substring, type: GGUFValueType)] = [
        "ints": ("int", .int32), "floats": ("float", .float32), "bools": ("bool", .bool), "strs": ("str", .string),
    ]

    private static func parse(type: Substring, _ text: Substring) -> GGUFValue? {
        guard let array = arrayTypes[type] else { return scalar(type, text) }
        let (element, elementType) = array
        guard text.hasPrefix("["), text.hasSuffix("]"), text.count >= 2 else { return nil }
        let inner = text.dropFirst().dropLast()
        let items = inner.isEmpty ? [] : inner.split(separator: ",", omittingEmptySubsequences: false)
        guard items.count <= maxArrayCount else { return nil }
        var values = [GGUFValue]()
        for item in items {
            // An int that needs 64 bits does not fit the int32 array.
            guard let v = scalar(element, item), v.type == elementType else { return nil }
            values.append(v)
        }
        return .array(elementType, values)
    }

    /// The line that sets `key` to `value`, when the format can express it (scalar types the
    /// config readers accept, flat arrays of them).
    public static func line(_ key: String, _ value: GGUFValue) -> String? {
        func scalarText(_ v: GGUFValue) -> (type: String, text: String)? {
            switch v {
            case .int32(let x): ("int", "\(x)")
            case .int64(let x): ("int", "\(x)")
            case .uint32(let x): ("int", "\(x)")
            case .uint64(let x): ("u64", "\(x)")
            case .float32(let x): ("float", "\(x)")
            case .float64(let x): ("f64", "\(x)")
            case .bool(let x): ("bool", "\(x)")
            case .string(let s) where !s.contains("\n") && !s.contains(","): ("str", s)
            default: nil
            }
        }
        if case .array(let elementType, let values) = value {
            // Any integer array is written as ints (the config readers take every integer type).
            let integers: Set<GGUFValueType> = [.int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64]
            guard let type = integers.contains(elementType) ? "ints" : arrayTypes.first(where: { $0.value.type == elementType })?.key else { return nil }
            let texts = values.compactMap(scalarText).map(\.text)
            guard texts.count == values.count else { return nil }
            return "\(key)=\(type):[\(texts.joined(separator: ","))]"
        }
        return scalarText(value).map { "\(key)=\($0.type):\($0.text)" }
    }

    /// The bytes of `file` with `overrides` applied to its metadata (tensors copied as they are).
    public static func rewrite(_ file: GGUFFile, overrides: [(String, GGUFValue?)]) throws -> [UInt8] {
        var metadata = file.metadataKeys.compactMap { key in file.metadata[key].map { (key, $0) } }
        for (key, value) in overrides {
            let index = metadata.firstIndex { $0.0 == key }
            switch (index, value) {
            case (let i?, let v?): metadata[i].1 = v
            case (nil, let v?): metadata.append((key, v))
            case (let i?, nil): metadata.remove(at: i)
            case (nil, nil): break
            }
        }
        var writer = GGUFWriter()
        writer.alignment = file.alignment
        for (key, value) in metadata { writer.set(key, value) }
        for t in file.tensors {
            let source = UnsafeRawBufferPointer(start: file.data(t), count: t.byteCount)
            try writer.addTensor(name: t.name, type: t.type, dims: t.dims) { $0.copyMemory(from: source) }
        }
        return try writer.serialized()
    }

    /// The architectures whose config readers the fuzz target drives.
    public static let fuzzedArchitectures = ["qwen35moe", "qwen3next", "gemma4", "glm4moe", "gpt-oss"]

    /// A tiny synthetic model of `architecture`, held in memory (the temporary file is removed).
    public static func tinyBase(_ architecture: String) throws -> GGUFFile {
        guard let spec = SyntheticModelSpec.preset("tiny", architecture: architecture) else {
            throw GGUFError("no tiny preset for \(architecture)")
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hotmoe-variant-\(architecture)-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).gguf").path
        defer { unlink(path) }
        try SyntheticModel.write(spec, to: path)
        return try GGUFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    /// The fuzz input convention: the first line names the base model's architecture (else
    /// the first byte picks one), the other lines are overrides; the variant is loaded.
    public static func model(fromInput input: [UInt8], bases: [(name: String, file: GGUFFile)]) throws -> MoEModel {
        guard let first = input.first, !bases.isEmpty else { throw GGUFError("empty input") }
        let text = String(decoding: input, as: UTF8.self)
        let firstLine = text.prefix { $0 != "\n" }
        let base = bases.first { $0.name == firstLine } ?? bases[Int(first) % bases.count]
        let bytes = try rewrite(base.file, overrides: overrides(text.dropFirst(firstLine.count), architecture: base.name))
        return try MoEModel(file: try GGUFFile(bytes: bytes))
    }

    /// Decodes a short prompt and one more token in an 8-token context: whatever a config
    /// that loaded says, the forward pass must run or throw, not trap.
    public static func decodeFewTokens(_ model: MoEModel) {
        let session = InferenceSession(model: model, contextSize: 8, maxBatch: 4, threads: 1)
        let vocab = model.config.vocabSize
        _ = try? session.forward([1, 2, 3].map { Int32($0 % vocab) })
        _ = try? session.forward(token: Int32(4 % vocab))
    }

    /// One seed per base: the first line, then every metadata key but the tokenizer's as an
    /// override line (architecture keys with the '.' shorthand), so the fuzzer starts from
    /// models that load and knows the key names.
    public static func seed(name: String, file: GGUFFile) -> String {
        let lines = file.metadataKeys.filter { !$0.hasPrefix("tokenizer.") }.compactMap { key in
            file.metadata[key].flatMap { line(key.hasPrefix(name + ".") ? String(key.dropFirst(name.count)) : key, $0) }
        }
        return ([name] + lines).joined(separator: "\n") + "\n"
    }
}
