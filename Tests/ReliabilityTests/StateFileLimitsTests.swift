import XCTest
import ExpertCache

/// Ids in state files that would size a table: rejected before the allocation.
final class StateFileLimitsTests: XCTestCase {
    private func trace(layerID: UInt32) -> Data {
        var b = Array("HMTRACE1".utf8)
        // version 1, no weights, 1 layer, 8 experts, top-2, empty name, then the layer id.
        for v: UInt32 in [1, 0, 1, 8, 2, 0, layerID] { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        return Data(b)
    }

    func testTraceLayerIdsAreBoundedByTheModelLimit() throws {
        XCTAssertNoThrow(try TraceReader.parse(trace(layerID: 4095)))
        XCTAssertThrowsError(try TraceReader.parse(trace(layerID: 4_000_000_000))) { error in
            XCTAssertTrue("\(error)".contains("layer id 4000000000"), "\(error)")
        }
    }

    func testLayoutRefusesLayerIdsThatWouldSizeAHugeIndex() throws {
        XCTAssertNoThrow(try ModelExpertLayout(moeLayers: [0, 4095], expertsPerLayer: 8, topK: 2, bytesPerExpert: [1, 1]))
        XCTAssertThrowsError(try ModelExpertLayout(moeLayers: [1 << 40], expertsPerLayer: 8, topK: 2, bytesPerExpert: [1]))
    }
}
