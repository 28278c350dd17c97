import FuzzDriver
import ExpertCache
import Foundation

/// Profile JSON on arbitrary bytes, with and without a model layout to check ids against.
/// Whatever decodes must re-encode to a file that decodes and re-encodes byte for byte (the
/// documented property: decode -> encode is the identity on encoder output). Not
/// `decode(encode(p)) == p`: an unknown field's 100.0 is written as 100 and reads back as an int.
let layout = try! ModelExpertLayout(layerCount: 4, expertsPerLayer: 8, topK: 2, bytesPerExpert: 4096)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProfile(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let d = Data(bytes: data, count: size)
    if let p = try? PerfProfile.decode(d) {
        let encoded = p.encode()
        guard let again = try? PerfProfile.decode(encoded), again.encode() == encoded else {
            fatalError("encoder output does not round-trip")
        }
    }
    _ = try? PerfProfile.decode(d, layout: layout)
    return 0
}

runFuzzDriver { fuzzProfile($0, $1) }
