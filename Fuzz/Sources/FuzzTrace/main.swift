import FuzzDriver
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

runFuzzDriver { fuzzTrace($0, $1) }
