import Engine
import Foundation
@testable import GPULane
import Testing

/// Which models the GPU lane takes, decided without a device.
private func synthetic(_ type: String, arch: String = "qwen3moe") throws -> MoEModel {
    var spec = SyntheticModelSpec.preset("small", architecture: arch)!
    spec.layers = 2
    spec.weightType = type
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpulane-tests-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent("m-\(arch)-\(type).gguf").path
    if !FileManager.default.fileExists(atPath: path) { try SyntheticModel.write(spec, to: path) }
    return try MoEModel(path: path)
}

@Test func gpuLaneTakesQ4KMAndQ8ModelsInFileLayout() throws {
    #expect(CUDAExpertTier.unsupportedReason(try synthetic("q4_k_m")) == nil)
    #expect(CUDAExpertTier.unsupportedReason(try synthetic("q8_0")) == nil)
}

@Test func gpuLaneRefusesWhatItCannotComputeWithAReason() throws {
    let mxfp4 = try #require(CUDAExpertTier.unsupportedReason(try synthetic("mxfp4")))
    #expect(mxfp4.contains("has no GPU kernel"))
    let repacked = try synthetic("q8_0").repacked(experts: true)
    if repacked.weights.hasRepackedExperts {
        #expect(CUDAExpertTier.unsupportedReason(repacked)?.contains("--no-repack") == true)
    }
}
