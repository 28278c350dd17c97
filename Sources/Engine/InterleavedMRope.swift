import Foundation
import GGUF

/// Qwen3.5's interleaved multimodal RoPE (llama.cpp's IMROPE) for text tokens. Rotary pair i
/// falls in sector s = i % (sum of sections); it takes the t, h or w position where s % 3 is
/// 0, 1 or 2 and s < 3 x that section's size, else the 4th section's. Text tokens carry their
/// position in the first three and 0 in the 4th, so those pairs are not rotated at all.
enum InterleavedMRope {
    /// Which rotary pairs of `pairs` rotate with the token's position, from
    /// rope.dimension_sections; nil when the key is absent (every pair rotates).
    static func rotatedPairs(_ file: GGUFFile, key: String, pairs: Int) throws -> [Bool]? {
        guard let value = file.metadata[key] else { return nil }
        guard let s = value.intArray, (1...4).contains(s.count), s.allSatisfy({ $0 >= 0 }) else {
            throw GGUFError("\(file.path): metadata '\(key)' must be up to 4 non-negative integers, is \(value.type)")
        }
        let sections = s + Array(repeating: 0, count: 4 - s.count), total = sections.reduce(0, +)
        guard total > 0, total <= pairs else {
            throw GGUFError("\(file.path): metadata '\(key)' \(s) sums to \(total), outside 1...\(pairs) (the rotary pairs)")
        }
        return (0..<pairs).map { i in
            let sector = i % total
            return sector % 3 == 0 && sector < 3 * sections[0] || sector % 3 == 1 && sector < 3 * sections[1]
                || sector % 3 == 2 && sector < 3 * sections[2]
        }
    }

    /// RoPE frequency factors for `rotated`: 1, or infinity where a pair does not rotate
    /// (theta / infinity = 0: cos 1, sin 0, as position 0 gives); nil when every pair rotates.
    /// One table per pattern, kept for the process (models share it).
    static func frequencyFactors(rotated: [Bool]) -> UnsafePointer<Float>? {
        guard rotated.contains(false) else { return nil }
        lock.lock(); defer { lock.unlock() }
        if let table = tables[rotated] { return UnsafePointer(table) }
        let table = UnsafeMutablePointer<Float>.allocate(capacity: rotated.count)
        for (i, r) in rotated.enumerated() { table[i] = r ? 1 : .infinity }
        tables[rotated] = table
        return UnsafePointer(table)
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var tables: [[Bool]: UnsafeMutablePointer<Float>] = [:]
}
