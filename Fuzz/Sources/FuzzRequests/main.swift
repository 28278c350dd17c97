import FuzzDriver
import Foundation

/// The OpenAI request-body decoders (JSONFields, compiled in from HotMoEServer by symlink) on
/// arbitrary bytes: every body is decoded or answered with an APIError, never a trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequests(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard let fields = try? JSONFields(Data(bytes: data, count: size)) else { return 0 }
    _ = try? fields.generationParameters(defaultMaxTokens: 16)
    _ = try? fields.messages()
    _ = try? fields.stop()
    _ = try? fields.string("prompt")
    _ = try? fields.bool("stream")
    _ = try? fields.int("max_tokens")
    return 0
}

runFuzzDriver { fuzzRequests($0, $1) }
