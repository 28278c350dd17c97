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

    func testTraceSeedsParse() throws {
        var parsed = 0
        for (_, bytes) in try inputs("trace") where (try? TraceReader.parse(Data(bytes))) != nil { parsed += 1 }
        XCTAssertGreaterThanOrEqual(parsed, 3, "the hand-built trace seeds no longer parse")
    }
}
