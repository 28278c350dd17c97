import Foundation

/// Test hook: with HOTMOE_REPORT_PEAK_RSS set, the process prints its own peak RSS (VmHWM) to
/// stderr when it exits. A parent cannot get this from wait4: Linux folds the spawning process's
/// peak into the child's ru_maxrss at exec (posix_spawn shares the parent's memory until exec),
/// so a large test runner would make every child look large.
enum PeakRSSReport {
    static func installIfRequested() {
        guard ProcessInfo.processInfo.environment["HOTMOE_REPORT_PEAK_RSS"] != nil else { return }
        atexit {
            guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return }
            let kib = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "?"
            FileHandle.standardError.write(Data("hotmoe-peak-rss-kib: \(kib)\n".utf8))
        }
    }
}
