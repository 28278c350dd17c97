import Foundation
import Testing

/// Without a GPU (this CI) every GPU flag gives one clean line and the CPU path; gpu-check
/// exits 1 with the "no GPU" line. On a machine with a driver these tests check nothing.
@Suite struct GPUFlagsCLITests {
    private var noDriver: Bool { dlopen("libcuda.so.1", RTLD_NOW) == nil }

    @Test func gpuCheckWithoutAGPUExitsWithOneLine() throws {
        guard let exe = ChildProcess.hotmoe else {
            Issue.record("hotmoe binary not found next to the tests")
            return
        }
        guard noDriver else { return }
        let r = try ChildProcess.run(exe, ["gpu-check"], timeout: 60)
        #expect(r.exitCode == 1)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("no GPU: libcuda.so.1 not found"), "\(r.stderr)")
    }

    @Test func gpuFlagsFallBackToTheCPUWithOneLineEach() throws {
        guard let exe = ChildProcess.hotmoe else {
            Issue.record("hotmoe binary not found next to the tests")
            return
        }
        guard noDriver else { return }
        // -dev, -ngl and -ncmoe are llama-server's names of hotmoe's --device, --n-gpu-layers and
        // --n-cpu-moe (the VRAM tier's placement, opened when the model loads).
        let r = try ChildProcess.run(exe, ["serve", "-dev", "CUDA0", "-ngl", "999", "-ncmoe", "4", "--cpu-moe", "-ncffn", "2", "--help"], timeout: 60)
        #expect(r.exitCode == 0, "\(r.stderr)")
        for flag in ["-ncffn 2"] {
            let line = r.stderr.split(separator: "\n").first { $0.contains("\(flag): accepted") }
            #expect(line?.contains("no CUDA device: no GPU: libcuda.so.1 not found") == true && line?.contains("running on CPU") == true,
                    "\(flag): \(r.stderr)")
        }
        // -dev is llama-server's short name of hotmoe's own --device (opened when the model loads).
        let none = try ChildProcess.run(exe, ["serve", "-dev", "none", "--help"], timeout: 60)
        #expect(none.exitCode == 0 && !none.stderr.contains("Error"), "\(none.stderr)")
        let list = try ChildProcess.run(exe, ["serve", "--list-devices"], timeout: 60)
        #expect(list.exitCode == 0 && list.stdout.contains("Available devices:") && list.stdout.contains("none: no GPU"), "\(list.stdout)")
    }
}

extension GPUFlagsCLITests {
    @Test func benchDeviceWithoutAGPURunsOnTheCPU() throws {
        guard let exe = ChildProcess.hotmoe else {
            Issue.record("hotmoe binary not found next to the tests")
            return
        }
        guard dlopen("libcuda.so.1", RTLD_NOW) == nil else { return }
        let r = try ChildProcess.run(exe, ["bench", "--device", "CUDA0", "-p", "8", "-n", "4", "-r", "1"], timeout: 120)
        #expect(r.exitCode == 0, "\(r.stderr)")
        #expect(r.stderr.contains("--device CUDA0: no CUDA device: no GPU: libcuda.so.1 not found") && r.stderr.contains("running on CPU"), "\(r.stderr)")
        #expect(r.stdout.contains("tg4"))
        let bad = try ChildProcess.run(exe, ["bench", "--device", "GPU0", "-p", "8", "-n", "4", "-r", "1"], timeout: 120)
        #expect(bad.exitCode == 1 && bad.stderr.contains("expected CUDA0, CUDA1, ... or none"), "\(bad.stderr)")
        // -ngl asking for GPU layers means the first GPU, as in llama.cpp; -ngl 0 means none.
        let ngl = try ChildProcess.run(exe, ["bench", "--n-gpu-layers", "99", "-p", "8", "-n", "4", "-r", "1"], timeout: 120)
        #expect(ngl.exitCode == 0 && ngl.stderr.contains("--device CUDA0: no CUDA device"), "\(ngl.stderr)")
        let zero = try ChildProcess.run(exe, ["bench", "--n-gpu-layers", "0", "-p", "8", "-n", "4", "-r", "1"], timeout: 120)
        #expect(zero.exitCode == 0 && !zero.stderr.contains("CUDA"), "\(zero.stderr)")
        let typo = try ChildProcess.run(exe, ["bench", "--n-gpu-layers", "many", "-p", "8", "-n", "4", "-r", "1"], timeout: 120)
        #expect(typo.exitCode == 1 && typo.stderr.contains("expected a layer count"), "\(typo.stderr)")
    }
}
