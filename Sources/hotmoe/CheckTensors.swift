import Foundation
import GGUF
import Logging

/// `--check-tensors` (llama.cpp's flag): every tensor's values validated at load, before the
/// model is built, with progress on the log for large files.
enum CheckTensors {
    /// Files from this size on log every tenth of the scan.
    static let progressFromBytes = 1 << 30

    static let help = "Validate every tensor's values at load (NaN/Inf in floats and block scales), naming the first bad tensor."

    static func run(_ file: GGUFFile, logger: Logger) throws {
        let clock = ContinuousClock()
        let t0 = clock.now
        var nextTenth = 1
        try TensorCheck.check(file) { done, total in
            guard total >= progressFromBytes else { return }
            while nextTenth <= 10, done * 10 >= total * nextTenth {
                logger.info("--check-tensors: \(nextTenth * 10)% of \(total >> 20) MiB")
                nextTenth += 1
            }
        }
        let bytes = file.tensors.reduce(0) { $0 + $1.byteCount }
        let seconds = (clock.now - t0).seconds
        let rate = seconds > 0 ? Double(bytes) / 1_048_576 / seconds : 0
        logger.info("--check-tensors: \(file.tensors.count) tensors (\(bytes >> 20) MiB) valid in \(String(format: "%.2f s, %.0f MiB/s", seconds, rate))")
    }
}
