import Engine
import ExpertCache
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `hotmoe serve` killed with SIGKILL in the middle of a manual /moe-hot-cache apply or of a
/// streamed request: it restarts from the profile it was writing (--moe-layer-perf-out is also
/// its --moe-hot-cache input), which is always one complete profile, and serves again.
@Suite(.serialized) struct ServerKillTests {
    /// A running server process and its port.
    struct Server {
        let pid: pid_t
        let port: Int

        func kill9() {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    let dir: URL
    let model: String
    let profile: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("hotmoe-kill-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        model = dir.appendingPathComponent("model.gguf").path
        profile = dir.appendingPathComponent("profile.json").path
        var spec = SyntheticModelSpec.preset("tiny", architecture: "qwen3moe")!
        spec.experts = 16
        try SyntheticModel.write(spec, to: model)
    }

    /// The profile on disk when it is one complete perf JSON with routing counts in it.
    func intactProfile() -> PerfProfile? {
        guard let data = FileManager.default.contents(atPath: profile), let p = try? PerfProfile.decode(data) else { return nil }
        return p.layers.isEmpty ? nil : p
    }

    func start(_ exe: String) throws -> Server {
        let port = LoopbackHTTP.freePort()
        let args = ["serve", "-m", model, "--port", "\(port)", "--parallel", "2", "-t", "1", "--cpu-moe",
                    "--moe-hot-cache", profile, "--moe-hot-cache-max-mib", "1", "--moe-hot-cache-update-rate", "0.5",
                    "--moe-layer-perf-out", profile]
        let log = dir.appendingPathComponent("serve-\(port).log").path
        let pid = try ChildProcess.spawn(exe, args, stdout: log, stderr: log)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let (status, _) = try? LoopbackHTTP.request(port: port, "GET", "/health"), status == 200 { return Server(pid: pid, port: port) }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw LoopbackHTTP.Failure(description: "serve exited (status \(status)): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        throw LoopbackHTTP.Failure(description: "serve did not become healthy in 60 s")
    }

    /// A served completion after a restart: 200 with text.
    func expectServes(_ server: Server, _ context: String) throws {
        let (status, body) = try LoopbackHTTP.request(port: server.port, "POST", "/v1/completions",
                                                      body: #"{"prompt": "The cache keeps", "max_tokens": 6, "temperature": 0, "ignore_eos": true}"#)
        #expect(status == 200, "\(context): \(body)")
        #expect(body.contains("\"text\""), "\(context): \(body)")
    }

    /// Starts a long stream and returns once its first event arrived (the slot is decoding).
    func openStream(_ server: Server) throws -> LoopbackHTTP {
        let body = #"{"prompt": "Hello", "max_tokens": 2000, "stream": true, "ignore_eos": true}"#
        guard let stream = LoopbackHTTP(port: server.port, method: "POST", path: "/v1/completions", body: body) else {
            throw LoopbackHTTP.Failure(description: "cannot open a stream")
        }
        #expect(stream.read(until: "data: ").hasPrefix("HTTP/1.1 200"))
        return stream
    }

    @Test func killedDuringCacheApplyOrStreamRestartsWithAnIntactProfile() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let exe = try #require(ChildProcess.hotmoe, "hotmoe binary not found next to the test bundle; build it (swift build) or set HOTMOE_BIN")
        let run = try ChildProcess.run(exe, ["run", "-m", model, "-p", "The cache keeps the hot experts", "-n", "16", "-t", "1",
                                             "--moe-layer-perf-out", profile], timeout: 120)
        try #require(run.exitCode == 0, "profiling run: \(run.stderr)")
        try #require(intactProfile() != nil, "the profiling run wrote no profile")
        var rng = SystemRandomNumberGenerator()
        for round in 0..<6 {
            let server = try start(exe)
            try expectServes(server, "round \(round) after restart")
            // Apply rounds: the apply waits for the decoding stream, which then goes away, so
            // the kill lands while the apply runs and the post-request profile rewrite (auto
            // update rate 0.5) follows. Stream rounds: a request in the other slot completes
            // (a profile rewrite) and the kill lands mid-stream.
            let stream = try openStream(server)
            let applyDuringKill = round % 2 == 0
            var apply: LoopbackHTTP?
            if applyDuringKill {
                let (status, current) = try LoopbackHTTP.request(port: server.port, "GET", "/moe-layer-perf")
                #expect(status == 200)
                apply = LoopbackHTTP(port: server.port, method: "POST", path: "/moe-hot-cache", body: current)
                #expect(apply != nil)
                stream.close()
            } else {
                let (status, _) = try LoopbackHTTP.request(port: server.port, "POST", "/v1/completions", body: #"{"prompt": "x", "max_tokens": 2}"#)
                #expect(status == 200)
            }
            usleep(UInt32.random(in: 0...30_000, using: &rng))
            server.kill9()
            if !applyDuringKill { stream.close() }
            apply?.close()
            #expect(intactProfile() != nil, "round \(round) (\(applyDuringKill ? "apply" : "stream")): the profile is not one complete perf JSON")
        }
        // The last kill is served from too, and the restart keeps the hot cache from the file.
        let server = try start(exe)
        defer { server.kill9() }
        try expectServes(server, "after the last kill")
        let (status, metrics) = try LoopbackHTTP.request(port: server.port, "GET", "/health")
        #expect(status == 200 && metrics.contains("ok"))
    }
}
