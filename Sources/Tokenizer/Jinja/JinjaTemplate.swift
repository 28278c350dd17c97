import Foundation

/// A parsed Jinja template (chat templates written for Python's jinja2, rendered as
/// transformers does: trim_blocks, lstrip_blocks, `tojson` without ASCII escaping,
/// `raise_exception`, `strftime_now`, loop controls).
public struct JinjaTemplate: @unchecked Sendable {
    let nodes: [JinjaNode]
    public let source: String

    public init(_ source: String) throws {
        self.source = source
        nodes = try JinjaParser.parse(source)
    }

    /// Bounds on one render, so a hostile template ends with an error rather than a hang.
    public struct Limits: Sendable {
        public var maxOutputBytes = 64 << 20
        public var maxSteps = 20_000_000
        public var maxCallDepth = 64
        public init() {}
    }

    /// Renders with `context` as the template's variables. `now` is what `strftime_now`
    /// formats (UTC).
    public func render(_ context: [String: JinjaValue], now: Date = Date(), limits: Limits = Limits()) throws -> String {
        let interpreter = JinjaInterpreter(limits: limits, now: now)
        return try interpreter.render(nodes, context: context)
    }
}
