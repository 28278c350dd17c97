indirect enum JinjaExpr {
    case literal(JinjaValue)
    case name(String)
    case list([JinjaExpr])
    case tuple([JinjaExpr])
    case dict([(JinjaExpr, JinjaExpr)])
    case attribute(JinjaExpr, String)
    case item(JinjaExpr, JinjaExpr)
    case slice(JinjaExpr, JinjaExpr?, JinjaExpr?, JinjaExpr?)
    case call(JinjaExpr, [JinjaExpr], [(String, JinjaExpr)])
    case filter(JinjaExpr, String, [JinjaExpr], [(String, JinjaExpr)])
    case test(JinjaExpr, String, [JinjaExpr], negated: Bool)
    case not(JinjaExpr)
    case negate(JinjaExpr)
    case binary(String, JinjaExpr, JinjaExpr)
    case and(JinjaExpr, JinjaExpr)
    case or(JinjaExpr, JinjaExpr)
    case conditional(JinjaExpr, then: JinjaExpr, otherwise: JinjaExpr?)
}

/// Where `set` and `for` store a value: a name, `ns.attr`, or a tuple of names to unpack.
enum JinjaTarget {
    case name(String)
    case attribute(String, String)
    case unpack([String])
}

struct JinjaMacro {
    let name: String
    let parameters: [(String, JinjaExpr?)]
    let body: [JinjaNode]
}

indirect enum JinjaNode {
    case text(String)
    case output(JinjaExpr)
    case ifBlock([(JinjaExpr, [JinjaNode])], otherwise: [JinjaNode])
    case forLoop(JinjaTarget, JinjaExpr, condition: JinjaExpr?, body: [JinjaNode], otherwise: [JinjaNode])
    case set(JinjaTarget, JinjaExpr)
    case setBlock(JinjaTarget, filters: [(String, [JinjaExpr], [(String, JinjaExpr)])], body: [JinjaNode])
    case filterBlock([(String, [JinjaExpr], [(String, JinjaExpr)])], body: [JinjaNode])
    case macro(JinjaMacro)
    case callBlock(JinjaExpr, callerParameters: [(String, JinjaExpr?)], body: [JinjaNode])
    case breakLoop, continueLoop
    /// `{% generation %}` (transformers' assistant-mask tag) and other transparent wrappers.
    case group([JinjaNode])
}
