import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// exec_shell_command: `sh -c COMMAND` with stdout and stderr together, a timeout and an
/// output cap; streamed as it runs when the client asks.
public struct ShellCommandTool: AgentTool {
    public static let maxOutput = 16 * 1024
    public static let maxTimeout = 60
    public let name = "exec_shell_command"
    public let displayName = "Execute shell command"
    public let writes = true
    public let streams = true
    public let description = "Run a shell command (sh -c) and return what it printed, stdout and stderr together, followed by its exit code."
    public let parameters = [
        ToolParameter("command", "string", "The command line", required: true),
        ToolParameter("timeout", "integer", "Seconds before the command is killed (default 10, at most \(maxTimeout))"),
        ToolParameter("max_output_size", "integer", "Output bytes kept (default and maximum \(maxOutput))"),
    ]
    public init() {}

    public func invoke(_ a: ToolArguments, in workspace: ToolWorkspace, output: ((String) -> Bool)?) throws -> [String: Any] {
        let command = try a.requiredString("command")
        let timeout = min(max(try a.int("timeout") ?? 10, 1), Self.maxTimeout)
        let cap = min(max(try a.int("max_output_size") ?? Self.maxOutput, 0), Self.maxOutput)
        // The command runs in the workspace folder; the outer shell changes there first so
        // the command line itself stays exactly what the model wrote.
        let args = ["/bin/sh", "-c", "cd -- \"$1\" && exec /bin/sh -c \"$0\"", command, workspace.runDirectory]
        let run = Subprocess.run(args, maxOutput: cap, timeoutSeconds: timeout, onOutput: output)
        var tail = "\n[exit code: \(run.exitCode)]"
        if run.timedOut { tail += " [exit due to timed out]" }
        if let output {
            _ = output(tail)
            return [:]
        }
        return ["plain_text_response": run.output + tail]
    }
}

/// get_info: the operating system (uname -a) and the working directory tools resolve against.
public struct RuntimeInfoTool: AgentTool {
    public let name = "get_info"
    public let displayName = "Get Runtime Info"
    public let writes = false
    public let description = "Tell the operating system (name and version) and the working directory that relative paths resolve against."
    public let parameters: [ToolParameter] = []
    public init() {}

    public func invoke(_ a: ToolArguments, in workspace: ToolWorkspace, output: ((String) -> Bool)?) throws -> [String: Any] {
        let run = Subprocess.run(["/bin/sh", "-c", "uname -a"], maxOutput: 4096, timeoutSeconds: 5)
        let os = run.exitCode == 0 && !run.timedOut ? run.output.trimmingCharacters(in: .whitespacesAndNewlines) : "unknown"
        return ["os": os, "cwd": workspace.directory ?? FileManager.default.currentDirectoryPath]
    }
}

/// A child process in its own process group (so a timeout kills everything it started),
/// stdin from /dev/null, signals at their defaults (the server ignores SIGPIPE; a child must
/// not), output read as it comes and kept up to a cap while the rest is drained.
public enum Subprocess {
    private static let spawnLock = NSLock()

    public struct Result: Sendable {
        public var output = ""
        public var exitCode: Int32 = -1
        public var timedOut = false
    }

    /// Runs `args` (args[0] is a path). `onOutput` gets each piece of output (whole UTF-8
    /// characters) and returns false to stop the process.
    public static func run(_ args: [String], maxOutput: Int, timeoutSeconds: Int, onOutput: ((String) -> Bool)? = nil) -> Result {
        var result = Result()
        // The pipe is made close-on-exec before any other tool's spawn can inherit it (pipe2
        // is not imported): another child holding our write end would delay our EOF.
        spawnLock.lock()
        var locked = true
        defer { if locked { spawnLock.unlock() } }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            result.output = "failed to spawn process: pipe: \(String(cString: strerror(errno)))"
            return result
        }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigfillset(&defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        let cArgs = args.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        let spawned = posix_spawn(&pid, args[0], &actions, &attributes, cArgs, environ)
        close(fds[1])
        spawnLock.unlock()
        locked = false
        guard spawned == 0 else {
            close(fds[0])
            result.output = "failed to spawn process: \(String(cString: strerror(spawned)))"
            return result
        }
        let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
        var kept: [UInt8] = []
        var pending: [UInt8] = []
        var truncated = false
        var buffer = [UInt8](repeating: 0, count: 4096)
        reading: while true {
            var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 100)
            if ready < 0 && errno == EINTR { continue }
            if ContinuousClock.now >= deadline {
                result.timedOut = true
                kill(-pid, SIGKILL)
                break
            }
            guard ready > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            if truncated { continue }
            let room = maxOutput - kept.count
            let piece = buffer[0..<min(n, room)]
            kept += piece
            if n > room { truncated = true }
            if let onOutput, !piece.isEmpty {
                pending += piece
                let text = UTF8Chunks.takeComplete(&pending)
                if !text.isEmpty && !onOutput(text) {
                    kill(-pid, SIGKILL)
                    break reading
                }
            }
        }
        close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as functions.
        let signal = status & 0x7f
        result.exitCode = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        result.output = String(decoding: kept, as: UTF8.self) + (truncated ? "\n[output truncated]" : "")
        if let onOutput, truncated { _ = onOutput("\n[output truncated]") }
        return result
    }
}

/// Splits a byte stream into whole UTF-8 characters: a character cut between two reads waits
/// for its remaining bytes.
enum UTF8Chunks {
    static func takeComplete(_ bytes: inout [UInt8]) -> String {
        var end = bytes.count
        // Step back over at most three continuation bytes to the start of the last character.
        var i = bytes.count - 1
        while i >= 0 && i >= bytes.count - 4 && bytes[i] & 0xC0 == 0x80 { i -= 1 }
        if i >= 0 {
            let lead = bytes[i]
            let length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
            if i + length > bytes.count { end = i }
        }
        let text = String(decoding: bytes[0..<end], as: UTF8.self)
        bytes.removeFirst(end)
        return text
    }
}
