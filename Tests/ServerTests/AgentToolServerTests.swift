import AgentTools
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import HotMoEServer
import Hummingbird
import Synchronization
import Testing

/// /tools and /cors-proxy: off (403) by default, llama-server's shapes when on.
@Suite(.serialized) struct AgentToolServerTests {
    @Test func toolsAndProxyAreForbiddenUnlessEnabled() async throws {
        try await withServer { base, _ in
            for (path, method) in [("/tools", "GET"), ("/tools", "POST"), ("/cors-proxy?url=http://127.0.0.1:9/", "GET")] {
                let (status, body, _) = try await request(base, path, method: method, json: method == "POST" ? "{}" : nil)
                #expect(status == 403, "\(method) \(path)")
                #expect((object(body)["error"] as? [String: Any])?["type"] as? String == "feature_disabled")
            }
        }
    }

    @Test func toolsListRunAndRefuseBadCalls() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tools-\(getpid())-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("first\nsecond\n".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        try await withServer(configure: { $0.tools = try! AgentToolbox(enabling: ["read_file", "exec_shell_command", "write_file"]) }) { base, _ in
            let (s0, list, _) = try await request(base, "/tools")
            #expect(s0 == 200)
            let tools = (try JSONSerialization.jsonObject(with: Data(list.utf8))) as? [[String: Any]] ?? []
            #expect(tools.map { $0["tool"] as? String } == ["read_file", "exec_shell_command", "write_file"])
            #expect((tools[2]["permissions"] as? [String: Any])?["write"] as? Bool == true)
            let function = (tools[0]["definition"] as? [String: Any])?["function"] as? [String: Any]
            #expect(((function?["parameters"] as? [String: Any])?["required"] as? [String]) == ["path"])

            let (s1, read, _) = try await request(base, "/tools", method: "POST", json: #"{"tool": "read_file", "params": {"path": "notes.txt", "start_line": 2}}"#,
                                                  headers: ["X-Tool-Cwd": dir])
            #expect(s1 == 200)
            #expect(object(read)["plain_text_response"] as? String == "second\n")
            // JSON 1 and true are told apart (Linux casts a decoded 1 to Bool too).
            let (_, one, _) = try await request(base, "/tools", method: "POST", json: #"{"tool": "read_file", "params": {"path": "notes.txt", "start_line": 1, "end_line": 1, "append_loc": true}}"#,
                                                headers: ["X-Tool-Cwd": dir])
            #expect(object(one)["plain_text_response"] as? String == "1\u{2192}first\n", "\(one)")
            // A cwd the model wrote into its call does not move the tool: the header decides.
            let (_, moved, _) = try await request(base, "/tools", method: "POST", json: #"{"tool": "read_file", "params": {"path": "notes.txt", "cwd": "/nonexistent"}}"#,
                                                  headers: ["X-Tool-Cwd": dir])
            #expect(object(moved)["plain_text_response"] as? String == "first\nsecond\n")
            for (runtime, words) in [("fake:x", "unknown tool runtime"), ("ssh:-oProxyCommand=x", "invalid ssh target"),
                                     ("docker-container:--privileged", "invalid container id"), ("podman-container:abc123", "not supported")] {
                let (s, body, _) = try await request(base, "/tools", method: "POST", json: #"{"tool": "read_file", "params": {"path": "x"}}"#,
                                                    headers: ["X-Tool-Runtime": runtime])
                #expect(s == 400 && body.contains(words), "\(runtime): \(body)")
            }

            for (json, status, words) in [(#"{"tool": "web_search", "params": {}}"#, 404, "unknown tool"),
                                          (#"{"tool": "read_file", "params": {"path": "x", "mode": "fast"}}"#, 400, "no parameter 'mode'"),
                                          (#"{"tool": "read_file", "params": {}}"#, 400, "needs 'path'"),
                                          (#"{"tool": "read_file", "params": {"path": "x", "end_line": true}}"#, 400, "'end_line' must be an integer"),
                                          (#"{"tool": "read_file", "params": {"path": "x", "append_loc": 1}}"#, 400, "'append_loc' must be a boolean"),
                                          (#"{"tool": "read_file", "params": {"path": "x"}, "stream": true}"#, 404, "does not support stream"),
                                          (#"{"tool": "read_file", "arguments": {}}"#, 400, "arguments")] {
                let (s, body, _) = try await request(base, "/tools", method: "POST", json: json)
                #expect(s == status, "\(json)")
                #expect(((object(body)["error"] as? [String: Any])?["message"] as? String)?.contains(words) == true, "\(json): \(body)")
            }
            let (s3, events, _) = try await request(base, "/tools", method: "POST",
                                                    json: #"{"tool": "exec_shell_command", "params": {"command": "echo one; echo two"}, "stream": true}"#)
            #expect(s3 == 200)
            let datas = events.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }.map { object(String($0.dropFirst(6))) }
            #expect(datas.compactMap { $0["chunk"] as? String }.joined() == "one\ntwo\n\n[exit code: 0]")
            #expect(datas.last?["done"] as? Bool == true)
        }
    }

    /// Only X-Llama-Server-Proxy-Header-* headers reach the target, renamed; the caller's
    /// credentials do not. The target's status and body come back.
    @Test func corsProxyForwardsOnlyExplicitHeaders() async throws {
        let seen = Mutex<[String: String]>([:])
        let router = Router()
        router.get("/capture") { req, _ -> Response in
            var headers: [String: String] = [:]
            for f in req.headers { headers[f.name.rawName.lowercased()] = f.value }
            seen.withLock { $0 = headers }
            return Response(status: .accepted, headers: [.contentType: "text/plain", .server: "target"], body: .init(byteBuffer: .init(string: "captured")))
        }
        let port = Mutex<Int>(0)
        let target = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                 onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } })
        let task = Task { try await target.run() }
        defer { task.cancel() }
        for _ in 0..<200 where port.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
        let targetPort = port.withLock { $0 }
        try await withServer(configure: { $0.corsProxy = true; $0.apiKey = "sekrit" }) { base, _ in
            let (status, body, headers) = try await request(base, "/cors-proxy?url=http://127.0.0.1:\(targetPort)/capture", headers: [
                "Authorization": "Bearer sekrit", "Cookie": "session=1", "X-Api-Key": "sekrit",
                "X-Llama-Server-Proxy-Header-Accept": "application/json", "x-llama-server-proxy-header-authorization": "Bearer explicit",
            ])
            #expect(status == 202)
            #expect(body == "captured")
            #expect(headers["Server"] as? String != "target")
            let got = seen.withLock { $0 }
            #expect(got["accept"] == "application/json")
            #expect(got["authorization"] == "Bearer explicit")
            #expect(got["cookie"] == nil && got["x-api-key"] == nil)
            let (unauthorized, _, _) = try await request(base, "/cors-proxy?url=http://127.0.0.1:\(targetPort)/capture")
            #expect(unauthorized == 401, "the proxy is behind the API key")
            for bad in ["ftp://127.0.0.1/x", "http://user:pw@127.0.0.1:\(targetPort)/", "not a url"] {
                let (s, _, _) = try await request(base, "/cors-proxy?url=\(bad.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed)!)",
                                                  headers: ["Authorization": "Bearer sekrit"])
                #expect(s == 400, "\(bad)")
            }
        }
        task.cancel()
        _ = await task.result
    }

    @Test func toolsNarrowTheDefaultOriginsToLocalhost() throws {
        var o = ServerOptions()
        let narrowed = o.enableTools(try AgentToolbox(enabling: ["all"]), originsExplicit: false)
        #expect(narrowed)
        #expect(o.cors.allows("http://localhost:8080") && !o.cors.allows("http://evil.com"))
        var explicit = ServerOptions()
        explicit.cors = CORSPolicy(origins: ["*"])
        let kept = !explicit.enableTools(try AgentToolbox(enabling: ["read_file"]), originsExplicit: true)
        #expect(kept)
        #expect(explicit.cors.allows("http://evil.com"))
        var none = ServerOptions()
        let untouched = !none.enableTools(AgentToolbox(), originsExplicit: false)
        #expect(untouched)
        #expect(none.cors == .any)
    }

    @Test func imagePartsAreRefusedNamingTheMissingVisionInput() async throws {
        try await withServer { base, _ in
            let (s, body, _) = try await request(base, "/v1/chat/completions", method: "POST", json: """
                {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "file://a.jpg"}}]}]}
                """)
            #expect(s == 400)
            #expect(body.contains("image_url input is not supported"))
        }
    }
}
