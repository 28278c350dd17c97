import FuzzDriver
import Foundation
import Engine
import GGUF
import Tokenizer

/// GGUF reader + model loader + tokenizer construction on arbitrary bytes: every input must
/// load or throw, never trap, hang or allocate past what the input justifies.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let file = try? GGUFFile(bytes: bytes) else { return 0 }
    _ = file.tensors.reduce(0) { $0 &+ $1.byteCount }
    if let model = try? MoEModel(file: file) {
        // Touch every expert's bounds as the executor would.
        for l in 0..<model.config.layerCount { _ = model.weights.expertBytes(layer: l) }
    }
    if let tokenizer = try? Tokenizer(gguf: file) {
        let ids = tokenizer.encode("Hello world, <|im_start|> 123 ünïcödé", parseSpecial: true)
        _ = tokenizer.decode(ids)
    }
    return 0
}

runFuzzDriver { fuzzGGUF($0, $1) }
