extension GGUFFile {
    /// Writes a copy of this file with metadata set or replaced, keys and tensors left out, and
    /// each kept tensor's bytes passed through `edit` once copied: how tests derive hostile or
    /// corrupt variants of a good model.
    public func writeCopy(to path: String, set: [(String, GGUFValue)] = [], dropping: Set<String> = [],
                          edit: @escaping (GGUFTensorInfo, UnsafeMutableRawBufferPointer) -> Void = { _, _ in }) throws {
        var w = GGUFWriter()
        for key in metadataKeys where !dropping.contains(key) { w.set(key, metadata[key]!) }
        for (k, v) in set { w.set(k, v) }
        for t in tensors where !dropping.contains(t.name) {
            let source = UnsafeRawBufferPointer(start: data(t), count: t.byteCount)
            try w.addTensor(name: t.name, type: t.type, dims: t.dims) { buffer in
                buffer.copyMemory(from: source)
                edit(t, buffer)
            }
        }
        try w.write(to: path)
    }
}
