import Engine
import Foundation
import Hummingbird

/// llama-server's /slots: GET lists each slot's state (unless --no-slots); POST
/// /slots/{id}?action=save|restore|erase writes or reads a slot's tokens, KV rows and recurrent
/// state as a file in --slot-save-path, or forgets them.
extension HotMoEServer {
    func addSlotRoutes(_ router: Router<ServerContext>) {
        router.get("/slots") { _, _ in
            guard self.options.slotsEndpoint else {
                return HotMoEServer.error(APIError(501, "/slots is off (--no-slots)", type: "not_supported_error"))
            }
            return HotMoEServer.json(self.allSlots.map { self.slotJSON($0) })
        }
        router.post("/slots/:id") { req, ctx in
            await self.guarded {
                guard let text = ctx.parameters.get("id"), let id = Int(text) else { throw APIError(400, "the slot id must be an integer") }
                guard let action = req.uri.queryParameters.get("action") else {
                    throw APIError(400, "'action' (save, restore or erase) is required in the query")
                }
                switch action {
                case "save", "restore":
                    guard let folder = self.options.slotSavePath else {
                        throw APIError(501, "slot files need --slot-save-path", type: "not_supported_error")
                    }
                    let f = try JSONFields(try await self.body(req, ctx))
                    try f.refuse(except: ["filename"])
                    guard let name = try f.string("filename") else { throw APIError(400, "'filename' is required") }
                    guard Self.isPlainFileName(name) else { throw APIError(400, "'filename' must be a plain file name (no folders, no '..')") }
                    let path = URL(fileURLWithPath: folder).appendingPathComponent(name).path
                    return try await action == "save" ? self.saveSlot(id, path: path, name: name) : self.restoreSlot(id, path: path, name: name)
                case "erase":
                    let slot = try await self.scheduler.acquire(slot: id)
                    let erased = await (try? slot.withState { session, history in
                        defer { history = []; _ = session.rewind(to: 0) }
                        return history.count
                    }) ?? 0
                    await self.scheduler.release(slot)
                    return HotMoEServer.json(["id_slot": id, "n_erased": erased])
                default:
                    throw APIError(400, "'action' must be save, restore or erase, got '\(action)'")
                }
            }
        }
    }

    private func saveSlot(_ id: Int, path: String, name: String) async throws -> Response {
        let slot = try await scheduler.acquire(slot: id)
        let start = ContinuousClock.now
        let result = await Result(asyncCatching: { try await slot.withState { session, history -> (Int, Int) in
            let data = try SessionState.encode(session, tokens: history)
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
            return (min(history.count, session.cache.count), data.count)
        } })
        await scheduler.release(slot)
        let (tokens, bytes) = try result.mapError { APIError(500, "cannot write \(name): \($0)", type: "server_error") }.get()
        return HotMoEServer.json(["id_slot": id, "filename": name, "n_saved": tokens, "n_written": bytes,
                                  "timings": ["save_ms": (ContinuousClock.now - start).seconds * 1000]])
    }

    private func restoreSlot(_ id: Int, path: String, name: String) async throws -> Response {
        guard let data = FileManager.default.contents(atPath: path) else { throw APIError(404, "no slot file '\(name)'", type: "not_found_error") }
        let slot = try await scheduler.acquire(slot: id)
        let start = ContinuousClock.now
        let result = await Result(asyncCatching: { try await slot.withState { session, history -> Int in
            let tokens = try SessionState.decode(data, into: session)
            history = tokens
            return tokens.count
        } })
        await scheduler.release(slot)
        let tokens = try result.mapError { APIError(400, "\($0)") }.get()
        return HotMoEServer.json(["id_slot": id, "filename": name, "n_restored": tokens, "n_read": data.count,
                                  "timings": ["restore_ms": (ContinuousClock.now - start).seconds * 1000]])
    }

    /// One slot in GET /slots' shape.
    private func slotJSON(_ slot: Slot) -> [String: Any] {
        let status = slot.status.withLock { $0 }
        var out: [String: Any] = ["id": slot.id, "id_task": -1, "n_ctx": slotContext, "speculative": false,
                                  "is_processing": status.processing]
        if let r = status.request {
            out["params"] = generationSettings(r, stream: false)
            out["next_token"] = [["has_next_token": status.processing, "has_new_line": false,
                                  "n_remain": status.processing ? r.maxTokens - status.decoded : -1,
                                  "n_decoded": status.processing ? status.decoded : 0]]
        }
        return out
    }

    static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && !name.contains("/") && !name.contains("\\") && name != "." && name != ".."
            && !name.hasPrefix(".") && !name.unicodeScalars.contains { $0.value < 0x20 }
    }
}

extension Result where Failure == Error {
    init(asyncCatching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
