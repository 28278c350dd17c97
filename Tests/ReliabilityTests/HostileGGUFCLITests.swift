import XCTest
import Engine
import GGUF
import Tokenizer

/// Every file of the hostile set is refused with an error naming the field, both by the loader
/// in process and by `hotmoe inspect` (exit code 1, within 5 s, under 512 MB).
final class HostileGGUFCLITests: XCTestCase {
    static let timeLimit = 5.0
    static let memoryLimit = 512 << 20

    private func makeSet() throws -> (dir: URL, base: String, cases: [(HostileCase, String)]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hotmoe-hostile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let (bytes, image) = try HostileSet.base(in: dir)
        let cases = HostileSet.cases(base: bytes, image: image)
        XCTAssertGreaterThanOrEqual(cases.count, 60)
        XCTAssertEqual(Set(cases.map(\.name)).count, cases.count, "case names must be unique")
        // Numbered, not named: a path like "offset-overlap.gguf" appears in the error message
        // and would satisfy the check for "overlap" on its own.
        let written = try cases.enumerated().map { i, c -> (HostileCase, String) in
            let path = dir.appendingPathComponent(String(format: "case-%03d.gguf", i)).path
            try Data(c.bytes).write(to: URL(fileURLWithPath: path))
            return (c, path)
        }
        try cases.enumerated().map { "case-\(String(format: "%03d", $0))  \($1.name)  expect: \($1.expect)" }
            .joined(separator: "\n").write(to: dir.appendingPathComponent("INDEX.txt"), atomically: true, encoding: .utf8)
        // HOTMOE_HOSTILE_DIR keeps a copy of the set (fuzz seeds, manual runs of other commands).
        if let keep = ProcessInfo.processInfo.environment["HOTMOE_HOSTILE_DIR"], !keep.isEmpty {
            try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
                let target = keep + "/" + name
                try? FileManager.default.removeItem(atPath: target)
                try FileManager.default.copyItem(atPath: dir.path + "/" + name, toPath: target)
            }
        }
        return (dir, dir.appendingPathComponent("base.gguf").path, written)
    }

    /// What `run` loads: the file, the model's config and weights, the tokenizer.
    private func loadEverything(_ path: String) throws {
        let file = try GGUFFile(path: path)
        _ = try MoEModel(file: file)
        _ = try Tokenizer(gguf: file)
    }

    func testLoaderRejectsEveryHostileFileNamingTheField() throws {
        let (_, base, cases) = try makeSet()
        // The control: the unmodified base model loads, so rejections below are about the edits.
        XCTAssertNoThrow(try loadEverything(base))
        for (c, path) in cases {
            do {
                try loadEverything(path)
                XCTFail("\(c.name): accepted; expected an error mentioning \"\(c.expect)\"")
            } catch {
                let message = "\(error)"
                XCTAssertTrue(message.contains(c.expect), "\(c.name): error does not mention \"\(c.expect)\": \(message)")
            }
        }
    }

    func testInspectExitsWithOneAndAClearMessage() throws {
        guard let exe = ChildProcess.hotmoe else {
            return XCTFail("hotmoe binary not found next to the test bundle; build it (swift build) or set HOTMOE_BIN")
        }
        let (_, base, cases) = try makeSet()
        let ok = try ChildProcess.run(exe, ["inspect", "-m", base], timeout: 30)
        XCTAssertEqual(ok.exitCode, 0, "control file failed: \(ok.stderr)")
        var slowest = 0.0, slowestName = "", largest = 0
        for (c, path) in cases {
            let r = try ChildProcess.run(exe, ["inspect", "-m", path], timeout: Self.timeLimit * 2)
            if r.seconds > slowest { (slowest, slowestName) = (r.seconds, c.name) }
            largest = max(largest, r.maxRSSBytes)
            XCTAssertFalse(r.timedOut, "\(c.name): still running after \(Self.timeLimit * 2) s")
            XCTAssertEqual(r.exitCode, 1, "\(c.name): exit \(String(describing: r.exitCode)) signal \(String(describing: r.signal)); stderr: \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(c.expect), "\(c.name): stderr does not mention \"\(c.expect)\": \(r.stderr)")
            XCTAssertLessThan(r.seconds, Self.timeLimit, "\(c.name): took \(r.seconds) s")
            XCTAssertLessThan(r.maxRSSBytes, Self.memoryLimit, "\(c.name): peak RSS \(r.maxRSSBytes >> 20) MB")
            XCTAssertFalse(r.stderr.contains("Fatal error"), "\(c.name): crashed: \(r.stderr)")
        }
        // `run` loads through the same path plus generation setup: a sample must fail the same way.
        for (c, path) in cases.enumerated().filter({ $0.offset % 8 == 0 }).map(\.element) {
            let r = try ChildProcess.run(exe, ["run", "-m", path, "-p", "x", "-n", "1", "-t", "1"], timeout: Self.timeLimit * 2)
            XCTAssertEqual(r.exitCode, 1, "run \(c.name): exit \(String(describing: r.exitCode)); stderr: \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(c.expect), "run \(c.name): stderr does not mention \"\(c.expect)\": \(r.stderr)")
            XCTAssertLessThan(r.maxRSSBytes, Self.memoryLimit, "run \(c.name): peak RSS \(r.maxRSSBytes >> 20) MB")
        }
        print("hostile set: \(cases.count) files, slowest \(String(format: "%.2f", slowest)) s (\(slowestName)), peak RSS \(largest >> 20) MB")
    }
}
