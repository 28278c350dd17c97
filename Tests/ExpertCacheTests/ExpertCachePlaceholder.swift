import Testing
@testable import ExpertCache

@Test func ExpertCacheModuleLinks() { #expect(Bool(true)) }
