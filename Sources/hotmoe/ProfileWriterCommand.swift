import ArgumentParser
import ExpertCache
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Hidden: rewrites a profile JSON in a loop so the crash-safety test can SIGKILL it at random
/// moments and check that the file on disk is always one complete revision.
/// Writes PerfProfile.revisionMarked revisions, so a reader can tell a complete revision from a mix.
struct ProfileWriterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_profile-writer", abstract: "Test hook: rewrite a profile JSON in a loop.", shouldDisplay: false)

    @Option(help: "Profile JSON to rewrite.") var path: String
    @Option(help: "Revisions to write (default: until killed).") var count: Int = Int.max
    @Flag(help: "Write in place, in chunks, without the atomic save: the control that shows the test detects torn files.")
    var torn = false

    func run() throws {
        let url = URL(fileURLWithPath: path)
        // Continue from the revision on disk so revisions only grow across killed writers.
        var n = (try? PerfProfile.load(contentsOf: url))?.markedRevision ?? 1
        for _ in 0..<max(0, count) {
            n += 1
            let p = PerfProfile.revisionMarked(n)
            if torn { try writeInPlace(p.encode()) } else { try p.save(to: url) }
        }
    }

    /// The unsafe way (truncate, then write in pieces), slowed so a kill lands mid-write.
    private func writeInPlace(_ data: Data) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CLIError("\(path): cannot open") }
        defer { close(fd) }
        let chunk = max(1, data.count / 4)
        try data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, min(chunk, raw.count - off))
                guard n > 0 else { throw CLIError("\(path): write failed") }
                off += n
                usleep(5000)
            }
        }
    }
}
