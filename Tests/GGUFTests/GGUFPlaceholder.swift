import Testing
@testable import GGUF

@Test func GGUFModuleLinks() { #expect(Bool(true)) }
