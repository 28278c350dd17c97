import Foundation
import Testing
@testable import GGUF
import Quant

func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hotmoe-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))").path
}

/// A small but complete file: every metadata type, an array, tensors of several types.
func makeSampleFile(alignment: Int = 32) throws -> (path: String, values: [String: [Float]]) {
    var rng = SystemRandomNumberGenerator()
    var w = GGUFWriter()
    w.alignment = alignment
    w.set("general.architecture", "qwen3moe")
    w.set("test.u8", .uint8(200)); w.set("test.i8", .int8(-5)); w.set("test.u16", .uint16(65000))
    w.set("test.i16", .int16(-30000)); w.set("test.u32", .uint32(4_000_000_000)); w.set("test.i32", .int32(-7))
    w.set("test.u64", .uint64(1 << 40)); w.set("test.i64", .int64(-(1 << 40))); w.set("test.f32", .float32(1.5))
    w.set("test.f64", .float64(-2.25)); w.set("test.bool", .bool(true))
    w.set("test.strings", strings: ["a", "βγ", "", "🙂"])
    w.set("test.ints", int32s: [1, -2, 3])
    var values = [String: [Float]]()
    for (name, dims) in [("a.weight", [64, 3]), ("b.weight", [7]), ("c.weight", [32, 2, 2])] {
        let v = (0..<dims.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) }
        values[name] = v
        try w.addTensor(name: name, dims: dims, values: v)
    }
    let path = temporaryPath("sample.gguf")
    try w.write(to: path)
    return (path, values)
}

@Test func writerOutputReadsBackExactly() throws {
    let (path, values) = try makeSampleFile()
    let f = try GGUFFile(path: path)
    #expect(f.version == 3)
    #expect(f.architecture == "qwen3moe")
    #expect(f.metadata["test.u8"] == .uint8(200))
    #expect(f.metadata["test.i16"]?.int == -30000)
    #expect(f.metadata["test.u32"]?.int == 4_000_000_000)
    #expect(f.metadata["test.i64"]?.int == -(1 << 40))
    #expect(f.metadata["test.f64"]?.double == -2.25)
    #expect(f.metadata["test.bool"]?.bool == true)
    #expect(f.metadata["test.strings"]?.stringArray == ["a", "βγ", "", "🙂"])
    #expect(f.metadata["test.ints"]?.intArray == [1, -2, 3])
    #expect(f.metadataKeys.first == "general.architecture")
    #expect(f.tensors.map(\.name) == ["a.weight", "b.weight", "c.weight"])
    for t in f.tensors {
        #expect(t.fileOffset % f.alignment == 0)
        let p = f.data(t).assumingMemoryBound(to: Float.self)
        #expect(Array(UnsafeBufferPointer(start: p, count: t.elementCount)) == values[t.name])
    }
    #expect(f.tensor("a.weight")?.dims == [64, 3])
    #expect(f.tensor("a.weight")?.rowBytes == 256)
    #expect(throws: GGUFError.self) { try f.requireInt("missing.key") }
    #expect(throws: GGUFError.self) { try f.requireInt("test.f32") }
}

@Test func metadataOnlyFileMayEndBeforeTheDataPadding() throws {
    var w = GGUFWriter()
    w.set("general.architecture", "qwen3moe")
    w.set("tokenizer.ggml.tokens", strings: ["a", "b", "c"])
    let path = temporaryPath("vocab-only.gguf")
    try w.write(to: path)
    // Drop the padding the writer added, as llama.cpp's vocab files do.
    var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    while bytes.last == 0 { bytes.removeLast() }
    try bytes.write(to: URL(fileURLWithPath: path))
    let f = try GGUFFile(path: path)
    #expect(f.tensors.isEmpty)
    #expect(f.metadata["tokenizer.ggml.tokens"]?.stringArray == ["a", "b", "c"])
}

@Test func customAlignmentIsHonoured() throws {
    let (path, _) = try makeSampleFile(alignment: 64)
    let f = try GGUFFile(path: path)
    #expect(f.alignment == 64)
    #expect(f.dataOffset % 64 == 0)
    #expect(f.tensors.allSatisfy { $0.fileOffset % 64 == 0 })
}

@Test func everyTruncationIsRejectedWithoutCrashing() throws {
    let (path, _) = try makeSampleFile()
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    let cut = temporaryPath("cut.gguf")
    var rejected = 0
    for length in 0..<bytes.count {
        try bytes.prefix(length).write(to: URL(fileURLWithPath: cut))
        do {
            _ = try GGUFFile(path: cut)
            Issue.record("prefix of \(length)/\(bytes.count) bytes was accepted")
        } catch let e as GGUFError {
            #expect(!e.message.isEmpty)
            rejected += 1
        }
    }
    #expect(rejected == bytes.count)
}
