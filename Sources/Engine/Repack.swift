#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GGUF
import Quant

/// Anonymous memory holding repacked expert stacks; unmapped with the weights.
final class RepackedMemory: @unchecked Sendable {
    private var regions: [(UnsafeMutableRawPointer, Int)] = []

    /// A zero-filled region of `bytes`, on transparent huge pages where the kernel allows.
    func allocate(_ bytes: Int) -> UnsafeMutableRawPointer? {
        guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            return nil
        }
        #if os(Linux)
        // Experts are read in long runs: 2 MiB pages spare most TLB misses.
        _ = madvise(p, bytes, 14)  // MADV_HUGEPAGE
        #endif
        regions.append((p, bytes))
        return p
    }

    deinit { for (p, n) in regions { munmap(p, n) } }
}

extension ModelWeights {
    /// The same weights with every Q4_K and Q8_0 expert stack and attention matrix repacked eight rows at a time
    /// (`WeightLayout.rows8`, for the AVX2 decode kernels) into anonymous memory; the
    /// original mapped pages are released, so resident memory grows only by the layout's
    /// overhead (2.8% for Q4_K, none for Q8_0).
    /// Stacks of other types, or where the CPU lacks AVX2, stay as they are.
    /// Experts streamed from the file (`--moe-stream`) need the file's layout: do not repack then.
    public func repackingForDecode(file: GGUFFile) -> ModelWeights {
        let memory = RepackedMemory()
        func repack(_ s: ExpertStack) -> ExpertStack {
            guard s.layout == .ggml, Kernels.canRepackRows8(type: s.type, rows: s.rows, cols: s.cols) else { return s }
            let rowBytes = Kernels.rows8RowBytes(type: s.type, cols: s.cols)
            let expertBytes = s.rows * rowBytes
            guard let dst = memory.allocate(s.expertCount * expertBytes) else { return s }
            for e in 0..<s.expertCount {
                Kernels.repackRows8(type: s.type, source: s.data + e * s.expertBytes, rowBytes: s.rowBytes,
                                    rows: s.rows, cols: s.cols, into: dst + e * expertBytes)
            }
            file.releasePages(of: s.data, byteCount: s.expertCount * s.expertBytes)
            var out = ExpertStack(name: s.name, type: s.type, rows: s.rows, cols: s.cols, rowBytes: rowBytes,
                                  expertCount: s.expertCount, data: UnsafeRawPointer(dst))
            out.layout = .rows8
            return out
        }
        func repack(_ w: WeightMatrix) -> WeightMatrix {
            guard w.layout == .ggml, Kernels.canRepackRows8(type: w.type, rows: w.rows, cols: w.cols) else { return w }
            let rowBytes = Kernels.rows8RowBytes(type: w.type, cols: w.cols)
            guard let dst = memory.allocate(w.rows * rowBytes) else { return w }
            Kernels.repackRows8(type: w.type, source: w.data, rowBytes: w.rowBytes, rows: w.rows, cols: w.cols, into: dst)
            file.releasePages(of: w.data, byteCount: w.byteCount)
            return WeightMatrix(type: w.type, rows: w.rows, cols: w.cols, rowBytes: rowBytes, data: UnsafeRawPointer(dst),
                                layout: .rows8)
        }
        func repack(_ w: WeightMatrix?) -> WeightMatrix? { w.map { repack($0) } }
        let newLayers = layers.map { l in
            var l = l
            switch l.mixer {
            case .attention(var a):
                a.wq = repack(a.wq); a.wk = repack(a.wk); a.wv = repack(a.wv); a.wo = repack(a.wo)
                l.mixer = .attention(a)
            case .deltaNet(var d):
                d.qkv = repack(d.qkv); d.z = repack(d.z); d.out = repack(d.out)
                l.mixer = .deltaNet(d)
            }
            l.moe.gateExperts = repack(l.moe.gateExperts)
            l.moe.upExperts = repack(l.moe.upExperts)
            l.moe.downExperts = repack(l.moe.downExperts)
            if var sh = l.moe.shared {
                sh.gate = repack(sh.gate); sh.up = repack(sh.up); sh.down = repack(sh.down)
                l.moe.shared = sh
            }
            return l
        }
        return ModelWeights(tokenEmbedding: tokenEmbedding, outputNorm: outputNorm, output: output, layers: newLayers,
                            repackedMemory: memory)
    }
}
