import Foundation
import Testing

/// llama-server command lines on `hotmoe serve`: flags that do not apply are accepted with
/// one line naming them and why, unsupported ones are refused with one line, typos still fail.
@Suite struct LlamaServerFlagsCLITests {
    @Test func llamaServerFlagsAreMappedNotedOrRefused() throws {
        guard let exe = ChildProcess.hotmoe else {
            Issue.record("hotmoe binary not found next to the tests")
            return
        }
        // --help stops after parsing: every mapped flag must have reached hotmoe's parser intact.
        let ok = try ChildProcess.run(exe, ["serve", "-ngl", "99", "--jinja", "-fa", "on", "--metrics", "--temperature", "0.5",
                                            "--predict", "12", "-a", "name", "-cmoe", "--repeat-penalty", "1.1", "--mirostat", "0", "-ctk=f32",
                                            "-cb", "--no-mmap", "--help"], timeout: 60)
        #expect(ok.exitCode == 0, "\(ok.stderr)")
        for note in ["-ngl 99: accepted, does not apply: no GPU backend", "--jinja: accepted", "-fa on: accepted",
                     "--metrics: accepted", "--mirostat 0: accepted (the neutral value)", "-ctk f32: accepted"] {
            #expect(ok.stderr.contains(note), "missing note '\(note)' in \(ok.stderr)")
        }
        for (args, why) in [(["--lora", "a.gguf"], "--lora a.gguf: adapters"), (["--mirostat", "2"], "mirostat is not implemented"),
                            (["-ctk", "q8_0"], "F32 only"), (["--grammar-file", "g.gbnf"], "constrained output"),
                            (["-hf", "user/model"], "does not download"), (["--host", "127.0.0.1,::1"], "one TCP address"),
                            (["--not-a-flag"], "Unknown option '--not-a-flag'")] {
            let r = try ChildProcess.run(exe, ["serve"] + args, timeout: 60)
            #expect(r.exitCode == 1 || r.exitCode == 64, "\(args) exit \(String(describing: r.exitCode))")
            #expect(r.stderr.contains(why), "\(args): \(r.stderr)")
        }
    }
}
