import Engine
import FuzzDriver
import Foundation

/// GBNF parsing on arbitrary text; a grammar that parses is matched against the input's own
/// bytes, token by token, and a small vocabulary is masked after each step.
let vocabulary = GrammarVocabulary(pieces: (0..<128).map { [UInt8($0)] } + [[0xC3], [0xA9], Array("true".utf8), []],
                                   endOfGeneration: [131])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGrammar(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let grammar = try? Grammar(parsing: String(decoding: bytes, as: UTF8.self)),
          var constraint = try? GrammarConstraint(grammar: grammar, vocabulary: vocabulary) else { return 0 }
    var row = [Float](repeating: 0, count: vocabulary.count)
    for b in bytes.prefix(64) {
        guard (try? row.withUnsafeMutableBufferPointer { try constraint.mask($0) }) != nil else { break }
        let token = Int32(b & 0x7F)
        guard (try? constraint.allows(token)) == true, (try? constraint.accept(token)) != nil else { break }
        for i in row.indices { row[i] = 0 }
    }
    return 0
}

runFuzzDriver { fuzzGrammar($0, $1) }
