import GGUF
import Testing
@testable import Tokenizer

@Suite struct ChatTemplateTests {
    let conversation = [
        ChatMessage(role: "system", content: "Be brief."),
        ChatMessage(role: "user", content: "Hi"),
        ChatMessage(role: "assistant", content: "Hello!"),
        ChatMessage(role: "user", content: "Bye"),
    ]

    @Test func qwen2TemplateFromGGUFIsChatMLWithDefaultSystemPrompt() throws {
        let tok = try Fixtures.tokenizer("qwen2")
        let t = tok.chatTemplate
        #expect(t.family == .chatml && !t.isFallback)
        #expect(t.defaultSystemPrompt == "You are a helpful assistant")
        let prompt = t.render([ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        #expect(prompt == "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        // The template's tokens become single control ids.
        let ids = tok.encodeChat([ChatMessage(role: "user", content: "Hi")])
        #expect(ids.filter { $0 == 151644 }.count == 3 && ids.filter { $0 == 151645 }.count == 2)
        #expect(ids.last == 198)  // "\n" after "assistant"
    }

    @Test func chatMLKeepsExplicitSystem() {
        let t = ChatTemplate(source: "{{ '<|im_start|>system\\nDefault<|im_end|>\\n' }}... <|im_start|>")
        #expect(t.defaultSystemPrompt == "Default")
        #expect(t.render(conversation, addGenerationPrompt: false) ==
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n")
    }

    @Test func llama3() {
        let src = "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
        let t = ChatTemplate(source: src)
        #expect(t.family == .llama3 && !t.isFallback)
        #expect(t.render(Array(conversation.prefix(2)), addGenerationPrompt: true) ==
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    }

    /// llama.cpp's built-in command-r (llama-chat.cpp): trimmed contents, only the three roles.
    @Test func commandR() {
        let t = ChatTemplate(source: "{{ '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' + m['content'] }}")
        #expect(t.family == .commandR && !t.isFallback)
        let messages = [ChatMessage(role: "system", content: " You are a test. "), ChatMessage(role: "user", content: "Hi there"),
                        ChatMessage(role: "tool", content: "dropped")]
        #expect(t.render(messages, addGenerationPrompt: true) ==
            "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>You are a test.<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi there<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>")
        #expect(ChatTemplate(family: .commandR).render(messages, addGenerationPrompt: false).hasSuffix("Hi there<|END_OF_TURN_TOKEN|>"))
    }

    @Test func mixtralStyleInst() throws {
        let src = "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}"
        let t = ChatTemplate(source: src)
        #expect(t.family == .llama2)
        #expect(t.render(Array(conversation.dropFirst()), addGenerationPrompt: true) == "[INST] Hi [/INST]Hello!</s>[INST] Bye [/INST]")
        let spm = try Fixtures.tokenizer("llama-spm")
        let ids = spm.encode(t.render(Array(conversation.dropFirst()), addGenerationPrompt: true), parseSpecial: true)
        #expect(ids.first == 1 && ids.filter { $0 == 2 }.count == 1)
    }

    @Test func llama2WithSystemBlock() {
        let t = ChatTemplate(source: "[INST] <<SYS>>\\n ... <</SYS>>")
        #expect(t.render(Array(conversation.prefix(2)), addGenerationPrompt: true) == "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]")
    }

    @Test func mistralVariants() {
        let v1 = ChatTemplate(source: "{{ ' [INST] ' + system_message }}")
        #expect(v1.family == .mistralV1)
        #expect(v1.render(Array(conversation.dropFirst()), addGenerationPrompt: true) == " [INST] Hi [/INST] Hello!</s> [INST] Bye [/INST]")
        let v7 = ChatTemplate(source: "[SYSTEM_PROMPT] [INST]")
        #expect(v7.family == .mistralV7)
        #expect(v7.render(conversation, addGenerationPrompt: true) == "[SYSTEM_PROMPT] Be brief.[/SYSTEM_PROMPT][INST] Hi[/INST] Hello!</s>[INST] Bye[/INST]")
    }

    @Test func unknownOrMissingTemplateFallsBackToChatMLAndSaysSo() throws {
        for src in [nil, "", "{{ 'something else entirely' }}"] {
            let t = ChatTemplate(source: src)
            #expect(t.family == .chatml && t.isFallback)
        }
        #expect(try Fixtures.tokenizer("llama-spm").chatTemplate.isFallback)
    }
}

@Suite struct VocabularyErrorTests {
    func vocab(_ edit: (inout TokenizerVocabulary) -> Void) -> TokenizerVocabulary {
        var v = TokenizerVocabulary(
            model: "gpt2", pre: "qwen2", tokens: ["a", "b", "ab", "<|end|>"], tokenTypes: [1, 1, 1, 3],
            merges: ["a b"], eosTokenId: 3)
        edit(&v)
        return v
    }

