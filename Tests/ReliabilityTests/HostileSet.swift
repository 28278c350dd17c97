import Foundation
import Engine
@testable import GGUF

/// One crafted file and a fragment the error must contain (the field or value it is about).
struct HostileCase {
    let name: String
    let bytes: [UInt8]
    let expect: String
}

/// The hostile-file set: ~75 files, each broken in one way, built from a tiny valid model so
/// that exactly one thing is wrong in each.
enum HostileSet {
    static let arch = "qwen3moe."

    /// A tiny random-weight qwen3moe model (F32), as bytes and as editable parts.
    static func base(in dir: URL) throws -> (bytes: [UInt8], image: GGUFImage) {
        let path = dir.appendingPathComponent("base.gguf").path
        try SyntheticModel.write(SyntheticModelSpec.preset("tiny")!, to: path)
        let file = try GGUFFile(path: path)
        return (Array(try Data(contentsOf: URL(fileURLWithPath: path))), GGUFImage(file: file))
    }

    static func cases(base bytes: [UInt8], image: GGUFImage) -> [HostileCase] {
        var out = [HostileCase]()
        func add(_ name: String, _ expect: String, _ b: [UInt8]) { out.append(HostileCase(name: name, bytes: b, expect: expect)) }
        func edit(_ name: String, _ expect: String, _ f: (inout GGUFImage) -> Void) {
            var img = image
            f(&img)
            add(name, expect, img.encode())
        }
        func raw(_ name: String, _ expect: String, tensors: UInt64 = 0, kvs: UInt64, _ f: (inout RawHeader) -> Void) {
            var r = RawHeader(tensors: tensors, kvs: kvs)
            f(&r)
            r.zeros(64)
            add(name, expect, r.bytes)
        }

        // Header.
        add("empty", "too small", [])
        edit("bad-magic", "magic") { $0.magic = 0x4655_4748 }
        edit("version-1", "version 1") { $0.version = 1 }
        edit("big-endian", "big-endian") { $0.version = UInt32(3).byteSwapped }
        edit("tensor-count-huge", "tensor_count") { $0.tensorCount = 1 << 60 }
        edit("tensor-count-past-file", "tensor_count") { $0.tensorCount = 1_000_000 }
        edit("kv-count-huge", "metadata_kv_count") { $0.kvCount = 1 << 40 }
        edit("kv-count-too-many", "metadata") { $0.kvCount = UInt64($0.kv.count + 5) }

        // Metadata encoding.
        raw("key-length-huge", "key length", kvs: 1) { $0.u64(1 << 62) }
        raw("key-length-past-end", "key length", kvs: 1) { $0.u64(100_000) }
        raw("key-empty", "key is empty", kvs: 1) { $0.string(""); $0.u32(4); $0.u32(1) }
        raw("string-length-huge", "'general.name' length", kvs: 1) { $0.string("general.name"); $0.u32(8); $0.u64(1 << 61) }
        raw("value-type-13", "unknown value type 13", kvs: 1) { $0.string("k"); $0.u32(13) }
        raw("value-type-huge", "unknown value type 4294967295", kvs: 1) { $0.string("k"); $0.u32(.max) }
        raw("array-count-huge", "'tokenizer.ggml.tokens' array", kvs: 1) {
            $0.string("tokenizer.ggml.tokens"); $0.u32(9); $0.u32(8); $0.u64(1 << 60)
        }
        raw("array-count-past-end", "'tokenizer.ggml.scores' array", kvs: 1) {
            $0.string("tokenizer.ggml.scores"); $0.u32(9); $0.u32(6); $0.u64(1 << 20)
        }
        raw("array-element-type-bad", "unknown array element type 42", kvs: 1) { $0.string("k"); $0.u32(9); $0.u32(42); $0.u64(1) }
        raw("array-nested-deep", "nested", kvs: 1) {
            $0.string("k"); $0.u32(9)
            for _ in 0..<5 { $0.u32(9); $0.u64(1) }
            $0.u32(4); $0.u64(1); $0.u32(0)
        }
        raw("bool-2", "bool value 2", kvs: 1) { $0.string("tokenizer.ggml.add_bos_token"); $0.u32(7); $0.sink.bytes.append(2) }
        edit("duplicate-key", "'general.name' appears twice") { $0.kv.append(("general.name", .string("again"))) }
        // Three 1.5M-element arrays: each fits the file, together they pass the metadata budget.
        raw("metadata-element-budget", "over the limit", kvs: 3) { r in
            for i in 0..<3 {
                r.string("big.\(i)"); r.u32(9); r.u32(0); r.u64(3 << 19); r.zeros(3 << 19)
            }
        }
        for (label, value) in [("0", GGUFValue.uint32(0)), ("3", .uint32(3)), ("4", .uint32(4)), ("48", .uint32(48)),
                               ("huge", .uint32(1 << 30)), ("negative", .int32(-32)), ("string", .string("32")), ("bool", .bool(true))] {
            edit("alignment-\(label)", "general.alignment") { $0["general.alignment"] = value }
        }

        // Tensor directory.
        let q = "blk.0.attn_q.weight"
        edit("tensor-type-99", "tensor '\(q)': unsupported tensor type id 99") { $0.tensor(q) { $0.type = 99 } }
        edit("n-dims-0", "n_dims 0") { $0.tensor(q) { $0.nDims = 0; $0.dims = [] } }
        edit("n-dims-5", "n_dims 5") { $0.tensor(q) { $0.dims += [1, 1, 1] } }
        edit("n-dims-huge", "n_dims 4294967295") { $0.tensor(q) { $0.nDims = .max } }
        edit("dim-zero", "dims[1] = 0") { $0.tensor(q) { $0.dims[1] = 0 } }
        edit("dim-huge", "dims[0] = 1099511627776") { $0.tensor(q) { $0.dims[0] = 1 << 40 } }
        edit("dims-overflow", "element count overflows") { $0.tensor("blk.0.ffn_up_exps.weight") { $0.dims = [1 << 30, 1 << 30, 1 << 30] } }
        edit("dims-past-file", "element count overflows") { $0.tensor(q) { $0.dims = [1 << 20, 1 << 20] } }
        edit("offset-past-end", "data offset 1152921504606846976 lies past the end") { $0.tensor(q) { $0.offset = 1 << 60 } }
        edit("offset-misaligned", "not aligned to 32") { $0.tensor(q) { $0.offset = 8 } }
        edit("offset-overlap", "overlap") { img in img.tensor(q) { $0.offset = 0 } }
        edit("tensor-name-duplicate", "tensor '\(q)' appears twice") { img in img.tensor("blk.0.attn_k.weight") { $0.name = q } }
        edit("tensor-name-empty", "name is empty") { $0.tensor(q) { $0.name = "" } }
        edit("tensor-name-long", "name of 200 bytes") { $0.tensor(q) { $0.name = String(repeating: "n", count: 200) } }
        edit("tensor-block-size", "block size") { $0.tensor(q) { $0.type = 8; $0.dims[0] = 17; $0.data = [] } }
        edit("tensor-data-short", "past the data section") { img in
            let last = img.tensors.count - 1
            img.tensors[last].dims[img.tensors[last].dims.count - 1] += 64
        }

        // Truncation at many points: header, key/values, tensor directory, data.
        let dataStart = (try? GGUFFile(bytes: bytes))?.dataOffset ?? bytes.count
        for cut in [0, 3, 4, 8, 16, 23] {
            add("truncated-\(cut)", "too small", Array(bytes.prefix(cut)))
        }
        for fraction in [1, 5, 20, 50, 80, 95, 99] {
            let cut = 24 + (dataStart - 24) * fraction / 100
            add("truncated-header-\(fraction)pct", "truncated", Array(bytes.prefix(cut)))
        }
        for cut in [dataStart - 1, dataStart, dataStart + 1, (dataStart + bytes.count) / 2, bytes.count - 1] {
            add("truncated-at-\(cut)", "truncated", Array(bytes.prefix(cut)))
        }

        // Model metadata: present, well-formed GGUF, but not a model hotmoe can run.
        edit("arch-missing", "general.architecture") { $0["general.architecture"] = nil }
        edit("arch-unknown", "architecture 'gpt2'") { $0["general.architecture"] = .string("gpt2") }
        edit("arch-not-string", "general.architecture") { $0["general.architecture"] = .uint32(7) }
        edit("expert-count-missing", "expert_count") { $0[arch + "expert_count"] = nil }
        edit("expert-count-vs-tensors", "expert_count") { $0[arch + "expert_count"] = .uint32(16) }
        edit("expert-count-zero", "expert_count 0") { $0[arch + "expert_count"] = .uint32(0) }
        edit("expert-used-gt-count", "expert_used_count 9") { $0[arch + "expert_used_count"] = .uint32(9) }
        edit("expert-used-zero", "expert_used_count 0") { $0[arch + "expert_used_count"] = .uint32(0) }
        edit("expert-tensor-shape", "holds 4 experts") { img in
            img.tensor("blk.1.ffn_up_exps.weight") { $0.dims[2] = 4; $0.data = Array($0.data.prefix($0.data.count / 2)) }
        }
        edit("head-count-zero", "head_count 0") { $0[arch + "attention.head_count"] = .uint32(0) }
        edit("head-count-huge", "head_count 4000000") { $0[arch + "attention.head_count"] = .uint32(4_000_000) }
        edit("head-dim-mismatch", "key_length 32") { $0[arch + "attention.key_length"] = .uint32(32) }
        edit("head-dim-odd", "key_length 15") { $0[arch + "attention.key_length"] = .uint32(15) }
        edit("heads-not-dividing", "not a multiple of attention.head_count 3") { img in
            img[arch + "attention.key_length"] = nil; img[arch + "attention.head_count"] = .uint32(3)
        }
        edit("kv-heads-not-dividing", "head_count_kv 3") { $0[arch + "attention.head_count_kv"] = .uint32(3) }
        edit("embedding-huge", "embedding_length 4294967295") { $0[arch + "embedding_length"] = .uint32(.max) }
        edit("block-count-bool", "block_count' is bool") { $0[arch + "block_count"] = .bool(true) }
        edit("block-count-u64-huge", "block_count' = 18446744073709551615") { $0[arch + "block_count"] = .uint64(.max) }
        edit("block-count-huge", "block_count 100000") { $0[arch + "block_count"] = .uint32(100_000) }
        edit("context-negative", "context_length -1") { $0[arch + "context_length"] = .int32(-1) }
        edit("context-huge", "context_length 4294967295") { $0[arch + "context_length"] = .uint32(.max) }
        edit("expert-ff-huge", "feed-forward length 4294967295") { $0[arch + "expert_feed_forward_length"] = .uint32(.max) }
        edit("rope-base-nan", "freq_base") { $0[arch + "rope.freq_base"] = .float32(.nan) }
        edit("epsilon-zero", "epsilon") { $0[arch + "attention.layer_norm_rms_epsilon"] = .float32(0) }

        // Tokenizer arrays of the wrong element type, or disagreeing with each other.
        edit("tokens-int-array", "'tokenizer.ggml.tokens' is an array of int32") {
            $0["tokenizer.ggml.tokens"] = .array(.int32, (0..<300).map { .int32(Int32($0)) })
        }
        edit("tokens-not-array", "'tokenizer.ggml.tokens' is string") { $0["tokenizer.ggml.tokens"] = .string("a b c") }
        edit("token-type-strings", "tokenizer.ggml.token_type: expected an array of integers, found an array of string") {
            $0["tokenizer.ggml.token_type"] = .array(.string, [.string("1")])
        }
        edit("token-type-count", "tokenizer.ggml.token_type: has 3 entries") {
            $0["tokenizer.ggml.token_type"] = .array(.int32, [.int32(1), .int32(1), .int32(1)])
        }
        edit("scores-count", "tokenizer.ggml.scores: has 2 entries") { $0["tokenizer.ggml.scores"] = .array(.float32, [.float32(0), .float32(0)]) }
        edit("merges-ints", "tokenizer.ggml.merges") { $0["tokenizer.ggml.merges"] = .array(.uint8, [.uint8(1)]) }
        edit("bos-out-of-range", "tokenizer.ggml.bos_token_id") { $0["tokenizer.ggml.bos_token_id"] = .uint32(1 << 30) }
        edit("tokenizer-model-missing", "tokenizer.ggml.model") { $0["tokenizer.ggml.model"] = nil }

        // Tensors that parse but do not fit the model.
        edit("tensor-missing", "missing tensor 'blk.1.ffn_down_exps.weight'") { $0.tensors.removeAll { $0.name == "blk.1.ffn_down_exps.weight" } }
        edit("norm-not-f32", "tensor 'blk.0.attn_norm.weight' must be F32, is F16") { img in
            img.tensor("blk.0.attn_norm.weight") { $0.type = 1; $0.data = Array($0.data.prefix($0.data.count / 2)) }
        }
        edit("matrix-type-unsupported", "cannot compute with") { img in
            // Q8_1 (type 9, an activation format only): 36 bytes per 32 values.
            img.tensor(q) { $0.type = 9; $0.data = [UInt8](repeating: 0, count: Int($0.dims[0] * $0.dims[1]) / 32 * 36) }
        }
        edit("embedding-rows-vs-vocab", "vocabulary size") { img in
            img.tensor("token_embd.weight") { $0.dims[1] -= 1; $0.data.removeLast(Int($0.dims[0]) * 4) }
        }
        return out
    }
}
