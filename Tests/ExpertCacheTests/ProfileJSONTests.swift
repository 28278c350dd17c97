import Foundation
import Testing
@testable import ExpertCache

/// Shaped like a full-mode file from the llama.cpp tool (field names and order from its serializer).
let toolFile = """
{"enabled":true,"mode":"full","schema":"llama.cpp.moe_layer_opt_perf.v1","n_expert":8,"n_expert_used":2,"updates":3,"overflow_resets":0,\
"summary":{"layer_calls":8,"hot_slot_ratio":0.25,"parallel_join_wait_time_per_call_us":4.5},\
"layers":[{"layer":0,"calls":4,"hot_slots_total":2,"cold_slots_total":6,"hot_slots_per_call":0.5,"cold_slots_per_call":1.5,\
"hot_slot_ratio":0.25,"parallel_hot_lane_wall_time_per_call_us":8,"parallel_cold_lane_wall_time_per_call_us":28.25,\
"parallel_join_wait_time_per_call_us":18,"total_moe_time_per_call_us":40,"routing_time_per_call_us":1.5,\
"hot_expert_matmul_time_per_call_us":3,"parallel_hot_launches":4,"parallel_fallbacks":1,\
"parallel_fallback_reasons":{"threshold":1},"experts":[[1,2],[3,6]],"hot_experts":[[1,2]],"cold_experts":[[3,6]]},\
{"layer":2,"calls":4,"hot_slots_total":0,"cold_slots_total":8,"experts":[[0,5],[7,3]],"hot_experts":[],"cold_experts":[[0,5],[7,3]]}]}
"""

@Suite struct ProfileJSONTests {
    @Test func loadsToolFileKeepingUnknownFields() throws {
        let p = try decode(toolFile, layout: layout())
        #expect(p.schema == perfProfileSchema)
        #expect(p.mode == "full" && p.nExpert == 8 && p.nExpertUsed == 2)
        #expect(p.extra["updates"] == .int(3))
        #expect(p.layers.map(\.layer) == [0, 2])
        let l0 = p.layers[0]
        #expect(l0[.calls] == 4)
        #expect(l0[.coldLaneWallPerCallUs] == 28.25)
        #expect(l0[.joinWaitPerCallUs] == 18)
        #expect(l0.hotExperts == [ExpertHits(expert: 1, hits: 2)])
        #expect(l0.extra["parallel_fallback_reasons"] == .object([(key: "threshold", value: .int(1))]))
        #expect(p.layers[1].hotExperts == [])
    }

    @Test func toolFileSurvivesLoadSaveLoadAndOurFilesRoundTripByteForByte() throws {
        let p = try decode(toolFile)
        let once = p.encode()
        let reloaded = try PerfProfile.decode(once)
        #expect(reloaded == p)
        #expect(reloaded.encode() == once)
    }

    @Test func telemetryExportRoundTripsIdentically() throws {
        var c = TelemetryCounters(layout: layout(layers: 2, experts: 4), mode: .full)
        let t = LaneTimings(routing: 1_234, hotLane: 10_001, coldLane: 33_333, parallelWall: 34_000, overlap: 9_000,
                            joinWait: 23_332, merge: 777, total: 40_000)
        c.record(layer: 0, selected: [0, 1], hot: [true, false], timings: t)
        c.record(layer: 1, selected: [3, 1], hot: [false, false], timings: t)
        c.record(layer: 1, selected: [3, 2], hot: [true, false], timings: t)
        let p = c.profile()
        let data = p.encode()
        let back = try PerfProfile.decode(data, layout: layout(layers: 2, experts: 4))
        #expect(back == p)
        #expect(back.encode() == data)
        #expect(back.layers[0][.routingPerCallUs] == 1.234)
    }

