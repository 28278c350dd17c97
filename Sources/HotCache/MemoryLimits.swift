import Foundation

/// How much memory this process may still take: MemAvailable, lowered by a cgroup v1 or v2
/// memory limit when one applies (a container's limit kills before the machine runs out).
/// The parsers take file text, so they are testable without the files.
public enum MemoryLimits {
    /// MemAvailable from /proc/meminfo text, in bytes.
    public static func memAvailable(meminfo: String) -> Int? {
        for line in meminfo.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let parts = line.split(separator: " ")
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }

    /// Headroom under one cgroup: limit - usage + inactive file pages (reclaimable without
    /// swap). nil when there is no limit ("max", or v1's near-2^63 "unlimited").
    public static func cgroupHeadroom(limit: String, usage: String, stat: String?) -> Int? {
        let l = limit.trimmingCharacters(in: .whitespacesAndNewlines)
        guard l != "max", let limitBytes = Int(l), limitBytes < 1 << 60,
              let used = Int(usage.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        var reclaimable = 0
        for line in (stat ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ")
            // v2 names it inactive_file; v1 total_inactive_file (hierarchical).
            if parts.count == 2, parts[0] == "inactive_file" || parts[0] == "total_inactive_file", let v = Int(parts[1]) {
                reclaimable = max(reclaimable, v)
            }
        }
        return max(0, limitBytes - used + reclaimable)
    }

    /// The cgroup directories to check, from /proc/self/cgroup text: the v2 path ("0::/x")
    /// and the v1 memory controller's path, each with its ancestors (a limit may sit above us).
    public static func cgroupDirectories(procSelfCgroup text: String, root: String = "/sys/fs/cgroup")
        -> [(dir: String, v2: Bool)] {
        var out: [(String, Bool)] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let v2 = parts[0] == "0" && parts[1].isEmpty
            let v1Memory = parts[1].split(separator: ",").contains("memory")
            guard v2 || v1Memory else { continue }
            let base = v2 ? root : root + "/memory"
            var path = String(parts[2])
            while true {
                out.append((base + (path == "/" ? "" : path), v2))
                guard path != "/", let cut = path.lastIndex(of: "/") else { break }
                path = cut == path.startIndex ? "/" : String(path[..<cut])
            }
            // Inside a container the namespace root is the mount point itself.
            if !out.contains(where: { $0.0 == base }) { out.append((base, v2)) }
        }
        return out
    }

    /// Bytes this process may still allocate on this machine; nil where nothing is readable.
    public static func availableBytes() -> Int? {
        func read(_ p: String) -> String? { try? String(contentsOfFile: p, encoding: .utf8) }
        var best = read("/proc/meminfo").flatMap { memAvailable(meminfo: $0) }
        for (dir, v2) in cgroupDirectories(procSelfCgroup: read("/proc/self/cgroup") ?? "") {
            let limit = read(dir + (v2 ? "/memory.max" : "/memory.limit_in_bytes"))
            let usage = read(dir + (v2 ? "/memory.current" : "/memory.usage_in_bytes"))
            guard let limit, let usage, let room = cgroupHeadroom(limit: limit, usage: usage, stat: read(dir + "/memory.stat")) else {
                continue
            }
            best = min(best ?? room, room)
        }
        return best
    }
}
