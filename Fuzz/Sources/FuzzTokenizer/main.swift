import FuzzDriver
import Foundation
import GGUF
import Tokenizer

/// The tokenizers of the committed llama.cpp vocab fixtures (SentencePiece and BPE) on
/// arbitrary bytes: encode, decode, stream-decode, and decode of arbitrary ids.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../../Tests/TokenizerTests/Fixtures").standardized
let tokenizers: [Tokenizer] = ["ggml-vocab-llama-spm.gguf", "ggml-vocab-qwen2.gguf"].map { name in
    let path = fixtures.appendingPathComponent(name).path
    // The fixtures end without the data-section padding; parse them from memory, padded.
    var bytes = Array(FileManager.default.contents(atPath: path)!)
    bytes += [UInt8](repeating: 0, count: (32 - bytes.count % 32) % 32)
    return try! Tokenizer(gguf: GGUFFile(bytes: bytes, name: name))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    for t in tokenizers {
        let ids = t.encode(text, parseSpecial: size % 2 == 0)
        _ = t.decode(ids)
        var stream = t.makeStreamingDecoder()
        for id in ids.prefix(64) { _ = stream.push(id) }
        _ = stream.finish()
        // Arbitrary ids, in range or not: decode must clamp or skip, not trap.
        let raw = stride(from: 0, to: size - 3, by: 4).map { i in
            Int32(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
        }
        _ = t.decode(raw, renderSpecial: true)
    }
    return 0
}

runFuzzDriver { fuzzTokenizer($0, $1) }
