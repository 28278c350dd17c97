import Foundation
@testable import HotCache
@testable import HotMoEServer
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// Opens a streaming completion on a raw socket, reads until the first SSE event arrives, then
/// closes the connection: a client that goes away mid-stream.
private func startStreamAndDisconnect(port: Int, body: String) throws {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw CancellationError() }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw CancellationError() }
    let request = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var received = ""
    var buffer = [UInt8](repeating: 0, count: 4096)
    while !received.contains("data: ") {
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n > 0 else { break }
        received += String(decoding: buffer[0..<n], as: UTF8.self)
    }
    #expect(received.hasPrefix("HTTP/1.1 200"))
}

@Suite struct ServerFaultTests {
    @Test func clientDisconnectMidStreamStopsTheGenerationAndFreesTheSlot() async throws {
        // A long generation, so that noticing the closed socket takes a small part of it even
        // on a loaded machine (480 tokens in a 512 context once ran to the end under load).
        try await withServer(parallel: 1, modelContext: 4096, configure: { $0.contextSize = 4096 }) { base, _ in
            let maxTokens = 4000
            try startStreamAndDisconnect(port: base.port!, body: #"{"prompt": "Hello", "max_tokens": \#(maxTokens), "stream": true, "ignore_eos": true}"#)
            // The only slot must come free, and the next request must be served with it.
            let (status, text, _) = try await request(base, "/v1/completions", method: "POST", json: #"{"prompt": "after", "max_tokens": 4}"#)
            #expect(status == 200)
            #expect(!completionText(text).isEmpty)
            // The abandoned generation stopped early instead of running to max_tokens.
            let (_, metrics, _) = try await request(base, "/metrics")
            let predicted = metrics.split(separator: "\n").first { $0.hasPrefix("hotmoe_tokens_predicted_total ") }
                .flatMap { Double($0.split(separator: " ")[1]) } ?? -1
            #expect(predicted >= 0 && predicted < Double(maxTokens), "tokens predicted: \(predicted)")
        }
    }

    @Test func promptLargerThanTheContextIsRejectedAndServingGoesOn() async throws {
        try await withServer { base, _ in
            let long = String(repeating: "many words in a long prompt ", count: 400)
            let (status, text, _) = try await request(base, "/v1/completions", method: "POST", json: #"{"prompt": "\#(long)", "max_tokens": 4}"#)
            #expect(status == 400)
            #expect(text.contains("context"))
            let (after, _, _) = try await request(base, "/v1/completions", method: "POST", json: #"{"prompt": "short", "max_tokens": 2}"#)
            #expect(after == 200)
        }
    }

    /// A disk read error mid-generation ends that request with a 500 naming the cause (and a
    /// streamed one with an error event); the server keeps serving once reads work again.
    @Test func readErrorWhileStreamingExpertsEndsTheRequestAndServingGoesOn() async throws {
        try await withServer(streaming: true) { base, server in
            let (ok, _, _) = try await request(base, "/v1/completions", method: "POST", json: #"{"prompt": "warm up", "max_tokens": 2}"#)
            #expect(ok == 200)
            server.runtime.injectReadFailure(afterParts: 1)
            let body = #"{"prompt": "a different prompt to read more experts", "max_tokens": 24, "ignore_eos": true}"#
            let (status, text, _) = try await request(base, "/v1/completions", method: "POST", json: body)
            #expect(status == 500)
            #expect(text.contains("injected I"), "\(text)")
            let (streamStatus, events, _) = try await request(base, "/v1/completions", method: "POST",
                                                              json: #"{"prompt": "streamed", "max_tokens": 24, "ignore_eos": true, "stream": true}"#)
            #expect(streamStatus == 200)
            #expect(events.contains("\"error\"") && events.contains("injected I"), "\(events)")
            server.runtime.online?.reader?.setFailure(afterParts: nil)
            let (after, again, _) = try await request(base, "/v1/completions", method: "POST", json: body)
            #expect(after == 200)
            #expect(!completionText(again).isEmpty)
            let (_, metrics, _) = try await request(base, "/metrics")
            #expect(metrics.contains("hotmoe_moe_stream_read_mib "), "streaming figures on /metrics")
        }
    }
}
