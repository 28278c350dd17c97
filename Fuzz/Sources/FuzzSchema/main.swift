import Engine
import FuzzDriver
import Foundation

/// JSON schema -> GBNF on arbitrary JSON: conversion fails cleanly or gives a grammar that
/// parses, and its matcher runs over the input text itself.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSchema(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    guard let schema = try? JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed]) else { return 0 }
    guard let gbnf = try? JSONSchemaGrammar.gbnf(for: schema) else { return 0 }
    // A converted schema that does not parse is a converter bug, except for left recursion
    // through $ref, which the parser is there to refuse.
    do {
        let matcher = try GrammarMatcher(Grammar(parsing: gbnf))
        _ = try? matcher.matches(String(decoding: bytes, as: UTF8.self))
    } catch {
        if !"\(error)".contains("left-recursive") && !"\(error)".contains("too ambiguous") { fatalError("converter output does not parse: \(error)\n\(gbnf)") }
    }
    return 0
}

runFuzzDriver { fuzzSchema($0, $1) }
