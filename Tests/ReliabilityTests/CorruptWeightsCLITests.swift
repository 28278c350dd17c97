import XCTest
import Engine
import GGUF

/// A structurally valid model whose float tensors hold random bytes (a corrupt download):
/// `hotmoe run` ends with a clear error instead of a signal, and `--check-tensors` names the
/// first bad tensor before any compute.
final class CorruptWeightsCLITests: XCTestCase {
    private func models() throws -> (good: String, bad: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hotmoe-corrupt-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.gguf").path, bad = dir.appendingPathComponent("random-floats.gguf").path
        var spec = SyntheticModelSpec.preset("tiny", architecture: "qwen3moe")!
        spec.seed = 5
        try SyntheticModel.write(spec, to: good)
        try CorruptModel.writeRandomFloatData(from: good, to: bad, seed: 99)
        return (good, bad)
    }

    func testRunEndsWithAClearErrorAndCheckTensorsNamesTheTensor() throws {
        guard let exe = ChildProcess.hotmoe else {
            return XCTFail("hotmoe binary not found next to the test bundle; build it (swift build) or set HOTMOE_BIN")
        }
        let (good, bad) = try models()
        for sampling in [["--temp", "0"], ["--temp", "0.8", "--seed", "3"]] {
            let r = try ChildProcess.run(exe, ["run", "-m", bad, "-p", "hello world", "-n", "8", "-t", "1"] + sampling, timeout: 60)
            XCTAssertNil(r.signal, "run \(sampling): killed by signal \(String(describing: r.signal)); stderr: \(r.stderr)")
            XCTAssertFalse(r.timedOut)
            XCTAssertEqual(r.exitCode, 1, "run \(sampling): stderr: \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("no finite logit"), "run \(sampling): \(r.stderr)")
            print("hotmoe run \(sampling.joined(separator: " ")) on random float data: exit \(String(describing: r.exitCode)) in \(String(format: "%.2f", r.seconds)) s")
        }

        let prompts = (bad as NSString).deletingLastPathComponent + "/prompts.jsonl"
        try #"{"prompt": "hello world", "domain": "en"}"#.write(toFile: prompts, atomically: true, encoding: .utf8)
        let traced = try ChildProcess.run(exe, ["trace", "-m", bad, "--prompts", prompts, "-o", prompts + ".trace", "-n", "4", "-t", "1"], timeout: 60)
        XCTAssertEqual(traced.exitCode, 1, traced.stderr)
        XCTAssertTrue(traced.stderr.contains("prompt 1: the model computed no finite logit"), traced.stderr)

        // The expected name: the first tensor (file order) holding a NaN or Inf.
        let file = try GGUFFile(path: bad)
        let firstBad = file.tensors.first { t in
            TensorCheck.firstInvalid(type: t.type, data: file.data(t), byteCount: t.byteCount) != nil
        }
        let name = try XCTUnwrap(firstBad?.name)
        let checked = try ChildProcess.run(exe, ["run", "--check-tensors", "-m", bad, "-p", "hello", "-n", "4", "-t", "1"], timeout: 60)
        XCTAssertEqual(checked.exitCode, 1, checked.stderr)
        XCTAssertTrue(checked.stderr.contains("tensor '\(name)' (F32) holds"), checked.stderr)
        XCTAssertTrue(checked.stdout.isEmpty, "generated before the check failed: \(checked.stdout)")

        let clean = try ChildProcess.run(exe, ["run", "--check-tensors", "-m", good, "-p", "hello", "-n", "4", "-t", "1"], timeout: 60)
        XCTAssertEqual(clean.exitCode, 0, clean.stderr)
        XCTAssertTrue(clean.stderr.contains("--check-tensors: \(file.tensors.count) tensors"), clean.stderr)
    }
}
