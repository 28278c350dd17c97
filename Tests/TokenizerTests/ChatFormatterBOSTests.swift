import Foundation
import Testing
@testable import Tokenizer

/// ChatFormatter drops a BOS the template writes at the start when the tokenizer adds BOS
/// itself (llama.cpp does the same), so the prompt holds one BOS, not two.
@Suite struct ChatFormatterBOSTests {
    static let user: [JinjaValue] = [.object([("role", .string("user")), ("content", .string("Hi"))])]

    @Test func leadingBOSIsStrippedOnlyWhenTheTokenizerAddsIt() throws {
        let llama3 = try Fixtures.tokenizer("llama-bpe")
        #expect(llama3.addBOSByDefault)
        let bos = try #require(llama3.bosToken.flatMap { llama3.tokenText($0) })
        let source = "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}"
        let text = try ChatFormatter(tokenizer: llama3, source: source).render(messages: Self.user, addGenerationPrompt: false)
        #expect(text == "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>")
        let ids = llama3.encode(text, parseSpecial: true)
        #expect(ids.first == llama3.bosToken && ids.filter { $0 == llama3.bosToken }.count == 1, "one BOS: \(ids)")
        // A BOS that is not at the very start is the template's own text and stays.
        let inner = try ChatFormatter(tokenizer: llama3, source: "x{{ bos_token }}y").render(messages: Self.user, addGenerationPrompt: false)
        #expect(inner == "x\(bos)y")

        // Qwen adds no BOS: the template's bos_token is kept.
        let qwen = try Fixtures.tokenizer("qwen2")
        #expect(!qwen.addBOSByDefault)
        let qwenBOS = try #require(qwen.bosToken.flatMap { qwen.tokenText($0) })
        let kept = try ChatFormatter(tokenizer: qwen, source: "{{ bos_token }}{{ messages[0].content }}").render(messages: Self.user, addGenerationPrompt: false)
        #expect(kept == qwenBOS + "Hi")
    }
}
