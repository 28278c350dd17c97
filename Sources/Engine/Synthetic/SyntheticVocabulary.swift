/// A small but real byte-level BPE vocabulary (GPT-2 byte mapping, merges learned from a
/// built-in multilingual text) for generated models, so they tokenise like real ones in
/// both hotmoe and llama.cpp.
public struct SyntheticVocabulary: Sendable {
    public var tokens: [String]
    public var tokenTypes: [Int]
    public var merges: [String]
    public var specialTokens: [String: Int]

    /// GPT-2's reversible byte -> printable code point mapping.
    public static let byteToUnicode: [Character] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var mapped = [Int](repeating: 0, count: 256)
        for b in printable { mapped[b] = b }
        var next = 256
        for b in 0..<256 where !printable.contains(b) {
            mapped[b] = next
            next += 1
            printable.append(b)
        }
        return mapped.map { Character(Unicode.Scalar(UInt32($0))!) }
    }()

    static let trainingText = """
    The quick brown fox jumps over the lazy dog. Mixture-of-experts models route each token to a few experts. \
    The cache keeps the hot experts in fast memory and computes the cold ones where they live. \
    def forward(self, x):\n    return self.down(self.act(self.gate(x)) * self.up(x))\n\
    for i in range(10):\n    print(i, i * i)\n\
    Il modello sceglie pochi esperti per ogni parola. La memoria veloce non basta per tutti gli esperti. \
    Der schnelle braune Fuchs springt über den faulen Hund. Die Experten werden nach Bedarf geladen. \
    #!/bin/sh\nexport PATH=/usr/local/bin:$PATH\nif [ -f config.ini ]; then echo "found"; fi\n\
    Numbers like 12345 and 3.14159 appear too, as do emoji 🙂 and accents: città, über, naïve.
    """

    /// Learns `mergeCount` merges from the built-in text (words split on spaces, with the
    /// leading space kept as GPT-2 does).
    public static func make(mergeCount: Int = 400) -> SyntheticVocabulary {
        var words = [[String]: Int]()
        var current = [UInt8]()
        func flush() {
            if !current.isEmpty { words[current.map { String(byteToUnicode[Int($0)]) }, default: 0] += 1 }
            current.removeAll()
        }
        for byte in trainingText.utf8 {
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") { flush() }
            current.append(byte)
        }
        flush()
        var tokens = (0..<256).map { String(byteToUnicode[$0]) }
        var known = Set(tokens)
        var merges = [String]()
        var corpus = Array(words)
        for _ in 0..<mergeCount {
            var pairs = [String: (Int, String, String)]()
            for (symbols, count) in corpus where symbols.count > 1 {
                for (a, b) in zip(symbols, symbols.dropFirst()) {
                    let key = a + " " + b
                    pairs[key, default: (0, a, b)].0 += count
                }
            }
            // Highest count wins; ties broken by the pair's text so the vocabulary is deterministic.
            guard let best = pairs.max(by: { ($0.value.0, $1.key) < ($1.value.0, $0.key) }), best.value.0 >= 2 else { break }
            let (a, b) = (best.value.1, best.value.2)
            merges.append(best.key)
            let joined = a + b
            if known.insert(joined).inserted { tokens.append(joined) }
            corpus = corpus.map { symbols, count in
                var out = [String]()
                var i = 0
                while i < symbols.count {
                    if i + 1 < symbols.count, symbols[i] == a, symbols[i + 1] == b {
                        out.append(joined)
                        i += 2
                    } else {
                        out.append(symbols[i])
                        i += 1
                    }
                }
                return (out, count)
            }
        }
        var types = [Int](repeating: 1, count: tokens.count)
        var special = [String: Int]()
        for s in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] {
            special[s] = tokens.count
            tokens.append(s)
            types.append(3)
        }
        return SyntheticVocabulary(tokens: tokens, tokenTypes: types, merges: merges, specialTokens: special)
    }

    public static let chatMLTemplate = """
    {% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
    """
}
