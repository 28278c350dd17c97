import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A minimal HTTP/1.1 client over a loopback socket, for tests that talk to a spawned
/// `hotmoe serve` (this target does not link the server or an HTTP library). One request per
/// connection (`Connection: close`).
struct LoopbackHTTP {
    struct Failure: Error, CustomStringConvertible { var description: String }

    let fd: Int32

    /// Connects and sends the request; nil when nothing listens on `port` yet.
    init?(port: Int, method: String, path: String, body: String? = nil, timeoutSeconds: Int = 60) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { Glibc.close(fd); return nil }
        let payload = body ?? ""
        let request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(payload.utf8.count)\r\n\r\n\(payload)"
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { Glibc.close(fd); return nil }
            sent += n
        }
    }

    /// Reads until the server closes the connection (or `until` appears in what was read).
    func read(until marker: String? = nil) -> String {
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            received += buffer[0..<n]
            if let marker, String(decoding: received, as: UTF8.self).contains(marker) { break }
        }
        return String(decoding: received, as: UTF8.self)
    }

    func close() { _ = Glibc.close(fd) }

    /// One whole request: status code and body.
    static func request(port: Int, _ method: String, _ path: String, body: String? = nil) throws -> (status: Int, body: String) {
        guard let connection = LoopbackHTTP(port: port, method: method, path: path, body: body) else {
            throw Failure(description: "cannot connect to 127.0.0.1:\(port)")
        }
        defer { connection.close() }
        let text = connection.read()
        guard text.hasPrefix("HTTP/1.1 "), let status = Int(text.dropFirst(9).prefix(3)) else {
            throw Failure(description: "not an HTTP response: \(text.prefix(200))")
        }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }

    /// A port nothing listens on now (the kernel's pick for an ephemeral bind).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { _ = Glibc.close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
                _ = bind(fd, p, length)
                return getsockname(fd, p, &length)
            }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