    @Test func savesAtomicallyAndLeavesNoTempFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hotmoe-profile-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("moe-hot-cache.json")
        let p = try decode(toolFile)
        try p.save(to: url)
        try p.save(to: url)   // overwrite goes through rename as well
        #expect(try PerfProfile.load(contentsOf: url) == p)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["moe-hot-cache.json"])
    }

    static let fourLayersNegativeHit: String = {
        let ok = (0..<7).map { "[\($0),1]" }.joined(separator: ",")
        let layers = (0..<4).map { i in
            "{\"layer\":\(i),\"experts\":[\(ok),[7,\(i == 3 ? -4 : 1)]]}"
        }
        return "{\"schema\":\"llama.cpp.moe_layer_opt_perf.v1\",\"layers\":[\(layers.joined(separator: ","))]}"
    }()

    static func wrap(_ layer: String) -> String {
        "{\"schema\":\"llama.cpp.moe_layer_opt_perf.v1\",\"layers\":[\(layer)]}"
    }

    /// Every class of malformed input, with the exact message (path first).
    static let malformed: [(String, String)] = [
        ("{\"schema\": ", "$: malformed JSON at line 1, column 12: unexpected end of input"),
        ("[]", "$: expected an object, found an array"),
        ("{\"layers\":[]}", "schema: missing (expected \"llama.cpp.moe_layer_opt_perf.v1\")"),
        ("{\"schema\":\"other.v2\",\"layers\":[]}", "schema: unsupported schema \"other.v2\" (expected \"llama.cpp.moe_layer_opt_perf.v1\")"),
        ("{\"schema\":7,\"layers\":[]}", "schema: expected a string, found an integer"),
        ("{\"schema\":\"llama.cpp.moe_layer_opt_perf.v1\"}", "layers: missing (expected an array of layer objects)"),
        ("{\"schema\":\"llama.cpp.moe_layer_opt_perf.v1\",\"layers\":{}}", "layers: expected an array, found an object"),
        ("{\"schema\":\"llama.cpp.moe_layer_opt_perf.v1\",\"mode\":\"fast\",\"layers\":[]}", "mode: unknown perf mode \"fast\" (expected full, update or off)"),
        (wrap("3"), "layers[0]: expected a layer object, found an integer"),
        (wrap("{\"experts\":[]}"), "layers[0].layer: missing layer index"),
        (wrap("{\"layer\":\"x\"}"), "layers[0].layer: expected an integer layer index, found a string"),
        (wrap("{\"layer\":-1}"), "layers[0].layer: negative layer index -1"),
        (fourLayersNegativeHit, "layers[3].experts[7][1]: negative hit count -4"),
        (wrap("{\"layer\":0,\"experts\":[[1]]}"), "layers[0].experts[0]: expected 2 elements [expert_id, hit_count], found 1"),
        (wrap("{\"layer\":0,\"experts\":[5]}"), "layers[0].experts[0]: expected an [expert_id, hit_count] pair, found an integer"),
        (wrap("{\"layer\":0,\"experts\":5}"), "layers[0].experts: expected an array of [expert_id, hit_count] pairs, found an integer"),
        (wrap("{\"layer\":0,\"cold_experts\":[[1,1.5]]}"), "layers[0].cold_experts[0][1]: expected an integer hit count, found 1.5"),
        (wrap("{\"layer\":0,\"experts\":[[\"a\",1]]}"), "layers[0].experts[0][0]: expected an integer expert id, found a string"),
        (wrap("{\"layer\":0,\"hot_experts\":[[5,1],[5,2]]}"), "layers[0].hot_experts[1][0]: duplicate expert 5 (also at index 0)"),
        (wrap("{\"layer\":0},{\"layer\":0}"), "layers[1].layer: duplicate layer 0 (also at layers[0])"),
        (wrap("{\"layer\":0,\"calls\":\"many\"}"), "layers[0].calls: expected an integer count, found a string"),
        (wrap("{\"layer\":0,\"calls\":2.5}"), "layers[0].calls: expected an integer count, found 2.5"),
        (wrap("{\"layer\":0,\"parallel_join_wait_time_per_call_us\":-3}"), "layers[0].parallel_join_wait_time_per_call_us: negative value -3"),
        (wrap("{\"layer\":0,\"total_moe_time_per_call_us\":true}"), "layers[0].total_moe_time_per_call_us: expected a number, found a boolean"),
        ("{\"schema\":\"llama.cpp.moe_layer_opt_perf.v1\",\"schema\":\"x\",\"layers\":[]}",
         "$: malformed JSON at line 1, column 53: duplicate key \"schema\""),
    ]

    @Test(arguments: malformed)
    func malformedInputNamesTheField(json: String, message: String) {
        #expect(throws: ProfileError.self) { try decode(json) }
        do { _ = try decode(json) } catch { #expect(error.description == message) }
    }

    static let layoutViolations: [(String, String)] = [
        (wrap("{\"layer\":9,\"experts\":[[1,1]]}"), "layers[0].layer: layer 9 has no routed experts in this model"),
        (wrap("{\"layer\":1,\"experts\":[[1,1],[8,2]]}"), "layers[0].experts[1][0]: expert 8 out of range (layer 1 has 8 experts)"),
        ("{\"schema\":\"llama.cpp.moe_layer_opt_perf.v1\",\"n_expert\":64,\"layers\":[]}",
         "n_expert: 64 does not match the model (8 experts per layer)"),
    ]

    @Test(arguments: layoutViolations)
    func layoutViolationsNameTheField(json: String, message: String) throws {
        _ = try decode(json)   // structurally fine without a layout
        do { _ = try decode(json, layout: layout()); Issue.record("accepted: \(json)") } catch {
            #expect(error.description == message)
        }
    }

    @Test func observationsPreferLaneCountsAndDeriveTimings() throws {
        // Same rules as the tool's parser: hot+cold beat raw experts; cold slots per call falls
        // back to cold_slots_total / calls; wait per cold slot uses the lane delta without join wait.
        let p = try decode(Self.wrap("""
        {"layer":1,"experts":[[0,100]],"hot_experts":[[3,2],[1,14]],"cold_experts":[[3,5],[2,6]],"calls":4,"cold_slots_total":12,\
        "parallel_join_wait_time_per_call_us":18,"parallel_cold_lane_wall_time_per_call_us":28,"parallel_hot_lane_wall_time_per_call_us":8},
        {"layer":2,"experts":[[3,5],[1,7],[0,0]],"parallel_cold_lane_wall_time_per_call_us":30,"parallel_hot_lane_wall_time_per_call_us":10,\
        "cold_slots_per_call":4},
        {"layer":3,"experts":[[0,0]],"hot_experts":[],"cold_experts":[]}
        """))
        let obs = p.observations()
        #expect(obs.map(\.layer) == [1, 2])
        #expect(obs[0].hasBranchCounts)
        #expect(obs[0].experts.map { [$0.expert, Int($0.hot), Int($0.cold), Int($0.raw)] } == [[1, 14, 0, 0], [2, 0, 6, 0], [3, 2, 5, 0]])
        #expect(obs[0].coldSlotsPerCall == 3)
        #expect(obs[0].waitPerColdSlotUs == 6)
        #expect(!obs[1].hasBranchCounts)
        #expect(obs[1].experts.map(\.expert) == [1, 3])
        #expect(obs[1].waitPerColdSlotUs == 5)
    }
}

/// Found by the profile fuzzer: a high surrogate followed by a \u escape that is not a low
/// surrogate made the parser trap (UInt32 underflow). The server decodes request bodies with it.
@Test func loneHighSurrogateBecomesReplacementCharacter() throws {
    func extra(_ escaped: String) throws -> JSONValue? {
        try PerfProfile.decode(Data("{\"schema\":\"\(perfProfileSchema)\",\"layers\":[],\"x\":\"\(escaped)\"}".utf8)).extra["x"]
    }
    #expect(try extra(#"\ud83d\ude00"#) == .string("\u{1F600}"))
    #expect(try extra(#"\ud83d\uaed8"#) == .string("\u{FFFD}\u{AED8}"))
    #expect(try extra(#"\ud83d\ud83d\ude00"#) == .string("\u{FFFD}\u{1F600}"))
    #expect(try extra(#"\ud83dx"#) == .string("\u{FFFD}x"))
    #expect(try extra(#"\ude00"#) == .string("\u{FFFD}"))
}
