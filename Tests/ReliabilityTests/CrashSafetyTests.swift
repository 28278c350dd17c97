import XCTest
import ExpertCache
#if canImport(Glibc)
import Glibc
#endif

/// A profile writer killed with SIGKILL at random moments leaves the previous complete
/// revision or a newer complete one, never a torn or mixed file.
final class CrashSafetyTests: XCTestCase {
    /// The revision on disk (as `hotmoe _profile-writer` writes it) or nil when the file is not one
    /// complete revision.
    static func revision(at path: String) -> Int? {
        FileManager.default.contents(atPath: path).flatMap { try? PerfProfile.decode($0) }?.markedRevision
    }

    /// Starts the writer, kills it after a random delay, and reports what is on disk.
    private func killLoop(torn: Bool, iterations: Int, stopAtFirstBad: Bool) throws -> (revisions: [Int?], dir: URL) {
        guard let exe = ChildProcess.hotmoe else {
            XCTFail("hotmoe binary not found next to the test bundle; build it (swift build) or set HOTMOE_BIN")
            return ([], URL(fileURLWithPath: "/"))
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hotmoe-crash-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("profile.json").path
        // Revision 1 exists before the first writer starts, as a previous run would have left it
        // (not 0: zero hit counts are omitted on save, so revision 0 would not be recognisable).
        try PerfProfile.revisionMarked(1).save(to: URL(fileURLWithPath: path))
        XCTAssertEqual(Self.revision(at: path), 1)
        var seen = [Int?]()
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<iterations {
            let pid = try ChildProcess.spawn(exe, ["_profile-writer", "--path", path] + (torn ? ["--torn"] : []),
                                             stdout: "/dev/null", stderr: "/dev/null")
            // Wait until the writer has changed the file (it is in its write loop, past process
            // start-up), then kill it at a random point of the following writes.
            let before = FileManager.default.contents(atPath: path)
            let deadline = ContinuousClock.now + .seconds(10)
            while FileManager.default.contents(atPath: path) == before, ContinuousClock.now < deadline { usleep(500) }
            usleep(UInt32.random(in: 0...60_000, using: &rng))
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            let rev = Self.revision(at: path)
            seen.append(rev)
            if stopAtFirstBad && rev == nil { break }
        }
        return (seen, dir)
    }

    func testKilledAtomicWriterAlwaysLeavesACompleteRevision() throws {
        let (seen, dir) = try killLoop(torn: false, iterations: 30, stopAtFirstBad: false)
        guard !seen.isEmpty else { return }
        print("atomic writer, revisions after each kill: \(seen.map { $0.map(String.init) ?? "torn" })")
        var last = 1
        for (i, rev) in seen.enumerated() {
            guard let rev else { XCTFail("kill \(i): the profile is not a complete revision (torn or mixed)"); continue }
            XCTAssertGreaterThanOrEqual(rev, last, "kill \(i): revision went back from \(last) to \(rev)")
            last = rev
        }
        // One clean save after the crashes clears the temp files the killed writers left.
        if let exe = ChildProcess.hotmoe {
            let r = try ChildProcess.run(exe, ["_profile-writer", "--path", dir.appendingPathComponent("profile.json").path, "--count", "1"], timeout: 30)
            XCTAssertEqual(r.exitCode, 0, r.stderr)
            let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0 != "profile.json" }
            XCTAssertEqual(left, [], "temp files left after a clean save")
        }
        // Otherwise the writer never got to write and the loop proved nothing.
        XCTAssertGreaterThan(last, 1, "the writer never completed a revision; revisions seen: \(seen)")
    }

    /// The control: the same loop against an in-place writer does see torn files, so the
    /// check above is able to fail.
    func testKillLoopDetectsANonAtomicWriter() throws {
        let (seen, _) = try killLoop(torn: true, iterations: 30, stopAtFirstBad: true)
        guard !seen.isEmpty else { return }
        print("in-place writer, revisions after each kill: \(seen.map { $0.map(String.init) ?? "torn" })")
        XCTAssertTrue(seen.contains { $0 == nil }, "30 kills of an in-place writer never left a torn file: \(seen)")
    }
}
