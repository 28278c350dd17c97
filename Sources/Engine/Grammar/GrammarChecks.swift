/// Static checks on parsed rules, all linear in the grammar's size and free of recursion
/// (a hostile grammar can chain 65k rules).
enum GrammarChecks {
    typealias Element = Grammar.Element

    /// The alternatives of a rule as element ranges (without the .alt/.end separators).
    static func alternatives(_ rule: [Element]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = 0
        for (i, e) in rule.enumerated() where e.isEndOfSequence {
            out.append(start..<i)
            start = i + 1
        }
        return out
    }

    /// Rules with an empty alternative. llama.cpp's left-recursion check counts only these as
    /// possibly empty (not `a ::= b` with `b ::= ""`), so it accepts `( [x]* )*`; its test suite
    /// relies on that. The matcher's bounds catch what this lets through and would not end.
    static func directlyEmptyRules(_ rules: [[Element]]) -> [Bool] {
        rules.map { rule in alternatives(rule).contains { $0.isEmpty } }
    }

    /// A rule that can reach itself without consuming a character (left recursion, or a
    /// repetition of something that can match nothing), or nil if there is none.
    static func leftRecursiveRule(_ rules: [[Element]]) -> Int? {
        let nullable = directlyEmptyRules(rules)
        // Edges: the references a rule can start with (up to its first non-nullable element).
        let leftEdges: [[Int]] = rules.map { rule in
            var edges: [Int] = []
            for alt in alternatives(rule) {
                for e in rule[alt] {
                    guard e.kind == .ruleRef else { break }
                    edges.append(Int(e.value))
                    if !nullable[Int(e.value)] { break }
                }
            }
            return edges
        }
        // Iterative three-colour DFS: 0 unvisited, 1 on the path, 2 done.
        var colour = [UInt8](repeating: 0, count: rules.count)
        for start in rules.indices where colour[start] == 0 {
            var path: [(rule: Int, next: Int)] = [(start, 0)]
            colour[start] = 1
            while let top = path.last {
                let edges = leftEdges[top.rule]
                if top.next == edges.count {
                    colour[top.rule] = 2
                    path.removeLast()
                    continue
                }
                path[path.count - 1].next += 1
                let target = edges[top.next]
                if colour[target] == 1 { return target }
                if colour[target] == 0 {
                    colour[target] = 1
                    path.append((target, 0))
                }
            }
        }
        return nil
    }
}
