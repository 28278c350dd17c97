#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
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
    /// The same weights with every Q4_K, Q8_0, Q4_1, Q5_0, Q5_1, IQ4_NL and MXFP4 expert stack and attention matrix repacked eight rows at a time
    /// (`WeightLayout.rows8`, for the AVX2 decode kernels) into anonymous memory; the
    /// original mapped pages are released, so resident memory grows only by the layout's
    /// overhead (2.8% for Q4_K, none for the 32-element types).
    /// Stacks of other types, or where the CPU lacks AVX2, stay as they are.
    /// `experts: false` repacks everything but the routed experts: streamed experts are read
    /// from the file's layout and repacked as they enter the RAM expert cache.
    public func repackingForDecode(file: GGUFFile, experts: Bool = true) -> ModelWeights {
        let memory = RepackedMemory()
        // One worker per core for the copy; dropped (and its threads stopped) when done.
        let pool = WorkerPool(threads: ProcessInfo.processInfo.activeProcessorCount)
        func repack(_ s: ExpertStack) -> ExpertStack {
            let fast = FastLayout(s)
            guard s.layout == .ggml, fast.layout == .rows8 else { return s }
            let rowBytes = fast.rowBytes
            let expertBytes = s.rows * rowBytes
            guard let dst = memory.allocate(s.expertCount * expertBytes) else { return s }
            // Experts in parallel on every core; stack by stack, so that each stack's mapped
            // pages are released before the next is copied (peak memory grows by one stack).
            pool.run(s.expertCount) { e in
                Kernels.repackRows8(type: s.type, source: s.expertData(e), rowBytes: s.rowBytes,
                                    rows: s.rows, cols: s.cols, into: dst + e * expertBytes)
            }
            // Only the bytes this stack owns: all of them when its experts are contiguous, each
            // expert's own where a fused gate_up stack interleaves its twin's rows, still to be copied.
            if s.expertStride == s.expertBytes {
                file.releasePages(of: s.data, byteCount: s.expertCount * s.expertBytes)
            } else {
                for e in 0..<s.expertCount { file.releasePages(of: s.expertData(e), byteCount: s.expertBytes) }
            }
            var out = ExpertStack(name: s.name, type: s.type, rows: s.rows, cols: s.cols, rowBytes: rowBytes,
                                  expertCount: s.expertCount, data: UnsafeRawPointer(dst))
            out.layout = .rows8
            return out
        }
        func repack(_ w: WeightMatrix) -> WeightMatrix {
            let fast = FastLayout(type: w.type, rows: w.rows, cols: w.cols, fileRowBytes: w.rowBytes)
            guard w.layout == .ggml, fast.layout == .rows8 else { return w }
            let rowBytes = fast.rowBytes
            guard let dst = memory.allocate(w.rows * rowBytes) else { return w }
            // Groups of eight rows are independent: split them over the cores.
            let groups = w.rows / 8, parts = min(groups, 4 * ProcessInfo.processInfo.activeProcessorCount)
            pool.run(parts) { p in
                let first = groups * p / parts, end = groups * (p + 1) / parts
                Kernels.repackRows8(type: w.type, source: w.data + first * 8 * w.rowBytes, rowBytes: w.rowBytes,
                                    rows: (end - first) * 8, cols: w.cols, into: dst + first * 8 * rowBytes)
            }
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
            case .latentAttention(var a):
                // The per-head keyUp / valueUp maps stay in the file layout (keyUp may be read transposed).
                a.queryDown = repack(a.queryDown); a.query = repack(a.query); a.latent = repack(a.latent); a.output = repack(a.output)
                l.mixer = .latentAttention(a)
            }
            func repackFFN(_ sh: SharedExpertWeights) -> SharedExpertWeights {
                var sh = sh
                sh.gate = repack(sh.gate); sh.up = repack(sh.up); sh.down = repack(sh.down)
                return sh
            }
            if var moe = l.moe {
                if experts {
                    moe.gateExperts = repack(moe.gateExperts)
                    moe.upExperts = repack(moe.upExperts)
                    moe.downExperts = repack(moe.downExperts)
                }
                moe.shared = moe.shared.map(repackFFN)
                l.moe = moe
            }
            l.denseFFN = l.denseFFN.map(repackFFN)
            return l
        }
        return ModelWeights(tokenEmbedding: tokenEmbedding, outputNorm: outputNorm, output: output, layers: newLayers,
                            perLayerInputs: perLayerInputs,
                            repackedMemory: memory)
    }
}

/// The layout a matrix runs in after `repackingForDecode`: `.rows8` where the CPU's eight-row
/// kernels take it, else the file's. Streamed experts are converted into it as they are read.
public struct FastLayout: Sendable, Equatable {
    public let layout: WeightLayout
    public let rowBytes: Int

    public init(type: GGMLType, rows: Int, cols: Int, fileRowBytes: Int) {
        if Kernels.canRepackRows8(type: type, rows: rows, cols: cols) {
            layout = .rows8
            rowBytes = Kernels.rows8RowBytes(type: type, cols: cols)
        } else {
            layout = .ggml
            rowBytes = fileRowBytes
        }
    }

    public init(_ s: ExpertStack) { self.init(type: s.type, rows: s.rows, cols: s.cols, fileRowBytes: s.rowBytes) }
}

extension ModelWeights {
    /// Bytes of the routed experts of `layer`, one expert, in the layout they run in.
    public func fastExpertBytes(layer: Int) -> Int {
        layers[layer].expertStacks.reduce(0) { $0 + $1.rows * FastLayout($1).rowBytes }
    }

    /// Every routed expert's bytes in its fast layout.
    public var fastExpertBytes: Int {
        layers.indices.reduce(0) { $0 + fastExpertBytes(layer: $1) * (layers[$1].moe?.gateExperts.expertCount ?? 0) }
    }

    /// Every routed expert's bytes as the file stores them.
    public var fileExpertBytes: Int {
        layers.indices.reduce(0) { $0 + expertBytes(layer: $1) * (layers[$1].moe?.gateExperts.expertCount ?? 0) }
    }

    /// Bytes the non-expert matrices gain when repacked (Q4_K's rows8 rows are 148/144 wide).
    public var denseRepackGrowth: Int {
        layers.flatMap(\.denseMatrices).reduce(0) { total, w in
            total + w.rows * FastLayout(type: w.type, rows: w.rows, cols: w.cols, fileRowBytes: w.rowBytes).rowBytes - w.byteCount
        }
    }
}
