import ExpertCache
import Foundation

/// Routing-trace reader on arbitrary bytes: parse or throw, never trap or over-allocate.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTrace(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    if let (header, sequences) = try? TraceReader.parse(Data(bytes: data, count: size)) {
        _ = header.layerIDs.count &+ sequences.count
    }
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
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv, { fuzzTrace($0, $1) }))
