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

// SwiftPM links executables on Linux with `main` aliased to this module's entry point, so
// libFuzzer's own main is not used: the top-level code hands control to its driver instead.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32
var fuzzArgc = CommandLine.argc
var fuzzArgv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv, { fuzzRequests($0, $1) }))
