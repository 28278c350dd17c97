import Foundation

/// A sequence's state in a file (llama-server's /slots save and restore): its tokens, the KV
/// rows of those positions and the recurrent state. Restoring into a session of another model
/// or a shorter context is refused. Layout, little-endian: "HMSS", version, floats per position,
/// recurrent floats, token count (u32 each), the tokens (i32), then the floats.
public enum SessionState {
    static let magic: UInt32 = 0x5353_4D48  // "HMSS"
    static let version: UInt32 = 1

    public struct Mismatch: Error, CustomStringConvertible {
        public let description: String
    }

    /// The state of `session` for `tokens` (its first `tokens.count` positions).
    public static func encode(_ session: InferenceSession, tokens: [Int32]) -> Data {
        let n = min(tokens.count, session.cache.count)
        let kvFloats = session.cache.floats(positions: n)
        let recurrentFloats = session.recurrent?.stateFloats ?? 0
        var data = Data()
        for v in [magic, version, UInt32(session.cache.floats(positions: 1)), UInt32(recurrentFloats), UInt32(n)] {
            withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) }
        }
        tokens.prefix(n).withUnsafeBytes { data.append(contentsOf: $0) }
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: max(1, kvFloats + recurrentFloats))
        defer { floats.deallocate() }
        session.cache.copyRows(positions: n, floats, toCache: false)
        session.recurrent?.copyState(floats + kvFloats, toState: false)
        data.append(UnsafeBufferPointer(start: floats, count: kvFloats + recurrentFloats))
        return data
    }

    /// Loads a saved state into `session` and returns its tokens. The session is left as it
    /// was when the file does not fit it.
    public static func decode(_ data: Data, into session: InferenceSession) throws -> [Int32] {
        func fail(_ why: String) -> Mismatch { Mismatch(description: "saved slot state: \(why)") }
        guard data.count >= 20 else { throw fail("truncated (\(data.count) bytes)") }
        let header = data.prefix(20).withUnsafeBytes { raw in (0..<5).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) } }
        guard header[0] == magic else { throw fail("not a hotmoe slot file") }
        guard header[1] == version else { throw fail("version \(header[1]), this build reads \(version)") }
        let perPosition = session.cache.floats(positions: 1), recurrentFloats = session.recurrent?.stateFloats ?? 0
        guard Int(header[2]) == perPosition, Int(header[3]) == recurrentFloats else {
            throw fail("saved by a different model (\(header[2]) KV floats per position, \(header[3]) recurrent; this model \(perPosition), \(recurrentFloats))")
        }
        let n = Int(header[4])
        guard n <= session.cache.capacity else { throw fail("\(n) tokens, the slot holds \(session.cache.capacity)") }
        let floats = n * perPosition + recurrentFloats
        guard data.count == 20 + n * 4 + floats * 4 else { throw fail("\(data.count) bytes, expected \(20 + n * 4 + floats * 4)") }
        let vocab = session.model.config.vocabSize
        let tokens: [Int32] = data.withUnsafeBytes { raw in (0..<n).map { raw.loadUnaligned(fromByteOffset: 20 + $0 * 4, as: Int32.self) } }
        guard tokens.allSatisfy({ $0 >= 0 && Int($0) < vocab }) else { throw fail("a token id outside 0..<\(vocab)") }
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(1, floats))
        defer { buffer.deallocate() }
        _ = data.withUnsafeBytes { raw in memcpy(buffer, raw.baseAddress! + 20 + n * 4, floats * 4) }
        _ = session.rewind(to: 0)
        session.cache.copyRows(positions: n, buffer, toCache: true)
        session.recurrent?.copyState(buffer + n * perPosition, toState: true)
        session.cache.count = n
        return tokens
    }
}
