// The profile JSON model (schema "llama.cpp.moe_layer_opt_perf.v1", see docs/profile-json.md).
// Field names follow the llama.cpp hot-cache tool; fields we do not model are kept verbatim
// in `extra` so a tool-written file survives load -> save without losing data.

public let perfProfileSchema = "llama.cpp.moe_layer_opt_perf.v1"
/// Older schema name the tool also accepts for planning input.
public let legacyPerfProfileSchema = "llama.cpp.moe_layer_perf.v1"

/// One `[expert_id, hit_count]` pair.
public struct ExpertHits: Hashable, Sendable {
    public var expert: Int
    public var hits: UInt64
    public init(expert: Int, hits: UInt64) {
        self.expert = expert
        self.hits = hits
    }
}

/// Numeric per-layer fields we understand, in the order the tool writes them.
/// `tokens` is a hotmoe extension (the tool does not write it; readers ignore unknown keys).
public enum LayerMetric: String, CaseIterable, Sendable {
    case calls
    case tokens
    case hotSlotsTotal = "hot_slots_total"
    case coldSlotsTotal = "cold_slots_total"
    case hotSlotsPerCall = "hot_slots_per_call"
    case coldSlotsPerCall = "cold_slots_per_call"
    case hotSlotRatio = "hot_slot_ratio"
    case hotLaneWallPerCallUs = "parallel_hot_lane_wall_time_per_call_us"
    case coldLaneWallPerCallUs = "parallel_cold_lane_wall_time_per_call_us"
    case joinWaitPerCallUs = "parallel_join_wait_time_per_call_us"
    case totalMoePerCallUs = "total_moe_time_per_call_us"
    case routingPerCallUs = "routing_time_per_call_us"
    case worklistPerCallUs = "worklist_time_per_call_us"
    case mergePerCallUs = "merge_time_per_call_us"
    case hotBranchPerCallUs = "hot_branch_time_per_call_us"
    case coldBranchPerCallUs = "cold_branch_time_per_call_us"
    case parallelWallPerCallUs = "parallel_region_wall_time_per_call_us"
    case overlapPerCallUs = "parallel_overlap_estimate_per_call_us"

    /// Counters are written as JSON integers and must be integral when read.
    public var isCount: Bool {
        switch self {
        case .calls, .tokens, .hotSlotsTotal, .coldSlotsTotal: true
        default: false
        }
    }
}

/// Unknown JSON members, order kept. Wrapped so the containing structs stay Equatable.
public struct ExtraFields: Equatable, Sendable {
    public var members: [(key: String, value: JSONValue)]
    public init(_ members: [(key: String, value: JSONValue)] = []) { self.members = members }
    public static func == (a: ExtraFields, b: ExtraFields) -> Bool { JSONValue.object(a.members) == .object(b.members) }
    public subscript(key: String) -> JSONValue? { members.first { $0.key == key }?.value }
}

public struct LayerProfile: Equatable, Sendable {
    public var layer: Int
    public var metrics: [LayerMetric: Double]
    /// First-run raw counts (`experts`); nil when the member is absent.
    public var experts: [ExpertHits]?
    /// Runtime counts of selections served by the hot lane / the cold lane.
    public var hotExperts: [ExpertHits]?
    public var coldExperts: [ExpertHits]?
    public var extra: ExtraFields

    public init(layer: Int, metrics: [LayerMetric: Double] = [:], experts: [ExpertHits]? = nil,
                hotExperts: [ExpertHits]? = nil, coldExperts: [ExpertHits]? = nil, extra: ExtraFields = .init()) {
        self.layer = layer
        self.metrics = metrics
        self.experts = experts
        self.hotExperts = hotExperts
        self.coldExperts = coldExperts
        self.extra = extra
    }

    public subscript(metric: LayerMetric) -> Double { metrics[metric] ?? 0 }
}

public struct PerfProfile: Equatable, Sendable {
    public var schema: String
    public var enabled: Bool?
    public var mode: String?
    public var nExpert: Int?
    public var nExpertUsed: Int?
    public var layers: [LayerProfile]
    public var extra: ExtraFields

    public init(schema: String = perfProfileSchema, enabled: Bool? = true, mode: String? = nil,
                nExpert: Int? = nil, nExpertUsed: Int? = nil, layers: [LayerProfile], extra: ExtraFields = .init()) {
        self.schema = schema
        self.enabled = enabled
        self.mode = mode
        self.nExpert = nExpert
        self.nExpertUsed = nExpertUsed
        self.layers = layers
        self.extra = extra
    }
}

/// A clear, user-facing profile error: `path` is the JSON field path, e.g. `layers[3].experts[7][1]`.
public struct ProfileError: Error, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}
