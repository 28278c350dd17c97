import ExpertCache
import Foundation

/// Profile JSON on arbitrary bytes, with and without a model layout to check ids against;
/// whatever decodes must survive encode -> decode unchanged.
let layout = try! ModelExpertLayout(layerCount: 4, expertsPerLayer: 8, topK: 2, bytesPerExpert: 4096)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProfile(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let d = Data(bytes: data, count: size)
    if let p = try? PerfProfile.decode(d) {
        guard let again = try? PerfProfile.decode(p.encode()), again == p else {
            fatalError("profile does not round-trip")
        }
    }
    _ = try? PerfProfile.decode(d, layout: layout)
    return 0
}