    func field(_ v: TokenizerVocabulary) -> String? {
        do { _ = try Tokenizer(vocabulary: v); return nil } catch let e as TokenizerError { return e.field } catch { return "?" }
    }

    @Test func validVocabularyWorks() throws {
        let tok = try Tokenizer(vocabulary: vocab { _ in })
        #expect(tok.encode("abab") == [2, 2])
        #expect(tok.eosTokens == [3])
    }

    @Test func errorsNameTheField() {
        #expect(field(vocab { $0.tokenTypes = [1, 1] }) == "tokenizer.ggml.token_type")
        #expect(field(vocab { $0.tokenTypes = [1, 1, 1, 99] }) == "tokenizer.ggml.token_type")
        #expect(field(vocab { $0.scores = [0] }) == "tokenizer.ggml.scores")
        #expect(field(vocab { $0.merges = ["a c"] }) == "tokenizer.ggml.merges")
        #expect(field(vocab { $0.merges = ["b b"] }) == "tokenizer.ggml.merges")  // "bb" is not a token
        #expect(field(vocab { $0.merges = ["ab"] }) == "tokenizer.ggml.merges")
        #expect(field(vocab { $0.merges = nil }) == "tokenizer.ggml.merges")
        #expect(field(vocab { $0.eosTokenId = 4 }) == "tokenizer.ggml.eos_token_id")
        #expect(field(vocab { $0.bosTokenId = -1 }) == "tokenizer.ggml.bos_token_id")
        #expect(field(vocab { $0.unknownTokenId = 100 }) == "tokenizer.ggml.unknown_token_id")
        #expect(field(vocab { $0.paddingTokenId = 100 }) == "tokenizer.ggml.padding_token_id")
        #expect(field(vocab { $0.pre = "no-such-pre" }) == "tokenizer.ggml.pre")
        #expect(field(vocab { $0.model = "t5" }) == "tokenizer.ggml.model")
        #expect(field(vocab { $0.tokens = [] }) == "tokenizer.ggml.tokens")
        #expect(field(vocab { $0.addBOS = true }) == "tokenizer.ggml.add_bos_token")
    }

    @Test func metadataTypeErrorsNameTheKey() {
        func field(_ m: [String: GGUFValue]) -> String? {
            do { _ = try Tokenizer(metadata: m); return nil } catch let e as TokenizerError { return e.field } catch { return "?" }
        }
        let tokens = GGUFValue.array(.string, [.string("a"), .string("b")])
        #expect(field([:]) == "tokenizer.ggml.model")
        #expect(field(["tokenizer.ggml.model": .string("llama")]) == "tokenizer.ggml.tokens")
        #expect(field(["tokenizer.ggml.model": .uint32(1), "tokenizer.ggml.tokens": tokens]) == "tokenizer.ggml.model")
        #expect(field(["tokenizer.ggml.model": .string("llama"), "tokenizer.ggml.tokens": .array(.uint32, [.uint32(1)])]) == "tokenizer.ggml.tokens")
        #expect(field(["tokenizer.ggml.model": .string("llama"), "tokenizer.ggml.tokens": tokens,
                       "tokenizer.ggml.scores": .array(.string, [.string("x"), .string("y")])]) == "tokenizer.ggml.scores")
        #expect(field(["tokenizer.ggml.model": .string("llama"), "tokenizer.ggml.tokens": tokens,
                       "tokenizer.ggml.bos_token_id": .string("1")]) == "tokenizer.ggml.bos_token_id")
        #expect(field(["tokenizer.ggml.model": .string("llama"), "tokenizer.ggml.tokens": tokens,
                       "tokenizer.ggml.add_bos_token": .uint8(1)]) == "tokenizer.ggml.add_bos_token")
    }
}
