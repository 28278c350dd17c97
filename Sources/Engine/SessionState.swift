import Foundation

/// A sequence's state in a file (llama-server's /slots save and restore): its tokens, the KV
/// rows of those positions in the cache's stored types and the recurrent state. Restoring into
/// a session of another model, other cache types, another sliding-window layout or a shorter
/// context is refused. Layout, little-endian: "HMSS", version, KV bytes per position, recurrent
/// floats, token count, key type, value type (u32 each; types as in KVCacheType.allCases), the
/// window length of the windowed layers (u32, 0 when every row is kept), the tokens (i32), the
/// KV rows (windowed layers: only the last window, KVCache.savedWindowStart), then the
/// recurrent floats.
public enum SessionState {
    static let magic: UInt32 = 0x5353_4D48  // "HMSS"
    static let version: UInt32 = 3
    static let headerBytes = 32

    public struct Mismatch: Error, CustomStringConvertible {
        public let description: String
    }

    static func typeCode(_ t: KVCacheType) -> UInt32 { UInt32(KVCacheType.allCases.firstIndex(of: t)!) }

    /// The state of `session` for `tokens` (its first `tokens.count` positions). Refused when
    /// the window rows no longer reach back to that position.
    public static func encode(_ session: InferenceSession, tokens: [Int32]) throws -> Data {
        let cache = session.cache
        let n = min(tokens.count, cache.count)
        guard cache.canResume(at: n) else {
            throw Mismatch(description: "saved slot state: the sliding-window rows hold positions from \(cache.windowOrigin) on, not the window before position \(n)")
        }
        let kvBytes = cache.rowBytes(positions: n)
        let recurrentFloats = session.recurrent?.stateFloats ?? 0
        var data = Data()
        for v in [magic, version, UInt32(cache.rowBytes(positions: 1)), UInt32(recurrentFloats), UInt32(n),
                  typeCode(cache.types.keys), typeCode(cache.types.values), UInt32(cache.windowLength)] {
            withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) }
        }
        tokens.prefix(n).withUnsafeBytes { data.append(contentsOf: $0) }
        let rows = UnsafeMutableRawPointer.allocate(byteCount: max(1, kvBytes), alignment: 16)
        defer { rows.deallocate() }
        cache.copyRows(positions: n, rows, toCache: false)
        data.append(rows.assumingMemoryBound(to: UInt8.self), count: kvBytes)
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: max(1, recurrentFloats))
        defer { floats.deallocate() }
        session.recurrent?.copyState(floats, toState: false)
        data.append(UnsafeBufferPointer(start: floats, count: recurrentFloats))
        return data
    }

    /// Loads a saved state into `session` and returns its tokens. The session is left as it
    /// was when the file does not fit it.
    public static func decode(_ data: Data, into session: InferenceSession) throws -> [Int32] {
        func fail(_ why: String) -> Mismatch { Mismatch(description: "saved slot state: \(why)") }
        let cache = session.cache
        guard data.count >= 8 else { throw fail("truncated (\(data.count) bytes)") }
        let word = { (i: Int) in data.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)) } }
        guard word(0) == magic else { throw fail("not a hotmoe slot file") }
        guard word(1) == version else { throw fail("version \(word(1)), this build reads \(version)") }
        guard data.count >= headerBytes else { throw fail("truncated (\(data.count) bytes)") }
        let header = (0..<8).map(word)
        let typeName = { (code: UInt32) in Int(code) < KVCacheType.allCases.count ? KVCacheType.allCases[Int(code)].rawValue : "unknown type \(code)" }
        guard header[5] == typeCode(cache.types.keys), header[6] == typeCode(cache.types.values) else {
            throw fail("saved with cache types K \(typeName(header[5])), V \(typeName(header[6])); this slot uses \(cache.types) (set -ctk / -ctv to match)")
        }
        let perPosition = cache.rowBytes(positions: 1), recurrentFloats = session.recurrent?.stateFloats ?? 0
        guard Int(header[2]) == perPosition, Int(header[3]) == recurrentFloats else {
            throw fail("saved by a different model (\(header[2]) KV bytes per position, \(header[3]) recurrent floats; this model \(perPosition), \(recurrentFloats))")
        }
        guard Int(header[7]) == cache.windowLength else {
            let layout = { (w: Int) in w == 0 ? "every position's rows" : "sliding-window rows of \(w) positions" }
            throw fail("saved with \(layout(Int(header[7]))); this slot keeps \(layout(cache.windowLength)) (--swa-full switches to every position's rows)")
        }
        let n = Int(header[4])
        guard n <= cache.capacity else { throw fail("\(n) tokens, the slot holds \(cache.capacity)") }
        let kvBytes = cache.rowBytes(positions: n), expected = headerBytes + n * 4 + kvBytes + recurrentFloats * 4
        guard data.count == expected else { throw fail("\(data.count) bytes, expected \(expected)") }
        let vocab = session.model.config.vocabSize
        let tokens: [Int32] = data.withUnsafeBytes { raw in (0..<n).map { raw.loadUnaligned(fromByteOffset: headerBytes + $0 * 4, as: Int32.self) } }
        guard tokens.allSatisfy({ $0 >= 0 && Int($0) < vocab }) else { throw fail("a token id outside 0..<\(vocab)") }
        let rows = UnsafeMutableRawPointer.allocate(byteCount: max(1, kvBytes), alignment: 16)
        defer { rows.deallocate() }
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: max(1, recurrentFloats))
        defer { floats.deallocate() }
        data.withUnsafeBytes { raw in
            let at = headerBytes + n * 4
            rows.copyMemory(from: raw.baseAddress! + at, byteCount: kvBytes)
            UnsafeMutableRawPointer(floats).copyMemory(from: raw.baseAddress! + at + kvBytes, byteCount: recurrentFloats * 4)
        }
        _ = session.rewind(to: 0)
        cache.copyRows(positions: n, rows, toCache: true)
        session.recurrent?.copyState(floats, toState: true)
        cache.count = n
        return tokens
    }
}
