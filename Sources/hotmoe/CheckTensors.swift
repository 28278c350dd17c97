import Foundation
import GGUF
import Logging

/// `--check-tensors` (llama.cpp's flag): every tensor's values validated at load, before the
/// model is built, with progress on the log while the scan is slow (a large or cold file).
enum CheckTensors {
    /// Progress is logged at most this often.
    static let progressInterval = Duration.seconds(2)

    static let help = "Validate every tensor's values at load (NaN/Inf in floats and block scales), naming the first bad tensor."

    static func run(_ file: GGUFFile, logger: Logger) throws {
        let clock = ContinuousClock()
        let t0 = clock.now
        var lastLog = t0
        try TensorCheck.check(file) { done, total in
            let now = clock.now
            guard now - lastLog >= progressInterval, total > 0 else { return }
            lastLog = now
            logger.info("--check-tensors: \(done * 100 / total)% of \(total >> 20) MiB")
        }
        let bytes = file.tensors.reduce(0) { $0 + $1.byteCount }
        let seconds = (clock.now - t0).seconds
        let rate = seconds > 0 ? Double(bytes) / 1_048_576 / seconds : 0
        logger.info("--check-tensors: \(file.tensors.count) tensors (\(bytes >> 20) MiB) valid in \(String(format: "%.2f s, %.0f MiB/s", seconds, rate))")
    }
}
