import Engine
import Quant

/// How one layer's expert sits in a cache slot: gate, up and down back to back, each in the
/// layout its kernels run in. Streamed experts arrive in the file's layout and are repacked
/// into the slot as they are read, so streamed decode runs the same kernels as resident decode.
struct ExpertSlotFormat {
    struct Part {
        /// The stack in the model (file layout when streamed).
        let stack: ExpertStack
        let layout: WeightLayout
        let rowBytes: Int
        let slotOffset: Int
        var bytes: Int { stack.rows * rowBytes }
    }

    let parts: [Part]
    let slotBytes: Int
    /// The experts' projection biases stay in the model (they are not part of a slot).
    let biases: ExpertBiasStacks?

    /// `fastLayout`: slots in the decode kernels' layout (streaming from the file); else slots
    /// copy the stacks as the model holds them. A dense layer has no parts (and no slots).
    init(layer l: LayerWeights, fastLayout: Bool) {
        var at = 0
        parts = l.expertStacks.map { s in
            let fast = FastLayout(s)
            let layout = fastLayout && s.layout == .ggml ? fast.layout : s.layout
            let rowBytes = fastLayout && s.layout == .ggml ? fast.rowBytes : s.rowBytes
            // 64-byte aligned parts keep the kernels' aligned loads aligned.
            defer { at += (s.rows * rowBytes + 63) & ~63 }
            return Part(stack: s, layout: layout, rowBytes: rowBytes, slotOffset: at)
        }
        slotBytes = at
        biases = l.moe?.expertBiases
    }

    /// Read-buffer bytes enough for any expert of the layer.
    var readBufferBytes: Int { ExpertReader.bufferBytes(lengths: parts.map(\.stack.expertBytes)) }

    /// Expert `e`'s matrices computed from a slot at `p`.
    func matrices(at p: UnsafeRawPointer, expert e: Int) -> ExpertMatrices {
        // Per part, not mapped: this runs for every routed expert of every token.
        func matrix(_ i: Int) -> WeightMatrix {
            let part = parts[i]
            return WeightMatrix(type: part.stack.type, rows: part.stack.rows, cols: part.stack.cols, rowBytes: part.rowBytes,
                                data: p + part.slotOffset, layout: part.layout)
        }
        return ExpertMatrices(gate: matrix(0), up: matrix(1), down: matrix(2), biases: biases?.expert(e))
    }

    /// File byte ranges of expert `e` (its three matrices), for a streaming read.
    func fileRanges(expert e: Int, fileBase: UnsafeRawPointer) -> ExpertFileRanges {
        ExpertFileRanges(parts: parts, expert: e, fileBase: fileBase)
    }

    /// Fills a slot from the expert's bytes in the stacks' layout, one pointer per part.
    func fill(_ dst: UnsafeMutableRawPointer, from source: (Int) -> UnsafeRawPointer) {
        for (i, p) in parts.enumerated() {
            if p.layout == p.stack.layout {
                (dst + p.slotOffset).copyMemory(from: source(i), byteCount: p.bytes)
            } else {
                Kernels.repackRows8(type: p.stack.type, source: source(i), rowBytes: p.stack.rowBytes,
                                    rows: p.stack.rows, cols: p.stack.cols, into: dst + p.slotOffset)
            }
        }
    }

    /// Fills a slot from where the model holds expert `e`.
    func fill(_ dst: UnsafeMutableRawPointer, expert e: Int) {
        fill(dst) { parts[$0].stack.expertData(e) }
    }
}

/// An expert's (offset, length) ranges in the model file, one per part; a value, not an
/// array, since the streaming lane asks for every read.
struct ExpertFileRanges: RandomAccessCollection {
    let parts: [ExpertSlotFormat.Part]
    let expert: Int
    let fileBase: UnsafeRawPointer
    var startIndex: Int { 0 }
    var endIndex: Int { parts.count }
    subscript(i: Int) -> (offset: Int, length: Int) {
        let stack = parts[i].stack
        return (offset: stack.expertData(expert) - fileBase, length: stack.expertBytes)
    }
}
