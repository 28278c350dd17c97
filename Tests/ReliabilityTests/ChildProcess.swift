import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a child process ended, with its peak memory (as hotmoe reports it, else wait4's rusage).
struct ChildResult {
    var exitCode: Int32?
    var signal: Int32?
    var timedOut: Bool
    var seconds: Double
    var maxRSSBytes: Int
    var stdout: String
    var stderr: String
}

enum ChildProcess {
    /// The hotmoe binary `swift build`/`swift test` put next to the test bundle
    /// (override with HOTMOE_BIN).
    static var hotmoe: String? {
        if let p = ProcessInfo.processInfo.environment["HOTMOE_BIN"], !p.isEmpty { return p }
        #if os(Linux)
        let runner = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        #else
        let runner = Bundle.main.bundleURL
        #endif
        var dir = runner.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("hotmoe").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    static func spawn(_ exe: String, _ args: [String], stdout: String, stderr: String) throws -> pid_t {
        #if os(Linux)
        var actions = posix_spawn_file_actions_t()
        #else
        var actions: posix_spawn_file_actions_t?
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv: [UnsafeMutablePointer<CChar>?] = ([exe] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, nil, argv, environ)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
        return pid
    }

    /// Waits for `pid`, killing it (SIGKILL) when it outlives `timeout` seconds.
    static func wait(_ pid: pid_t, timeout: Double, start: ContinuousClock.Instant) -> (status: Int32, usage: rusage, timedOut: Bool) {
        var status: Int32 = 0
        var usage = rusage()
        var timedOut = false
        while true {
            let r = wait4(pid, &status, WNOHANG, &usage)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            if !timedOut, (ContinuousClock.now - start) > .milliseconds(Int(timeout * 1000)) {
                kill(pid, SIGKILL)
                timedOut = true
            }
            usleep(2000)
        }
        return (status, usage, timedOut)
    }

    /// Runs to completion (or the timeout) and collects output, exit status and peak RSS.
    static func run(_ exe: String, _ args: [String], timeout: Double) throws -> ChildResult {
        let dir = FileManager.default.temporaryDirectory.path
        let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let out = "\(dir)/child-\(tag).out", err = "\(dir)/child-\(tag).err"
        defer { unlink(out); unlink(err) }
        let start = ContinuousClock.now
        setenv("HOTMOE_REPORT_PEAK_RSS", "1", 1)
        let pid = try spawn(exe, args, stdout: out, stderr: err)
        let (status, usage, timedOut) = wait(pid, timeout: timeout, start: start)
        let elapsed = ContinuousClock.now - start
        let exited = status & 0x7f == 0
        let stderrText = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        // hotmoe reports its own peak (see PeakRSSReport): wait4's ru_maxrss includes this test
        // runner's peak, because posix_spawn shares our memory until exec. Fall back to it.
        let reported = stderrText.split(separator: "\n").last { $0.hasPrefix("hotmoe-peak-rss-kib: ") }
            .flatMap { Int($0.dropFirst("hotmoe-peak-rss-kib: ".count)) }
        return ChildResult(
            exitCode: exited ? (status >> 8) & 0xff : nil,
            signal: exited ? nil : status & 0x7f,
            timedOut: timedOut,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            // Linux reports ru_maxrss in KiB (macOS in bytes).
            maxRSSBytes: reported.map { $0 * 1024 } ?? Int(usage.ru_maxrss) * (isLinux ? 1024 : 1),
            stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: stderrText)
    }

    #if os(Linux)
    static let isLinux = true
    #else
    static let isLinux = false
    #endif
}
