import ArgumentParser
import CUDA
import Engine
import Foundation
import GPUCheck
import GPULane
import Logging

/// What the GPU backend sees on this machine, in one line (the flags' and gpu-check's answer).
enum GPUProbe {
    /// The devices, or the one-line reason there are none.
    static func devices() -> Result<[DeviceInfo], CUDAError> {
        do {
            let d = try Context.devices()
            return d.isEmpty ? .failure(.driverNotFound("the driver sees no device")) : .success(d)
        } catch let e as CUDAError { return .failure(e) } catch { return .failure(.driverNotFound("\(error)")) }
    }

    static func describe(_ d: DeviceInfo) -> String {
        "\(d.backendName): \(d.name) (\(d.totalBytes >> 20) MiB, compute \(d.computeCapability.major).\(d.computeCapability.minor), \(d.multiprocessors) SMs)"
    }
}

/// `hotmoe gpu-check`: device info, then every kernel against its float64 reference on fresh
/// random data. Exits 1 with one line when there is no GPU or NVRTC, or when a kernel fails.
struct GPUCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-check", abstract: "Check the CUDA kernels on this machine's GPU against CPU references.")

    @Option(help: "CUDA device index.") var device = 0
    @Option(help: "Random seed (default: from the clock; printed so a failure can be rerun).") var seed: UInt64?
    @Option(name: [.short, .customLong("model")], help: "Also compare this model's logits with the GPU hot lane against the CPU.") var model: String?
    @Option(help: "Greedy tokens for the model check.") var steps = 32
    @Option(name: [.short, .customLong("threads")], help: "CPU threads (default: all cores).") var threads: Int?

    @Flag(name: .customLong("rounding-only"), help: "With -m: no device; print what rounding alone does to the model's logits (the reference lane in Float vs float64, and the CPU vs float64), the scale for the GPU lane's logits drift.")
    var roundingOnly = false

    func run() throws {
        if roundingOnly {
            guard let model else { throw CLIError("gpu-check --rounding-only needs -m MODEL") }
            Log.setup(verbose: false)
            let study = try ModelCheck.roundingStudy(model: try MoEModel(path: model), steps: steps,
                                                     threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, logger: Log.main)
            print(study)
            return
        }
        let context: Context
        do { context = try Context(ordinal: device) } catch { throw CLIError("\(error)") }
        print("device \(GPUProbe.describe(context.info))")
        if let v = try? CUDADriver.version() { print("driver CUDA \(v.major).\(v.minor)") }
        let memory = try context.memoryInfo()
        print("memory free \(memory.free >> 20) MiB of \(memory.total >> 20) MiB")
        let compiler: NVRTC
        switch NVRTC.shared {
        case .success(let c): compiler = c
        case .failure(let e): throw CLIError("\(e)")
        }
        print("nvrtc \(compiler.version().major).\(compiler.version().minor) at \(compiler.path)")
        let start = ContinuousClock.now
        let runner = try DeviceRunner(context: context, compiler: compiler)
        print("compiled \(KernelFamily.allCases.count) kernel families for \(context.info.architecture) in \(ContinuousClock.now - start)")
        let seed = self.seed ?? UInt64(Date().timeIntervalSince1970 * 1000)
        print("seed \(seed), tolerance rel_l2 < \(Comparison.tolerance)")
        let outcomes = KernelChecks.run(KernelChecks.all(seed: seed), on: runner)
        for o in outcomes { print(o) }
        let failed = outcomes.filter { !$0.passed }
        print("kernels: \(outcomes.count - failed.count)/\(outcomes.count) passed")
        // A failed kernel does not stop the model check: one device run should show both.
        let kernelFailure = failed.isEmpty ? nil : "\(failed.count) kernel(s) failed: \(failed.map(\.name).joined(separator: ", "))"
        guard let model else {
            if let kernelFailure { throw CLIError("gpu-check: " + kernelFailure) }
            return
        }
        Log.setup(verbose: false)
        let m = try MoEModel(path: model)
        if let why = CUDAExpertTier.unsupportedReason(m) { throw CLIError("gpu-check --model: \(why)") }
        let result = try ModelCheck.compare(model: m, library: runner.library, steps: steps,
                                            threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, logger: Log.main)
        print(result)
        let modelFailure = result.passed ? nil : "GPU lane slot outputs differ from float64 (rel_l2 \(result.laneRelativeL2), limit \(ModelCheckResult.laneTolerance))"
        let failures = [kernelFailure, modelFailure].compactMap { $0 }
        guard failures.isEmpty else { throw CLIError("gpu-check: " + failures.joined(separator: "; ")) }
    }
}

extension GPUProbe {
    /// The one line a GPU flag logs: the CPU is used, and why (`device`: --device's value).
    static func placementLine(device: String?) -> String {
        if let device, device.lowercased() == "none" || device.uppercased() == "CPU" { return "running on CPU (--device \(device))" }
        switch devices() {
        case .failure(let e): return "no CUDA device: \(e), running on CPU"
        case .success(let list):
            if let device, !list.contains(where: { $0.backendName == device }) {
                return "no CUDA device \(device) (found \(list.map(\.backendName).joined(separator: ", "))), running on CPU"
            }
            return "\(list.map(describe).joined(separator: "; ")) found, running on CPU"
        }
    }

    /// llama-server's --list-devices: the devices, one a line, or the reason there are none.
    static func listing() -> String {
        switch devices() {
        case .failure(let e): return "Available devices:\n  (none: \(e))"
        case .success(let list): return "Available devices:\n" + list.map { "  " + describe($0) }.joined(separator: "\n")
        }
    }
}

/// Opens `--device` for the GPU hot lane: nil for none/CPU, the compiled kernels for CUDA<n>.
/// A device that cannot be opened (no GPU, no NVRTC) is one warning line and the CPU path.
enum GPUSetup {
    static func open(_ device: String?, logger: Logger) throws -> KernelLibrary? {
        guard let device, !["none", "cpu"].contains(device.lowercased()) else { return nil }
        guard device.hasPrefix("CUDA"), let ordinal = Int(device.dropFirst(4)), ordinal >= 0 else {
            throw CLIError("--device \(device): expected CUDA0, CUDA1, ... or none")
        }
        do {
            let context = try Context(ordinal: ordinal)
            let compiler = try NVRTC.shared.get()
            let library = try KernelLibrary(context: context, compiler: compiler)
            logger.info("GPU hot lane on \(GPUProbe.describe(context.info)), kernels compiled by NVRTC \(compiler.version().major).\(compiler.version().minor)")
            return library
        } catch {
            logger.warning("--device \(device): no CUDA device: \(error), running on CPU")
            return nil
        }
    }
}
