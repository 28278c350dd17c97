import Foundation
import Testing
@testable import GGUF
import Quant

/// Builds raw GGUF bytes by hand so tests can put any value in any field.
struct RawGGUF {
    var sink = ByteSink()
    init(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) {
        sink.append(UInt32(0x4655_4747)); sink.append(version); sink.append(tensors); sink.append(kvs)
    }
    mutating func string(_ s: String) { sink.appendString(s) }
    mutating func u32(_ v: UInt32) { sink.append(v) }
    mutating func u64(_ v: UInt64) { sink.append(v) }
    mutating func bytes(_ n: Int) { sink.bytes.append(contentsOf: [UInt8](repeating: 0, count: n)) }
    mutating func tensor(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
        string(name); u32(UInt32(dims.count)); dims.forEach { u64($0) }; u32(type); u64(offset)
    }

    func expectRejected(mentioning fragment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let path = temporaryPath("hostile.gguf")
        try Data(sink.bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try GGUFFile(path: path)
            Issue.record("hostile file accepted; expected an error mentioning '\(fragment)'", sourceLocation: sourceLocation)
        } catch let e as GGUFError {
            #expect(e.message.contains(fragment), "message was: \(e.message)", sourceLocation: sourceLocation)
        }
    }
}

@Test func badMagicAndVersion() throws {
    var r = RawGGUF(tensors: 0, kvs: 0)
    r.sink.bytes[0] = 0x47 ^ 0xff
    try r.expectRejected(mentioning: "magic")
    try RawGGUF(version: 1, tensors: 0, kvs: 0).expectRejected(mentioning: "version 1")
    try RawGGUF(version: 99, tensors: 0, kvs: 0).expectRejected(mentioning: "version 99")
}

@Test func countsLargerThanTheFileAreRejectedBeforeAllocation() throws {
    try RawGGUF(tensors: 1 << 60, kvs: 0).expectRejected(mentioning: "tensor_count")
    try RawGGUF(tensors: 1000, kvs: 0).expectRejected(mentioning: "tensor_count")
    try RawGGUF(tensors: 0, kvs: 1 << 40).expectRejected(mentioning: "metadata_kv_count")
}

@Test func hostileStringsAndArrays() throws {
    var huge = RawGGUF(tensors: 0, kvs: 1)
    huge.u64(1 << 62); huge.bytes(16)
    try huge.expectRejected(mentioning: "key length")

    var arr = RawGGUF(tensors: 0, kvs: 1)
    arr.string("tokenizer.ggml.tokens"); arr.u32(9); arr.u32(8); arr.u64(1 << 30)
    try arr.expectRejected(mentioning: "'tokenizer.ggml.tokens' array")

    var badElem = RawGGUF(tensors: 0, kvs: 1)
    badElem.string("k"); badElem.u32(9); badElem.u32(77); badElem.u64(1)
    try badElem.expectRejected(mentioning: "unknown array element type 77")

    var deep = RawGGUF(tensors: 0, kvs: 1)
    deep.string("k"); deep.u32(9)
    for _ in 0..<4 { deep.u32(9); deep.u64(1) }
    deep.u32(4); deep.u64(1); deep.u32(0)
    try deep.expectRejected(mentioning: "nested")

    var badType = RawGGUF(tensors: 0, kvs: 1)
    badType.string("k"); badType.u32(13); badType.bytes(8)
    try badType.expectRejected(mentioning: "unknown value type 13")

    var badBool = RawGGUF(tensors: 0, kvs: 1)
    badBool.string("k"); badBool.u32(7); badBool.sink.bytes.append(2)
    try badBool.expectRejected(mentioning: "bool")

    var dup = RawGGUF(tensors: 0, kvs: 2)
    for _ in 0..<2 { dup.string("k"); dup.u32(4); dup.u32(1) }
    try dup.expectRejected(mentioning: "twice")

    var align = RawGGUF(tensors: 0, kvs: 1)
    align.string("general.alignment"); align.u32(4); align.u32(48)
    try align.expectRejected(mentioning: "general.alignment")
}

