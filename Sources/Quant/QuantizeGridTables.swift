import CKernels

// The search tables of ggml's grid quantisers (iq2xs_init_impl, iq3xs_init_impl), derived from
// the dequantisation code books in iquant_grids.c and built once, lazily, per grid.

/// A code book in ggml's quantiser form: each entry is `groupSize` levels l stored as 2l + 1,
/// a map from packed levels to entry (or, off the grid, to a list of nearest entries).
final class GridTable: Sendable {
    let groupSize: Int
    /// Bits per level in a packed index.
    let bits: Int
    /// `groupSize` values 2l + 1 per entry.
    let points: [Int8]
    /// Packed levels (level i at bits * i) -> entry, or -(1 + o) where neighbours[o] is the
    /// count of that point's nearest entries and the entries follow.
    let map: [Int32]
    let neighbours: [UInt16]

    /// `levels(entry, i)` gives level i of an entry; off-grid points whose levels are all at
    /// most `maxLevel` (the only ones the quantisers look up) get the entries at the `nwant`
    /// smallest squared distances, nearest first and by index within a distance, as ggml's
    /// sort of (distance, index) pairs lists them.
    init(count: Int, groupSize: Int, bits: Int, maxLevel: Int, nwant: Int, levels: (Int, Int) -> Int) {
        self.groupSize = groupSize
        self.bits = bits
        var points = [Int8](repeating: 0, count: count * groupSize)
        var map = [Int32](repeating: -1, count: 1 << (bits * groupSize))
        for k in 0..<count {
            var index = 0
            for i in 0..<groupSize {
                let l = levels(k, i)
                points[groupSize * k + i] = Int8(2 * l + 1)
                index |= l << (bits * i)
            }
            map[index] = Int32(k)
        }
        var neighbours: [UInt16] = []
        var pos = [Int32](repeating: 0, count: groupSize)
        // Unsafe buffers: this runs once per grid, over up to 3^8 points x 2048 entries.
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: count) { d2buf in
            let d2 = d2buf.baseAddress!
            points.withUnsafeBufferPointer { pts in
                let pts = pts.baseAddress!
                for index in 0..<map.count where map[index] < 0 {
                    var inRange = true
                    for i in 0..<groupSize {
                        let l = (index >> (bits * i)) & ((1 << bits) - 1)
                        if l > maxLevel { inRange = false }
                        pos[i] = Int32(2 * l + 1)
                    }
                    guard inRange else { continue }
                    for j in 0..<count {
                        var s: Int32 = 0
                        let p = pts + groupSize * j
                        for i in 0..<groupSize {
                            let diff = Int32(p[i]) - pos[i]
                            s += diff * diff
                        }
                        d2[j] = s
                    }
                    map[index] = -Int32(1 + neighbours.count)
                    let countAt = neighbours.count
                    neighbours.append(0)
                    var below = Int32.min
                    for _ in 0..<nwant {
                        var next = Int32.max
                        for j in 0..<count where d2[j] > below && d2[j] < next { next = d2[j] }
                        if next == Int32.max { break }
                        for j in 0..<count where d2[j] == next { neighbours.append(UInt16(j)) }
                        below = next
                    }
                    neighbours[countAt] = UInt16(neighbours.count - countAt - 1)
                }
            }
        }
        self.points = points
        self.map = map
        self.neighbours = neighbours
    }

    /// Level i of code-book entry `k` read from a dequantisation table of 8-byte entries.
    private static func byteLevel(_ table: UnsafePointer<UInt64>, _ k: Int, _ i: Int, _ values: [Int]) -> Int {
        values.firstIndex(of: Int((table[k] >> UInt64(8 * i)) & 0xff))!
    }

    private static func iq2(_ table: UnsafePointer<UInt64>, count: Int, nwant: Int) -> GridTable {
        GridTable(count: count, groupSize: 8, bits: 2, maxLevel: 2, nwant: nwant) { byteLevel(table, $0, $1, [0x08, 0x19, 0x2b]) }
    }

    static let iq2xxs = iq2(hm_iq2xxs_grid_table, count: 256, nwant: 2)
    static let iq2xs = iq2(hm_iq2xs_grid_table, count: 512, nwant: 2)
    static let iq2s = iq2(hm_iq2s_grid_table, count: 1024, nwant: 1)
    /// IQ1_S and IQ1_M: entries of -1, 0, 1 as levels 0, 1, 2.
    static let iq1s = GridTable(count: 2048, groupSize: 8, bits: 2, maxLevel: 2, nwant: 3) {
        byteLevel(hm_iq1s_grid_table, $0, $1, [0xff, 0x00, 0x01])
    }
    static let iq3xxs = GridTable(count: 256, groupSize: 4, bits: 3, maxLevel: 7, nwant: 2) {
        Int((hm_iq3xxs_grid_table[$0] >> UInt32(8 * $1)) & 0xff) / 8
    }
    static let iq3s = GridTable(count: 512, groupSize: 4, bits: 3, maxLevel: 7, nwant: 3) {
        Int((hm_iq3s_grid_table[$0] >> UInt32(8 * $1)) & 0xff) / 2
    }

    /// The packed index of `groupSize` levels.
    @inline(__always)
    func index(_ L: UnsafePointer<Int8>) -> Int {
        var u = 0
        for i in 0..<groupSize { u |= Int(L[i]) << (bits * i) }
        return u
    }

    /// The neighbour list of an off-grid map value.
    @inline(__always)
    func neighbourList(_ mapValue: Int32) -> ArraySlice<UInt16> {
        let o = Int(-mapValue - 1)
        return neighbours[(o + 1)...(o + Int(neighbours[o]))]
    }

    /// Level i of entry k.
    @inline(__always)
    func level(_ k: Int, _ i: Int) -> Int8 { (points[groupSize * k + i] - 1) / 2 }

    /// The entry for the levels in L; off the grid (`iq2/iq3_find_best_neighbour`), the listed
    /// neighbour nearest to x in weighted squared distance at `scale`, whose levels replace L's.
    func snap(_ L: UnsafeMutablePointer<Int8>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, scale: Float)
        -> (entry: Int, onGrid: Bool)
    {
        let m = map[index(L)]
        if m >= 0 { return (Int(m), true) }
        var best = Float.greatestFiniteMagnitude, bestEntry = -1
        for j in neighbourList(m) {
            let k = Int(j)
            var d2: Float = 0
            for i in 0..<groupSize {
                let diff = scale * Float(points[groupSize * k + i]) - x[i]
                d2 += weight[i] * diff * diff
            }
            if d2 < best {
                best = d2
                bestEntry = k
            }
        }
        precondition(bestEntry >= 0, "grid search found no neighbour")
        for i in 0..<groupSize { L[i] = level(bestEntry, i) }
        return (bestEntry, false)
    }
}
