@testable import AgentTools
import Foundation
import Testing

/// A fresh folder per test, removed afterwards.
func withFolder<T>(_ body: (String) throws -> T) throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("agent-tools-\(getpid())-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
}

func write(_ text: String, _ path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

func call(_ tool: any AgentTool, _ params: [String: Any], in dir: String? = nil, base64: Bool = false,
          output: ((String) -> Bool)? = nil) throws -> [String: Any] {
    try tool.invoke(try ToolArguments(params, for: tool), in: ToolWorkspace(directory: dir, base64Files: base64), output: output)
}

func text(_ result: [String: Any]) -> String { result["plain_text_response"] as? String ?? "error: \(result["error"] ?? "none")" }

@Suite struct GlobTests {
    @Test func starsQuestionMarksAndClasses() {
        #expect(Glob.matches("*.swift", "main.swift"))
        #expect(!Glob.matches("*.swift", "src/main.swift"))
        #expect(Glob.matches("**/*.swift", "src/a/main.swift"))
        #expect(Glob.matches("**/*.swift", "main.swift"))
        #expect(Glob.matches("src/**", "src/a/b"))
        #expect(Glob.matches("?.c", "a.c") && !Glob.matches("?.c", "/.c"))
        #expect(Glob.matches("[a-c]x", "bx") && !Glob.matches("[a-c]x", "dx"))
        #expect(Glob.matches("[!a-c]x", "dx") && !Glob.matches("[!a-c]x", "ax"))
        #expect(Glob.matches("[]]", "]") && Glob.matches("[-a]", "-"))
        #expect(Glob.matches("a[b", "a[b"), "an unclosed class is a literal bracket")
    }

    @Test func patternsWithoutSlashMatchNamesAndWithSlashMatchPathsAtAnyDepth() {
        #expect(Glob.matchesPath("*.md", "docs/guide/intro.md"))
        #expect(Glob.matchesPath("src/*.c", "src/a.c"))
        #expect(Glob.matchesPath("src/*.c", "lib/src/a.c"))
        #expect(!Glob.matchesPath("src/*.c", "src/x/a.c"))
        #expect(!Glob.matchesPath("/src/*.c", "lib/src/a.c"))
        #expect(Glob.matchesPath("**", "any/thing"))
    }
}

@Suite struct FileToolTests {
    @Test func readFileRangesNumbersAndLimits() throws {
        try withFolder { dir in
            try write("one\ntwo\nthree\n", dir + "/a.txt")
            #expect(text(try call(ReadFileTool(), ["path": "a.txt"], in: dir)) == "one\ntwo\nthree\n")
            #expect(text(try call(ReadFileTool(), ["path": dir + "/a.txt", "start_line": 2, "end_line": 2, "append_loc": true])) == "2\u{2192}two\n")
            let big = String(repeating: "x", count: 20_000)
            try write(big, dir + "/big.txt")
            #expect((try call(ReadFileTool(), ["path": "big.txt"], in: dir)["error"] as? String)?.contains("file too large (20000 bytes") == true)
            #expect(text(try call(ReadFileTool(), ["path": "big.txt", "end_line": 1], in: dir)) == "[output truncated]")
            let raw = try call(ReadFileTool(), ["path": "big.txt"], in: dir, base64: true)
            #expect(Data(base64Encoded: raw["base64"] as? String ?? "") == Data(big.utf8))
            #expect(try call(ReadFileTool(), ["path": "missing.txt"], in: dir)["error"] as? String == "cannot stat file: missing.txt")
        }
    }

    @Test func argumentsAreCheckedAgainstTheDeclaredParameters() throws {
        #expect(throws: ToolArgumentError.self) { try ToolArguments(["path": "a", "mode": "fast"], for: ReadFileTool()) }
        #expect(throws: ToolArgumentError.self) { try ToolArguments([:], for: ReadFileTool()) }
        try withFolder { dir in
            #expect(throws: ToolArgumentError.self) { try call(ReadFileTool(), ["path": "a", "start_line": "2"], in: dir) }
        }
    }

    @Test func writeFileCreatesFolders() throws {
        try withFolder { dir in
            let r = try call(WriteFileTool(), ["path": "deep/er/f.txt", "content": "héllo"], in: dir)
            #expect(r["bytes"] as? Int == 6)
            #expect(try String(contentsOfFile: dir + "/deep/er/f.txt", encoding: .utf8) == "héllo")
        }
    }

    @Test func editFileReplacesUniqueTextAndRefusesAmbiguousOrOverlappingEdits() throws {
        try withFolder { dir in
            let path = dir + "/e.txt"
            try write("alpha\nbeta\ngamma\nbeta2\n", path)
            let ok = try call(EditFileTool(), ["path": path, "edits": [["old_text": "alpha", "new_text": "ALPHA"], ["old_text": "gamma\n", "new_text": ""]]])
            #expect(ok["edits_applied"] as? Int == 2)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "ALPHA\nbeta\nbeta2\n")
            let twice = try call(EditFileTool(), ["path": path, "edits": [["old_text": "beta", "new_text": "b"]]])
            #expect((twice["error"] as? String)?.contains("found 2 occurrences") == true)
            let overlap = try call(EditFileTool(), ["path": path, "edits": [["old_text": "ALPHA\nbeta\n", "new_text": "x"], ["old_text": "beta\nbeta2", "new_text": "y"]]])
            #expect((overlap["error"] as? String)?.contains("overlap") == true)
            let same = try call(EditFileTool(), ["path": path, "edits": [["old_text": "ALPHA", "new_text": "ALPHA"]]])
            #expect((same["error"] as? String)?.hasPrefix("no changes made") == true)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "ALPHA\nbeta\nbeta2\n", "failed edits leave the file alone")
        }
    }

    /// A model writes straight quotes where the file has typographic ones and drops trailing
    /// blanks: the edit still lands, and the lines it did not touch keep their bytes.
    @Test func editFileMatchesTypographicVariantsAndKeepsUntouchedLines() throws {
        try withFolder { dir in
            let path = dir + "/q.txt"
            let original = "keep \u{201C}this\u{201D}  \nsay \u{201C}hi\u{201D} \u{2014} now   \nend\u{00A0}line\n"
            try write(original, path)
            let r = try call(EditFileTool(), ["path": path, "edits": [["old_text": "say \"hi\" - now", "new_text": "say hello"]]])
            #expect(r["edits_applied"] as? Int == 1, "\(r)")
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep \u{201C}this\u{201D}  \nsay hello\nend\u{00A0}line\n")
            let missing = try call(EditFileTool(), ["path": path, "edits": [["old_text": "not there", "new_text": "x"]]])
            #expect((missing["error"] as? String)?.contains("could not find edits[0].old_text") == true)
        }
    }

    /// The fuzzy fold against a direct reference: every line's trailing blanks gone, then each
    /// listed character replaced, on random mixes of them.
    @Test func foldMatchesAPlainReference() {
        let specials: [(String, String)] = [("\u{2018}", "'"), ("\u{2019}", "'"), ("\u{201C}", "\""), ("\u{201D}", "\""), ("\u{2013}", "-"),
                                            ("\u{2014}", "-"), ("\u{2212}", "-"), ("\u{00A0}", " "), ("\u{2009}", " "), ("\u{3000}", " ")]
        let pieces = ["a", "b", " ", "\t", "\n", "\r"] + specials.map(\.0)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let s = (0..<Int.random(in: 0...30, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            // Split on the byte, not on Characters ("\r\n" is one Character in Swift).
            let lines = Array(s.utf8).split(separator: 10, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            let expected = lines.map { line -> String in
                // llama.cpp's order: trailing blanks go first, then the characters are folded
                // (a trailing no-break space becomes a kept space).
                var l = line
                while let last = l.unicodeScalars.last, [" ", "\t", "\r"].contains(last) { l.unicodeScalars.removeLast() }
                for (from, to) in specials { l = l.replacingOccurrences(of: from, with: to) }
                return l
            }.joined(separator: "\n")
            #expect(String(decoding: FuzzyText.fold(Array(s.utf8)), as: UTF8.self) == expected, "\(s.debugDescription)")
        }
    }
}

@Suite struct SearchToolTests {
    func tree(_ dir: String) throws {
        try write("let x = 1\nfunc f() {}\n", dir + "/src/a.swift")
        try write("// TODO: fix\nlet y = 2\n", dir + "/src/sub/b.swift")
        try write("todo later\n", dir + "/notes.md")
        try write("func hidden() {}\n", dir + "/node_modules/pkg/c.swift")
    }

    @Test func globSearchWalksTheTreeButNotDependencyFolders() throws {
        try withFolder { dir in
            try tree(dir)
            let r = try call(FileGlobSearchTool(), ["path": dir, "include": "*.swift"])
            #expect(text(r) == "src/a.swift\nsrc/sub/b.swift\n\n---\nTotal matches: 2\n")
            #expect(r["base"] as? String == dir)
            let shallow = try call(FileGlobSearchTool(), ["path": dir, "type": "all", "max_depth": 1])
            #expect(text(shallow).hasPrefix("node_modules/\nnotes.md\nsrc/\n"), "\(text(shallow))")
            let limited = try call(FileGlobSearchTool(), ["path": dir, "limit": 1, "exclude": "*.md"])
            #expect(text(limited).contains("[1 results limit reached (2 total matches)"))
            #expect(try call(FileGlobSearchTool(), ["path": dir, "type": "links"])["error"] != nil)
        }
    }

    @Test func grepFindsRegexLiteralAndCaseInsensitiveMatchesWithContext() throws {
        try withFolder { dir in
            try tree(dir)
            #expect(text(try call(GrepSearchTool(), ["path": dir, "pattern": "func \\w+"])) == "src/a.swift:func f() {}\n\n---\nTotal matches: 1\n")
            #expect(text(try call(GrepSearchTool(), ["path": dir, "pattern": "todo", "ignore_case": true, "return_line_numbers": true]))
                    == "notes.md:1:todo later\nsrc/sub/b.swift:1:// TODO: fix\n\n---\nTotal matches: 2\n")
            #expect(text(try call(GrepSearchTool(), ["path": "src/sub/b.swift", "pattern": "y = 2", "context_lines": 1], in: dir))
                    == "src/sub/b.swift-1-// TODO: fix\nsrc/sub/b.swift:2:let y = 2\n--\n\n---\nTotal matches: 1\n")
            #expect(text(try call(GrepSearchTool(), ["path": dir, "pattern": "f()", "literal": true, "include": "src/**"])).contains("Total matches: 1"))
            #expect((try call(GrepSearchTool(), ["path": dir, "pattern": "(unclosed"])["error"] as? String)?.hasPrefix("invalid regex") == true)
        }
    }
}

@Suite struct ShellToolTests {
    @Test func commandOutputExitCodeAndWorkingDirectory() throws {
        try withFolder { dir in
            let r = text(try call(ShellCommandTool(), ["command": "pwd; echo oops >&2; exit 3"], in: dir))
            #expect(r == "\(dir)\noops\n\n[exit code: 3]")
        }
    }

    @Test func timeoutKillsTheWholeProcessGroup() throws {
        let start = ContinuousClock.now
        let r = text(try call(ShellCommandTool(), ["command": "echo started; sleep 30; echo never", "timeout": 1]))
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(r == "started\n\n[exit code: 137] [exit due to timed out]")
    }

    @Test func outputIsCappedAndStreamedInWholeCharacters() throws {
        let capped = text(try call(ShellCommandTool(), ["command": "yes abc | head -c 100000", "max_output_size": 10]))
        #expect(capped == "abc\nabc\nab\n[output truncated]\n[exit code: 0]")
        var chunks: [String] = []
        let streamed = try call(ShellCommandTool(), ["command": "printf 'h\\303'; sleep 0.2; printf '\\251llo'"]) { chunks.append($0); return true }
        #expect(streamed.isEmpty)
        #expect(chunks.joined() == "héllo\n[exit code: 0]")
        #expect(chunks.first == "h", "the cut character waits for its second byte")
    }

    @Test func listenerLeavingStopsTheCommand() throws {
        let start = ContinuousClock.now
        _ = try call(ShellCommandTool(), ["command": "while true; do echo tick; sleep 0.05; done"]) { _ in false }
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func runtimeInfoAndToolbox() throws {
        let info = try call(RuntimeInfoTool(), [:], in: "/tmp")
        #expect((info["os"] as? String)?.hasPrefix("Linux") == true)
        #expect(info["cwd"] as? String == "/tmp")
        #expect(try AgentToolbox(enabling: ["all"]).tools.count == 7)
        #expect(try AgentToolbox(enabling: ["read_file", "grep_search"]).tools.map(\.name) == ["read_file", "grep_search"])
        #expect(throws: ToolArgumentError.self) { try AgentToolbox(enabling: ["web_search"]) }
        #expect(UTF8Chunks.takeCompleteCopy([0x61, 0xE2, 0x82]) == ("a", [0xE2, 0x82]))
    }
}

extension UTF8Chunks {
    static func takeCompleteCopy(_ bytes: [UInt8]) -> (String, [UInt8]) {
        var b = bytes
        let s = takeComplete(&b)
        return (s, b)
    }
}
