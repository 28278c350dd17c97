import Testing
@testable import Tokenizer

@Test func TokenizerModuleLinks() { #expect(Bool(true)) }
