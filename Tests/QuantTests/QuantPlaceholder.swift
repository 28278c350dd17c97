import Testing
@testable import Quant

@Test func QuantModuleLinks() { #expect(Bool(true)) }
