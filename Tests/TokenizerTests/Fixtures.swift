import Foundation
import GGUF
import Tokenizer

/// Loads fixture vocabularies through the GGUF reader, once per process.
enum Fixtures {
    static let directory: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// The vocabularies committed in Fixtures/, by short name.
    static let vocabNames = ["qwen2", "llama-bpe", "llama-spm", "qwen35", "gemma-4"]

    /// How many test texts llama.cpp ships in each vocabulary's .inp/.out pair.
    static let llamaCppCaseCounts = ["qwen2": 46, "llama-bpe": 46, "llama-spm": 46, "qwen35": 50, "gemma-4": 46]

    /// llama.cpp's vocab-only GGUFs end right after the metadata, but our GGUF reader wants
    /// the (empty) tensor-data section padded to the alignment; the committed fixtures carry
    /// that padding, and reference files get a padded temporary copy.
    static func paddedCopy(_ path: String, alignment: Int = 32) throws -> String {
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        if data.count % alignment == 0 { return path }
        data.append(Data(count: (alignment - data.count % alignment) % alignment))
        let out = FileManager.default.temporaryDirectory
            .appendingPathComponent("hotmoe-tok-\(getpid())-" + URL(fileURLWithPath: path).lastPathComponent)
        try data.write(to: out)
        return out.path
    }

    private static let cache = TokenizerCache()

    static func tokenizer(_ name: String) throws -> Tokenizer {
        try cache.get(name) { try Tokenizer(gguf: GGUFFile(path: path("ggml-vocab-\(name).gguf"))) }
    }

    /// llama.cpp's test-tokenizer-0 format: inputs separated by a marker line, and one line of
    /// space-separated expected ids per input.
    static func llamaCppCases(_ name: String, directory: String? = nil) throws -> [(text: String, ids: [Int32])] {
        let base = directory.map { "\($0)/ggml-vocab-\(name).gguf" } ?? path("ggml-vocab-\(name).gguf")
        let inp = try String(contentsOfFile: base + ".inp", encoding: .utf8)
        let out = try String(contentsOfFile: base + ".out", encoding: .utf8)
        var inputs = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        if inputs.last == "" { inputs.removeLast() }
        var lines = out.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        precondition(inputs.count == lines.count, "\(name): \(inputs.count) inputs, \(lines.count) outputs")
        return zip(inputs, lines).map { text, line in
            (text, line.split(separator: " ").map { Int32($0)! })
        }
    }
}

/// Building a tokenizer parses a few MB of metadata; tests share instances.
final class TokenizerCache: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String: Tokenizer] = [:]

    func get(_ key: String, _ make: () throws -> Tokenizer) throws -> Tokenizer {
        lock.lock()
        defer { lock.unlock() }
        if let t = items[key] { return t }
        let t = try make()
        items[key] = t
        return t
    }
}
