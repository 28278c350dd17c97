import Foundation
@testable import HotMoEServer
import Hummingbird
import Synchronization
import Testing

/// llama-server's --host takes a comma list and unix socket paths (ending in .sock): one
/// listener per address, all on the same slots.
@Suite struct ListenerTests {
    private static func ipv6LoopbackWorks() -> Bool {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in6()
        addr.sin6_family = sa_family_t(AF_INET6)
        addr.sin6_addr = in6addr_loopback
        return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } } == 0
    }

    /// One HTTP/1.1 exchange, raw, on a socket that `connectTo` connects (URLSession takes
    /// neither unix sockets nor, in swift-corelibs-foundation, IPv6 literals).
    private static func exchange(family: Int32, _ request: String, connectTo: (Int32) -> Int32) -> String {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        guard connectTo(fd) == 0 else { return "" }
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        // Until the body named by Content-Length is in (the server may keep the connection).
        var out = [UInt8](), buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[..<n]
            let text = String(decoding: out, as: UTF8.self)
            if let head = text.range(of: "\r\n\r\n"),
               let line = text[..<head.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
               let length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)),
               text.utf8.count - text[..<head.upperBound].utf8.count >= length { break }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func post(_ path: String, _ json: String) -> String {
        "POST \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n\r\n\(json)"
    }

    private static func overUnixSocket(_ socketPath: String, _ request: String) -> String {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in socketPath.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        return exchange(family: AF_UNIX, request) { fd in
            withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        }
    }

    private static func overIPv6Loopback(port: Int, _ request: String) -> String {
        var addr = sockaddr_in6()
        addr.sin6_family = sa_family_t(AF_INET6)
        addr.sin6_addr = in6addr_loopback
        addr.sin6_port = in_port_t(UInt16(port).bigEndian)
        return exchange(family: AF_INET6, request) { fd in
            withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
    }

    @Test func everyHostAddressServesTheSameServer() async throws {
        let sock = FileManager.default.temporaryDirectory.appendingPathComponent("hotmoe-\(getpid())-\(UUID().uuidString.prefix(6)).sock").path
        defer { unlink(sock) }
        let v6 = Self.ipv6LoopbackWorks()
        let hosts = ["127.0.0.1"] + (v6 ? ["::1"] : []) + [sock]
        try await withServer(configure: { $0.host = hosts.joined(separator: ", ") }) { _, server in
            #expect(server.listenAddresses == hosts)
            let bound = Mutex<[String: Int]>([:])
            let apps = server.applications { host, port in bound.withLock { $0[host] = port } }
            #expect(apps.count == hosts.count)
            let task = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for app in apps { group.addTask { try await app.run() } }
                    try await group.waitForAll()
                }
            }
            defer { task.cancel() }
            for _ in 0..<200 where bound.withLock({ $0.count }) < hosts.count { try await Task.sleep(for: .milliseconds(20)) }
            let ports = bound.withLock { $0 }
            try #require(ports.count == hosts.count, "listeners up: \(ports)")
            let body = #"{"prompt": "Once", "max_tokens": 2}"#
            let (status, text, _) = try await request(URL(string: "http://127.0.0.1:\(ports["127.0.0.1"]!)")!, "/v1/completions", method: "POST", json: body)
            #expect(status == 200, "IPv4: \(text)")
            let replies = [(v6 ? Self.overIPv6Loopback(port: ports["::1"]!, Self.post("/v1/completions", body)) : nil),
                           Self.overUnixSocket(sock, Self.post("/v1/completions", body))].compactMap { $0 }
            for reply in replies {
                #expect(reply.hasPrefix("HTTP/1.") && reply.contains(" 200 ") && reply.contains("\"text_completion\""), "\(reply)")
            }
        }
    }
}
