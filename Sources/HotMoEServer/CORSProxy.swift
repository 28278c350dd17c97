import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1

/// llama-server's `/cors-proxy?url=TARGET` (`--ui-mcp-proxy`): a browser page that may not call
/// another origin (an MCP server) goes through the server. Only headers the page names with
/// the `X-Llama-Server-Proxy-Header-` prefix reach the target (never the page's own
/// Authorization, cookies or API key); the answer streams back as it arrives. Off by default:
/// it lets anyone who can call the server make requests from the server's network.
extension HotMoEServer {
    static let proxyHeaderPrefix = "x-llama-server-proxy-header-"

    func addCORSProxyRoutes(_ router: Router<ServerContext>) {
        router.get("/cors-proxy") { req, ctx in await self.proxy(req, ctx, method: .GET) }
        router.post("/cors-proxy") { req, ctx in await self.proxy(req, ctx, method: .POST) }
    }

    private func proxy(_ req: Request, _ ctx: ServerContext, method: NIOHTTP1.HTTPMethod) async -> Response {
        guard options.corsProxy else { return HotMoEServer.featureDisabled() }
        return await guarded {
            let target = try Self.proxyTarget(req.uri.queryParameters["url"].map(String.init))
            var outbound = HTTPClientRequest(url: target.absoluteString)
            outbound.method = method
            outbound.headers = Self.forwardedHeaders(req.headers)
            if method == .POST { outbound.body = .bytes(ByteBuffer(data: try await self.body(req, ctx))) }
            logger.info("cors-proxy: \(method) \(target.scheme ?? "")://\(target.host ?? "")\(target.path)")
            let answer: HTTPClientResponse
            do {
                answer = try await HTTPClient.shared.execute(outbound, timeout: .seconds(600))
            } catch {
                throw APIError(502, "cors-proxy: cannot reach \(target.absoluteString): \(error)", type: "server_error")
            }
            var headers = HTTPFields()
            for h in answer.headers where !Self.droppedAnswerHeader(h.name.lowercased()) {
                if let name = HTTPField.Name(h.name) { headers.append(HTTPField(name: name, value: h.value)) }
            }
            return Response(status: HTTPResponse.Status(code: Int(answer.status.code)), headers: headers,
                            body: ResponseBody(asyncSequence: answer.body))
        }
    }

    /// The `url` parameter: http or https with a host, no password in it.
    static func proxyTarget(_ url: String?) throws -> URL {
        guard let url, !url.isEmpty else { throw APIError(400, "cors-proxy needs ?url=TARGET") }
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased() else {
            throw APIError(400, "invalid target URL: \(url)")
        }
        guard scheme == "http" || scheme == "https" else { throw APIError(400, "unsupported URL scheme in target URL: \(scheme)") }
        guard let host = parsed.host, !host.isEmpty else { throw APIError(400, "invalid target URL: missing host") }
        guard parsed.password == nil else { throw APIError(400, "authentication in target URL is not supported") }
        return parsed
    }

    /// The request headers the page asked to forward, prefix removed; encoding and length
    /// headers are the client's own business.
    static func forwardedHeaders(_ fields: HTTPFields) -> HTTPHeaders {
        var out = HTTPHeaders()
        for field in fields {
            let name = field.name.rawName.lowercased()
            guard name.hasPrefix(proxyHeaderPrefix) else { continue }
            let forwarded = String(field.name.rawName.dropFirst(proxyHeaderPrefix.count))
            guard !forwarded.isEmpty, !["accept-encoding", "transfer-encoding", "content-length", "host"].contains(forwarded.lowercased()) else { continue }
            out.add(name: forwarded, value: field.value)
        }
        return out
    }

    /// Hop-by-hop and CORS headers of the target's answer: this server sets its own.
    static func droppedAnswerHeader(_ name: String) -> Bool {
        ["server", "transfer-encoding", "content-length", "keep-alive", "connection"].contains(name) || name.hasPrefix("access-control-")
    }
}
