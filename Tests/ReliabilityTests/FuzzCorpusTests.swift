import XCTest
import Engine
import ExpertCache
import GGUF
import Tokenizer

/// Runs the committed fuzz seeds and regression inputs (Fuzz/corpus/TARGET/) through the same
/// checks as the libFuzzer targets, uninstrumented, so CI keeps every past finding fixed
/// without the fuzzer runtime.
final class FuzzCorpusTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/corpus").standardized

    private func inputs(_ target: String) throws -> [(String, [UInt8])] {
        let dir = Self.corpus.appendingPathComponent(target)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertFalse(names.isEmpty, "no seeds in \(dir.path)")
        return try names.map { ($0, Array(try Data(contentsOf: dir.appendingPathComponent($0)))) }
    }

    func testGGUFSeedsLoadOrFailCleanly() throws {
        var loaded = 0
        for (_, bytes) in try inputs("gguf") {
            guard let file = try? GGUFFile(bytes: bytes) else { continue }
            if (try? MoEModel(file: file)) != nil, let t = try? Tokenizer(gguf: file) {
                XCTAssertFalse(t.encode("Hello world").isEmpty)
                loaded += 1
            }
        }
        // The valid seeds (mini models) must keep loading, or the fuzzer starts from nothing.
        XCTAssertGreaterThanOrEqual(loaded, 2)
    }

    func testProfileEncoderOutputRoundTrips() throws {
        for (name, bytes) in try inputs("profile") {
            guard let p = try? PerfProfile.decode(Data(bytes)) else { continue }
            let encoded = p.encode()
            let again = try PerfProfile.decode(encoded)
            XCTAssertEqual(again.encode(), encoded, "\(name): encoder output does not round-trip")
        }
    }

    /// Grammar seeds parse or fail with a message; those that parse match their own text
    /// without trapping. The llama.cpp grammars among them must keep parsing.
    func testGrammarSeedsParseOrFailCleanly() throws {
        var parsed = 0
        for (name, bytes) in try inputs("grammar") {
            let text = String(decoding: bytes, as: UTF8.self)
            do {
                let matcher = try GrammarMatcher(Grammar(parsing: text))
                _ = try? matcher.matches(text)
                parsed += 1
            } catch {
                XCTAssertFalse("\(error)".isEmpty, name)
            }
        }
        XCTAssertGreaterThanOrEqual(parsed, 5)
    }

    /// Schema seeds convert, and the converter's output always parses (left recursion through
    /// $ref aside, which the parser is there to refuse), or conversion fails with a message.
    func testSchemaSeedsConvertToGrammarsThatParse() throws {
        var converted = 0
        for (name, bytes) in try inputs("schema") {
            let schema = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
            guard let gbnf = try? JSONSchemaGrammar.gbnf(for: schema) else { continue }
            do {
                _ = try GrammarMatcher(Grammar(parsing: gbnf))
                converted += 1
            } catch {
                XCTAssertTrue("\(error)".contains("left-recursive"), "\(name): converter output does not parse: \(error)\n\(gbnf)")
            }
        }
        XCTAssertGreaterThanOrEqual(converted, 3)
    }

    /// Template seeds parse or fail with a message; those that parse render a tool
    /// conversation within small bounds or fail with one (runaway recursion and loops end on
    /// the step bound). The real chat templates among them must keep rendering.
    func testTemplateSeedsParseAndRenderOrFailCleanly() throws {
        var limits = JinjaTemplate.Limits()
        limits.maxSteps = 200_000
        limits.maxOutputBytes = 1 << 20
        let call = JinjaValue.object([("id", .string("a1b2c3d4e")), ("type", .string("function")),
                                      ("function", .object([("name", .string("f")), ("arguments", .object([("x", .int(1))]))]))])
        let context: [String: JinjaValue] = [
            "messages": .array([.object([("role", .string("user")), ("content", .string("hi"))]),
                                .object([("role", .string("assistant")), ("content", .string("")), ("tool_calls", .array([call]))]),
                                .object([("role", .string("tool")), ("tool_call_id", .string("a1b2c3d4e")), ("content", .string("ok"))])]),
            "tools": .array([.object([("type", .string("function")), ("function", .object([("name", .string("f"))]))])]),
            "bos_token": .string("<s>"), "eos_token": .string("</s>"), "add_generation_prompt": .bool(true),
        ]
        var rendered = 0
        for (name, bytes) in try inputs("template") {
            do {
                let template = try JinjaTemplate(String(decoding: bytes, as: UTF8.self))
                let text = try template.render(context, now: Date(timeIntervalSince1970: 0), limits: limits)
                if text.contains("hi") { rendered += 1 }
            } catch {
                XCTAssertFalse("\(error)".isEmpty, name)
            }
        }
        XCTAssertGreaterThanOrEqual(rendered, 4, "the real chat templates among the seeds no longer render")
    }

    /// Architecture-config inputs (the tiny base models with rewritten metadata) load or fail
    /// with a message, and those that load decode a few tokens; the seeds (every base
    /// model's own metadata) must keep loading.
    func testArchConfigInputsLoadOrFailCleanly() throws {
        let bases = try MetadataVariant.fuzzedArchitectures.map { ($0, try MetadataVariant.tinyBase($0)) }
        var loaded = Set<String>()
        for (name, bytes) in try inputs("archconfig") {
            do {
                let model = try MetadataVariant.model(fromInput: bytes, bases: bases)
                MetadataVariant.decodeFewTokens(model)
                if name.hasPrefix("seed-") { loaded.insert(model.config.architecture) }
            } catch {
                XCTAssertFalse("\(error)".isEmpty, name)
            }
        }
        XCTAssertEqual(loaded, Set(MetadataVariant.fuzzedArchitectures), "seeds that no longer load a model")
    }

    /// The override format round-trips: a base model rewritten with its own seed lines reads
    /// back the same config, and a changed key reaches the config reader.
    func testMetadataVariantRoundTripsAndOverrides() throws {
        for arch in MetadataVariant.fuzzedArchitectures {
            let base = try MetadataVariant.tinyBase(arch)
            let seed = MetadataVariant.seed(name: arch, file: base)
            let same = try MetadataVariant.model(fromInput: Array(seed.utf8), bases: [(arch, base)])
            XCTAssertEqual(same.config, try MoEModel(file: base).config, arch)
            let eps = try MetadataVariant.model(fromInput: Array("\(arch)\n.attention.layer_norm_rms_epsilon=float:0.25\n".utf8), bases: [(arch, base)])
            XCTAssertEqual(eps.config.normEpsilon, 0.25, arch)
            XCTAssertThrowsError(try MetadataVariant.model(fromInput: Array("\(arch)\n.block_count=\n".utf8), bases: [(arch, base)])) {
                XCTAssertTrue("\($0)".contains("block_count"), "\(arch): \($0)")
            }
        }
    }

    /// GGUFWriter.serialized (what MetadataVariant uses) is byte for byte what write(to:) writes.
    func testSerializedGGUFEqualsTheWrittenFile() throws {
        var writer = GGUFWriter()
        writer.alignment = 64
        writer.set("general.architecture", "qwen3moe")
        writer.set("x.values", int32s: [1, -2, 3])
        try writer.addTensor(name: "a", dims: [3, 2], values: (0..<6).map { Float($0) * 0.5 })
        try writer.addTensor(name: "b", dims: [5], values: [1, 2, 3, 4, 5])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("serialized-\(getpid()).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writer.write(to: path)
        XCTAssertEqual(try writer.serialized(), Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    func testTraceSeedsParse() throws {
        var parsed = 0
        for (_, bytes) in try inputs("trace") where (try? TraceReader.parse(Data(bytes))) != nil { parsed += 1 }
        XCTAssertGreaterThanOrEqual(parsed, 3, "the hand-built trace seeds no longer parse")
    }
}
