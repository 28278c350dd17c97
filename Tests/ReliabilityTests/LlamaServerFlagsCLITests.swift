import Engine
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
                                            "-cb", "--no-mmap", "--tags", "chat,small", "--context-shift", "--host", "127.0.0.1,::1", "--help"], timeout: 60)
        #expect(ok.exitCode == 0, "\(ok.stderr)")
        // -ngl is llama-server's name of hotmoe's --n-gpu-layers (the VRAM tier's layers): no note.
        #expect(!ok.stderr.contains("-ngl 99: accepted"), "\(ok.stderr)")
        for note in ["-fa on: accepted",
                     "--mirostat 0: accepted (the neutral value)"] {
            #expect(ok.stderr.contains(note), "missing note '\(note)' in \(ok.stderr)")
        }
        for (args, why) in [(["--lora", "a.gguf"], "--lora a.gguf: adapters"), (["--mirostat", "2"], "mirostat is not implemented"),
                            (["--grammar-file", "g.gbnf"], "per request"),
                            (["-hf", "user/model"], "does not download"), (["--ssl-key-file", "k.pem"], "TLS is not supported"), (["--host", " , "], "at least one address"),
                            (["--tools", "read_file,web_search"], "unknown tool \"web_search\""), (["--media-path", "/nonexistent-dir"], "not a directory"),
                            (["--tools-runtime", "docker:busybox"], "tool runtimes and MCP servers are not supported"),
                            (["--not-a-flag"], "Unknown option '--not-a-flag'")] {
            let r = try ChildProcess.run(exe, ["serve"] + args, timeout: 60)
            #expect(r.exitCode == 1 || r.exitCode == 64, "\(args) exit \(String(describing: r.exitCode))")
            #expect(r.stderr.contains(why), "\(args): \(r.stderr)")
        }
    }

    /// -ctk / -ctv take f32, f16 or q8_0 on every command that holds a KV cache; anything else
    /// is refused at parse time, naming the flag and the accepted types.
    @Test func cacheTypeFlagsRefuseUnknownTypes() throws {
        guard let exe = ChildProcess.hotmoe else {
            Issue.record("hotmoe binary not found next to the tests")
            return
        }
        for command in [["serve"], ["run"], ["bench"], ["perplexity", "-f", "x.txt"]] {
            for (args, flag) in [(["-ctk", "q4_0"], "--cache-type-k"), (["--cache-type-v", "bf16"], "--cache-type-v"), (["-ctv=f64"], "--cache-type-v")] {
                let r = try ChildProcess.run(exe, command + args, timeout: 60)
                #expect(r.exitCode == 1 || r.exitCode == 64, "\(command) \(args) exit \(String(describing: r.exitCode))")
                #expect(r.stderr.contains("\(flag): unsupported cache type") && r.stderr.contains("(accepted: f32, f16, q8_0)"), "\(command) \(args): \(r.stderr)")
            }
            let ok = try ChildProcess.run(exe, command + ["-ctk", "q8_0", "-ctv=f32", "--help"], timeout: 60)
            #expect(ok.exitCode == 0, "\(command): \(ok.stderr)")
        }
    }

    /// --chat-template NAME / --chat-template-file / --chat-template-kwargs / --no-jinja are
    /// checked when parsed (before any model loads) and reach the prompt on `run --chat`.
    @Test func chatTemplateFlagsAreCheckedAndReachThePrompt() throws {
        guard let exe = ChildProcess.hotmoe else {
            Issue.record("hotmoe binary not found next to the tests")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hotmoe-chatflags-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let template = dir.appendingPathComponent("t.jinja").path, broken = dir.appendingPathComponent("broken.jinja").path
        try "<<{{ messages[0].content }}|{{ greeting }}>>".write(toFile: template, atomically: true, encoding: .utf8)
        try "{% if %}".write(toFile: broken, atomically: true, encoding: .utf8)
        for (args, why) in [(["--chat-template", "nope"], "unknown built-in template (known: chatml, command-r, llama2, llama3, mistral-v1, mistral-v3, mistral-v7)"),
                            (["--chat-template", "chatml", "--chat-template-file", template], "not both"),
                            (["--chat-template-kwargs", "[1]"], "--chat-template-kwargs must be a JSON object"),
                            (["--chat-template-file", dir.appendingPathComponent("missing").path], "cannot read"),
                            (["--chat-template-file", broken], "broken.jinja")] {
            for command in ["serve", "run"] {
                let r = try ChildProcess.run(exe, [command] + args, timeout: 60)
                #expect(r.exitCode == 64, "\(command) \(args) exit \(String(describing: r.exitCode))")
                #expect(r.stderr.contains(why), "\(command) \(args): \(r.stderr)")
            }
        }
        var spec = SyntheticModelSpec.preset("tiny", architecture: "qwen3moe")!
        spec.seed = 5
        let model = dir.appendingPathComponent("m.gguf").path
        try SyntheticModel.write(spec, to: model)
        let base = ["run", "-m", model, "-p", "hi", "-n", "1", "-t", "1", "--chat"]
        for (args, prompt) in [(["--chat-template-file", template, "--chat-template-kwargs", #"{"greeting": "hey"}"#], "<<hi|hey>>"),
                               (["--chat-template", "llama2"], "[INST] hi [/INST]"),
                               // run prints the prompt without its special tokens (<|im_start|>, <|im_end|>).
                               (["--no-jinja"], "user\nhi\nassistant\n"), ([], "user\nhi\nassistant\n")] {
            let r = try ChildProcess.run(exe, base + args, timeout: 120)
            #expect(r.exitCode == 0, "\(args): \(r.stderr)")
            #expect(r.stdout.hasPrefix(prompt), "\(args): \(r.stdout)")
        }
    }
}
