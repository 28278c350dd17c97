import Foundation
import Testing
import GGUF
import Quant

/// `--check-tensors`' validation (TensorCheck, after ggml_validate_row_data): the first NaN or
/// Inf of every float type and of quantised blocks' scales, with its index; finite data passes.
@Suite struct TensorCheckTests {
    private func first(_ type: GGMLType, _ bytes: [UInt8]) -> (index: Int, field: String?, value: Double)? {
        bytes.withUnsafeBytes { TensorCheck.firstInvalid(type: type, data: $0.baseAddress!, byteCount: $0.count) }
    }

    private func bytes<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

    @Test func floatTypesReportTheFirstNonFiniteElement() {
        // Finite extremes pass: the largest value, subnormals, negative zero.
        var f32: [Float] = (0..<100).map { Float($0) - 50 }
        f32[10] = .greatestFiniteMagnitude; f32[11] = -.leastNonzeroMagnitude; f32[12] = -0.0
        #expect(first(.f32, bytes(f32)) == nil)
        f32[37] = .nan; f32[90] = .infinity
        #expect(first(.f32, bytes(f32))?.index == 37)
        #expect(first(.f32, bytes(f32))?.value.isNaN == true)
        f32[37] = 1
        // In the scalar tail (past the last 16-lane group) as well.
        #expect(first(.f32, bytes(f32))?.index == 90)
        #expect(first(.f32, bytes(f32))?.value == .infinity)
        #expect(first(.f32, bytes(f32))?.field == nil)

        // Past the first screened run of values, and only the first of two.
        var long = [Float](repeating: 2, count: 5000)
        long[4321] = -.infinity; long[4999] = .nan
        #expect(first(.f32, bytes(long))?.index == 4321)

        var f16 = [UInt16](repeating: floatToFp16(1.5), count: 40)
        f16[3] = floatToFp16(65504)
        #expect(first(.f16, bytes(f16)) == nil)
        f16[33] = floatToFp16(-.infinity)
        #expect(first(.f16, bytes(f16))?.index == 33)
        #expect(first(.f16, bytes(f16))?.value == -.infinity)

        var bf16 = [UInt16](repeating: floatToBf16(-3), count: 20)
        #expect(first(.bf16, bytes(bf16)) == nil)
        bf16[19] = floatToBf16(.nan)
        #expect(first(.bf16, bytes(bf16))?.index == 19)

        var f64 = [Double](repeating: 1e300, count: 18)
        #expect(first(.f64, bytes(f64)) == nil)
        f64[17] = -.infinity
        #expect(first(.f64, bytes(f64))?.index == 17)
        #expect(first(.i32, bytes([Int32](repeating: -1, count: 8))) == nil)  // 0xffffffff: no float
    }

    @Test func quantisedBlocksReportTheirBadScale() {
        // (type, field, byte offset of the field in the block)
        let cases: [(GGMLType, String, Int)] = [(.q8_0, "d", 0), (.q4_0, "d", 0), (.q4_1, "m", 2), (.q4_K, "d", 0),
                                                (.q4_K, "dmin", 2), (.q5_K, "dmin", 2), (.q6_K, "d", 208), (.q2_K, "dmin", 82),
                                                (.q3_K, "d", 108), (.iq4_nl, "d", 0), (.iq4_xs, "d", 0),
                                                (.iq2_xxs, "d", 0), (.iq2_xs, "d", 0), (.iq2_s, "d", 0), (.iq3_xxs, "d", 0),
                                                (.iq3_s, "d", 0), (.iq1_s, "d", 0)]
        for (type, field, offset) in cases {
            // Quant bytes of all ones look like NaN halves everywhere except at the scales.
            var blocks = [UInt8](repeating: 0xff, count: type.typeSize * 5)
            for b in 0..<5 {
                for (_, o) in TensorCheck.halfScaleFields(type) { withUnsafeBytes(of: floatToFp16(0.25)) { blocks.replaceSubrange((b * type.typeSize + o)..<(b * type.typeSize + o + 2), with: $0) } }
            }
            #expect(first(type, blocks) == nil, "\(type)")
            withUnsafeBytes(of: floatToFp16(.infinity)) { blocks.replaceSubrange((3 * type.typeSize + offset)..<(3 * type.typeSize + offset + 2), with: $0) }
            let bad = first(type, blocks)
            #expect(bad?.index == 3 && bad?.field == field && bad?.value == .infinity, "\(type) \(field): \(String(describing: bad))")
        }
        // IQ1_M has no d field: its fp16 scale is the top nibbles of the uint16 words at 48..<56.
        var iq1m = [UInt8](repeating: 0xff, count: GGMLType.iq1_m.typeSize * 3)
        let quarter = floatToFp16(0.25)  // 0x3400: nibbles 0, 0, 4, 3
        for b in 0..<3 {
            for k in 0..<4 { iq1m[b * 56 + 49 + 2 * k] = 0x0f | UInt8((quarter >> (4 * k)) & 0xf) << 4 }
        }
        #expect(first(.iq1_m, iq1m) == nil)
        iq1m[56 + 53] = 0xcf  // block 1's scale becomes 0x7c00 (+Inf): nibbles 0, 0, c, 7
        iq1m[56 + 55] = 0x7f
        let badIQ1M = first(.iq1_m, iq1m)
        #expect(badIQ1M?.index == 1 && badIQ1M?.field == "d" && badIQ1M?.value == .infinity, "\(String(describing: badIQ1M))")
        var mx = [UInt8](repeating: 0x7f, count: GGMLType.mxfp4.typeSize * 4)
        #expect(first(.mxfp4, mx) == nil)
        mx[2 * GGMLType.mxfp4.typeSize] = 0xff
        #expect(first(.mxfp4, mx)?.index == 2 && first(.mxfp4, mx)?.field == "e")
        var q8k = [UInt8](repeating: 0, count: GGMLType.q8_K.typeSize * 2)
        withUnsafeBytes(of: Float.nan) { q8k.replaceSubrange((GGMLType.q8_K.typeSize)..<(GGMLType.q8_K.typeSize + 4), with: $0) }
        #expect(first(.q8_K, q8k)?.index == 1)
    }

    @Test func fileCheckNamesTheFirstBadTensorAndReportsProgress() throws {
        var w = GGUFWriter()
        w.set("general.architecture", "test")
        try w.addTensor(name: "good.weight", dims: [64, 4], values: (0..<256).map { Float($0) })
        var bad = [Float](repeating: 0.5, count: 128)
        bad[77] = .nan
        try w.addTensor(name: "bad.weight", dims: [32, 4], values: bad)
        try w.addTensor(name: "worse.weight", dims: [8], values: [Float](repeating: .infinity, count: 8))
        let path = temporaryPath("check.gguf")
        try w.write(to: path)
        let file = try GGUFFile(path: path)
        var reports: [Int] = []
        do {
            try TensorCheck.check(file) { done, _ in reports.append(done) }
            Issue.record("a NaN weight passed the check")
        } catch let e as InvalidTensorValue {
            #expect(e.tensor == "bad.weight" && e.index == 77 && e.value.isNaN)
            #expect("\(e)".contains("tensor 'bad.weight' (F32) holds NaN at element 77"), "\(e)")
        }
        #expect(reports == [256 * 4])  // after the one good tensor

        var clean = GGUFWriter()
        clean.set("general.architecture", "test")
        try clean.addTensor(name: "good.weight", dims: [64, 4], values: (0..<256).map { Float($0) })
        try clean.write(to: path)
        try TensorCheck.check(try GGUFFile(path: path))
    }
}