@Test func hostileTensorDirectories() throws {
    func one(_ dims: [UInt64], type: UInt32 = 0, offset: UInt64 = 0, data: Int = 64, name: String = "t") -> RawGGUF {
        var r = RawGGUF(tensors: 1, kvs: 0)
        r.tensor(name, dims: dims, type: type, offset: offset)
        r.sink.pad(to: 32)
        r.bytes(data)
        return r
    }
    // The control: the same construction with sane values loads.
    let control = temporaryPath("control.gguf")
    try Data(one([16]).sink.bytes).write(to: URL(fileURLWithPath: control))
    #expect(try GGUFFile(path: control).tensors.first?.byteCount == 64)

    // Q4_2, long removed from ggml.
    try one([16], type: 4).expectRejected(mentioning: "tensor 't': unsupported tensor type id 4 (shape [16])")
    try one([16, 0]).expectRejected(mentioning: "dims[1] = 0")
    try one([1 << 31]).expectRejected(mentioning: "dims[0]")
    try one([1 << 30, 1 << 30, 1 << 30]).expectRejected(mentioning: "overflows")
    try one([16], offset: 8).expectRejected(mentioning: "not aligned")
    try one([16], offset: 1 << 50).expectRejected(mentioning: "offset")
    try one([16], data: 60).expectRejected(mentioning: "past the data section")
    try one([17], type: 8).expectRejected(mentioning: "block size")
    // The formats of downloaded files: the message names tensor, shape, type and block size.
    try one([48, 2], type: 6).expectRejected(mentioning: "tensor 't': row length 48 (shape [48, 2]) is not a multiple of Q5_0's block size 32")
    try one([128], type: 23).expectRejected(mentioning: "row length 128 (shape [128]) is not a multiple of IQ4_XS's block size 256")
    try one([16], type: 39).expectRejected(mentioning: "MXFP4's block size 32")
    // The grid formats (256 per block): a short row, and a tensor whose data runs past the file.
    for (id, name, bytes) in [(16, "IQ2_XXS", 66), (17, "IQ2_XS", 74), (22, "IQ2_S", 82), (18, "IQ3_XXS", 98), (21, "IQ3_S", 110),
                              (19, "IQ1_S", 50), (29, "IQ1_M", 56)] as [(UInt32, String, Int)] {
        try one([128, 2], type: id).expectRejected(mentioning: "row length 128 (shape [128, 2]) is not a multiple of \(name)'s block size 256")
        try one([256, 4], type: id, data: 4 * bytes - 1).expectRejected(mentioning: "past the data section")
        var fits = one([256, 4], type: id, data: 4 * bytes)
        fits.sink.pad(to: 32)
        let path = temporaryPath("iq.gguf")
        try Data(fits.sink.bytes).write(to: URL(fileURLWithPath: path))
        #expect(try GGUFFile(path: path).tensors.first?.byteCount == 4 * bytes, "\(name)")
    }
    try one([16, 1, 1, 1, 1]).expectRejected(mentioning: "n_dims 5")
    try one([16], name: String(repeating: "x", count: 100)).expectRejected(mentioning: "name of 100 bytes")

    var twice = RawGGUF(tensors: 2, kvs: 0)
    twice.tensor("t", dims: [8], type: 0, offset: 0); twice.tensor("t", dims: [8], type: 0, offset: 32)
    twice.sink.pad(to: 32); twice.bytes(64)
    try twice.expectRejected(mentioning: "appears twice")

    var overlap = RawGGUF(tensors: 2, kvs: 0)
    overlap.tensor("a", dims: [16], type: 0, offset: 0); overlap.tensor("b", dims: [16], type: 0, offset: 32)
    overlap.sink.pad(to: 32); overlap.bytes(128)
    try overlap.expectRejected(mentioning: "overlap")
}
