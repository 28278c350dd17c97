import Foundation
@testable import GGUF

/// A GGUF file as editable parts, encoded by hand so a test can put any value in any field:
/// duplicate keys, wrong counts, bad offsets, types that do not exist.
struct GGUFImage {
    struct Tensor {
        var name: String
        var type: UInt32
        var dims: [UInt64]
        var data: [UInt8]
        /// Written instead of the computed offset (relative to the data section).
        var offset: UInt64? = nil
        /// Written instead of dims.count.
        var nDims: UInt32? = nil
    }

    var magic: UInt32 = 0x4655_4747
    var version: UInt32 = 3
    var kv: [(String, GGUFValue)] = []
    var tensors: [Tensor] = []
    var alignment = 32
    var tensorCount: UInt64? = nil
    var kvCount: UInt64? = nil

    /// The parts of a file that loads.
    init(file: GGUFFile) {
        kv = file.metadataKeys.map { ($0, file.metadata[$0]!) }
        tensors = file.tensors.map { t in
            Tensor(name: t.name, type: t.type.rawValue, dims: t.dims.map(UInt64.init),
                   data: Array(UnsafeRawBufferPointer(start: file.data(t), count: t.byteCount)))
        }
    }

    init() {}

    subscript(key: String) -> GGUFValue? {
        get { kv.first { $0.0 == key }?.1 }
        set {
            if let i = kv.firstIndex(where: { $0.0 == key }) {
                if let newValue { kv[i].1 = newValue } else { kv.remove(at: i) }
            } else if let newValue {
                kv.append((key, newValue))
            }
        }
    }

    mutating func tensor(_ name: String, _ edit: (inout Tensor) -> Void) {
        guard let i = tensors.firstIndex(where: { $0.name == name }) else { fatalError("no tensor \(name) in the base model") }
        edit(&tensors[i])
    }

    func encode() -> [UInt8] {
        var s = ByteSink()
        s.append(magic); s.append(version)
        s.append(tensorCount ?? UInt64(tensors.count))
        s.append(kvCount ?? UInt64(kv.count))
        for (key, value) in kv {
            s.appendString(key); s.append(value.type.rawValue); s.appendValue(value)
        }
        // Natural offsets are what a writer would use; an override replaces one tensor's offset
        // in the directory and places its data there (so an overlap is real, not just claimed).
        var natural = [Int](), next = 0
        for t in tensors {
            natural.append(next)
            next = (next + t.data.count + alignment - 1) / alignment * alignment
        }
        for (t, at) in zip(tensors, natural) {
            s.appendString(t.name)
            s.append(t.nDims ?? UInt32(t.dims.count))
            for d in t.dims { s.append(d) }
            s.append(t.type)
            s.append(t.offset ?? UInt64(at))
        }
        s.pad(to: alignment)
        let dataStart = s.bytes.count
        for (t, nat) in zip(tensors, natural) {
            // An offset far past the end is rejected from the directory alone; its data stays put.
            let at = dataStart + (t.offset.map { $0 <= 1 << 20 ? Int($0) : nat } ?? nat)
            if at + t.data.count > s.bytes.count {
                s.bytes += [UInt8](repeating: 0, count: at + t.data.count - s.bytes.count)
            }
            s.bytes.replaceSubrange(at..<(at + t.data.count), with: t.data)
        }
        return s.bytes
    }
}

/// Raw header bytes for the cases that never get as far as a well-formed key/value.
struct RawHeader {
    var sink = ByteSink()
    init(tensors: UInt64 = 0, kvs: UInt64) {
        sink.append(UInt32(0x4655_4747)); sink.append(UInt32(3)); sink.append(tensors); sink.append(kvs)
    }
    mutating func string(_ s: String) { sink.appendString(s) }
    mutating func u32(_ v: UInt32) { sink.append(v) }
    mutating func u64(_ v: UInt64) { sink.append(v) }
    mutating func zeros(_ n: Int) { sink.bytes += [UInt8](repeating: 0, count: n) }
    var bytes: [UInt8] { sink.bytes }
}
