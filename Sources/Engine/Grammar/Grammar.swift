/// A parsed GBNF grammar in llama.cpp's flat form: every rule is a run of elements in one array,
/// alternatives separated by `.alt`, the rule closed by `.end`. Repetitions and groups are
/// already rewritten into generated rules, so matching only ever sees sequences and references.
public struct Grammar: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        /// End of a rule.
        case end
        /// Start of the next alternative of the rule.
        case alt
        /// Reference to rule `value`.
        case ruleRef
        /// A character class starting with code point `value` (a literal's char is a class of one).
        case char
        /// A negated class `[^...]` starting with code point `value`.
        case charNot
        /// Upper bound of a range whose lower bound is the element before.
        case charRangeUpper
        /// A further member of the class that the element before belongs to.
        case charAlt
        /// `.`: any code point.
        case charAny
    }

    public struct Element: Sendable, Equatable, Hashable {
        public var kind: Kind
        public var value: UInt32
        public init(_ kind: Kind, _ value: UInt32 = 0) {
            self.kind = kind
            self.value = value
        }

        var isEndOfSequence: Bool { kind == .end || kind == .alt }
        var startsCharClass: Bool { kind == .char || kind == .charNot || kind == .charAny }
    }

    /// All rules' elements back to back.
    public let elements: [Element]
    /// Index in `elements` where each rule starts.
    public let ruleStarts: [Int32]
    /// Rule names (generated rules are named after their parent, as llama.cpp does: root_3).
    public let ruleNames: [String]
    public let rootRule: Int

    /// Where rule `id`'s first alternative begins.
    func start(of rule: Int) -> Int32 { ruleStarts[rule] }
}

/// A grammar that cannot be used, with a message fit for a 400 answer.
public struct GrammarError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Bounds that keep a hostile grammar from exhausting memory or time.
public enum GrammarLimits {
    /// Bytes of GBNF text.
    public static let maxSourceBytes = 1 << 20
    /// Elements of all rules after repetitions are expanded.
    public static let maxElements = 1 << 20
    /// Rules, generated ones included.
    public static let maxRules = 1 << 16
    /// Nesting of parentheses.
    public static let maxGroupDepth = 256
    /// llama.cpp's MAX_REPETITION_THRESHOLD: bound on {m,n} and on nested repetition products.
    public static let maxRepetition: UInt64 = 2000
    /// Parse stacks alive at once while matching (ambiguous grammars multiply them).
    public static let maxStacks = 4096
    /// Elements summed over all live stacks.
    public static let maxStackElements = 1 << 20
}
