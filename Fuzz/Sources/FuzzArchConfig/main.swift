import Engine
import Foundation
import FuzzDriver
import GGUF

/// The new architectures' config parsing (qwen35moe, qwen3next, gemma4, glm4moe, gpt-oss) on
/// hostile metadata: a tiny synthetic model gets its metadata rewritten by the input
/// (`MetadataVariant`'s KEY=TYPE:VALUE lines), is loaded and, when it loads, decodes a few
/// tokens. Every input must load or throw, never trap, hang or over-allocate.
let bases: [(name: String, file: GGUFFile)] = MetadataVariant.fuzzedArchitectures.map { arch in
    do { return (arch, try MetadataVariant.tinyBase(arch)) } catch { fatalError("cannot build the \(arch) base model: \(error)") }
}

// HOTMOE_FUZZ_WRITE_SEEDS=DIR: write the seeds (Fuzz/corpus/archconfig/seed-ARCH.txt) and exit.
if let dir = ProcessInfo.processInfo.environment["HOTMOE_FUZZ_WRITE_SEEDS"] {
    for (name, file) in bases {
        try! MetadataVariant.seed(name: name, file: file).write(toFile: "\(dir)/seed-\(name).txt", atomically: true, encoding: .utf8)
    }
    exit(0)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzArchConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    if let model = try? MetadataVariant.model(fromInput: input, bases: bases) { MetadataVariant.decodeFewTokens(model) }
    return 0
}

runFuzzDriver { fuzzArchConfig($0, $1) }
