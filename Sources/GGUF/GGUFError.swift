/// Everything that can be wrong with a GGUF file. Each message names the field and the
/// offending value so a user can tell a truncated download from a hostile file.
public struct GGUFError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Bounds applied while reading, before any allocation that the file's size cannot justify.
public struct GGUFLimits: Sendable {
    public var maxStringBytes = 16 << 20
    public var maxArrayCount = 1 << 24
    public var maxArrayDepth = 2
    public var maxTensorCount = 1 << 20
    public var maxMetadataCount = 1 << 16
    public var maxDimensions = 4
    public var maxTensorNameBytes = 64
    public var maxAlignment = 1 << 16
    public init() {}
}
