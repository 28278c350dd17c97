/// Profiles that say which revision they are, for checking crash safety of the atomic save:
/// `hotmoe _profile-writer` rewrites one in a loop and the crash-safety test, killing it at
/// random moments, reads back whatever is on disk.
extension PerfProfile {
    /// Revision `n`: `"revision": n` and every hit count equal to `n` over 48 layers x 128
    /// experts (~150 KB of JSON, large enough that a torn write is visible). Start at 1: zero
    /// hit counts are omitted on save, so revision 0 would not be recognisable.
    public static func revisionMarked(_ n: Int) -> PerfProfile {
        let layers = (0..<48).map { l in
            LayerProfile(layer: l, metrics: [.calls: Double(n)],
                         experts: (0..<128).map { ExpertHits(expert: $0, hits: UInt64(n)) })
        }
        return PerfProfile(mode: "full", nExpert: 128, nExpertUsed: 8, layers: layers,
                           extra: ExtraFields([("revision", .int(Int64(n)))]))
    }

    /// The revision this profile is, or nil when it is not one complete revision (torn or mixed).
    public var markedRevision: Int? {
        guard case .int(let r)? = extra["revision"], case let n = Int(r),
              layers.count == 48,
              layers.allSatisfy({ $0.experts?.count == 128 && $0.experts!.allSatisfy { $0.hits == UInt64(n) } })
        else { return nil }
        return n
    }
}
